package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Targets of issue 17, as ratios to the floor measured in the same run
// where the floor does the same work; it also asks, on throughput, CPU per
// event, peak RSS, cold start and bootstrap size, to be ahead of the SDK
// function (row.ahead).
const (
	targetThroughputRatio = 0.85 // of the floor's, at the highest level
	targetP99Ratio        = 1.2  // of the floor's, at 16 senders and more
	targetP99From         = 16   // senders
	targetColdStartRatio  = 1.2  // of the floor's, to the first completed trigger over HTTP, under RIE and the FunctionGraph stand-in
	targetPeakRSS         = 24e6 // bytes
	targetBootstrap       = 9e6  // bytes, with the Redis store linked
	targetDeployedLines   = 10000
	mb                    = 1e6 // MB in this report
)

// buildRows turns the results into the report's rows.
func buildRows(res results, levels []int) []row {
	var rows []row
	top := levels[len(levels)-1]
	stat := func(name string, senders int) *levelStats { return res.load[name][senders] }
	for _, n := range levels {
		rp, fl, sdk := stat("restorepoint", n), stat("floor", n), stat(sdkName, n)
		r := row{figure: fmt.Sprintf("throughput, %d senders", n), unit: "events/s",
			rp: num(median(rp.throughput)), floor: num(median(fl.throughput)), sdk: num(median(sdk.throughput)), ahead: higher}
		if n == top {
			r.target = fmt.Sprintf("≥ %.2f× floor", targetThroughputRatio)
			r.met = met(r.rp.v >= targetThroughputRatio*r.floor.v)
		}
		rows = append(rows, r)
	}
	for _, n := range levels {
		rp, fl, sdk := stat("restorepoint", n), stat("floor", n), stat(sdkName, n)
		rows = append(rows, row{figure: fmt.Sprintf("latency p50, %d senders", n), unit: "ms", decimals: 2,
			rp: num(ms(percentile(rp.lat, 50))), floor: num(ms(percentile(fl.lat, 50))), sdk: num(ms(percentile(sdk.lat, 50)))})
	}
	for _, n := range levels {
		rp, fl, sdk := stat("restorepoint", n), stat("floor", n), stat(sdkName, n)
		p99, f99 := percentile(rp.lat, 99), percentile(fl.lat, 99)
		r := row{figure: fmt.Sprintf("latency p99, %d senders", n), unit: "ms", decimals: 2,
			rp: num(ms(p99)), floor: num(ms(f99)), sdk: num(ms(percentile(sdk.lat, 99)))}
		if n >= targetP99From {
			r.target = fmt.Sprintf("≤ %.1f× floor", targetP99Ratio)
			r.met = met(float64(p99) <= targetP99Ratio*float64(f99))
		}
		rows = append(rows, r)
	}
	// restorepoint with the Redis store and the lookup, beside the floor and
	// the SDK function; its ratio to the in-memory run is what they cost per
	// trigger.
	if len(res.load[redisName]) > 0 {
		for _, n := range levels {
			rd, mem := stat(redisName, n), stat("restorepoint", n)
			if rd == nil || mem == nil {
				continue
			}
			fl, sdk := stat("floor", n), stat(sdkName, n)
			rows = append(rows, row{figure: fmt.Sprintf("throughput, %d senders, Redis store + lookup", n), unit: "events/s",
				rp: num(median(rd.throughput)), floor: num(median(fl.throughput)), sdk: num(median(sdk.throughput))})
			rows = append(rows, row{figure: fmt.Sprintf("latency p50, %d senders, Redis store + lookup (in-memory: %.2f ms)", n, ms(percentile(mem.lat, 50))),
				unit: "ms", decimals: 2, rp: num(ms(percentile(rd.lat, 50))), floor: num(ms(percentile(fl.lat, 50))), sdk: num(ms(percentile(sdk.lat, 50)))})
		}
		if rd := stat(redisName, top); rd != nil {
			rows = append(rows, row{figure: fmt.Sprintf("CPU time per event, %d senders, Redis store + lookup", top), unit: "µs", decimals: 0,
				rp: num(median(rd.cpu)), floor: num(median(stat("floor", top).cpu)), sdk: num(median(stat(sdkName, top).cpu))})
		}
	}
	var rpErrs, flErrs, sdkErrs int
	for _, n := range levels {
		rpErrs += stat("restorepoint", n).errs
		flErrs += stat("floor", n).errs
		sdkErrs += stat(sdkName, n).errs
		if rd := stat(redisName, n); rd != nil {
			rpErrs += rd.errs
		}
	}
	rows = append(rows, row{figure: "failed or non-200 events, all load runs",
		rp: num(float64(rpErrs)), floor: num(float64(flErrs)), sdk: num(float64(sdkErrs)),
		target: "0 (else the run is invalid)", met: met(rpErrs == 0 && flErrs == 0 && sdkErrs == 0)})
	rows = append(rows, row{figure: fmt.Sprintf("CPU time per event, %d senders", top), unit: "µs", decimals: 0,
		rp: num(median(stat("restorepoint", top).cpu)), floor: num(median(stat("floor", top).cpu)),
		sdk: num(median(stat(sdkName, top).cpu)), ahead: lower})
	rpRSS := float64(stat("restorepoint", top).peakRSS)
	rows = append(rows, row{figure: fmt.Sprintf("peak RSS (VmHWM), %d senders", top), unit: "MB", decimals: 1,
		rp: num(rpRSS / mb), floor: num(float64(stat("floor", top).peakRSS) / mb), sdk: num(float64(stat(sdkName, top).peakRSS) / mb),
		target: fmt.Sprintf("≤ %.0f MB", targetPeakRSS/mb), met: met(rpRSS <= targetPeakRSS), ahead: lower})

	coldRP, coldFl := percentile(res.cold["restorepoint"], 50), percentile(res.cold["floor"], 50)
	rows = append(rows, row{figure: fmt.Sprintf("cold start to first trigger, HTTP, median of %d", len(res.cold["restorepoint"])),
		unit: "ms", decimals: 1, rp: num(ms(coldRP)), floor: num(ms(coldFl)), sdk: num(ms(percentile(res.cold[sdkName], 50))),
		target: fmt.Sprintf("≤ %.1f× floor", targetColdStartRatio), met: met(float64(coldRP) <= targetColdStartRatio*float64(coldFl)),
		ahead: lower})
	rows = append(rows,
		runtimeColdStart("cold start to first invocation, Lambda RIE", res.lambda, res.lambdaNote),
		runtimeColdStart("cold start to first answered invocation, FunctionGraph runtime API stand-in", res.fg, res.fgNote))

	floorBench, hasFloor := findBench(res.gobench, "Floor")
	for _, kind := range benchKinds {
		r := row{figure: "per-event cost in process, " + kind, unit: "ns/op"}
		b, ok := findBench(res.gobench, "Pipeline/"+kind)
		switch {
		case ok:
			r.rp = num(b.nsPerOp)
		case res.goBenchErr != "":
			r.rp = missing("not measured: " + res.goBenchErr)
		default:
			r.rp = missing("not measured")
		}
		if kind == "server.tagged" && hasFloor {
			r.floor = num(floorBench.nsPerOp)
		}
		rows = append(rows, r)
	}

	rows = append(rows,
		passRow(res, "Prune1000", "prune pass, vault of 1,000 backups, 40 deleted (BenchmarkPrune1000)"),
		passRow(res, "FollowPass100", "follow pass, 100 restore points ended (BenchmarkFollowPass100)"))

	rows = append(rows, row{figure: "stripped bootstrap, linux/arm64, as packaged", unit: "MB", decimals: 2,
		rp: num(float64(res.size["restorepoint"]) / mb), floor: num(float64(res.size["floor"]) / mb),
		sdk: num(float64(res.size[sdkName]) / mb), ahead: lower,
		target: fmt.Sprintf("≤ %.0f MB", targetBootstrap/mb), met: met(float64(res.size["restorepoint"]) <= targetBootstrap)})
	lines := row{figure: "deployed code: non-test Go lines of the module's packages the default build links", unit: "lines",
		target: fmt.Sprintf("≤ %d (aim)", targetDeployedLines)}
	if res.deployedLines > 0 {
		lines.rp, lines.met = num(float64(res.deployedLines)), met(res.deployedLines <= targetDeployedLines)
	} else {
		lines.rp = missing("not measured")
	}
	return append(rows, lines)
}

