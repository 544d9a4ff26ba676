package cbrtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/otc"
)

// The API page's example request and response.
const (
	pageRequest = `{
  "checkpoint" : {
    "parameters" : {
      "auto_trigger" : true,
      "description" : "backup_description",
      "incremental" : true,
      "name" : "backup_name",
      "resources" : [ "94eba8b2-acc9-4d82-badc-127144cc5526" ]
    },
    "vault_id" : "3b5816b5-f29c-4172-9d9a-76c719a659ce"
  }
}`
	pageResponse = `{
  "checkpoint" : {
    "status" : "protecting",
    "created_at" : "2019-05-10T07:59:12.733+00:00",
    "vault" : {
      "skipped_resources" : [ ],
      "id" : "3b5816b5-f29c-4172-9d9a-76c719a659ce",
      "resources" : [ {
        "name" : "ecs-1f0f-0002",
        "resource_size" : 40,
        "protect_status" : "available",
        "type" : "OS::Nova::Server",
        "id" : "94eba8b2-acc9-4d82-badc-127144cc5526"
      } ],
      "name" : "vault-be94"
    },
    "project_id" : "4229d7a45436489f8c3dc2b1d35d4987",
    "id" : "8b0851a8-adf3-4f4c-a914-dead08bf9664",
    "extra_info" : {
      "retention_duration" : -1,
      "name" : "backup_name",
      "description" : "backup_description"
    }
  }
}`
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreateCheckpointPageExample(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now})

	a := create(t, s, pageRequest)
	if a.status != http.StatusOK {
		t.Fatalf("status %d, body %s", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if a.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id header")
	}

	var got, want map[string]any
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(pageResponse), &want); err != nil {
		t.Fatal(err)
	}
	if g, w := shape(got), shape(want); !reflect.DeepEqual(g, w) {
		t.Errorf("answer shape differs from the page example\n got %v\nwant %v", g, w)
	}

	// Values the request determines are those of the page; the others are fresh.
	cp, page := got["checkpoint"].(map[string]any), want["checkpoint"].(map[string]any)
	for _, path := range [][]string{
		{"status"}, {"created_at"}, {"vault", "id"}, {"vault", "name"}, {"vault", "resources"},
		{"vault", "skipped_resources"}, {"extra_info"},
	} {
		if g, w := lookup(cp, path), lookup(page, path); !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %v, want %v", strings.Join(path, "."), g, w)
		}
	}
	if id, _ := cp["id"].(string); !uuidV4.MatchString(id) {
		t.Errorf("id %q is not a version 4 UUID", id)
	}
	if cp["project_id"] != DefaultProjectID {
		t.Errorf("project_id %v, want the path's %s", cp["project_id"], DefaultProjectID)
	}
	if n := s.CountCreates(); n != 1 {
		t.Errorf("CountCreates = %d, want 1", n)
	}
}

// shape maps a decoded JSON value to its structure: object keys and value
// types, arrays by the shape of their first element.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = shape(x)
		}
		return out
	case []any:
		if len(v) == 0 {
			return "[]"
		}
		return []any{shape(v[0])}
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// lookup returns the value at path in a decoded JSON object.
func lookup(m map[string]any, path []string) any {
	var v any = m
	for _, k := range path {
		o, _ := v.(map[string]any)
		v = o[k]
	}
	return v
}

func TestCreatedAtIsMillisecondsUTC(t *testing.T) {
	clk := newClock()
	clk.Advance(456*time.Microsecond + 12*time.Hour) // sub-millisecond part is dropped
	s := start(t, Options{Now: func() time.Time { return clk.Now().In(time.FixedZone("CET", 3600)) }})

	cp := checkpointOf(t, create(t, s, pageRequest))
	if got, want := cp.CreatedAt.String(), "2019-05-10T19:59:12.733+00:00"; got != want {
		t.Errorf("created_at %q, want %q", got, want)
	}
}

