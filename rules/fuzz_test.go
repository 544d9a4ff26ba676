package rules

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
)

// fuzzRules exercises every action type and field over data and headers.
const fuzzRules = `
rules:
  - name: ignore-header
    match: 'headers["x-skip"] == "1"'
    action: {type: ignore, reason: 'data.reason'}
  - name: deploy
    match: 'data.kind == "deploy"'
    action:
      type: deploy.pre
      id: 'data.id'
      subject: 'data.service'
      vault_id: 'data.vault'
      resources: 'data.resources'
      name: 'data.name'
      description: 'data.description'
      incremental: 'data.incremental'
      wait: 'data.wait'
  - name: tagged
    match: 'data.kind == "tagged" && data.resources.size() < 5'
    action: {type: server.tagged, resources: 'data.resources', vault_id: 'data.vault'}
  - name: requested
    match: 'attributes.type == "x" || data.kind == "requested"'
    action: {type: checkpoint.requested, vault_id: 'data.vault', resources: 'data.resources', name: 'data.name'}
  - name: strings
    match: 'string(data.n).size() > 3 && data.s.contains("x")'
    action: {type: ignore, reason: '"n=" + string(data.n)'}
  - name: building
    match: >-
      has(data.b) && data.b.map(x, data.b.map(y, string(y) + data.c)).size() >= 0
      && data.b.all(x, x in data.b && data.c <= data.c + x)
    action:
      type: ignore
      reason: >-
        string(data.b.map(x, {"k": x, "v": [x, data.c]}).size()) + string(bytes(data.c + data.c).size())
        + (has(data.d) ? string(data.d.map(x, data.d.map(y, [x, y])).size()) : "")
`

// checkEval fails unless Eval and Trigger gave either a *failure.FieldError naming the
// rule and field, or a consistent trigger.
func checkEval(t *testing.T, s *Set, h http.Header, body []byte) {
	in := NewInput(h, body)
	m, err := s.Eval(context.Background(), in)
	// Evaluate, the front doors' way in, agrees with Eval.
	if _, rule, evalErr := s.Evaluate(context.Background(), h, body); (rule == "" && evalErr == nil) != (m == nil && err == nil) {
		t.Fatalf("Evaluate: rule %q, %v; Eval: %+v, %v", rule, evalErr, m, err)
	}
	if m == nil && err == nil {
		return
	}
	if err == nil {
		var tr events.Trigger
		tr, err = m.Trigger(in.Base())
		if err == nil {
			if tr.Ref.ID == "" || tr.Ref.Source == "" {
				t.Fatalf("trigger without key: %+v", tr.Ref)
			}
			set := 0
			for _, p := range []bool{tr.DeployPre != nil, tr.ServerTagged != nil, tr.CheckpointRequested != nil} {
				if p {
					set++
				}
			}
			if (tr.Kind == events.KindIgnored) != (set == 0) || (tr.Kind == events.KindIgnored && tr.IgnoreReason == "") {
				t.Fatalf("inconsistent trigger %+v", tr)
			}
			return
		}
	}
	var e *failure.FieldError
	if !errors.As(err, &e) || !strings.HasPrefix(e.Field, "rule ") || !strings.Contains(e.Field, ": ") || e.Rule == "" {
		t.Fatalf("error %v (%T) does not name rule and field", err, err)
	}
}

func FuzzEval(f *testing.F) {
	s := mustParse(f, fuzzRules, WithCostLimit(100_000), WithLogger(slog.New(slog.DiscardHandler)))
	files, _ := filepath.Glob(filepath.Join(webhookDir, "*.http"))
	for _, name := range files {
		_, body := readRequest(f, filepath.Base(name))
		f.Add("", body)
	}
	f.Add("", []byte(`{"kind":"deploy","id":"1","service":"s","vault":"`+vault+`","resources":["`+server+`",{"id":"`+server+`","type":"OS::Nova::Server"}],"name":"n","description":"d","incremental":false,"wait":true}`))
	f.Add("", []byte(`{"kind":"tagged","resources":[{"id":"`+server+`","name":"web"}]}`))
	f.Add("", []byte(`{"kind":"requested","vault":"`+vault+`","resources":[]}`))
	f.Add("1", []byte(`{"reason":"r"}`))
	f.Add("", []byte(`{"n":12345,"s":"aXb"}`))
	f.Add("", []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"x","data":{"vault":"`+vault+`"}}`))
	f.Add("", []byte(`{"b":["a","b"],"c":"x"}`))
	f.Add("", []byte(`{"b":[1,2,3],"c":"x"}`))
	hostile, _ := json.Marshal(map[string]any{"b": strings.Split(strings.Repeat("ab", 200), ""), "c": strings.Repeat("x", 2000)})
	f.Add("", hostile)
	overAction, _ := json.Marshal(map[string]any{"b": []string{"a"}, "c": "x", "d": make([]int, 200)})
	f.Add("", overAction)
	f.Fuzz(func(t *testing.T, skip string, body []byte) {
		h := http.Header{}
		h.Set("X-Skip", skip)
		checkEval(t, s, h, body)
	})
}

func FuzzParse(f *testing.F) {
	env, err := newEnv()
	if err != nil {
		f.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(rulesDir, "*.yaml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(fuzzRules))
	f.Add([]byte("rules:\n  - name: x\n    match: 'true'\n    action: {type: ignore, reason: '\"r\"'}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := parse(env, "fuzz.yaml", src, options{costLimit: 10_000, logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Errors) == 0 {
				t.Fatalf("error %v (%T) is not a *LoadError with problems", err, err)
			}
			for _, e := range le.Errors {
				if e.Rule == "" || strings.TrimSpace(e.Error()) == "" {
					t.Fatalf("empty problem in %v", err)
				}
			}
			return
		}
		if s.Len() == 0 {
			t.Fatal("a set without rules")
		}
		checkEval(t, s, nil, []byte(`{"kind":"deploy"}`))
	})
}
