package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
)

// The Redis store + lookup run adds its rows beside the in-memory run, and
// its failures make the run invalid.
func TestRowsWithRedisRun(t *testing.T) {
	st := func(errs int) *levelStats {
		return &levelStats{throughput: []float64{1000}, lat: []time.Duration{time.Millisecond}, cpu: []float64{50}, errs: errs, sent: 10}
	}
	res := results{
		load: map[string]map[int]*levelStats{
			"restorepoint": {1: st(0)}, "floor": {1: st(0)}, sdkName: {1: st(0)}, redisName: {1: st(2)},
		},
		cold: map[string][]time.Duration{}, lambda: map[string][]time.Duration{}, size: map[string]int64{},
		lambdaNote: "no RIE",
	}
	rows := buildRows(res, []int{1})
	var redisRows int
	for _, r := range rows {
		if strings.Contains(r.figure, "Redis store + lookup") {
			redisRows++
		}
		if strings.HasPrefix(r.figure, "failed or non-200") && r.rp.v != 2 {
			t.Errorf("failed events %v, want the Redis run's 2 counted", r.rp.v)
		}
	}
	if redisRows != 3 {
		t.Errorf("%d Redis rows, want throughput, p50 and CPU", redisRows)
	}
	if v := validity(res); !strings.Contains(v, redisName) {
		t.Errorf("validity = %q, want the Redis run named", v)
	}
	// Without the run (-redis=false) there are no such rows.
	delete(res.load, redisName)
	if slices.ContainsFunc(buildRows(res, []int{1}), func(r row) bool { return strings.Contains(r.figure, "Redis") }) {
		t.Error("Redis rows without a Redis run")
	}
}

// Every restorepoint contender signs with the demo key pair, as the SDK
// function does, and takes events without a webhook secret; the floor sends
// the token.
func TestReceiverEnv(t *testing.T) {
	keys := []string{"CBR_ACCESS_KEY=" + cbrtest.DemoAccessKey, "CBR_SECRET_KEY=" + cbrtest.DemoSecretKey}
	rp := rpReceiver("/bin/rp")
	if want := append(slices.Clone(keys), "WEBHOOK_AUTH=none", "CBR_DEDUPE=off"); !slices.Equal(rp.env, want) {
		t.Errorf("restorepoint env %q, want %q", rp.env, want)
	}
	before := slices.Clone(rp.env)
	r := redisReceiver(rp, "redis://127.0.0.1:1/0")
	want := append(slices.Clone(keys), "WEBHOOK_AUTH=none", "CBR_DEDUPE=lookup", "IDEMPOTENCY_STORE=redis://127.0.0.1:1/0")
	if r.name != redisName || r.bin != rp.bin || !slices.Equal(r.env, want) {
		t.Errorf("redisReceiver = %+v, want env %q", r, want)
	}
	if !slices.Equal(rp.env, before) {
		t.Errorf("the in-memory receiver changed: %+v", rp)
	}
	if sdk := sdkReceiver("/bin/sdk"); !slices.Equal(sdk.env, keys) {
		t.Errorf("SDK function env %q, want %q", sdk.env, keys)
	}
	if fl := floorReceiver("/bin/floor"); !slices.Equal(fl.env, []string{"CBR_TOKEN=" + cbrtest.DefaultToken}) {
		t.Errorf("floor env %q", fl.env)
	}
}

// The SDK function has a value in every figure of the HTTP load, cold start
// and size; restorepoint is held to being ahead of it on throughput at every
// level, CPU per event, peak RSS, cold start and bootstrap size; its failures
// are counted and make the run invalid.
func TestRowsWithSDKFunction(t *testing.T) {
	st := func(throughput, cpu float64, rss int64, errs int) *levelStats {
		return &levelStats{throughput: []float64{throughput}, lat: []time.Duration{time.Millisecond}, cpu: []float64{cpu},
			peakRSS: rss, errs: errs, sent: 10}
	}
	res := results{
		load: map[string]map[int]*levelStats{
			"restorepoint": {1: st(900, 100, 30e6, 0), 64: st(3000, 200, 30e6, 0)},
			"floor":        {1: st(1000, 90, 15e6, 0), 64: st(5000, 150, 15e6, 0)},
			sdkName:        {1: st(800, 150, 20e6, 0), 64: st(3500, 300, 20e6, 3)},
		},
		cold: map[string][]time.Duration{"restorepoint": {20 * time.Millisecond}, "floor": {15 * time.Millisecond},
			sdkName: {25 * time.Millisecond}},
		size:       map[string]int64{"restorepoint": 10e6, "floor": 6e6, sdkName: 9e6},
		lambdaNote: "no RIE", fgNote: "not run",
	}
	want := map[string]string{ // figure prefix -> met? of being ahead
		"throughput, 1 senders":          "yes",    // 900 > 800
		"throughput, 64 senders":         "**NO**", // 3000 < 3500
		"CPU time per event, 64 senders": "yes",    // 200 < 300
		"peak RSS":                       "**NO**", // 30 > 20 MB
		"cold start to first trigger":    "yes",    // 20 < 25 ms
		"stripped bootstrap":             "**NO**", // 10 > 9 MB
	}
	seen := map[string]bool{}
	for _, r := range buildRows(res, []int{1, 64}) {
		if r.ahead != noTarget && !r.sdk.ok {
			t.Errorf("%s: a target against the SDK function without its value", r.figure)
		}
		for prefix, w := range want {
			if !strings.HasPrefix(r.figure, prefix) || strings.Contains(r.figure, "Redis") {
				continue
			}
			seen[prefix] = true
			if _, ok := r.aheadTarget(); r.ahead == noTarget || metWord(ok) != w {
				t.Errorf("%s: ahead of the SDK function %v (%v against %v), want %s", r.figure, metWord(ok), r.rp, r.sdk, w)
			}
		}
		if strings.HasPrefix(r.figure, "latency") && !r.sdk.ok {
			t.Errorf("%s: no SDK value", r.figure)
		}
		if strings.HasPrefix(r.figure, "failed or non-200") && (r.sdk.v != 3 || *r.met) {
			t.Errorf("failed events: SDK %v, met %v; want 3 and not met", r.sdk, *r.met)
		}
		if strings.Contains(r.figure, "Lambda RIE") && r.sdk.ok {
			t.Errorf("%s: an SDK value where it is not run", r.figure)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("rows with targets against the SDK function: %v, want %d", seen, len(want))
	}
	if v := validity(res); !strings.Contains(v, sdkName+" at 64 senders: 3 of 10") {
		t.Errorf("validity = %q, want the SDK function's failures named", v)
	}
}

func TestRotate(t *testing.T) {
	rs := []receiver{{name: "a"}, {name: "b"}, {name: "c"}}
	names := func(rs []receiver) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.name)
		}
		return strings.Join(s, "")
	}
	for k, want := range []string{"abc", "bca", "cab", "abc"} {
		if got := names(rotate(rs, k)); got != want {
			t.Errorf("rotate by %d = %s, want %s", k, got, want)
		}
	}
	if names(rs) != "abc" {
		t.Errorf("rotate changed its argument: %s", names(rs))
	}
}

