package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// budgetRules are two rules that pass `restorepoint rules check` but build
// a list of len(s)² copies of t + t: without a budget on what a rule
// builds, one 50 KB request took the process to 1 GB. The first does it in
// its match (over its budget: no match, and the built-in decoders answer),
// the second in an action field (over its budget: 400 naming rule and field).
const budgetRules = `rules:
  - name: hostile
    match: 'has(data.s) && data.s.map(x, data.s.map(y, data.t + data.t)).size() > 0'
    action: {type: ignore, reason: '"hostile"'}
  - name: hostile-action
    match: 'has(data.a)'
    action: {type: ignore, reason: 'string(data.a.map(x, data.a.map(y, data.t + data.t)).size())'}
`

// budgetBody returns {key: n one-letter strings, "t": tLen bytes}.
func budgetBody(t *testing.T, key string, n, tLen int) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{key: strings.Split(strings.Repeat("a", n), ""), "t": strings.Repeat("x", tLen)})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestRulesBudget starts a bootstrap with rules on budgetRules and sends
// sixteen 5 KB requests and one of 50 KB at once to each rule: every one is
// answered (415 from the built-in decoders for the match, 400 naming rule
// and field for the action), and the process's peak resident memory stays
// under 64 MB.
func TestRulesBudget(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(budgetRules), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, options{
		bin:       rulesBinary(t),
		noWebhook: true,
		env:       map[string]string{"WEBHOOK_AUTH": "none", "RULES_FILE": file},
	})
	_, hwmBefore := w.proc.memory()

	type request struct {
		name   string
		body   []byte
		status int
		msg    string // in the answer's message
	}
	var requests []request
	for _, size := range []struct {
		name    string
		n, tLen int
		count   int
	}{{"5 KB", 500, 3_000, 16}, {"50 KB", 2_000, 40_000, 1}} {
		for range size.count {
			requests = append(requests,
				request{"match, " + size.name, budgetBody(t, "s", size.n, size.tLen), http.StatusUnsupportedMediaType, ""},
				request{"action, " + size.name, budgetBody(t, "a", size.n, size.tLen), http.StatusBadRequest,
					`rule "hostile-action": action.reason: evaluation stopped: over its budget`})
		}
	}
	if n := len(requests[len(requests)-1].body); n < 40_000 || n > 50_000 {
		t.Fatalf("the large body has %d bytes", n)
	}

	var wg sync.WaitGroup
	for _, r := range requests {
		wg.Go(func() {
			got, err := w.tryPost(http.Header{"Content-Type": {"application/json"}}, r.body)
			if err != nil {
				t.Errorf("%s: %v", r.name, err)
				return
			}
			if got.status != r.status || !strings.Contains(got.message(), r.msg) {
				t.Errorf("%s: status %d, message %q; want %d with %q", r.name, got.status, got.message(), r.status, r.msg)
			}
		})
	}
	wg.Wait()

	// Every match stopped at its budget is logged, with the rule's name
	// (read from the child's stderr, which may lag behind the answers).
	const stopped = "rules: match stopped at its budget, counted as no match"
	eventually(t, 5*time.Second, "17 warnings of a match over its budget", func() bool {
		return len(w.proc.logLines(stopped)) >= 17
	})
	if n := len(w.proc.logLines(stopped)); n != 17 {
		t.Errorf("%d warnings of a match over its budget, want 17", n)
	}
	if code, body := w.get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}

	rss, hwm := w.proc.memory()
	t.Logf("child memory: VmHWM %d MB before the requests, VmHWM %d MB and VmRSS %d MB after (race=%v)",
		hwmBefore>>20, hwm>>20, rss>>20, raceEnabled)
	limit := int64(64 << 20)
	if raceEnabled {
		limit = 250 << 20 // the race detector's shadow memory
	}
	if hwm > limit {
		t.Errorf("peak resident memory %d MB, want at most %d MB", hwm>>20, limit>>20)
	}
}