func TestRequestErrors(t *testing.T) {
	s := start(t, Options{})
	otherProject := "/v3/0123456789abcdef0123456789abcdef/checkpoints"
	body := func(params string) string {
		return `{"checkpoint":{"vault_id":"` + ExampleVaultID + `","parameters":{` + params + `}}}`
	}
	details := make([]string, otc.MaxResources+1)
	for i := range details {
		details[i] = `{"id":"` + ExampleServerID + `","type":"OS::Nova::Server"}`
	}

	tests := []struct {
		name                string
		method, path, token string
		body                string
		wantStatus          int
		wantCode, wantInMsg string
	}{
		{"no token", "POST", checkpointsPath, "", pageRequest, 401, "keystone:401", "requires authentication"},
		{"unknown token", "POST", checkpointsPath, "nope", pageRequest, 401, "keystone:401", "requires authentication"},
		{"get without token", "GET", checkpointsPath + "/x", "", "", 401, "keystone:401", ""},
		{"other project", "POST", otherProject, DefaultToken, pageRequest, 403, CodeForbidden, "project"},
		{"invalid JSON", "POST", checkpointsPath, DefaultToken, `{"checkpoint":`, 400, CodeInvalidParameter, "Invalid request body"},
		{"empty body", "POST", checkpointsPath, DefaultToken, ``, 400, CodeInvalidParameter, "Invalid request body"},
		{"data after JSON", "POST", checkpointsPath, DefaultToken, pageRequest + `{}`, 400, CodeInvalidParameter, "Invalid request body"},
		{"array body", "POST", checkpointsPath, DefaultToken, `[]`, 400, CodeInvalidParameter, "Invalid request body"},
		{"no checkpoint", "POST", checkpointsPath, DefaultToken, `{}`, 400, CodeInvalidParameter, "checkpoint is required"},
		{"null checkpoint", "POST", checkpointsPath, DefaultToken, `{"checkpoint":null}`, 400, CodeInvalidParameter, "checkpoint is required"},
		{"no vault_id", "POST", checkpointsPath, DefaultToken, `{"checkpoint":{}}`, 400, CodeInvalidParameter, "vault_id"},
		{"vault_id a number", "POST", checkpointsPath, DefaultToken, `{"checkpoint":{"vault_id":7}}`, 400, CodeInvalidParameter, "vault_id"},
		{"name with space", "POST", checkpointsPath, DefaultToken, body(`"name":"my backup"`), 400, CodeInvalidParameter, "Invalid name"},
		{"name too long", "POST", checkpointsPath, DefaultToken, body(`"name":"` + strings.Repeat("a", 65) + `"`), 400, CodeInvalidParameter, "Invalid name"},
		{"description too long", "POST", checkpointsPath, DefaultToken, body(`"description":"` + strings.Repeat("é", 256) + `"`), 400, CodeInvalidParameter, "description"},
		{"empty resource id", "POST", checkpointsPath, DefaultToken, body(`"resources":[""]`), 400, CodeInvalidParameter, "resources[0]"},
		{"too many resource_details", "POST", checkpointsPath, DefaultToken, body(`"resource_details":[` + strings.Join(details, ",") + `]`), 400, CodeInvalidParameter, "at most 256"},
		{"resource_details without id", "POST", checkpointsPath, DefaultToken, body(`"resource_details":[{"type":"OS::Nova::Server"}]`), 400, CodeInvalidParameter, "resource_details[0].id"},
		{"resource_details unknown type", "POST", checkpointsPath, DefaultToken, body(`"resource_details":[{"id":"x","type":"OS::Ironic::BareMetalServer"}]`), 400, CodeInvalidParameter, "resource_details[0].type"},
		{"resource_details without type", "POST", checkpointsPath, DefaultToken, body(`"resource_details":[{"id":"x"}]`), 400, CodeInvalidParameter, "resource_details[0].type"},
		{"unknown vault", "POST", checkpointsPath, DefaultToken, `{"checkpoint":{"vault_id":"no-such-vault"}}`, 404, CodeVaultNotFound, "Vault does not exist."},
		{"no resource in vault", "POST", checkpointsPath, DefaultToken, body(`"resources":["` + WeeklyServerID + `"]`), 400, CodeNoResource, "No resource available"},
		{"body too large", "POST", checkpointsPath, DefaultToken, strings.Repeat(" ", MaxBodyBytes+1), 413, CodeInvalidParameter, "exceeds"},
		{"unknown checkpoint", "GET", checkpointsPath + "/8b0851a8-adf3-4f4c-a914-dead08bf9664", DefaultToken, "", 404, CodeCheckpointNotFound, "does not exist"},
		{"unknown path", "GET", "/v3/" + DefaultProjectID + "/vaults", DefaultToken, "", 404, "keystone:404", ""},
		{"no v3", "POST", "/checkpoints", DefaultToken, pageRequest, 404, "keystone:404", ""},
		{"trailing slash", "POST", checkpointsPath + "/", DefaultToken, pageRequest, 404, "keystone:404", ""},
		{"PUT checkpoints", "PUT", checkpointsPath, DefaultToken, pageRequest, 405, "keystone:405", ""},
		{"DELETE checkpoint", "DELETE", checkpointsPath + "/x", DefaultToken, "", 405, "keystone:405", ""},
		{"GET tokens", "GET", "/v3/auth/tokens", DefaultToken, "", 405, "keystone:405", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s, tt.method, tt.path, tt.token, tt.body)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %.300s", a.status, tt.wantStatus, a.body)
			}
			code, msg := errorOf(t, a.body)
			if code != tt.wantCode {
				t.Errorf("code %q, want %q (message %q)", code, tt.wantCode, msg)
			}
			if !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantInMsg)
			}
			if tt.wantStatus == 405 && a.header.Get("Allow") == "" {
				t.Error("405 without Allow header")
			}
		})
	}
	if n := s.CountCreates(); n != 0 {
		t.Errorf("CountCreates = %d after errors only, want 0", n)
	}
	if n := len(s.Checkpoints()); n != 0 {
		t.Errorf("%d checkpoints after errors only, want 0", n)
	}
}

