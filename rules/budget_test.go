package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/failure"
)

// hostileMatch passes `rules check` and, without a budget on what it
// builds, took a 50 KB request to 1 GB: every element of data.s builds a
// list of copies of data.t + data.t, one for each element of data.s.
const hostileMatch = `has(data.s) && data.s.map(x, data.s.map(y, data.t + data.t)).size() > 0`

// hostileBody returns {"s": n one-letter strings, "t": tLen bytes, "u": the
// same as t}.
func hostileBody(n, tLen int) []byte {
	s := make([]string, n)
	for i := range s {
		s[i] = string(rune('a' + i%26))
	}
	t := strings.Repeat("x", tLen)
	body, err := json.Marshal(map[string]any{"s": s, "t": t, "u": t})
	if err != nil {
		panic(err)
	}
	return body
}

// allocated returns the bytes the heap allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBudget runs rules whose work grows with the payload: the ones that
// build strings, lists or maps quadratically, or compare or search
// quadratically, stop at their budget (a match: no match, logged; an action
// field: a *failure.FieldError naming rule and field) within a few MB of
// allocation; the ones that stay within it evaluate as before.
func TestBudget(t *testing.T) {
	const (
		matched = "matched"
		noMatch = "no match: over its budget"
		failed  = "action.reason over its budget"
	)
	const mb = 1 << 20
	tests := []struct {
		name   string
		match  string
		reason string // the action's reason; "" is a constant
		body   []byte
		want   string
		// maxAlloc bounds what the evaluation allocates: what the rule
		// builds and the interpreter's garbage.
		maxAlloc uint64
	}{
		{"hostile rule, 5 KB", hostileMatch, "", hostileBody(500, 3_000), noMatch, 4 * mb},
		{"hostile rule, 50 KB", hostileMatch, "", hostileBody(2_000, 40_000), noMatch, 4 * mb},
		{"hostile rule, many short strings", hostileMatch, "", hostileBody(20_000, 10), noMatch, 6 * mb},
		{"nested lists", `data.s.map(x, data.s.map(y, y)).size() > 0`, "", hostileBody(2_000, 10), noMatch, 6 * mb},
		{"nested lists of lists", `data.s.map(x, data.s.map(y, [y, x])).size() > 0`, "", hostileBody(2_000, 10), noMatch, 6 * mb},
		{"nested maps", `data.s.map(x, data.s.map(y, {"k": y, "v": x})).size() > 0`, "", hostileBody(2_000, 10), noMatch, 6 * mb},
		{"wide map literals", `data.s.map(x, {"a": x, "b": x, "c": x, "d": x, "e": x, "f": x, "g": x, "h": x}).size() > 0`, "",
			hostileBody(20_000, 10), noMatch, 6 * mb},
		{"list concatenation", `data.s.map(x, data.s + data.s).size() > 0`, "", hostileBody(2_000, 10), noMatch, 6 * mb},
		{"copies as bytes", `data.s.map(x, bytes(data.t)).size() > 0`, "", hostileBody(2_000, 4_000), noMatch, 6 * mb},
		{"conversions to string", `data.s.map(x, data.s.map(y, string(y) + string(x))).size() > 0`, "", hostileBody(2_000, 10), noMatch, 6 * mb},
		{"quadratic string comparisons", `data.s.all(x, data.s.all(y, data.t <= data.u))`, "", hostileBody(1_000, 4_000), noMatch, 6 * mb},
		{"quadratic membership", `data.s.all(x, x in data.s)`, "", hostileBody(5_000, 10), noMatch, 6 * mb},
		{"action building strings", `has(data.s)`, `string(data.s.map(x, data.t + data.t).size())`, hostileBody(2_000, 4_000), failed, 4 * mb},
		{"action building lists", `has(data.s)`, `string(data.s.map(x, data.s.map(y, y)).size())`, hostileBody(2_000, 10), failed, 6 * mb},

		{"fine: the hostile rule on a small payload", hostileMatch, "", hostileBody(10, 100), matched, 1 * mb},
		{"fine: a list built from a payload's list", `data.s.map(x, x + "!").size() == 500`,
			`data.s.filter(x, x == "a").map(x, {"id": x})[0].id`, hostileBody(500, 3_000), matched, 2 * mb},
		{"fine: quadratic comparisons of 300 elements", `data.s.all(x, data.s.all(y, x == y || x != y))`, "",
			hostileBody(300, 10), matched, 20 * mb},
		{"fine: a string built from long ones", `(data.t + data.u).size() == 80000`, `data.s[0]`,
			hostileBody(1, 40_000), matched, 1 * mb},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason := tc.reason
			if reason == "" {
				reason = `"r"`
			}
			var logs bytes.Buffer
			s := mustParse(t, fmt.Sprintf("rules:\n  - name: r\n    match: '%s'\n    action: {type: ignore, reason: '%s'}\n", tc.match, reason),
				WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			in := NewInput(nil, tc.body)
			var m *Match
			var err error
			alloc := allocated(func() { m, err = s.Eval(context.Background(), in) })
			t.Logf("allocated %.1f MB (race=%v)", float64(alloc)/mb, raceEnabled)
			if alloc > tc.maxAlloc && !raceEnabled {
				t.Errorf("allocated %.1f MB, want at most %d MB", float64(alloc)/mb, tc.maxAlloc/mb)
			}

			switch tc.want {
			case matched:
				if err != nil || m == nil {
					t.Fatalf("got %+v, %v; want a match", m, err)
				}
			case noMatch:
				if err != nil || m != nil {
					t.Fatalf("got %+v, %v; want no match", m, err)
				}
				var line struct{ Level, Msg, Rule string }
				if json.Unmarshal(logs.Bytes(), &line) != nil || line.Level != "WARN" || line.Rule != "r" || !strings.Contains(line.Msg, "budget") {
					t.Errorf("log %q, want a warning naming the rule and the budget", logs.String())
				}
				// Evaluate, the front doors' way in, hands the payload to the built-in decoders.
				if _, rule, err := s.Evaluate(context.Background(), nil, tc.body); rule != "" || err != nil {
					t.Errorf("Evaluate: rule %q, %v; want no match", rule, err)
				}
			case failed:
				var e *failure.FieldError
				if !errors.As(err, &e) || failure.ClassOf(err) != failure.Invalid {
					t.Fatalf("got %+v, %v; want a *failure.FieldError", m, err)
				}
				if e.Field != `rule "r": action.reason` || !strings.Contains(e.Rule, "over its budget of 1000000 cost units") {
					t.Errorf("got %v; want rule, field and budget", err)
				}
			}
			if tc.want != noMatch && logs.Len() > 0 {
				t.Errorf("logged %s", logs.Bytes())
			}
		})
	}
}

