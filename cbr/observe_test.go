package cbr_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/iam"
)

// TestObserverSeesEveryAttempt: the observer gets one report per HTTP
// attempt, retries included, with the operation, the status (0 when no
// answer came back), the API's code and the attempt's place; never the token.
// A create whose answer is lost is reported once and not retried.
func TestObserverSeesEveryAttempt(t *testing.T) {
	var (
		mu  sync.Mutex
		got []cbr.Attempt
	)
	observe := func(_ context.Context, a cbr.Attempt) {
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}
	throttled := reply{status: 429, body: `{"error_code":"APIGW.0308","error_msg":"throttled"}`}
	c, _, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{throttled, okReply(t), {status: 503}, okReply(t), {hijack: true}}, cbr.WithObserver(observe))
	cp, err := c.CreateCheckpoint(context.Background(), cbr.VaultBackup{VaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCheckpoint(context.Background(), cp.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCheckpoint(context.Background(), cbr.VaultBackup{VaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce"}); !errors.Is(err, cbr.ErrAnswerLost) {
		t.Fatalf("create whose answer is lost: %v, want ErrAnswerLost", err)
	}
	want := []struct {
		op     string
		status int
		code   string
		resend int
		err    bool
	}{
		{"create_checkpoint", 429, "APIGW.0308", 0, true},
		{"create_checkpoint", 200, "", 1, false},
		{"get_checkpoint", 503, "", 0, true},
		{"get_checkpoint", 200, "", 1, false},
		{"create_checkpoint", 0, "", 0, true},
	}
	if len(got) != len(want) {
		t.Fatalf("%d attempts reported, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		a := got[i]
		if a.Operation != w.op || a.StatusCode != w.status || a.Code != w.code || a.Resend != w.resend || (a.Err != nil) != w.err {
			t.Errorf("attempt %d: %+v, want %+v", i, a, w)
		}
		if a.Start.IsZero() || a.Duration <= 0 || a.Method == "" || !strings.Contains(a.URL, "/checkpoints") {
			t.Errorf("attempt %d: start %v duration %v method %q URL %q", i, a.Start, a.Duration, a.Method, a.URL)
		}
		if strings.Contains(a.URL, secretToken) || (a.Err != nil && strings.Contains(a.Err.Error(), secretToken)) {
			t.Errorf("attempt %d carries the token", i)
		}
	}
}
