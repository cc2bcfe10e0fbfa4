package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/polyjobs/polyjobs/server/store"
)

const selectKey = `SELECT id, org_id, kind, hash, created_at, revoked_at FROM api_keys`

// CreateKey stores a new key of an organization by its hash.
func (s *Store) CreateKey(ctx context.Context, orgID uuid.UUID, kind store.KeyKind, hash store.KeyHash) (store.Key, error) {
	key, err := store.NewKey(orgID, kind, hash)
	if err != nil {
		return store.Key{}, err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO api_keys (id, org_id, kind, hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		key.ID, key.OrgID, string(key.Kind), key.Hash[:], key.CreatedAt)
	switch {
	case hasCode(err, codeForeignKeyViolation):
		return store.Key{}, fmt.Errorf("create key: organization %s: %w", orgID, store.ErrNotFound)
	case hasCode(err, codeUniqueViolation):
		return store.Key{}, fmt.Errorf("create key: %w: a key with this hash exists", store.ErrConflict)
	case err != nil:
		return store.Key{}, fmt.Errorf("create key: %w", err)
	}
	return key, nil
}

// KeyByHash returns the key with the given hash, revoked or not.
func (s *Store) KeyByHash(ctx context.Context, hash store.KeyHash) (store.Key, error) {
	key, err := scanKey(s.pool.QueryRow(ctx, selectKey+` WHERE hash = $1`, hash[:]))
	if err != nil {
		return store.Key{}, notFound(err, "key")
	}
	return key, nil
}

// RevokeKey marks a key revoked, keeping the first revocation time.
func (s *Store) RevokeKey(ctx context.Context, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, store.Now(), id)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke key %s: %w", id, store.ErrNotFound)
	}
	return nil
}

func scanKey(row pgx.Row) (store.Key, error) {
	var (
		key     store.Key
		kind    string
		hash    []byte
		revoked *time.Time
	)
	if err := row.Scan(&key.ID, &key.OrgID, &kind, &hash, &key.CreatedAt, &revoked); err != nil {
		return store.Key{}, err
	}
	if len(hash) != len(key.Hash) {
		return store.Key{}, fmt.Errorf("corrupt key hash")
	}
	copy(key.Hash[:], hash)
	key.Kind = store.KeyKind(kind)
	key.CreatedAt = key.CreatedAt.UTC()
	if revoked != nil {
		t := revoked.UTC()
		key.RevokedAt = &t
	}
	return key, nil
}