func TestCreateCheckpointAcceptsLimits(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	tests := []struct{ name, params string }{
		{"name of 64", `"name":"` + strings.Repeat("a", 64) + `"`},
		{"name with _ and -", `"name":"a_b-C9"`},
		{"description of 255 characters", `"description":"` + strings.Repeat("é", 255) + `"`},
		{"incremental false", `"incremental":false`},
		{"exclude_volumes", `"resource_details":[{"id":"` + ExampleServerID + `","type":"OS::Nova::Server","extra_info":{"exclude_volumes":["` + DemoVolumeID + `"]}}]`},
		{"empty parameters", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"`+ExampleVaultID+`","parameters":{`+tt.params+`}}}`))
		})
	}
}

func TestCreateCheckpointSkipsResourcesNotInVault(t *testing.T) {
	s := start(t, Options{})
	const stray, strayVolume = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	cp := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"`+ExampleVaultID+`","parameters":{
		"resources":["`+ExampleServerID+`","`+stray+`"],
		"resource_details":[
			{"id":"`+strayVolume+`","name":"lost-disk","type":"OS::Cinder::Volume"},
			{"id":"`+WeeklyTurboID+`","name":"share-1","type":"OS::Sfs::Turbo"},
			{"id":"`+ExampleServerID+`","type":"OS::Nova::Server"}]}}}`))

	if got, want := resourceIDs(cp), []string{ExampleServerID}; !slices.Equal(got, want) {
		t.Errorf("resources %v, want %v", got, want)
	}
	want := []cbr.CheckpointCreateSkippedResource{
		{ID: stray, Code: CodeNotInVault, Reason: msgNotInVault},
		{ID: strayVolume, Name: "lost-disk", Type: otc.TypeVolume, Code: CodeNotInVault, Reason: msgNotInVault},
		{ID: WeeklyTurboID, Name: "share-1", Type: otc.TypeSFSTurbo, Code: CodeNotInVault, Reason: msgNotInVault},
	}
	if !reflect.DeepEqual(cp.Vault.SkippedResources, want) {
		t.Errorf("skipped_resources\n got %+v\nwant %+v", cp.Vault.SkippedResources, want)
	}
}

