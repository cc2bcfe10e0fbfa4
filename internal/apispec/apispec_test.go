package apispec_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/polyjobs/polyjobs/internal/apispec"
)

// TestValidatorCatchesBadResponses makes sure the response validation every
// test relies on does reject responses that break the contract.
func TestValidatorCatchesBadResponses(t *testing.T) {
	v, err := apispec.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	const v7 = "019ad4a2-8f3e-7c41-9a2b-3c4d5e6f7a8b"
	okHeader := http.Header{"Content-Type": {"application/json"}, "X-Polytomic-Version": {"2025-09-18"}}
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"running", 200, okHeader, `{"data":{"job_id":"` + v7 + `","type":"exportlogs","status":"running","result":null,"error":null}}`, true},
		{"done with array result", 200, okHeader, `{"data":{"job_id":"` + v7 + `","type":"previewmodel","status":"done","result":[{"name":"id"}],"error":null}}`, true},
		{"done with scalar result", 200, okHeader, `{"data":{"job_id":"` + v7 + `","type":"createmodel","status":"done","result":"x","error":null}}`, true},
		{"unknown status", 200, okHeader, `{"data":{"job_id":"` + v7 + `","type":"exportlogs","status":"paused","result":null,"error":null}}`, false},
		{"unknown type", 200, okHeader, `{"data":{"job_id":"` + v7 + `","type":"x","status":"done","result":null,"error":null}}`, false},
		{"bad job id", 200, okHeader, `{"data":{"job_id":"nope","type":"exportlogs","status":"done","result":null,"error":null}}`, false},
		{"missing error field", 200, okHeader, `{"data":{"job_id":"` + v7 + `","type":"exportlogs","status":"done","result":null}}`, false},
		{"no version header", 200, http.Header{"Content-Type": {"application/json"}}, `{"data":{"job_id":"` + v7 + `","type":"exportlogs","status":"running","result":null,"error":null}}`, false},
		{"api error", 404, okHeader, `{"status":404,"message":"job not found","key":"not_found"}`, true},
		{"401 rest error", 401, okHeader, `{"code":401,"error":"invalid credentials","status":"Unauthorized"}`, true},
		{"401 with integer status", 401, okHeader, `{"code":401,"error":"invalid credentials","status":401}`, false},
		{"401 as api error", 401, okHeader, `{"status":401,"message":"nope"}`, false},
		{"undocumented status", 418, okHeader, `{"status":418,"message":"teapot"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/jobs/exportlogs/"+v7, nil)
			err := v.ValidateResponse(req, tc.status, tc.header, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateResponse = %v; want ok=%v", err, tc.ok)
			}
		})
	}
	if err := v.ValidateResponse(httptest.NewRequest("GET", "/nope", nil), 404, okHeader, nil); !errors.Is(err, apispec.ErrNoRoute) {
		t.Fatalf("unknown route: %v; want ErrNoRoute", err)
	}
	if err := v.ValidateSchema("ApiError", []byte(`{"status":"x"}`)); err == nil {
		t.Fatal("ValidateSchema accepted a bad ApiError")
	}
}

func TestValidateUUID(t *testing.T) {
	for s, ok := range map[string]bool{
		"019ad4a2-8f3e-7c41-9a2b-3c4d5e6f7a8b":          true, // v7
		"248df4b7-aa70-47b8-a036-33ac447e668d":          true, // v4
		"00000000-0000-0000-0000-000000000000":          true,
		"248DF4B7-AA70-47B8-A036-33AC447E668D":          true,
		"248df4b7aa7047b8a03633ac447e668d":              false,
		"{248df4b7-aa70-47b8-a036-33ac447e668d}":        false,
		"urn:uuid:248df4b7-aa70-47b8-a036-33ac447e668d": false,
		"248df4b7-aa70-47b8-a036-33ac447e668g":          false,
		"":                                              false,
	} {
		if err := apispec.ValidateUUID(s); (err == nil) != ok {
			t.Errorf("ValidateUUID(%q) = %v; want ok=%v", s, err, ok)
		}
	}
}
