// Package demo gives `polyjobs serve --dev` its demo organization, keys and
// jobs that keep moving through their lifecycle, so that a newcomer can poll
// real, changing jobs a second after starting the server. It does so with
// the control API's operations (server/control), as a test suite would.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
)

// OrgName is the name of the demo organization.
const OrgName = "demo"

// Credentials are the demo organization and its keys.
type Credentials struct {
	OrgID   uuid.UUID `json:"org_id"`
	UserKey string    `json:"user_key"`
	OrgKey  string    `json:"org_key"`
}

// Setup creates, or finds, the demo organization and its keys. The store keeps
// only key hashes, so the keys themselves are kept in keyFile (mode 0600) to
// be shown again on the next start; when the file is missing or its keys no
// longer work, new keys are made and the file rewritten.
func Setup(ctx context.Context, c *control.Service, s store.Store, keyFile string) (Credentials, error) {
	org, err := c.Organization(ctx, OrgName)
	if errors.Is(err, store.ErrNotFound) {
		org, err = c.CreateOrganization(ctx, OrgName)
		if errors.Is(err, store.ErrConflict) { // another replica created it first
			org, err = c.Organization(ctx, OrgName)
		}
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("demo organization: %w", err)
	}
	if creds, ok := loadKeys(ctx, s, keyFile, org.ID); ok {
		return creds, nil
	}
	creds := Credentials{OrgID: org.ID}
	for _, k := range []struct {
		kind   store.KeyKind
		secret *string
	}{{store.KeyKindUser, &creds.UserKey}, {store.KeyKindOrg, &creds.OrgKey}} {
		key, err := c.CreateKey(ctx, org.ID.String(), k.kind)
		if err != nil {
			return Credentials{}, fmt.Errorf("demo %s key: %w", k.kind, err)
		}
		*k.secret = key.Secret
	}
	data, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return Credentials{}, err
	}
	if err := os.WriteFile(keyFile, append(data, '\n'), 0o600); err != nil {
		return Credentials{}, fmt.Errorf("save demo keys: %w", err)
	}
	return creds, nil
}

// ReadKeyFile returns the demo credentials saved in keyFile by Setup,
// without checking that they still work.
func ReadKeyFile(keyFile string) (Credentials, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return Credentials{}, err
	}
	var creds Credentials
	if err := json.Unmarshal(data, &creds); err != nil {
		return Credentials{}, fmt.Errorf("demo keys %s: %w", keyFile, err)
	}
	return creds, nil
}

// loadKeys returns the saved demo keys if they still authenticate.
func loadKeys(ctx context.Context, s store.Store, keyFile string, orgID uuid.UUID) (Credentials, bool) {
	creds, err := ReadKeyFile(keyFile)
	if err != nil || creds.OrgID != orgID {
		return Credentials{}, false
	}
	for _, secret := range []string{creds.UserKey, creds.OrgKey} {
		key, err := s.KeyByHash(ctx, apikey.Hash(secret))
		if err != nil || key.Revoked() || key.OrgID != orgID {
			return Credentials{}, false
		}
	}
	return creds, true
}
