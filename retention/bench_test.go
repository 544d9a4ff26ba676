package retention_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/retention"
)

// BenchmarkPrune1000 is one prune pass over a vault of 1,000 backups in
// the emulator over loopback HTTP: 250 restore points of the example
// vault's four resources, all restorepoint's, with keep_last=240, so that
// the pass lists one page of 1,000 and deletes 40 (ten a resource, below
// the default cap). The vault is seeded again, untimed, before each pass.
func BenchmarkPrune1000(b *testing.B) {
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: time.Minute, Now: func() time.Time { return now }})
	defer srv.Close()
	client, err := cbr.New(srv.URL, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
	if err != nil {
		b.Fatal(err)
	}
	p, err := retention.New(retention.Config{Policy: retention.Policy{KeepLast: 240}, Vaults: []string{cbrtest.ExampleVaultID},
		MaxDeletes: retention.DefaultMaxDeletes}, client, retention.WithClock(func() time.Time { return now }))
	if err != nil {
		b.Fatal(err)
	}
	seeds := make([]cbrtest.Seed, 250)
	for i := range seeds {
		seeds[i] = cbrtest.Seed{VaultID: cbrtest.ExampleVaultID, Name: fmt.Sprintf("pre-deploy-%d", i),
			Description: "Before deploying " + markerOf(fmt.Sprint("/ci\x00", i)),
			CreatedAt:   now.Add(-time.Duration(i+1) * time.Hour)}
	}
	requests := 0
	for b.Loop() {
		b.StopTimer()
		srv.Reset()
		if _, err := srv.SeedCheckpoints(seeds...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := p.Pass(context.Background(), nil)
		if err != nil || len(rep.Deleted) != 40 || rep.Vaults[0].Listed != 1000 {
			b.Fatalf("pass: %v, %d deleted of %+v", err, len(rep.Deleted), rep.Vaults)
		}
		b.StopTimer()
		for _, r := range srv.Requests() {
			if r.Method == http.MethodGet || r.Method == http.MethodDelete {
				requests++
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}
