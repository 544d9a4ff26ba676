package cbrtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/otc"
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

// FuzzAddResources posts arbitrary bodies to addresources of the server vault:
// the emulator must never panic, must answer 200 with the ids now in the
// vault, or 4xx with a JSON error body, and must leave the vault unchanged
// on an error.
func FuzzAddResources(f *testing.F) {
	for _, seed := range []string{
		resourcesBody(UnassociatedServerID, otc.TypeServer),
		resourcesBody(UnassociatedServerID, otc.TypeServer, UnassociatedServerID, otc.TypeServer),
		resourcesBody(UnassociatedVolumeID, otc.TypeVolume),
		resourcesBody(ExampleServerID, otc.TypeServer),
		resourcesBody(UnassociatedServerID, otc.TypeServer, "x", otc.TypeServer),
		`{"resources":[{"id":"` + UnassociatedServerID + `","type":"OS::Nova::Server","extra_info":{"exclude_volumes":["a"]}}]}`,
		`{"resources":[{"id":"` + UnassociatedServerID + `","type":"OS::Nova::Server","extra_info":{"exclude_volumes":[1]}}]}`,
		`{"resources":[]}`,
		`{"resources":null}`,
		`{}`,
		`[]`,
		``,
		"\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	path := "/v3/" + DefaultProjectID + "/vaults/" + ServerVaultID
	f.Fuzz(func(t *testing.T, body []byte) {
		e := New(Options{})
		req := httptest.NewRequest(http.MethodPost, path+"/addresources", strings.NewReader(string(body)))
		req.Header.Set("X-Auth-Token", DefaultToken)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)

		e.mu.Lock()
		var inVault []string
		for _, r := range e.vaults[ServerVaultID].resources {
			inVault = append(inVault, r.ID)
		}
		e.mu.Unlock()
		switch {
		case w.Code == http.StatusOK:
			var resp addResourcesResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.AddResourceIDs) == 0 {
				t.Fatalf("200 with body %s: %v", w.Body, err)
			}
			if !slices.Equal(resp.AddResourceIDs, inVault) {
				t.Fatalf("answered %v, the vault holds %v", resp.AddResourceIDs, inVault)
			}
		case w.Code >= 400 && w.Code < 500:
			var apiErr apiError
			if err := json.Unmarshal(w.Body.Bytes(), &apiErr); err != nil || apiErr.ErrorCode == "" || apiErr.ErrorMsg == "" {
				t.Fatalf("%d with body %s: %v", w.Code, w.Body, err)
			}
			if len(inVault) != 0 {
				t.Fatalf("%d, but the vault now holds %v", w.Code, inVault)
			}
		default:
			t.Fatalf("status %d, body %s", w.Code, w.Body)
		}
	})
}