// The prune pass of BenchmarkPrune1000 and the follow pass of
// BenchmarkFollowPass100 have rows of their own, in milliseconds, or say
// why they were not measured.
func TestPassRows(t *testing.T) {
	st := &levelStats{throughput: []float64{1000}, lat: []time.Duration{time.Millisecond}, cpu: []float64{50}, sent: 10}
	res := results{
		load: map[string]map[int]*levelStats{"restorepoint": {1: st}, "floor": {1: st}, sdkName: {1: st}},
		cold: map[string][]time.Duration{}, lambda: map[string][]time.Duration{}, size: map[string]int64{},
		gobench: []benchResult{{name: "Prune1000", nsPerOp: 16.6e6}, {name: "FollowPass100", nsPerOp: 40.2e6}},
	}
	want := map[string]float64{"1,000 backups": 16.6, "100 restore points": 40.2}
	for _, r := range buildRows(res, []int{1}) {
		for part, v := range want {
			if strings.Contains(r.figure, part) {
				if !r.rp.ok || r.rp.v != v || r.unit != "ms" {
					t.Errorf("row %+v, want %v ms", r, v)
				}
				delete(want, part)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("no rows for %v", want)
	}
	if r := passRow(results{goBenchErr: "go test failed"}, "Prune1000", "prune pass"); r.rp.ok || !strings.Contains(r.rp.note, "go test failed") {
		t.Errorf("row without a run %+v", r)
	}
	detail := benchTable(results{gobench: res.gobench})
	if !strings.Contains(detail, "prune pass over 1,000 backups") || !strings.Contains(detail, "follow pass over 100") {
		t.Errorf("detail %q", detail)
	}
}

// A cold start under a runtime API is held to the same ratio to the floor as
// over HTTP; one not measured says why and has no verdict.
func TestRuntimeColdStartTarget(t *testing.T) {
	ms := func(d ...int) []time.Duration {
		var out []time.Duration
		for _, v := range d {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	for _, c := range []struct {
		rp, floor []time.Duration
		want      string
	}{
		{ms(23, 24, 30), ms(20, 21, 22), "yes"},    // 24 ≤ 1.2 × 21
		{ms(26, 27, 40), ms(20, 21, 22), "**NO**"}, // 27 > 25.2
	} {
		r := runtimeColdStart("cold start, FunctionGraph", map[string][]time.Duration{"restorepoint": c.rp, "floor": c.floor}, "")
		if r.met == nil || metWord(r.met) != c.want || !strings.Contains(r.target, "1.2× floor") {
			t.Errorf("%v against %v: target %q met %v, want %s", c.rp, c.floor, r.target, r.met, c.want)
		}
	}
	if r := runtimeColdStart("cold start, Lambda RIE", nil, "no RIE"); r.met != nil || r.rp.ok {
		t.Errorf("not measured: %+v", r)
	}
}

// The deployed code's size is counted from what go list says the default
// build links: more than a few thousand lines, and no test file.
func TestDeployedLines(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	n, err := deployedLines(context.Background(), "go", "..")
	if err != nil {
		t.Fatal(err)
	}
	if n < 3000 || n > 30000 {
		t.Errorf("deployed lines %d: not a count of the module's non-test files", n)
	}
	st := &levelStats{throughput: []float64{1000}, lat: []time.Duration{time.Millisecond}, cpu: []float64{50}, sent: 10}
	res := results{
		load: map[string]map[int]*levelStats{"restorepoint": {1: st}, "floor": {1: st}, sdkName: {1: st}},
		cold: map[string][]time.Duration{}, lambda: map[string][]time.Duration{}, size: map[string]int64{},
		deployedLines: n,
	}
	rows := buildRows(res, []int{1})
	last := rows[len(rows)-1]
	if !strings.Contains(last.figure, "deployed code") || last.rp.v != float64(n) || last.met == nil {
		t.Errorf("deployed code row %+v, want %d lines against the aim", last, n)
	}
	res.deployedLines = 0
	rows = buildRows(res, []int{1})
	if last := rows[len(rows)-1]; last.rp.ok {
		t.Errorf("without a count the row says %+v, want not measured", last)
	}
}
