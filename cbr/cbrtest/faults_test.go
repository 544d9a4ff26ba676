package cbrtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFaultErrorAnswers(t *testing.T) {
	tests := []struct {
		name           string
		fault          Fault
		wantStatus     int
		wantCode       string
		wantMsg        string
		wantRetryAfter string
	}{
		{"throttled", Fault{Status: 429, RetryAfter: "3"}, 429, CodeThrottled, "Too Many Requests", "3"},
		{"code and message", Fault{Status: 500, Code: CodeBeingBackedUp, Message: msgBeingBackedUp}, 500, CodeBeingBackedUp, msgBeingBackedUp, ""},
		{"status only", Fault{Status: 503}, 503, CodeUnknown, "Service Unavailable", ""},
		{"code only", Fault{Code: "BackupService.6125"}, 500, "BackupService.6125", "Internal Server Error", ""},
		{"not found", Fault{Status: 404}, 404, CodeVaultNotFound, "Not Found", ""},
		{"bad request", Fault{Status: 400, Message: "no"}, 400, CodeInvalidParameter, "no", ""},
		{"keystone shape", Fault{Status: 502, KeystoneShape: true, Message: "Bad gateway."}, 502, "keystone:502", "Bad gateway.", ""},
		{"keystone shape without status", Fault{KeystoneShape: true}, 500, "keystone:500", "Internal Server Error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			s.Inject(tt.fault)

			a := create(t, s, pageRequest)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.wantStatus, a.body)
			}
			if code, msg := errorOf(t, a.body); code != tt.wantCode || msg != tt.wantMsg {
				t.Errorf("error %q %q, want %q %q", code, msg, tt.wantCode, tt.wantMsg)
			}
			if got := a.header.Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetryAfter)
			}
			if n := s.CountCreates(); n != 0 {
				t.Errorf("a faulted create took effect: CountCreates = %d", n)
			}
			if a := create(t, s, pageRequest); a.status != http.StatusOK {
				t.Errorf("the fault outlived its Times: status %d", a.status)
			}
		})
	}
}

func TestFaultMatching(t *testing.T) {
	s := start(t, Options{})
	s.Inject(Fault{Method: "get", Path: "/checkpoints/", Status: 500, Times: 2})
	s.Inject(Fault{Path: "/v3/auth/tokens", Status: 429, Times: -1})
	s.Inject(Fault{Status: 418}) // matches anything, but only after the ones before

	if a := call(t, s, http.MethodGet, checkpointsPath+"/x", DefaultToken, ""); a.status != 500 {
		t.Errorf("GET 1: status %d, want 500", a.status)
	}
	if a := create(t, s, pageRequest); a.status != 418 {
		t.Errorf("POST: status %d, want 418 from the catch-all fault", a.status)
	}
	if a := call(t, s, http.MethodGet, checkpointsPath+"/x", DefaultToken, ""); a.status != 500 {
		t.Errorf("GET 2: status %d, want 500", a.status)
	}
	if a := call(t, s, http.MethodGet, checkpointsPath+"/x", DefaultToken, ""); a.status != 404 {
		t.Errorf("GET 3: status %d, want 404 (faults used up)", a.status)
	}
	for i := range 3 {
		a := call(t, s, http.MethodPost, "/v3/auth/tokens", "", iamBody(DemoUser, DemoPassword, DemoDomain, DefaultProjectID))
		if a.status != 429 {
			t.Errorf("token request %d: status %d, want 429 (Times < 0 never ends)", i, a.status)
		}
	}
	s.ClearFaults()
	issue(t, s)
	if n := s.IAMTokenRequests(); n != 4 {
		t.Errorf("IAMTokenRequests = %d, want 4 (faulted ones count)", n)
	}
}

