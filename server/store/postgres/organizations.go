package postgres

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
	_, err = s.pool.Exec(ctx, `INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)`,
		org.ID, org.Name, org.CreatedAt)
	switch {
	case hasCode(err, codeUniqueViolation):
		return store.Organization{}, fmt.Errorf("create organization %q: %w: the name is taken", name, store.ErrConflict)
	case isBadText(err):
		return store.Organization{}, fmt.Errorf("create organization %q: %w: the name is not valid UTF-8 text", name, store.ErrInvalid)
	case err != nil:
		return store.Organization{}, fmt.Errorf("create organization %q: %w", name, err)
	}
	return org, nil
}

// Organization returns the organization with the given id.
func (s *Store) Organization(ctx context.Context, id uuid.UUID) (store.Organization, error) {
	return s.organization(ctx, fmt.Sprintf("organization %s", id), `WHERE id = $1`, id)
}

// OrganizationByName returns the organization with the given name.
func (s *Store) OrganizationByName(ctx context.Context, name string) (store.Organization, error) {
	name = strings.TrimSpace(name)
	org, err := s.organization(ctx, fmt.Sprintf("organization %s", name), `WHERE name = $1`, name)
	if isBadText(err) {
		// No organization can have a name PostgreSQL cannot store.
		return store.Organization{}, fmt.Errorf("organization %s: %w", name, store.ErrNotFound)
	}
	return org, err
}

func (s *Store) organization(ctx context.Context, what, where string, arg any) (store.Organization, error) {
	var org store.Organization
	err := s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM organizations `+where, arg).
		Scan(&org.ID, &org.Name, &org.CreatedAt)
	if err != nil {
		return store.Organization{}, notFound(err, what)
	}
	org.CreatedAt = org.CreatedAt.UTC()
	return org, nil
}