func TestCreateCheckpointSkipsResourcesBeingBackedUp(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now, AvailableAfter: time.Minute})
	server := `{"checkpoint":{"vault_id":"` + ExampleVaultID + `","parameters":{"resources":["` + ExampleServerID + `"]}}}`

	first := checkpointOf(t, create(t, s, server))
	if got := resourceIDs(first); !slices.Equal(got, []string{ExampleServerID}) {
		t.Fatalf("first backup: resources %v", got)
	}

	// While the first checkpoint protects the server, a second one skips it.
	second := checkpointOf(t, create(t, s, server))
	if len(second.Vault.Resources) != 0 {
		t.Errorf("second backup: resources %v, want none", resourceIDs(second))
	}
	want := []cbr.CheckpointCreateSkippedResource{{
		ID: ExampleServerID, Name: ExampleServerName, Type: otc.TypeServer,
		Code: CodeBeingBackedUp, Reason: msgBeingBackedUp,
	}}
	if !reflect.DeepEqual(second.Vault.SkippedResources, want) {
		t.Errorf("second backup: skipped %+v, want %+v", second.Vault.SkippedResources, want)
	}

	// A whole-vault backup takes the other resources and skips the busy one.
	whole := checkpointOf(t, create(t, s, `{"checkpoint":{"vault_id":"`+ExampleVaultID+`"}}`))
	if got, want := resourceIDs(whole), []string{DemoServerID, DemoVolumeID, DemoDataVolumeID}; !slices.Equal(got, want) {
		t.Errorf("whole vault while busy: resources %v, want %v", got, want)
	}

	clk.Advance(time.Minute)
	third := checkpointOf(t, create(t, s, server))
	if got := resourceIDs(third); !slices.Equal(got, []string{ExampleServerID}) {
		t.Errorf("after the first became available: resources %v", got)
	}
}