func TestFaultDelay(t *testing.T) {
	s := start(t, Options{})

	t.Run("answers late", func(t *testing.T) {
		s.Inject(Fault{Delay: 50 * time.Millisecond, RetryAfter: "1"})
		begin := time.Now()
		a := create(t, s, pageRequest)
		if elapsed := time.Since(begin); elapsed < 50*time.Millisecond {
			t.Errorf("answered after %v, want at least 50ms", elapsed)
		}
		if a.status != http.StatusOK || a.header.Get("Retry-After") != "1" {
			t.Errorf("status %d, Retry-After %q; want the normal answer with the header", a.status, a.header.Get("Retry-After"))
		}
	})

	t.Run("client gives up", func(t *testing.T) {
		s.Inject(Fault{Delay: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		begin := time.Now()
		_, err := send(ctx, s, http.MethodPost, checkpointsPath, DefaultToken, pageRequest)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(begin); elapsed > 10*time.Second {
			t.Errorf("gave up after %v", elapsed)
		}
		// The abandoned request created nothing, and the emulator still answers.
		if a := create(t, s, `{"checkpoint":{"vault_id":"`+WeeklyVaultID+`"}}`); a.status != http.StatusOK {
			t.Errorf("next request: status %d", a.status)
		}
	})

	t.Run("latency", func(t *testing.T) {
		s.SetLatency(30 * time.Millisecond)
		defer s.SetLatency(0)
		begin := time.Now()
		call(t, s, http.MethodGet, checkpointsPath+"/x", DefaultToken, "")
		call(t, s, http.MethodGet, checkpointsPath+"/x", DefaultToken, "")
		if elapsed := time.Since(begin); elapsed < 60*time.Millisecond {
			t.Errorf("two requests took %v, want at least 60ms", elapsed)
		}
	})
}

func TestFaultDrop(t *testing.T) {
	s := start(t, Options{})
	s.Inject(Fault{Method: http.MethodPost, Drop: true})
	if _, err := send(t.Context(), s, http.MethodPost, checkpointsPath, DefaultToken, pageRequest); err == nil {
		t.Fatal("dropped POST: no error")
	}
	if n := s.CountCreates(); n != 0 {
		t.Errorf("dropped create took effect: CountCreates = %d", n)
	}
	if reqs := s.Requests(); len(reqs) != 1 || reqs[0].Status != 0 {
		t.Errorf("dropped request recorded as %+v, want status 0", reqs)
	}

	// http.Transport retries a GET once on a reused connection: two drops.
	call(t, s, http.MethodGet, checkpointsPath+"/x", DefaultToken, "") // opens a connection to reuse
	s.Inject(Fault{Method: http.MethodGet, Drop: true, Times: 2})
	if _, err := send(t.Context(), s, http.MethodGet, checkpointsPath+"/x", DefaultToken, ""); err == nil {
		t.Error("dropped GET: no error")
	}
	if a := call(t, s, http.MethodGet, checkpointsPath+"/x", DefaultToken, ""); a.status != http.StatusNotFound {
		t.Errorf("after the drops: status %d", a.status)
	}
}

func TestFaultResetMidResponse(t *testing.T) {
	tests := []struct {
		name        string
		fault       Fault
		wantStatus  int
		wantCreates int
	}{
		{"after processing", Fault{ResetMidResponse: true}, http.StatusOK, 1},
		{"error answer", Fault{ResetMidResponse: true, Status: 503, RetryAfter: "2"}, http.StatusServiceUnavailable, 0},
		{"keystone error answer", Fault{ResetMidResponse: true, KeystoneShape: true, Status: 502}, http.StatusBadGateway, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Options{})
			s.Inject(tt.fault)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+checkpointsPath, strings.NewReader(pageRequest))
			req.Header.Set("X-Auth-Token", DefaultToken)
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatalf("the status line and headers should arrive: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Retry-After") != tt.fault.RetryAfter {
				t.Errorf("headers %v", resp.Header)
			}
			body, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read body: %q, %v; want io.ErrUnexpectedEOF", body, err)
			}
			if n := s.CountCreates(); n != tt.wantCreates {
				t.Errorf("CountCreates = %d, want %d", n, tt.wantCreates)
			}
			if reqs := s.Requests(); len(reqs) != 1 || reqs[0].Status != tt.wantStatus {
				t.Errorf("recorded %+v", reqs)
			}
			if a := create(t, s, `{"checkpoint":{"vault_id":"`+WeeklyVaultID+`"}}`); a.status != http.StatusOK {
				t.Errorf("next request: status %d", a.status)
			}
		})
	}
}

// Where the connection cannot be hijacked, Drop and ResetMidResponse abort the
// handler the way net/http understands.
func TestFaultWithoutHijacker(t *testing.T) {
	for _, f := range []Fault{{Drop: true}, {ResetMidResponse: true}} {
		e := New(Options{})
		e.Inject(f)
		func() {
			defer func() {
				if r := recover(); r != http.ErrAbortHandler {
					t.Errorf("%+v: recovered %v, want http.ErrAbortHandler", f, r)
				}
			}()
			req := httptest.NewRequest(http.MethodPost, checkpointsPath, strings.NewReader(pageRequest))
			req.Header.Set("X-Auth-Token", DefaultToken)
			e.ServeHTTP(httptest.NewRecorder(), req)
		}()
	}
}

func TestFaultAfter(t *testing.T) {
	s := start(t, Options{AvailableAfter: -1})
	s.Inject(Fault{Method: http.MethodPost, After: 1, Status: 503})
	for i, want := range []int{200, 503, 200} {
		if a := create(t, s, pageRequest); a.status != want {
			t.Errorf("create %d: status %d, want %d", i+1, a.status, want)
		}
	}
}
