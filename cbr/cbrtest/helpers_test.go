package cbrtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
)

// checkpointsPath is the create path of the default project.
const checkpointsPath = "/v3/" + DefaultProjectID + "/checkpoints"

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock returns a clock set to the page example's created_at.
func newClock() *clock {
	return &clock{t: time.Date(2019, 5, 10, 7, 59, 12, 733_000_000, time.UTC)}
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start starts an emulator server that is closed when the test ends.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

// answer is an HTTP answer read in full.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request to s over loopback and reads the answer.
func call(t *testing.T, s *Server, method, path, token, body string) answer {
	t.Helper()
	a, err := send(t.Context(), s, method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// send sends a request to s over loopback and reads the answer; it may be
// called from any goroutine.
func send(ctx context.Context, s *Server, method, path, token, body string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	resp, err := s.Client().Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("read body: %w", err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// create posts a create-checkpoint body with the default token.
func create(t *testing.T, s *Server, body string) answer {
	t.Helper()
	return call(t, s, http.MethodPost, checkpointsPath, DefaultToken, body)
}

// get reads a checkpoint with the default token.
func get(t *testing.T, s *Server, id string) answer {
	t.Helper()
	return call(t, s, http.MethodGet, checkpointsPath+"/"+id, DefaultToken, "")
}

// checkpointOf decodes a 200 checkpoint answer.
func checkpointOf(t *testing.T, a answer) cbr.CheckpointCreate {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", a.status, a.body)
	}
	var resp cbr.CheckpointResponse
	if err := json.Unmarshal(a.body, &resp); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
	return resp.Checkpoint
}

// errorOf returns the code and message of an error body in either shape: the
// CBR error_code, or "keystone:<code>" for the Keystone shape.
func errorOf(t *testing.T, body []byte) (code, msg string) {
	t.Helper()
	var e struct {
		ErrorCode string `json:"error_code"`
		ErrorMsg  string `json:"error_msg"`
		Error     *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Title   string `json:"title"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	switch {
	case e.Error != nil:
		if e.Error.Title == "" || e.Error.Message == "" {
			t.Errorf("keystone error %s lacks title or message", body)
		}
		return "keystone:" + strconv.Itoa(e.Error.Code), e.Error.Message
	case e.ErrorCode != "":
		return e.ErrorCode, e.ErrorMsg
	}
	t.Fatalf("error body %s has neither shape", body)
	return "", ""
}

// resourceIDs returns the ids of the resources backed up in cp.
func resourceIDs(cp cbr.CheckpointCreate) []string {
	var ids []string
	for _, r := range cp.Vault.Resources {
		ids = append(ids, r.ID)
	}
	return ids
}

// iamBody returns a password token request body.
func iamBody(user, password, domain, project string) string {
	b, _ := json.Marshal(map[string]any{
		"auth": map[string]any{
			"identity": map[string]any{
				"methods": []string{"password"},
				"password": map[string]any{"user": map[string]any{
					"name": user, "password": password, "domain": map[string]any{"name": domain},
				}},
			},
			"scope": map[string]any{"project": map[string]any{"id": project}},
		},
	})
	return string(b)
}

// issue gets an IAM token for the demo user and fails the test otherwise.
func issue(t *testing.T, s *Server) string {
	t.Helper()
	a := call(t, s, http.MethodPost, "/v3/auth/tokens?nocatalog=true", "",
		iamBody(DemoUser, DemoPassword, DemoDomain, DefaultProjectID))
	if a.status != http.StatusCreated {
		t.Fatalf("token: status %d, body %s", a.status, a.body)
	}
	token := a.header.Get("X-Subject-Token")
	if token == "" {
		t.Fatal("token: no X-Subject-Token header")
	}
	return token
}
