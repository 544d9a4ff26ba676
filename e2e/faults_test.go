package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/failure"
)

// Faults the emulator plays on POST /v3/{project}/checkpoints, seen through
// the front door of the real binary.
const checkpointsPath = "/checkpoints"

// expectSinkHas checks that the sink acknowledged exactly the given result
// event ids, in any order.
func expectSinkHas(t *testing.T, s *sink, ids ...string) {
	t.Helper()
	got := map[string]int{}
	for _, e := range s.Events() {
		got[e.ID()]++
	}
	want := map[string]int{}
	for _, id := range ids {
		want[id]++
	}
	if len(got) != len(want) {
		t.Fatalf("sink has %v, want %v", got, want)
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("sink has %v, want %v", got, want)
		}
	}
}

func equalInts(a, b []int) bool {
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

// 429 with Retry-After: the client waits as asked, retries, and creates.
func TestThrottledThenCreated(t *testing.T) {
	w := newWorld(t, options{})
	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Status: http.StatusTooManyRequests, RetryAfter: "1"})

	reply, status := w.mustSend(exampleEvent("throttled-1"))
	expectCreated(t, reply, status, "throttled-1")

	if got := creates(w.emu); !equalInts(got, []int{429, 200}) {
		t.Fatalf("create statuses %v, want [429 200]", got)
	}
	reqs := w.emu.Requests()
	if gap := reqs[len(reqs)-1].Time.Sub(reqs[0].Time); gap < 900*time.Millisecond {
		t.Errorf("retried after %v, want at least Retry-After: 1 s", gap)
	}
	if n := w.emu.CountCreates(); n != 1 {
		t.Errorf("%d checkpoints created, want 1", n)
	}
	expectSinkHas(t, w.sink, reply.ID())
}

// 429 on every attempt: the trigger is answered 429 with Retry-After and the
// failed event, nothing reaches the sink (the platform will retry), and the
// redelivery, once CBR lets up, creates the checkpoint.
func TestThrottledExhausted(t *testing.T) {
	w := newWorld(t, options{env: map[string]string{"CBR_MAX_ATTEMPTS": "2"}})
	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Status: http.StatusTooManyRequests,
		RetryAfter: "1", Times: -1})

	r := w.postEvent(exampleEvent("throttled-2"))
	d := expectFailed(t, r.event, r.status, http.StatusTooManyRequests, failure.Throttled)
	if ra := r.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want \"1\"", ra)
	}
	if d.Error.Status != 429 || d.Error.Code != "APIGW.0308" || !d.Error.Retryable {
		t.Errorf("error %+v, want status 429, code APIGW.0308, retryable", d.Error)
	}
	if got := creates(w.emu); !equalInts(got, []int{429, 429}) {
		t.Errorf("create statuses %v, want two attempts [429 429]", got)
	}
	if n := len(w.sink.Events()); n != 0 {
		t.Errorf("sink got %d events for a trigger that will be retried", n)
	}

	w.emu.ClearFaults()
	reply, status := w.mustSend(exampleEvent("throttled-2"))
	d = expectCreated(t, reply, status, "throttled-2")
	if d.Duplicate {
		t.Error("the first successful delivery is marked duplicate")
	}
	if n := w.emu.CountCreates(); n != 1 {
		t.Errorf("%d checkpoints created, want 1", n)
	}
	expectSinkHas(t, w.sink, reply.ID())
}

// 500 BackupService.0002 ("resources are being backed up") is worth retrying.
func TestBackupInProgressRetried(t *testing.T) {
	w := newWorld(t, options{})
	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Status: 500,
		Code: "BackupService.0002", Message: "Resources are being backed up. Try again later.", Times: 2})

	reply, status := w.mustSend(exampleEvent("busy-1"))
	expectCreated(t, reply, status, "busy-1")
	if got := creates(w.emu); !equalInts(got, []int{500, 500, 200}) {
		t.Errorf("create statuses %v, want [500 500 200]", got)
	}
	if n := w.emu.CountCreates(); n != 1 {
		t.Errorf("%d checkpoints created, want 1", n)
	}
	expectSinkHas(t, w.sink, reply.ID())
}

