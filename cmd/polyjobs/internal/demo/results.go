package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
)

// Result returns a realistic result for a finished job of the given type, in
// the shapes Polytomic documents.
func Result(typ store.JobType, id uuid.UUID) json.RawMessage {
	var v any
	switch typ {
	case api.JobTypeExportLogs:
		v = map[string]any{"url": fmt.Sprintf("https://storage.example.com/exports/%s.json.gz?X-Expires=3600&X-Signature=%08x", id, rand.Uint32())}
	case api.JobTypeConnectionProxy:
		v = map[string]any{
			"status":          200,
			"headers":         map[string][]string{"Content-Type": {"application/json"}},
			"contentType":     "application/json",
			"contentLength":   1024 + rand.IntN(4096),
			"latencyMs":       20 + rand.IntN(300),
			"bodyDownloadUrl": fmt.Sprintf("https://storage.example.com/proxy/%s/body?X-Signature=%08x", id, rand.Uint32()),
		}
	case api.JobTypeSampleModel:
		v = map[string]any{
			"records": []map[string]any{
				{"id": 1, "email": "ada@example.com", "plan": "enterprise"},
				{"id": 2, "email": "grace@example.com", "plan": "team"},
			},
			"warnings": []string{"column ssn is masked in samples"},
		}
	case api.JobTypePreviewModel:
		v = []map[string]any{
			{"name": "id", "type": "integer"},
			{"name": "email", "type": "string"},
			{"name": "plan", "type": "string"},
		}
	case api.JobTypeCreateModel, api.JobTypeUpdateModel:
		v = map[string]any{
			"id":            uuid.NewString(),
			"name":          "Users",
			"connection_id": uuid.NewString(),
			"fields": []map[string]any{
				{"name": "id", "type": "integer"},
				{"name": "email", "type": "string"},
			},
		}
	default:
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep signed URLs readable: & not \u0026
	_ = enc.Encode(v)        // maps and slices of plain values always encode
	return bytes.TrimSpace(buf.Bytes())
}

// failures are realistic failure messages.
var failures = []string{
	"connection refused by the source database",
	"query failed: relation \"users\" does not exist",
	"permission denied for schema analytics",
	"upstream returned 502 Bad Gateway",
}

// Failure returns a realistic failure message.
func Failure() string { return failures[rand.IntN(len(failures))] }
