package function_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/iam"
)

// BenchmarkPipeline measures the per-event cost inside the process for each
// trigger kind, without network: decode the payload into a Trigger (sdk-go's
// structured JSON then events.DecodeEvent, as the HTTP front door does, or
// events.Decode), then Function.Handle with its idempotency record, the real
// CBR client (validate and encode each request, decode the API's example
// answer) over an in-memory transport, and the result CloudEvent rendered
// for delivery. Every event has its own id, so none is a duplicate.
// make bench reports its ns/op, B/op and allocs/op.
func BenchmarkPipeline(b *testing.B) {
	for _, bc := range pipelineCases {
		raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", bc.file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			p := newPipeline(b)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				if err := p.run(raw, bc.cloudEvent, strconv.Itoa(n)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// pipelineCases are the payloads BenchmarkPipeline measures.
var pipelineCases = []struct {
	name, file string
	cloudEvent bool // a structured CloudEvent, decoded as the HTTP front door does
}{
	{"server.tagged", "server-tagged.json", true},
	{"deploy.pre", "deploy-pre.json", true},
	{"checkpoint.requested", "checkpoint-requested.json", true},
	{"cts", "cts-create-tag.json", false},
	{"eventbridge", "eventbridge-deploy-pre.json", false},
}

// TestPipeline checks that every benchmarked payload goes through to a
// created result that was delivered, so that the benchmark measures the real
// path.
func TestPipeline(t *testing.T) {
	for _, bc := range pipelineCases {
		raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", bc.file))
		if err != nil {
			t.Fatal(err)
		}
		p := newPipeline(t)
		if err := p.run(raw, bc.cloudEvent, "1"); err != nil {
			t.Errorf("%s: %v", bc.file, err)
		}
		if p.api.creates != 1 || p.delivered != 1 {
			t.Errorf("%s: %d creates, %d results delivered; want 1 and 1", bc.file, p.api.creates, p.delivered)
		}
	}
}

// pipeline is a Function over an in-memory CBR answering with the API's example.
type pipeline struct {
	fn        *function.Function
	client    *cbr.Client
	api       *memoryCBR
	delivered int
}

func newPipeline(tb testing.TB) *pipeline {
	answer, err := os.ReadFile(filepath.Join("..", "cbr", "testdata", "example_response.json"))
	if err != nil {
		tb.Fatal(err)
	}
	api := &memoryCBR{created: answer, available: bytes.Replace(answer, []byte(`"protecting"`), []byte(`"available"`), 1)}
	client, err := cbr.New("https://cbr.eu-de.otc.t-systems.com", "f841e01fd2b14e7fa41b6ae7aa6b0594", iam.TokenAuthorizer{Source: iam.NewStatic("bench-token")},
		cbr.WithHTTPClient(&http.Client{Transport: api}))
	if err != nil {
		tb.Fatal(err)
	}
	// A trigger that waits reads its checkpoint back once, without sleeping.
	noSleep := func(context.Context, time.Duration) error { return nil }
	return &pipeline{fn: function.New(benchConfig, client, function.WithSleep(noSleep)), client: client, api: api}
}

// run decodes raw, gives it the id, and handles it to a delivered result.
func (p *pipeline) run(raw []byte, cloudEvent bool, id string) error {
	var t events.Trigger
	if cloudEvent {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		var err error
		if t, err = events.DecodeEvent(e); err != nil {
			return err
		}
	} else {
		var err error
		if t, err = events.Decode(raw); err != nil {
			return err
		}
	}
	t.Ref.ID = id
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	res, err := p.fn.Handle(context.Background(), t, func(_ context.Context, r events.Result) error {
		_, err := r.Event("restorepoint", r.ID, at)
		p.delivered++
		return err
	})
	if err != nil {
		return err
	}
	if res.Created == nil || len(res.Created.Checkpoints) == 0 {
		return fmt.Errorf("result %s, want a created checkpoint: %+v", res.Type, res.Failed)
	}
	return nil
}

// memoryCBR answers every create-checkpoint request with the API page's
// example answer (a protecting checkpoint), and every read of a checkpoint
// with the same answer, available, in memory.
type memoryCBR struct {
	created, available []byte
	creates            int
}

func (m *memoryCBR) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	answer := m.available
	if strings.HasSuffix(r.URL.Path, "/backups") {
		answer = []byte(`{"backups":[],"count":0}`)
	}
	if r.Method == http.MethodPost {
		m.creates++
		answer = m.created
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(answer)),
		Request:    r,
	}, nil
}

// benchConfig routes triggers that name no vault (the CTS record) to the
// example vault. The lookup before creating is off: the figures are those
// of the path without it (BenchmarkPipelineLookup adds it).
var benchConfig = function.Config{DefaultVaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce", Dedupe: function.DedupeOff}

// BenchmarkPipelineLookup is BenchmarkPipeline's server.tagged case with the
// lookup before creating (CBR_DEDUPE=lookup) answered by an empty list.
func BenchmarkPipelineLookup(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", "server-tagged.json"))
	if err != nil {
		b.Fatal(err)
	}
	p := newPipeline(b)
	cfg := benchConfig
	cfg.Dedupe = function.DedupeLookup
	p.fn = function.New(cfg, p.client)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		if err := p.run(raw, true, strconv.Itoa(n)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFollowPass100 is one follow pass over 100 restore points that
// ended since the last one, against the emulator over loopback: one GET
// checkpoint and one backups list each, and the completion delivered. The
// requests each pass makes are reported (requests/op); a pass with nothing
// pending makes none (checked at the end).
func BenchmarkFollowPass100(b *testing.B) {
	clk := &clock{now: fixedNow}
	srv := cbrtest.NewServer(cbrtest.Options{Now: clk.Now, AvailableAfter: time.Minute})
	defer srv.Close()
	client, err := cbr.New(srv.URL, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
	if err != nil {
		b.Fatal(err)
	}
	deliver := func(context.Context, events.Result) error { return nil }
	requests := 0
	for b.Loop() {
		b.StopTimer()
		srv.Reset()
		fn := function.New(function.Config{Dedupe: function.DedupeOff}, client, function.WithClock(clk.Now))
		for i := range 100 {
			tr := tagged(fmt.Sprintf("bench-%d", i), map[string]string{"backup-vault": cbrtest.ExampleVaultID})
			if _, err := fn.Handle(context.Background(), tr, nil); err != nil {
				b.Fatal(err)
			}
		}
		clk.Advance(2 * time.Minute)
		before := len(srv.Requests())
		b.StartTimer()
		report, err := fn.FollowPass(context.Background(), deliver, false)
		b.StopTimer()
		if err != nil || report.Available != 100 || len(report.Errors) > 0 {
			b.Fatalf("pass: %+v, %v", report, err)
		}
		requests += len(srv.Requests()) - before
		before = len(srv.Requests())
		if _, err := fn.FollowPass(context.Background(), deliver, false); err != nil || len(srv.Requests()) != before {
			b.Fatalf("a pass with nothing pending made %d requests, %v", len(srv.Requests())-before, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}