func TestCreateCheckpointWholeVault(t *testing.T) {
	s := start(t, Options{})
	tests := []struct {
		name      string
		body      string
		vaultName string
		retention int
		want      []cbr.CheckpointResourceResp
	}{
		{
			name: "example vault", vaultName: ExampleVaultName, retention: -1,
			body: `{"checkpoint":{"vault_id":"` + ExampleVaultID + `"}}`,
			want: []cbr.CheckpointResourceResp{
				{ID: ExampleServerID, Name: ExampleServerName, Type: otc.TypeServer, ResourceSize: cbr.NumberQuantity(40), ProtectStatus: "available"},
				{ID: DemoServerID, Name: DemoServerName, Type: otc.TypeServer, ResourceSize: cbr.NumberQuantity(20), ProtectStatus: "available"},
				{ID: DemoVolumeID, Name: DemoVolumeName, Type: otc.TypeVolume, ResourceSize: cbr.NumberQuantity(100), ProtectStatus: "available"},
				{ID: DemoDataVolumeID, Name: DemoDataVolumeName, Type: otc.TypeVolume, ResourceSize: cbr.NumberQuantity(200), ProtectStatus: "available"},
			},
		},
		{
			name: "weekly vault, empty parameters", vaultName: WeeklyVaultName, retention: 7,
			body: `{"checkpoint":{"vault_id":"` + WeeklyVaultID + `","parameters":{"resources":[],"resource_details":[]}}}`,
			want: []cbr.CheckpointResourceResp{
				{ID: WeeklyServerID, Name: WeeklyServerName, Type: otc.TypeServer, ResourceSize: cbr.NumberQuantity(80), ProtectStatus: "available"},
				{ID: WeeklyTurboID, Name: WeeklyTurboName, Type: otc.TypeSFSTurbo, ResourceSize: cbr.NumberQuantity(500), ProtectStatus: "available"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := checkpointOf(t, create(t, s, tt.body))
			if cp.Vault.Name != tt.vaultName {
				t.Errorf("vault name %q, want %q", cp.Vault.Name, tt.vaultName)
			}
			if !reflect.DeepEqual(cp.Vault.Resources, tt.want) {
				t.Errorf("resources\n got %+v\nwant %+v", cp.Vault.Resources, tt.want)
			}
			if len(cp.Vault.SkippedResources) != 0 {
				t.Errorf("skipped %+v", cp.Vault.SkippedResources)
			}
			x := cp.ExtraInfo
			if x == nil || x.RetentionDuration != tt.retention || x.Description != "" ||
				!regexp.MustCompile(`^manualbk_[0-9a-f]{4}$`).MatchString(x.Name) {
				t.Errorf("extra_info %+v, want retention %d, generated name, empty description", x, tt.retention)
			}
		})
	}
}

func TestCheckpointBecomesAvailable(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now, AvailableAfter: 10 * time.Second})

	created := checkpointOf(t, create(t, s, pageRequest))
	steps := []struct {
		advance time.Duration
		want    string
	}{
		{0, cbr.StatusProtecting},
		{9 * time.Second, cbr.StatusProtecting},
		{time.Second, cbr.StatusAvailable},
		{time.Hour, cbr.StatusAvailable},
	}
	for _, step := range steps {
		clk.Advance(step.advance)
		got := checkpointOf(t, get(t, s, created.ID))
		if got.Status != step.want {
			t.Errorf("after %v more: status %q, want %q", step.advance, got.Status, step.want)
		}
		for i, r := range got.Vault.Resources {
			if r.ProtectStatus != step.want {
				t.Errorf("after %v more: %s protect_status %q, want %q", step.advance, r.ID, r.ProtectStatus, step.want)
			}
			// The create answer says "available", as the page's example.
			got.Vault.Resources[i].ProtectStatus = cbr.StatusAvailable
		}
		// Apart from the statuses (also in the answer's bytes), GET answers
		// what create answered.
		got.Status = created.Status
		got.Raw, created.Raw = nil, nil
		if !reflect.DeepEqual(got, created) {
			t.Errorf("GET answer differs from create answer\n got %+v\nwant %+v", got, created)
		}
		if cp, ok := s.Checkpoint(created.ID); !ok || cp.Status != step.want {
			t.Errorf("Checkpoint(%s) = %q, %v; want %q", created.ID, cp.Status, ok, step.want)
		}
	}
	if _, ok := s.Checkpoint("no-such-id"); ok {
		t.Error("Checkpoint(no-such-id) reports it exists")
	}
}

func TestCheckpointAvailableOnNextRead(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now, AvailableAfter: -1})

	created := checkpointOf(t, create(t, s, pageRequest))
	if created.Status != cbr.StatusProtecting {
		t.Errorf("create answered %q, want protecting", created.Status)
	}
	if got := checkpointOf(t, get(t, s, created.ID)); got.Status != cbr.StatusAvailable {
		t.Errorf("first GET: status %q, want available", got.Status)
	}
	// Nothing stays busy, so the same resource can be backed up again at once.
	if again := checkpointOf(t, create(t, s, pageRequest)); len(again.Vault.Resources) != 1 {
		t.Errorf("second create: resources %v, want the server", resourceIDs(again))
	}
}

func TestDefaultAvailableAfter(t *testing.T) {
	clk := newClock()
	s := start(t, Options{Now: clk.Now})
	id := checkpointOf(t, create(t, s, pageRequest)).ID
	clk.Advance(DefaultAvailableAfter - time.Millisecond)
	if cp, _ := s.Checkpoint(id); cp.Status != cbr.StatusProtecting {
		t.Errorf("just before DefaultAvailableAfter: %q", cp.Status)
	}
	clk.Advance(time.Millisecond)
	if cp, _ := s.Checkpoint(id); cp.Status != cbr.StatusAvailable {
		t.Errorf("at DefaultAvailableAfter: %q", cp.Status)
	}
}