// TestBudgetNextRule: a match over its budget counts as no match, so the
// next rule is tried.
func TestBudgetNextRule(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: hostile
    match: '`+hostileMatch+`'
    action: {type: ignore, reason: '"hostile"'}
  - name: next
    match: 'has(data.t)'
    action: {type: ignore, reason: '"next"'}
`, WithLogger(slog.New(slog.DiscardHandler)))
	m, err := s.Eval(context.Background(), NewInput(nil, hostileBody(500, 3_000)))
	if err != nil || m == nil || m.Rule != "next" {
		t.Fatalf("got %+v, %v; want rule next", m, err)
	}
}

// TestWithCostLimit: the budget is WithCostLimit's, and a cancelled context
// stops evaluation with its error.
func TestWithCostLimit(t *testing.T) {
	src := `
rules:
  - name: expensive
    match: 'true'
    action: {type: ignore, reason: 'string(data.items.all(x, data.items.all(y, x == y || x != y)))'}
`
	body, _ := json.Marshal(map[string]any{"items": make([]int, 300)})
	_, _, err := run(t, mustParse(t, src, WithCostLimit(10_000)), nil, body)
	var e *failure.FieldError
	if !errors.As(err, &e) || e.Field != `rule "expensive": action.reason` || !strings.Contains(e.Rule, "budget of 10000 cost units") {
		t.Fatalf("got %v, want a budget error", err)
	}
	if m, _, err := run(t, mustParse(t, src), nil, body); err != nil || m == nil || m.Action.Reason != "true" {
		t.Fatalf("default budget: %+v, %v", m, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mustParse(t, src).Eval(ctx, NewInput(nil, body)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
