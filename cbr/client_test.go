package cbr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/otc"
)

// secretToken is distinctive so a leak into any error text is easy to find.
const secretToken = "MIIZ-SECRET-TOKEN-8c1f2e7d"

const project = "f841e01fd2b14e7fa41b6ae7aa6b0594"

// reply is one scripted answer of the fake server.
type reply struct {
	status int
	header map[string]string
	body   string
	hijack bool // drop the connection without answering
}

// seen is what the fake server received.
type seen struct {
	method, path, rawPath string
	rawQuery              string
	header                http.Header
	body                  []byte
}

// fake is a scripted CBR server; the last reply repeats when the script ends.
type fake struct {
	t       *testing.T
	mu      sync.Mutex
	replies []reply
	got     []seen
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.got)
	f.got = append(f.got, seen{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
	rp := f.replies[min(n, len(f.replies)-1)]
	f.mu.Unlock()
	if rp.hijack {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Error(err)
			return
		}
		conn.Close()
		return
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.status)
	io.WriteString(w, rp.body)
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.got...)
}

// sleeps records the waits the client asks for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// serve starts a fake with replies under the path prefix "/prefix" and
// returns a client for it whose waits are recorded, not slept.
func serve(t *testing.T, auth iam.Authorizer, replies []reply, opts ...cbr.Option) (*cbr.Client, *fake, *sleeps) {
	t.Helper()
	f := &fake{t: t, replies: replies}
	mux := http.NewServeMux()
	mux.Handle("/prefix/", f) // a client that drops the prefix gets 404 from the mux
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s := &sleeps{}
	all := append([]cbr.Option{cbr.WithSleep(s.sleep), cbr.WithRand(func() float64 { return 0.5 })}, opts...)
	c, err := cbr.New(srv.URL+"/prefix/", project, auth, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c, f, s
}

func okReply(t *testing.T) reply {
	return reply{status: 200, header: map[string]string{"Content-Type": "application/json"}, body: string(readFixture(t, "example_response.json"))}
}

func TestCreateCheckpointRequest(t *testing.T) {
	c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{okReply(t)}, cbr.WithUserAgent("restorepoint-test/1"))
	cp, err := c.CreateCheckpoint(context.Background(), exampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if cp.ID != "8b0851a8-adf3-4f4c-a914-dead08bf9664" || cp.Status != cbr.StatusProtecting || cp.Vault.Name != "vault-be94" {
		t.Errorf("checkpoint = %+v", cp)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	checks := []struct{ what, got, want string }{
		{"method", r.method, http.MethodPost},
		{"path", r.path, "/prefix/v3/" + project + "/checkpoints"},
		{"X-Auth-Token", r.header.Get("X-Auth-Token"), secretToken},
		{"Content-Type", r.header.Get("Content-Type"), "application/json;charset=UTF-8"},
		{"Accept", r.header.Get("Accept"), "application/json"},
		{"User-Agent", r.header.Get("User-Agent"), "restorepoint-test/1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	assertJSONEqual(t, r.body, readFixture(t, "example_request.json"))
}

func TestGetCheckpoint(t *testing.T) {
	c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{okReply(t)})
	cp, err := c.GetCheckpoint(context.Background(), "a/b c")
	if err != nil {
		t.Fatal(err)
	}
	if cp.ID != "8b0851a8-adf3-4f4c-a914-dead08bf9664" {
		t.Errorf("id = %q", cp.ID)
	}
	r := f.requests()[0]
	if r.method != http.MethodGet || r.rawPath != "/prefix/v3/"+project+"/checkpoints/a%2Fb%20c" {
		t.Errorf("request = %s %s, want GET with escaped id", r.method, r.rawPath)
	}
	if r.header.Get("X-Auth-Token") != secretToken || len(r.body) != 0 {
		t.Errorf("token %q, body %q", r.header.Get("X-Auth-Token"), r.body)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		endpoint, project string
		auth              iam.Authorizer
		opts              []cbr.Option
		wantEndpoint      string // "" means New fails
	}{
		{"https://cbr.eu-de.otc.t-systems.com", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, "https://cbr.eu-de.otc.t-systems.com"},
		{"https://cbr.eu-de.otc.t-systems.com/", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, "https://cbr.eu-de.otc.t-systems.com"},
		{"http://127.0.0.1:8080/prefix/", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, "http://127.0.0.1:8080/prefix"},
		{"https://cbr.eu-de.otc.t-systems.com/v3", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, ""},
		{"cbr.eu-de.otc.t-systems.com", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, ""},
		{"ftp://host", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, ""},
		{"https://user:pw@host", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, ""},
		{"https://host?x=1", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, ""},
		{"://bad", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, ""},
		{"https://host", " ", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, nil, ""},
		{"https://host", "p", nil, nil, ""},
		{"https://host", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, []cbr.Option{cbr.WithMaxAttempts(0)}, ""},
		{"https://host", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, []cbr.Option{cbr.WithBackoff(time.Second, time.Millisecond)}, ""},
		{"https://host", "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")}, []cbr.Option{cbr.WithHTTPClient(nil)}, ""},
	}
	for _, tt := range tests {
		c, err := cbr.New(tt.endpoint, tt.project, tt.auth, tt.opts...)
		if tt.wantEndpoint == "" {
			if err == nil {
				t.Errorf("New(%q, %q) succeeded, want error", tt.endpoint, tt.project)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%q) = %v", tt.endpoint, err)
			continue
		}
		if c.Endpoint() != tt.wantEndpoint || c.ProjectID() != tt.project {
			t.Errorf("New(%q): Endpoint %q ProjectID %q", tt.endpoint, c.Endpoint(), c.ProjectID())
		}
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name      string
		reply     reply
		wantCode  string
		wantMsg   string
		wantReqID string
		wantClass failure.Class
		wantText  string
	}{
		{
			name:      "CBR shape",
			reply:     reply{status: 404, header: map[string]string{"X-Request-Id": "req-1"}, body: `{"error_code":"BackupService.6105","error_msg":"vault does not exist"}`},
			wantCode:  "BackupService.6105",
			wantMsg:   "vault does not exist",
			wantReqID: "req-1",
			wantClass: failure.Rejected,
			wantText:  "cbr: create checkpoint: 404 BackupService.6105: vault does not exist (request id req-1)",
		},
		{
			name:      "keystone shape",
			reply:     reply{status: 403, body: `{"error":{"code":403,"message":"You are not authorized","title":"Forbidden"}}`},
			wantCode:  "403",
			wantMsg:   "You are not authorized",
			wantClass: failure.Rejected,
			wantText:  ": 403 403: You are not authorized",
		},
		{
			name:      "code and message shape",
			reply:     reply{status: 400, body: `{"code":"APIGW.0101","message":"The API does not exist","request_id":"body-id"}`},
			wantCode:  "APIGW.0101",
			wantMsg:   "The API does not exist",
			wantReqID: "body-id",
			wantClass: failure.Rejected,
		},
		{
			name:      "non-JSON body",
			reply:     reply{status: 502, body: "  <html>\n<h1>Bad   Gateway</h1>\n</html>\n"},
			wantMsg:   "<html> <h1>Bad Gateway</h1> </html>",
			wantClass: failure.Unavailable,
		},
		{
			name:      "empty body uses status text",
			reply:     reply{status: 409},
			wantClass: failure.Rejected,
			wantText:  ": 409: Conflict",
		},
		{
			name:      "long body truncated",
			reply:     reply{status: 400, body: strings.Repeat("x", 100_000)},
			wantMsg:   strings.Repeat("x", 512) + "...",
			wantClass: failure.Rejected,
		},
		{
			name:      "BackupService.0002 is unavailable",
			reply:     reply{status: 500, body: `{"error_code":"BackupService.0002","error_msg":"Resources are being backed up. Try again later."}`},
			wantCode:  "BackupService.0002",
			wantMsg:   "Resources are being backed up. Try again later.",
			wantClass: failure.Unavailable,
		},
		{
			name:      "throttled",
			reply:     reply{status: 429, body: `{"error_code":"APIGW.0308","error_msg":"The request is throttled."}`},
			wantCode:  "APIGW.0308",
			wantMsg:   "The request is throttled.",
			wantClass: failure.Throttled,
		},
		{
			name:      "unauthorized",
			reply:     reply{status: 401, body: `{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}`},
			wantCode:  "401",
			wantMsg:   "The request you have made requires authentication.",
			wantClass: failure.Unauthorized,
		},
		{
			name:      "gateway echoes the token",
			reply:     reply{status: 400, body: `{"error_code":"X","error_msg":"bad header X-Auth-Token: ` + secretToken + `"}`},
			wantCode:  "X",
			wantMsg:   "bad header X-Auth-Token: [redacted]",
			wantClass: failure.Rejected,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{tt.reply}, cbr.WithMaxAttempts(1))
			_, err := c.CreateCheckpoint(context.Background(), exampleRequest())
			var apiErr *cbr.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if apiErr.StatusCode != tt.reply.status || apiErr.Code != tt.wantCode || apiErr.RequestID != tt.wantReqID || apiErr.Method != "POST" {
				t.Errorf("APIError = %+v", apiErr)
			}
			if tt.wantMsg != "" && apiErr.Message != tt.wantMsg {
				t.Errorf("Message = %q, want %q", apiErr.Message, tt.wantMsg)
			}
			if !strings.HasSuffix(apiErr.URL, "/prefix/v3/"+project+"/checkpoints") {
				t.Errorf("URL = %q", apiErr.URL)
			}
			if got := failure.ClassOf(err); got != tt.wantClass {
				t.Errorf("ClassOf = %q, want %q", got, tt.wantClass)
			}
			if tt.wantText != "" && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Error() = %q, want it to contain %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), project) || strings.Contains(err.Error(), "http") {
				t.Errorf("Error() names the URL or the project: %q", err)
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Errorf("Error() leaks the token: %q", err)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestMalformedSuccess(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", "<html>ok</html>"},
		{"no checkpoint id", `{"checkpoint":{"status":"protecting"}}`},
		{"bad created_at", `{"checkpoint":{"id":"c","created_at":"yesterday"}}`},
		{"too large", `{"checkpoint":{"id":"c","description":"` + strings.Repeat("x", 5<<20) + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{status: 200, header: map[string]string{"X-Request-Id": "r9"}, body: tt.body}})
			_, err := c.CreateCheckpoint(context.Background(), exampleRequest())
			if !errors.Is(err, cbr.ErrMalformedResponse) {
				t.Fatalf("err = %v, want ErrMalformedResponse", err)
			}
			if failure.ClassOf(err) != failure.Unavailable || !strings.Contains(err.Error(), "request id r9") {
				t.Errorf("err = %v, class %q", err, failure.ClassOf(err))
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (a 200 is never retried)", n)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	ok := okReply(t)
	unavailable0002 := reply{status: 500, body: `{"error_code":"BackupService.0002","error_msg":"Resources are being backed up. Try again later."}`}
	tests := []struct {
		name        string
		replies     []reply
		opts        []cbr.Option
		wantErr     failure.Class // "" means success
		wantStatus  int           // of the returned APIError
		wantReqs    int
		wantWaits   []time.Duration
		wantNetwork bool
		wantLost    bool // the error wraps cbr.ErrAnswerLost
	}{
		{
			name:      "429 with Retry-After seconds then success",
			replies:   []reply{{status: 429, header: map[string]string{"Retry-After": "3"}}, ok},
			wantReqs:  2,
			wantWaits: []time.Duration{3 * time.Second},
		},
		{
			name:      "Retry-After shorter than backoff",
			replies:   []reply{{status: 503, header: map[string]string{"Retry-After": "0"}}, ok},
			opts:      []cbr.Option{cbr.WithBackoff(time.Second, 10*time.Second)},
			wantReqs:  2,
			wantWaits: []time.Duration{500 * time.Millisecond},
		},
		{
			name:      "503 backs off exponentially with jitter",
			replies:   []reply{{status: 503}, {status: 503}, {status: 503}, ok},
			wantReqs:  4,
			wantWaits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond},
		},
		{
			name:      "backoff capped",
			replies:   []reply{{status: 503}, {status: 503}, {status: 503}, {status: 503}, ok},
			opts:      []cbr.Option{cbr.WithMaxAttempts(5), cbr.WithBackoff(time.Second, 2*time.Second)},
			wantReqs:  5,
			wantWaits: []time.Duration{500 * time.Millisecond, time.Second, time.Second, time.Second},
		},
		{
			name:      "500 BackupService.0002 retried",
			replies:   []reply{unavailable0002, ok},
			wantReqs:  2,
			wantWaits: []time.Duration{100 * time.Millisecond},
		},
		{
			name:       "max attempts respected",
			replies:    []reply{unavailable0002},
			opts:       []cbr.Option{cbr.WithMaxAttempts(3)},
			wantErr:    failure.Unavailable,
			wantStatus: 500,
			wantReqs:   3,
			wantWaits:  []time.Duration{100 * time.Millisecond, 200 * time.Millisecond},
		},
		{
			name:       "one attempt means no retry",
			replies:    []reply{{status: 429}},
			opts:       []cbr.Option{cbr.WithMaxAttempts(1)},
			wantErr:    failure.Throttled,
			wantStatus: 429,
			wantReqs:   1,
		},
		{
			name:       "no retry on 400",
			replies:    []reply{{status: 400, body: `{"error_code":"BackupService.6125","error_msg":"a backup task is in progress"}`}, ok},
			wantErr:    failure.Rejected,
			wantStatus: 400,
			wantReqs:   1,
		},
		{
			name:       "no retry on 404",
			replies:    []reply{{status: 404}, ok},
			wantErr:    failure.Rejected,
			wantStatus: 404,
			wantReqs:   1,
		},
		{
			name:       "Retry-After beyond the limit gives up",
			replies:    []reply{{status: 429, header: map[string]string{"Retry-After": "3600"}}, ok},
			wantErr:    failure.Throttled,
			wantStatus: 429,
			wantReqs:   1,
		},
		{
			name:        "connection dropped after sending: the answer is lost, no retry",
			replies:     []reply{{hijack: true}, ok},
			wantErr:     failure.Unavailable,
			wantReqs:    1,
			wantNetwork: true,
			wantLost:    true,
		},
		{
			name:       "502 from a gateway: the answer is lost, no retry",
			replies:    []reply{{status: 502}, ok},
			wantErr:    failure.Unavailable,
			wantStatus: 502,
			wantReqs:   1,
			wantLost:   true,
		},
		{
			name:       "504 from a gateway: the answer is lost, no retry",
			replies:    []reply{{status: 504}, ok},
			wantErr:    failure.Unavailable,
			wantStatus: 504,
			wantReqs:   1,
			wantLost:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, s := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, tt.replies, tt.opts...)
			cp, err := c.CreateCheckpoint(context.Background(), exampleRequest())
			if tt.wantErr == "" {
				if err != nil || cp.ID == "" {
					t.Fatalf("CreateCheckpoint = %+v, %v", cp, err)
				}
			} else {
				if got := failure.ClassOf(err); got != tt.wantErr {
					t.Fatalf("err = %v, class %q, want %q", err, got, tt.wantErr)
				}
				var apiErr *cbr.APIError
				if errors.As(err, &apiErr) != (tt.wantStatus != 0) || (apiErr != nil && apiErr.StatusCode != tt.wantStatus) {
					t.Errorf("err = %v, want status %d", err, tt.wantStatus)
				}
				if errors.Is(err, cbr.ErrAnswerLost) != tt.wantLost {
					t.Errorf("err = %v; wraps ErrAnswerLost: %v, want %v", err, !tt.wantLost, tt.wantLost)
				}
				if tt.wantNetwork {
					var ne net.Error
					if !errors.As(err, &ne) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("err = %v (%T), want a network error", err, errors.Unwrap(err))
					}
				}
				if strings.Contains(err.Error(), secretToken) {
					t.Errorf("Error() leaks the token: %q", err)
				}
			}
			if n := len(f.requests()); n != tt.wantReqs {
				t.Errorf("%d requests, want %d", n, tt.wantReqs)
			}
			if got := s.waits(); !equalDurations(got, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
			for i, r := range f.requests() {
				assertJSONEqual(t, r.body, readFixture(t, "example_request.json"))
				if r.header.Get("X-Auth-Token") != secretToken {
					t.Errorf("request %d token = %q", i, r.header.Get("X-Auth-Token"))
				}
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRetryAfterHTTPDate(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	date := now.Add(7 * time.Second).Format(http.TimeFormat)
	c, f, s := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)},
		[]reply{{status: 503, header: map[string]string{"Retry-After": date}}, okReply(t)},
		cbr.WithClock(func() time.Time { return now }))
	if _, err := c.CreateCheckpoint(context.Background(), exampleRequest()); err != nil {
		t.Fatal(err)
	}
	if got := s.waits(); !equalDurations(got, []time.Duration{7 * time.Second}) || len(f.requests()) != 2 {
		t.Errorf("waits = %v, requests %d", got, len(f.requests()))
	}
}

// A Retry-After beyond the context's deadline returns the throttled error at
// once, with the real clock and the real sleep.
func TestDeadlineShorterThanRetryAfter(t *testing.T) {
	f := &fake{t: t, replies: []reply{{status: 429, header: map[string]string{"Retry-After": "30"}, body: `{"error_code":"APIGW.0308","error_msg":"throttled"}`}, okReply(t)}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := cbr.New(srv.URL, project, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.CreateCheckpoint(ctx, exampleRequest())
	elapsed := time.Since(start)
	var apiErr *cbr.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.RetryAfter != 30*time.Second {
		t.Fatalf("err = %v, want the 429 APIError with RetryAfter 30s", err)
	}
	if failure.ClassOf(err) != failure.Throttled || !failure.Retryable(err) {
		t.Errorf("class %q", failure.ClassOf(err))
	}
	if elapsed > time.Second {
		t.Errorf("took %v, want a prompt return", elapsed)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// Cancelling during a backoff wait returns the last error, also wrapping the
// context error.
func TestCancelDuringWait(t *testing.T) {
	f := &fake{t: t, replies: []reply{{status: 503, header: map[string]string{"Retry-After": "20"}}}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := cbr.New(srv.URL, project, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.CreateCheckpoint(ctx, exampleRequest())
	var apiErr *cbr.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the 503 and context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("did not stop waiting on cancel")
	}
}

// rotating hands out token-1, token-2, ... and records invalidations.
type rotating struct {
	mu          sync.Mutex
	n           int
	invalidated []string
}

func (r *rotating) Token(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		r.n = 1
	}
	return tokenN(r.n), nil
}

func (r *rotating) Invalidate(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, token)
	r.n++
}

func tokenN(n int) string { return secretToken + "-" + string(rune('0'+n)) }

func TestUnauthorized(t *testing.T) {
	unauthorized := reply{status: 401, body: `{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}`}
	tests := []struct {
		name            string
		replies         []reply
		wantErr         bool
		wantTokens      []string // X-Auth-Token of each request
		wantInvalidated []string
		wantWaits       int // the reauthorization retry does not wait
	}{
		{
			name:            "fresh token succeeds",
			replies:         []reply{unauthorized, okReply(t)},
			wantTokens:      []string{tokenN(1), tokenN(2)},
			wantInvalidated: []string{tokenN(1)},
		},
		{
			name:            "401 twice is an error",
			replies:         []reply{unauthorized},
			wantErr:         true,
			wantTokens:      []string{tokenN(1), tokenN(2)},
			wantInvalidated: []string{tokenN(1)},
		},
		{
			name:            "reauthorization then throttling",
			replies:         []reply{unauthorized, {status: 429}, okReply(t)},
			wantTokens:      []string{tokenN(1), tokenN(2), tokenN(2)},
			wantInvalidated: []string{tokenN(1)},
			wantWaits:       1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &rotating{}
			c, f, s := serve(t, iam.TokenAuthorizer{Source: src}, tt.replies, cbr.WithMaxAttempts(2))
			_, err := c.CreateCheckpoint(context.Background(), exampleRequest())
			if tt.wantErr {
				var apiErr *cbr.APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || failure.ClassOf(err) != failure.Unauthorized || failure.Retryable(err) {
					t.Fatalf("err = %v, want the 401 APIError, class unauthorized", err)
				}
				if strings.Contains(err.Error(), secretToken) {
					t.Errorf("Error() leaks the token: %q", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var tokens []string
			for _, r := range f.requests() {
				tokens = append(tokens, r.header.Get("X-Auth-Token"))
			}
			if strings.Join(tokens, ",") != strings.Join(tt.wantTokens, ",") {
				t.Errorf("tokens sent = %v, want %v", tokens, tt.wantTokens)
			}
			if strings.Join(src.invalidated, ",") != strings.Join(tt.wantInvalidated, ",") {
				t.Errorf("invalidated = %v, want %v", src.invalidated, tt.wantInvalidated)
			}
			if n := len(s.waits()); n != tt.wantWaits {
				t.Errorf("%d waits (%v), want %d", n, s.waits(), tt.wantWaits)
			}
		})
	}
}

// Without a TokenInvalidator a 401 is returned at once.
func TestUnauthorizedStaticToken(t *testing.T) {
	c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{status: 401}, okReply(t)})
	_, err := c.CreateCheckpoint(context.Background(), exampleRequest())
	if failure.ClassOf(err) != failure.Unauthorized || len(f.requests()) != 1 {
		t.Errorf("err = %v, %d requests", err, len(f.requests()))
	}
}

type failingSource struct{ err error }

// tokenFailure is a token source error that states its class, as the iam
// package's errors do.
type tokenFailure struct{ temporary bool }

func (e tokenFailure) Error() string {
	return fmt.Sprintf("token failure (temporary: %v)", e.temporary)
}
func (e tokenFailure) FailureClass() failure.Class {
	if e.temporary {
		return failure.Unavailable
	}
	return failure.Unauthorized
}

func (f failingSource) Token(context.Context) (string, error) { return "", f.err }

func TestTokenErrors(t *testing.T) {
	boom := errors.New("iam unreachable")
	refused := tokenFailure{temporary: false}
	down := tokenFailure{temporary: true}
	tests := []struct {
		name      string
		source    iam.TokenSource
		wantIs    error
		wantClass failure.Class
	}{
		{"source fails", failingSource{boom}, boom, failure.Unavailable},
		{"source says credentials refused", failingSource{refused}, refused, failure.Unauthorized},
		{"source says try later", failingSource{down}, down, failure.Unavailable},
		{"empty static token", iam.NewStatic(""), nil, failure.Unauthorized},
		{"source returns empty token", failingSource{nil}, nil, failure.Unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, _ := serve(t, iam.TokenAuthorizer{Source: tt.source}, []reply{okReply(t)})
			_, err := c.CreateCheckpoint(context.Background(), exampleRequest())
			if err == nil || !strings.Contains(err.Error(), "authorize: ") {
				t.Fatalf("err = %v, want an authorize error", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v does not wrap %v", err, tt.wantIs)
			}
			var te *cbr.AuthError
			if !errors.As(err, &te) {
				t.Errorf("err = %T, want a *cbr.AuthError in the chain", err)
			}
			if got := failure.ClassOf(err); got != tt.wantClass {
				t.Errorf("class = %q, want %q", got, tt.wantClass)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests, want 0", n)
			}
		})
	}
}

// classed is an error from another package that decides its own class.
type classed struct{}

func (classed) Error() string               { return "bad credentials" }
func (classed) FailureClass() failure.Class { return failure.Unauthorized }

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		err  error
		want failure.Class
	}{
		{nil, ""},
		{failure.FieldErrors{{Field: "checkpoint.vault_id", Rule: "required"}}, failure.Invalid},
		{&cbr.APIError{StatusCode: 400}, failure.Rejected},
		{&cbr.APIError{StatusCode: 401}, failure.Unauthorized},
		{&cbr.APIError{StatusCode: 403}, failure.Rejected},
		{&cbr.APIError{StatusCode: 404, Code: "BackupService.6105"}, failure.Rejected},
		{&cbr.APIError{StatusCode: 409}, failure.Rejected},
		{&cbr.APIError{StatusCode: 429}, failure.Throttled},
		{&cbr.APIError{StatusCode: 500, Code: "BackupService.0002"}, failure.Unavailable},
		{&cbr.APIError{StatusCode: 500, Code: "BackupService.9910"}, failure.Unavailable},
		{&cbr.APIError{StatusCode: 503}, failure.Unavailable},
		{&cbr.APIError{StatusCode: 504}, failure.Unavailable},
		{context.DeadlineExceeded, failure.Unavailable},
		{context.Canceled, failure.Unavailable},
		{io.ErrUnexpectedEOF, failure.Unavailable},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, failure.Unavailable},
		{cbr.ErrMalformedResponse, failure.Unavailable},
		{wrap(&cbr.APIError{StatusCode: 429}), failure.Throttled},
		{wrap(classed{}), failure.Unauthorized},
	}
	for _, tt := range tests {
		if got := failure.ClassOf(tt.err); got != tt.want {
			t.Errorf("ClassOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
		wantRetry := tt.want == failure.Throttled || tt.want == failure.Unavailable
		if got := failure.Retryable(tt.err); got != wantRetry {
			t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, wantRetry)
		}
	}
}

// A request that got no answer says why, without the URL or the socket
// addresses net/http names.
func TestTransportErrorText(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connections are refused
	c, err := cbr.New("http://"+addr, project, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, cbr.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateCheckpoint(context.Background(), exampleRequest())
	var te *otc.TransportError
	if !errors.As(err, &te) || failure.ClassOf(err) != failure.Unavailable || errors.Is(err, cbr.ErrAnswerLost) {
		t.Fatalf("err = %v, want an unavailable *otc.TransportError (nothing was sent)", err)
	}
	if msg := err.Error(); msg != "cbr: create checkpoint: no answer: could not connect: connection refused" {
		t.Errorf("Error() = %q", msg)
	}
}

func wrap(err error) error { return &wrapped{err} }

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "outer: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func TestAPIErrorText(t *testing.T) {
	e := &cbr.APIError{StatusCode: 404, Code: "BackupService.6105", Message: "vault does not exist", RequestID: "abc",
		Method: "POST", URL: "https://cbr.eu-de.otc.t-systems.com/v3/p/checkpoints"}
	// The URL (it holds the project id) is the error's, not its text's.
	want := "404 BackupService.6105: vault does not exist (request id abc)"
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant       %q", e.Error(), want)
	}
}

// Every error the client returns is free of the token.
func TestTokenNeverInErrors(t *testing.T) {
	scripts := [][]reply{
		{{status: 400, body: `{"error_code":"BackupService.9900","error_msg":"Invalid vault_id provided."}`}},
		{{status: 401, body: secretToken}},
		{{status: 429, header: map[string]string{"Retry-After": "1"}}},
		{{status: 500, body: "echo: X-Auth-Token=" + secretToken}},
		{{status: 200, body: "{" + secretToken}},
		{{status: 200, body: `{"checkpoint":{"id":"c","created_at":"` + secretToken + `"}}`}},
		{{hijack: true}},
	}
	for i, script := range scripts {
		c, _, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, script, cbr.WithMaxAttempts(2))
		_, err1 := c.CreateCheckpoint(context.Background(), exampleRequest())
		_, err2 := c.GetCheckpoint(context.Background(), "id")
		for _, err := range []error{err1, err2} {
			if err == nil {
				t.Errorf("script %d: no error", i)
				continue
			}
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), secretToken) {
					t.Errorf("script %d: error leaks the token: %q", i, e)
				}
			}
			if b, _ := json.Marshal(err); strings.Contains(string(b), secretToken) {
				t.Errorf("script %d: JSON of error leaks the token: %s", i, b)
			}
		}
	}
}

