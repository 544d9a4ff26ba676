package cbrtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
)

// FuzzCreateCheckpoint posts arbitrary bodies: the emulator must never panic
// and must answer 200 with a checkpoint or 4xx with a JSON error body.
func FuzzCreateCheckpoint(f *testing.F) {
	for _, seed := range []string{
		pageRequest,
		`{}`,
		`{"checkpoint":null}`,
		`{"checkpoint":{"vault_id":"` + ExampleVaultID + `"}}`,
		`{"checkpoint":{"vault_id":"` + WeeklyVaultID + `","parameters":{"resources":["x",""],"name":"a b"}}}`,
		`{"checkpoint":{"vault_id":"` + ExampleVaultID + `","parameters":{"resource_details":[{"id":"` + DemoVolumeID + `","type":"OS::Cinder::Volume","extra_info":{"exclude_volumes":[1]}}]}}}`,
		`{"checkpoint":{"vault_id":"nope","parameters":{"description":"` + strings.Repeat("\u00e9", 300) + `"}}}`,
		`[1,2,3]`,
		``,
		"\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e := New(Options{})
		req := httptest.NewRequest(http.MethodPost, checkpointsPath, strings.NewReader(string(body)))
		req.Header.Set("X-Auth-Token", DefaultToken)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)

		switch {
		case w.Code == http.StatusOK:
			var resp cbr.CheckpointResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.Checkpoint.ID == "" {
				t.Fatalf("200 with body %s: %v", w.Body, err)
			}
		case w.Code >= 400 && w.Code < 500:
			var apiErr struct {
				ErrorCode string `json:"error_code"`
				ErrorMsg  string `json:"error_msg"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &apiErr); err != nil || apiErr.ErrorCode == "" || apiErr.ErrorMsg == "" {
				t.Fatalf("%d with body %s: %v", w.Code, w.Body, err)
			}
		default:
			t.Fatalf("status %d, body %s", w.Code, w.Body)
		}
	})
}
