package store

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
)

// The constructors below hold the rules every implementation applies before
// it inserts a row, so that the implementations hold only SQL.

// Now is the current time as stores keep it: UTC, to the microsecond.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// MaxOrganizationNameLength bounds an organization's name, in bytes.
const MaxOrganizationNameLength = 200

// NewOrganization returns the organization to insert for name: trimmed,
// non-empty, at most MaxOrganizationNameLength bytes of UTF-8 text without
// control or formatting characters (a name is printed in terminals and
// logs), that does not read as a UUID, with a new time-ordered (v7) id.
func NewOrganization(name string) (Organization, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return Organization{}, fmt.Errorf("create organization: %w: name is empty", ErrInvalid)
	case len(name) > MaxOrganizationNameLength:
		return Organization{}, fmt.Errorf("create organization: %w: name is %d bytes long, more than %d", ErrInvalid, len(name), MaxOrganizationNameLength)
	case !utf8.ValidString(name):
		return Organization{}, fmt.Errorf("create organization: %w: name is not UTF-8 text", ErrInvalid)
	case isUUID(name):
		// Where an organization is named by id or name, as in the CLI and
		// the control API, such a name would be taken for an id.
		return Organization{}, fmt.Errorf("create organization: %w: name %q reads as an organization id (a UUID)", ErrInvalid, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return Organization{}, fmt.Errorf("create organization: %w: name holds the control or formatting character %U", ErrInvalid, r)
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Organization{}, fmt.Errorf("create organization: %w", err)
	}
	return Organization{ID: id, Name: name, CreatedAt: Now()}, nil
}

// isUUID reports whether s parses as a UUID, in any form uuid.Parse takes.
func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

// NewKey returns the key to insert for an organization, by its hash.
func NewKey(orgID uuid.UUID, kind KeyKind, hash KeyHash) (Key, error) {
	if !kind.Valid() {
		return Key{}, fmt.Errorf("create key: %w: unknown kind %q", ErrInvalid, kind)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Key{}, fmt.Errorf("create key: %w", err)
	}
	return Key{ID: id, OrgID: orgID, Kind: kind, Hash: hash, CreatedAt: Now()}, nil
}

// NewJob returns the job to insert: of a known type, in the created state.
func NewJob(orgID uuid.UUID, typ JobType) (Job, error) {
	if !typ.Valid() {
		return Job{}, fmt.Errorf("create job: %w: unknown job type %q", ErrInvalid, typ)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Job{}, fmt.Errorf("create job: %w", err)
	}
	t := Now()
	return Job{ID: id, OrgID: orgID, Type: typ, Status: api.JobStatusCreated, CreatedAt: t, UpdatedAt: t}, nil
}

// NewPlan returns the steps of a plan to insert: each transition
// normalized and valid.
func NewPlan(steps []PlanStep) ([]PlanStep, error) {
	plan := make([]PlanStep, len(steps))
	for i, st := range steps {
		st.Transition = st.Transition.Normalized()
		if err := st.Transition.Validate(); err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		plan[i] = st
	}
	return plan, nil
}
