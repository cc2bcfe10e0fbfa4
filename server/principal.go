// Package server is the reference implementation of the Get Job endpoint:
// echo, kin-openapi request validation with an authentication function, API
// keys scoped to organizations, a durable store, and JSON errors matching the
// spec. New returns the ready handler; setup.go reads as the request pipeline.
package server

import (
	"context"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// Principal is who an authenticated request acts for.
type Principal struct {
	// OrgID is the organization the request may see jobs of.
	OrgID uuid.UUID
	// KeyID identifies the API key used; never the key itself.
	KeyID uuid.UUID
	// Kind is the kind of key (and so the authentication scheme) used.
	Kind store.KeyKind
}

type principalKey struct{}

// principalContext is a context carrying a Principal. It is
// context.WithValue's valueCtx with the Principal stored inline, so that
// authenticating a request allocates one object rather than two.
type principalContext struct {
	context.Context
	p Principal
}

// Value returns a *Principal for principalKey and defers to the parent otherwise.
func (c *principalContext) Value(key any) any {
	if key == (principalKey{}) {
		return &c.p
	}
	return c.Context.Value(key)
}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return &principalContext{Context: ctx, p: p}
}

// PrincipalFrom returns the principal an authenticated request's context carries.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok {
		return *p, true
	}
	return Principal{}, false
}