// passRow is the row of a whole pass against the emulator over loopback,
// in milliseconds: BenchmarkPrune1000 (one retention pass over a vault of
// 1,000 backups: one list, paged, and a DELETE per backup removed) or
// BenchmarkFollowPass100 (a GET checkpoint and a backups list for each of
// 100 restore points, and their completions). restorepoint alone does this.
func passRow(res results, bench, figure string) row {
	r := row{figure: figure, unit: "ms", decimals: 1}
	b, ok := findBench(res.gobench, bench)
	switch {
	case ok:
		r.rp = num(b.nsPerOp / 1e6)
	case res.goBenchErr != "":
		r.rp = missing("not measured: " + res.goBenchErr)
	default:
		r.rp = missing("not measured")
	}
	return r
}

// runtimeColdStart is the row of a cold start under a runtime API (the
// Lambda RIE, the FunctionGraph stand-in): the medians of restorepoint and
// the floor against the cold-start target, or why they were not measured. The SDK function is an HTTP
// function and is not run there.
func runtimeColdStart(figure string, cold map[string][]time.Duration, note string) row {
	r := row{figure: figure, unit: "ms", decimals: 1}
	if note != "" || len(cold["restorepoint"]) == 0 {
		r.rp, r.floor = missing("not measured: "+note), missing("")
		return r
	}
	r.figure += fmt.Sprintf(", median of %d", len(cold["restorepoint"]))
	rp, fl := percentile(cold["restorepoint"], 50), percentile(cold["floor"], 50)
	r.rp, r.floor = num(ms(rp)), num(ms(fl))
	r.target = fmt.Sprintf("≤ %.1f× floor", targetColdStartRatio)
	r.met = met(float64(rp) <= targetColdStartRatio*float64(fl))
	return r
}