// 502, 503 and 504 from the gateway are retried; when they persist past
// CBR_MAX_ATTEMPTS the trigger is answered 503 with the failed event, and a
// later redelivery creates the checkpoint once.
func TestGateway5xx(t *testing.T) {
	w := newWorld(t, options{env: map[string]string{"CBR_MAX_ATTEMPTS": "3"}})
	var sunk []string
	for _, code := range []int{502, 503, 504} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			w.emu.Reset()
			id := "gateway-" + http.StatusText(code)
			w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Status: code, KeystoneShape: code == 502})
			reply, status := w.mustSend(exampleEvent(id))
			expectCreated(t, reply, status, id)
			if got := creates(w.emu); !equalInts(got, []int{code, 200}) {
				t.Errorf("create statuses %v, want [%d 200]", got, code)
			}
			sunk = append(sunk, reply.ID())
			expectSinkHas(t, w.sink, sunk...)
		})
	}
	t.Run("persistent", func(t *testing.T) {
		w.emu.Reset()
		w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Status: 503, Times: -1})
		reply, status := w.mustSend(exampleEvent("gateway-persistent"))
		d := expectFailed(t, reply, status, http.StatusServiceUnavailable, failure.Unavailable)
		if d.Error.Status != 503 || !d.Error.Retryable || d.Error.Code == "" {
			t.Errorf("error %+v, want the API's 503 and its code, retryable", d.Error)
		}
		if got := creates(w.emu); !equalInts(got, []int{503, 503, 503}) {
			t.Errorf("create statuses %v, want CBR_MAX_ATTEMPTS=3 attempts", got)
		}
		expectSinkHas(t, w.sink, sunk...) // nothing new: 503 is retried

		w.emu.ClearFaults()
		reply, status = w.mustSend(exampleEvent("gateway-persistent"))
		expectCreated(t, reply, status, "gateway-persistent")
		if n := w.emu.CountCreates(); n != 1 {
			t.Errorf("%d checkpoints created, want 1", n)
		}
		expectSinkHas(t, w.sink, append(sunk, reply.ID())...)
	})
}

// A connection reset after CBR acted: the answer is lost. The client does
// not retry the create blindly (cbr.ErrAnswerLost); restorepoint looks the
// restore point up by its name and key marker, finds it, and reports it:
// one restore point and a checkpoint.created result, answered and sunk
// once, whether the checkpoint is available at once or still protecting.
func TestResetMidResponse(t *testing.T) {
	for _, tc := range []struct {
		name           string
		availableAfter time.Duration
	}{{"available at once", 0}, {"still protecting", time.Minute}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, options{emu: cbrtest.Options{AvailableAfter: tc.availableAfter}})
			w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, ResetMidResponse: true})

			reply, status := w.mustSend(exampleEvent("reset-1"))
			d := expectCreated(t, reply, status, "reset-1")
			if got := creates(w.emu); !equalInts(got, []int{200}) {
				t.Errorf("create statuses %v, want [200] (its answer cut short, not retried)", got)
			}
			cps := w.emu.Checkpoints()
			if n := w.emu.CountCreates(); n != 1 || len(cps) != 1 {
				t.Fatalf("%d creates, %d checkpoints; want one restore point", n, len(cps))
			}
			if d.Checkpoints[0].ID != cps[0].ID || d.Duplicate || len(d.SkippedResources) != 0 {
				t.Errorf("result %+v, want checkpoint %s, created, nothing skipped", d, cps[0].ID)
			}
			expectSinkHas(t, w.sink, reply.ID())
		})
	}
}

// An answer slower than CBR_TIMEOUT: the attempt is abandoned (here before
// the emulator acts on it) and retried; when every attempt is too slow the
// trigger is answered 503 and redelivery works once CBR is fast again. Had
// CBR acted before the client gave up, the retry would create a second
// restore point, as with a reset (TestResetMidResponse).
func TestSlowerThanDeadline(t *testing.T) {
	const timeout, delay = time.Second, 5 * time.Second
	w := newWorld(t, options{env: map[string]string{"CBR_TIMEOUT": timeout.String(), "CBR_MAX_ATTEMPTS": "2"}})

	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Delay: delay})
	start := time.Now()
	reply, status := w.mustSend(exampleEvent("slow-1"))
	expectCreated(t, reply, status, "slow-1")
	if took := time.Since(start); took < timeout || took >= delay-time.Second {
		t.Errorf("took %v, want one attempt abandoned after CBR_TIMEOUT=%v and a quick retry", took, timeout)
	}
	if got := creates(w.emu); !equalInts(got, []int{0, 200}) {
		t.Errorf("create statuses %v, want [0 200] (first unanswered)", got)
	}
	if n := w.emu.CountCreates(); n != 1 {
		t.Errorf("%d checkpoints created, want 1", n)
	}

	w.emu.Reset()
	w.emu.Inject(cbrtest.Fault{Method: http.MethodPost, Path: checkpointsPath, Delay: delay, Times: -1})
	reply2, status := w.mustSend(exampleEvent("slow-2"))
	d := expectFailed(t, reply2, status, http.StatusServiceUnavailable, failure.Unavailable)
	if !d.Error.Retryable || !strings.Contains(d.Error.Message, "timed out") {
		t.Errorf("error %+v, want a retryable timeout", d.Error)
	}
	if n := w.emu.CountCreates(); n != 0 {
		t.Errorf("%d checkpoints created by abandoned attempts, want 0", n)
	}

	w.emu.ClearFaults()
	reply3, status := w.mustSend(exampleEvent("slow-2"))
	expectCreated(t, reply3, status, "slow-2")
	expectSinkHas(t, w.sink, reply.ID(), reply3.ID())
}

