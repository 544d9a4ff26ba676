package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The Redis store + lookup run adds its rows beside the in-memory run, and
// its failures make the run invalid.
func TestRowsWithRedisRun(t *testing.T) {
	st := func(errs int) *levelStats {
		return &levelStats{throughput: []float64{1000}, lat: []time.Duration{time.Millisecond}, cpu: []float64{50}, errs: errs, sent: 10}
	}
	res := results{
		load: map[string]map[int]*levelStats{
			"restorepoint": {1: st(0)}, "floor": {1: st(0)}, redisName: {1: st(2)},
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

func TestRedisReceiver(t *testing.T) {
	rp := receiver{name: "restorepoint", bin: "/bin/rp", args: []string{"serve"}, env: []string{"CBR_DEDUPE=off"}}
	r := redisReceiver(rp, "redis://127.0.0.1:1/0")
	if r.name != redisName || r.bin != rp.bin || !slices.Equal(r.env, []string{"IDEMPOTENCY_STORE=redis://127.0.0.1:1/0", "CBR_DEDUPE=lookup"}) {
		t.Errorf("redisReceiver = %+v", r)
	}
	if !slices.Equal(rp.env, []string{"CBR_DEDUPE=off"}) {
		t.Errorf("the in-memory receiver changed: %+v", rp)
	}
}
