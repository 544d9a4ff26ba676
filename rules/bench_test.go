package rules

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// BenchmarkEvaluate is the per-event cost of a 20-rule file whose last rule
// matches, and of one that no rule matches (docs/benchmarks.md).
func BenchmarkEvaluate(b *testing.B) {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 19 {
		fmt.Fprintf(&src, "  - name: env-%d\n    match: 'headers[\"x-github-event\"] == \"deployment\" && data.deployment.environment == \"env-%d\"'\n"+
			"    action: {type: ignore, reason: '\"env %d\"'}\n", i, i, i)
	}
	src.WriteString(`  - name: github-production
    match: 'headers["x-github-event"] == "deployment" && data.action == "created" && data.deployment.environment == "production"'
    action:
      type: deploy.pre
      id: '"github/" + string(data.repository.id) + "/" + string(data.deployment.id)'
      subject: 'data.repository.full_name'
      vault_id: '"3b5816b5-f29c-4172-9d9a-76c719a659ce"'
      resources: '["94eba8b2-acc9-4d82-badc-127144cc5526"]'
      name: '"pre-deploy-" + data.repository.name + "-" + string(data.deployment.id)'
`)
	s := mustParse(b, src.String())
	if s.Len() != 20 {
		b.Fatalf("%d rules", s.Len())
	}
	for _, file := range []string{"github-deployment-no-payload.http", "github-push.http"} {
		h, body := readRequest(b, file)
		b.Run(file, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Evaluate(context.Background(), h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHostileRule is the cost of the hostile rule (TestBudget) on 5 KB
// and 50 KB payloads: it stops at its budget, so B/op stays about a
// megabyte whatever the payload (without the budget on what it builds: 350
// MB and 4.6 GB).
func BenchmarkHostileRule(b *testing.B) {
	s := mustParse(b, "rules:\n  - name: hostile\n    match: '"+hostileMatch+"'\n    action: {type: ignore, reason: '\"r\"'}\n",
		WithLogger(slog.New(slog.DiscardHandler)))
	for _, size := range []struct {
		name string
		body []byte
	}{{"5KB", hostileBody(500, 3_000)}, {"50KB", hostileBody(2_000, 40_000)}} {
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, rule, err := s.Evaluate(context.Background(), nil, size.body); rule != "" || err != nil {
					b.Fatalf("rule %q, %v; want no match", rule, err)
				}
			}
		})
	}
}