// benchKinds are the trigger kinds of BenchmarkPipeline, in report order.
var benchKinds = []string{"server.tagged", "deploy.pre", "checkpoint.requested", "cts", "eventbridge"}

func findBench(res []benchResult, name string) (benchResult, bool) {
	for _, r := range res {
		if r.name == name {
			return r, true
		}
	}
	return benchResult{}, false
}

// benchTable is the detail of the in-process benchmarks: ns, bytes and
// allocations per event for each trigger kind, and the floor's.
func benchTable(res results) string {
	if res.goBenchErr != "" && len(res.gobench) == 0 {
		return "In-process benchmarks not run: " + res.goBenchErr + "\n"
	}
	cells := [][]string{{"decode → plan → encode", "ns/op", "B/op", "allocs/op"}}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	for _, kind := range benchKinds {
		if b, ok := findBench(res.gobench, "Pipeline/"+kind); ok {
			cells = append(cells, []string{"restorepoint, " + kind, f(b.nsPerOp), f(b.bytesPerOp), f(b.allocsPerOp)})
		}
	}
	if b, ok := findBench(res.gobench, "Floor"); ok {
		cells = append(cells, []string{"floor, server.tagged", f(b.nsPerOp), f(b.bytesPerOp), f(b.allocsPerOp)})
	}
	if b, ok := findBench(res.gobench, "Prune1000"); ok {
		cells = append(cells, []string{"restorepoint, prune pass over 1,000 backups (whole pass, emulator over loopback)",
			f(b.nsPerOp), f(b.bytesPerOp), f(b.allocsPerOp)})
	}
	if b, ok := findBench(res.gobench, "FollowPass100"); ok {
		cells = append(cells, []string{"restorepoint, follow pass over 100 ended restore points (whole pass, emulator over loopback)",
			f(b.nsPerOp), f(b.bytesPerOp), f(b.allocsPerOp)})
	}
	return markdown(cells, []bool{false, true, true, true})
}

// report is the generated part of docs/benchmarks.md.
func report(rows []row, detail string, m machineInfo, o options, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Last run: %s, `make bench` (`go run ./bench %s`), %s in all.\n\n",
		m.date, strings.Join(argsForDoc(), " "), took.Round(time.Second))
	fmt.Fprintf(&b, "Machine: %d CPUs (nproc), %s, %s memory, %s, %s", m.cpus, orUnknown(m.model), orUnknown(m.mem),
		orUnknown(m.kernel), orUnknown(m.goVersion))
	if m.commit != "" {
		fmt.Fprintf(&b, ", commit %s", m.commit)
	}
	if m.loadBefore != "" {
		fmt.Fprintf(&b, "; 1-minute load average %s before the run, %s after", m.loadBefore, m.load)
	}
	b.WriteString(".\n\n")
	b.WriteString(table(rows))
	fmt.Fprintf(&b, "\nLoad: %d measured events per run after %d warm-up events, %d runs per receiver and level, "+
		"each with a fresh emulator and receiver; events/s is the median run, latencies are over all %d events "+
		"of a level. MB = 10^6 bytes.\n\n", o.events, o.warmup, o.reps, o.events*o.reps)
	b.WriteString("Per-event cost inside the process, one prune pass and one follow pass (`go test -bench '" + goBenchPattern + "' -benchmem`):\n\n")
	b.WriteString(detail)
	return b.String()
}

// argsForDoc is the harness's command line, for the report.
func argsForDoc() []string { return os.Args[1:] }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
