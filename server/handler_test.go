package server

import (
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
)

// TestJobResponseRefusesWhatTheContractLacks: a stored type or status outside
// the contract is a server error, never a 200 the spec does not allow.
func TestJobResponseRefusesWhatTheContractLacks(t *testing.T) {
	for _, r := range []jobResponse{
		{id: uuid.New(), typ: "nope", status: api.JobStatusDone},
		{id: uuid.New(), typ: api.JobTypeExportLogs, status: "paused"},
	} {
		rec := httptest.NewRecorder()
		if err := r.VisitGetJobResponse(rec); err == nil {
			t.Errorf("%+v was written: %d %s", r, rec.Code, rec.Body)
		}
	}
}