// A redirect is not followed, so the token never reaches another host.
func TestRedirectNotFollowed(t *testing.T) {
	other := &fake{t: t, replies: []reply{okReply(t)}}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{status: http.StatusTemporaryRedirect, header: map[string]string{"Location": otherSrv.URL + "/v3/x/checkpoints"}}},
		cbr.WithHTTPClient(&http.Client{}))
	_, err := c.CreateCheckpoint(context.Background(), exampleRequest())
	var apiErr *cbr.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTemporaryRedirect || failure.ClassOf(err) != failure.Rejected {
		t.Fatalf("err = %v, want the 307 as a rejected APIError", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("redirect target got %d requests", n)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// Real IAM tokens are several kilobytes long, longer than the part of an
// error body the client keeps: an echoed token must not survive even in part.
func TestLongTokenNeverInErrors(t *testing.T) {
	const chunk = "SECRETPART"
	long := "MIIL-" + strings.Repeat(chunk, 400)
	scripts := [][]reply{
		{{status: 400, body: `{"error_code":"BackupService.9900","error_msg":"bad header X-Auth-Token: ` + long + `"}`}},
		{{status: 403, body: `{"error":{"code":403,"message":"token ` + long + ` refused","title":"Forbidden"}}`}},
		{{status: 500, body: "echo: X-Auth-Token=" + long}},
		{{status: 502, body: long}},
		{{status: 200, body: `{"checkpoint":{"id":"c","created_at":{"echo":"` + long + `"}}}`}},
		{{status: 200, body: `{"checkpoint":{"id":"c","vault":{"resources":[{"id":"r","type":"t","resource_size":{"echo":"` + long + `"}}]}}}`}},
	}
	for i, script := range scripts {
		c, _, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(iam.Secret(long))}, script, cbr.WithMaxAttempts(1))
		_, err := c.CreateCheckpoint(context.Background(), exampleRequest())
		if err == nil {
			t.Errorf("script %d: no error", i)
			continue
		}
		for e := error(err); e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), chunk+chunk) {
				t.Errorf("script %d: error leaks part of the token: %q", i, e)
			}
		}
	}
}