func TestPathPrefixAndProjectOption(t *testing.T) {
	const project = "0123456789abcdef0123456789abcdef"
	s := start(t, Options{ProjectID: project, Token: "secret"})

	a := call(t, s, http.MethodPost, "/cbr/api/v3/"+project+"/checkpoints", "secret", pageRequest)
	cp := checkpointOf(t, a)
	if cp.ProjectID != project {
		t.Errorf("project_id %q, want %q", cp.ProjectID, project)
	}
	if a := call(t, s, http.MethodGet, "/cbr/api/v3/"+project+"/checkpoints/"+cp.ID, "secret", ""); a.status != 200 {
		t.Errorf("GET with prefix: status %d", a.status)
	}
	if a := create(t, s, pageRequest); a.status != http.StatusUnauthorized {
		t.Errorf("default token on a server with its own token: status %d, want 401", a.status)
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	s := start(t, Options{})
	create(t, s, pageRequest)
	call(t, s, http.MethodPost, "/v3/auth/tokens", "", iamBody(DemoUser, DemoPassword, DemoDomain, DefaultProjectID))
	call(t, s, http.MethodGet, checkpointsPath+"/x?verbose=1", "", "")

	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests recorded, want 3", len(reqs))
	}
	if r := reqs[0]; r.Method != "POST" || r.Path != checkpointsPath || !r.HasToken || r.Token != DefaultToken ||
		string(r.Body) != pageRequest || r.Status != 200 || r.RequestID == "" || r.Header.Get("Content-Type") == "" {
		t.Errorf("create recorded as %+v", r)
	}
	if r := reqs[1]; r.Status != 201 || r.HasToken || strings.Contains(string(r.Body), DemoPassword) ||
		!strings.Contains(string(r.Body), `"[redacted]"`) || !strings.Contains(string(r.Body), DemoUser) {
		t.Errorf("token request recorded as %+v (body %s)", r, r.Body)
	}
	if r := reqs[2]; r.Status != 401 || r.Query != "verbose=1" || r.HasToken {
		t.Errorf("GET recorded as %+v", r)
	}
	reqs[0].Body[0] = 'X' // a copy
	if s.Requests()[0].Body[0] == 'X' {
		t.Error("Requests returns the emulator's own body slice")
	}

	s.Reset()
	if len(s.Requests()) != 0 || s.CountCreates() != 0 || s.IAMTokenRequests() != 0 || len(s.Checkpoints()) != 0 {
		t.Error("Reset kept state")
	}
}

func TestConcurrentCreates(t *testing.T) {
	s := start(t, Options{AvailableAfter: time.Hour})
	const n = 32
	answers := make([]answer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i], errs[i] = send(t.Context(), s, http.MethodPost, checkpointsPath, DefaultToken, pageRequest)
			s.Requests()
			s.Checkpoints()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	backedUp, skipped := 0, 0
	for _, a := range answers {
		cp := checkpointOf(t, a)
		backedUp += len(cp.Vault.Resources)
		for _, sk := range cp.Vault.SkippedResources {
			if sk.Code != CodeBeingBackedUp {
				t.Errorf("skip code %q", sk.Code)
			}
			skipped++
		}
	}
	if backedUp != 1 || skipped != n-1 {
		t.Errorf("server backed up %d times and skipped %d times; want 1 and %d", backedUp, skipped, n-1)
	}
	if got := s.CountCreates(); got != n {
		t.Errorf("CountCreates = %d, want %d", got, n)
	}
	if got := len(s.Checkpoints()); got != n {
		t.Errorf("%d checkpoints, want %d", got, n)
	}
}