// IAM unavailable with password auth: no token, so the trigger is answered
// 503 (failed, unavailable) and /readyz is 503; once IAM is back, the
// redelivery gets a token and creates the checkpoint.
func TestIAMDown(t *testing.T) {
	w := newWorld(t, options{password: true})
	w.emu.SetIAMDown(true)

	reply, status := w.mustSend(exampleEvent("iam-1"))
	d := expectFailed(t, reply, status, http.StatusServiceUnavailable, failure.Unavailable)
	if !strings.Contains(d.Error.Message, "iam") || !strings.Contains(d.Error.Message, "503") {
		t.Errorf("message %q, want it to say IAM answered 503", d.Error.Message)
	}
	if n := w.emu.IAMTokenRequests(); n < 1 {
		t.Errorf("%d IAM token requests, want at least 1", n)
	}
	if n := len(creates(w.emu)); n != 0 {
		t.Errorf("%d create requests without a token, want 0", n)
	}
	if code, body := w.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with IAM down: %d %s, want 503", code, body)
	}
	if n := len(w.sink.Events()); n != 0 {
		t.Errorf("sink got %d events for a trigger that will be retried", n)
	}

	w.emu.SetIAMDown(false)
	reply, status = w.mustSend(exampleEvent("iam-1"))
	expectCreated(t, reply, status, "iam-1")
	if code, body := w.get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with IAM up: %d %s, want 200", code, body)
	}
	if n := w.emu.CountCreates(); n != 1 {
		t.Errorf("%d checkpoints created, want 1", n)
	}
	expectSinkHas(t, w.sink, reply.ID())
}

// A 401 with a cached IAM token (revoked, as after a password change): the
// client drops the token, gets a new one and retries once, with success.
func TestTokenRefreshAfter401(t *testing.T) {
	w := newWorld(t, options{password: true})

	reply, status := w.mustSend(exampleEvent("refresh-1"))
	expectCreated(t, reply, status, "refresh-1")
	if n := w.emu.IAMTokenRequests(); n != 1 {
		t.Fatalf("%d IAM token requests, want 1", n)
	}

	w.emu.RevokeTokens()
	reply2, status := w.mustSend(exampleEvent("refresh-2"))
	expectCreated(t, reply2, status, "refresh-2")
	if n := w.emu.IAMTokenRequests(); n != 2 {
		t.Errorf("%d IAM token requests, want 2 (one refresh)", n)
	}
	// Each trigger looks its restore point up (GET backups), then creates;
	// after the revocation the lookup meets the 401 and is retried with a
	// fresh token, which the create then uses too.
	var tokens []string
	var statuses []int
	for _, r := range w.emu.Requests() {
		if strings.Contains(r.Path, "/v3/"+cbrtest.DefaultProjectID+"/") {
			tokens = append(tokens, r.Token)
			statuses = append(statuses, r.Status)
		}
	}
	if !equalInts(statuses, []int{200, 200, 401, 200, 200}) {
		t.Fatalf("CBR statuses %v, want [200 200 401 200 200]", statuses)
	}
	if tokens[1] != tokens[2] || tokens[2] == tokens[3] || tokens[3] == "" || tokens[3] != tokens[4] {
		t.Error("the retry after 401 did not carry a fresh token")
	}
	if got := creates(w.emu); !equalInts(got, []int{200, 200}) {
		t.Errorf("create statuses %v, want [200 200]", got)
	}
	expectSinkHas(t, w.sink, reply.ID(), reply2.ID())
}

// A static token refused by CBR cannot be refreshed: 403 with the failed
// event (class unauthorized), retried by the platform, not sunk.
func TestStaticTokenRefused(t *testing.T) {
	w := newWorld(t, options{})
	w.emu.RevokeTokens()

	reply, status := w.mustSend(exampleEvent("refused-1"))
	d := expectFailed(t, reply, status, http.StatusForbidden, failure.Unauthorized)
	if d.Error.Status != 401 {
		t.Errorf("error %+v, want the API's 401", d.Error)
	}
	// The lookup before creating meets the 401 first: nothing is created.
	if got := creates(w.emu); len(got) != 0 {
		t.Errorf("create statuses %v, want none", got)
	}
	if n := len(w.emu.Requests()); n != 1 {
		t.Errorf("%d CBR requests, want the one lookup", n)
	}
	// Refused credentials are not retryable: the failed result is final and
	// goes to the sink.
	if n := len(w.sink.Events()); n != 1 {
		t.Errorf("sink got %d events, want the one final failed result", n)
	}
}
