package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

const selectKey = `SELECT id, org_id, kind, hash, created_at, revoked_at FROM api_keys`

// CreateKey stores a new key of an organization by its hash.
func (s *Store) CreateKey(ctx context.Context, orgID uuid.UUID, kind store.KeyKind, hash store.KeyHash) (store.Key, error) {
	key, err := store.NewKey(orgID, kind, hash)
	if err != nil {
		return store.Key{}, err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO api_keys (id, org_id, kind, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		key.ID.String(), key.OrgID.String(), string(key.Kind), key.Hash[:], micros(key.CreatedAt))
	switch {
	case isConstraint(err, constraintForeignKey):
		return store.Key{}, fmt.Errorf("create key: organization %s: %w", orgID, store.ErrNotFound)
	case isConstraint(err, constraintUnique):
		return store.Key{}, fmt.Errorf("create key: %w: a key with this hash exists", store.ErrConflict)
	case err != nil:
		return store.Key{}, fmt.Errorf("create key: %w", err)
	}
	return key, nil
}

// KeyByHash returns the key with the given hash, revoked or not.
func (s *Store) KeyByHash(ctx context.Context, hash store.KeyHash) (store.Key, error) {
	key, err := scanKey(s.keyByHash.QueryRowContext(ctx, hash[:]))
	if err != nil {
		return store.Key{}, notFound(err, "key")
	}
	return key, nil
}

// RevokeKey marks a key revoked, keeping the first revocation time.
func (s *Store) RevokeKey(ctx context.Context, id uuid.UUID) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, micros(store.Now()), id.String())
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("revoke key %s: %w", id, store.ErrNotFound)
	}
	return nil
}

func scanKey(row *sql.Row) (store.Key, error) {
	var (
		key       store.Key
		id, orgID string
		kind      string
		hash      []byte
		created   int64
		revoked   sql.NullInt64
	)
	if err := row.Scan(&id, &orgID, &kind, &hash, &created, &revoked); err != nil {
		return store.Key{}, err
	}
	var err error
	if key.ID, err = uuid.Parse(id); err != nil {
		return store.Key{}, fmt.Errorf("corrupt key id: %w", err)
	}
	if key.OrgID, err = uuid.Parse(orgID); err != nil {
		return store.Key{}, fmt.Errorf("corrupt key org id: %w", err)
	}
	if len(hash) != len(key.Hash) {
		return store.Key{}, fmt.Errorf("corrupt key hash")
	}
	copy(key.Hash[:], hash)
	key.Kind = store.KeyKind(kind)
	key.CreatedAt = fromMicros(created)
	if revoked.Valid {
		t := fromMicros(revoked.Int64)
		key.RevokedAt = &t
	}
	return key, nil
}
