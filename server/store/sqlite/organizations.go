package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// CreateOrganization creates an organization with a unique, non-empty name.
func (s *Store) CreateOrganization(ctx context.Context, name string) (store.Organization, error) {
	org, err := store.NewOrganization(name)
	if err != nil {
		return store.Organization{}, err
	}
	name = org.Name
	_, err = s.db.ExecContext(ctx, `INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)`,
		org.ID.String(), org.Name, micros(org.CreatedAt))
	if isConstraint(err, constraintUnique) {
		return store.Organization{}, fmt.Errorf("create organization %q: %w: the name is taken", name, store.ErrConflict)
	}
	if err != nil {
		return store.Organization{}, fmt.Errorf("create organization %q: %w", name, err)
	}
	return org, nil
}

// Organization returns the organization with the given id.
func (s *Store) Organization(ctx context.Context, id uuid.UUID) (store.Organization, error) {
	return s.organization(ctx, `WHERE id = ?`, id.String())
}

// OrganizationByName returns the organization with the given name.
func (s *Store) OrganizationByName(ctx context.Context, name string) (store.Organization, error) {
	return s.organization(ctx, `WHERE name = ?`, strings.TrimSpace(name))
}

func (s *Store) organization(ctx context.Context, where string, arg any) (store.Organization, error) {
	var (
		org     store.Organization
		id      string
		created int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, name, created_at FROM organizations `+where, arg).Scan(&id, &org.Name, &created)
	if err != nil {
		return store.Organization{}, notFound(err, fmt.Sprintf("organization %v", arg))
	}
	if org.ID, err = uuid.Parse(id); err != nil {
		return store.Organization{}, fmt.Errorf("organization %v: corrupt id: %w", arg, err)
	}
	org.CreatedAt = fromMicros(created)
	return org, nil
}
