// Command bench is restorepoint's benchmark harness: make bench runs it as
//
//	go run ./bench -out docs/benchmarks.md
//
// It builds restorepoint, the floor (bench/floor, the least program that
// turns the same CloudEvent into the same CBR create-checkpoint POST) and the
// SDK function (bench/sdkfn, a module of its own: the same job written with
// the official Huawei Cloud Go SDK and CloudEvents sdk-go, signing with AK/SK)
// into a temporary directory and measures them, side by side, on this machine:
//
//   - throughput and latency of the HTTP receiver under 1, 16 and 64
//     concurrent senders, against "restorepoint-dev emulator" with no added
//     latency, each run with a fresh emulator and receiver: restorepoint
//     with in-memory records and the lookup off (CBR_DEDUPE=off), and
//     "restorepoint+redis" with the shared Redis store (a redis-server the
//     harness starts on a loopback port) and the lookup before creating on;
//   - peak resident memory (VmHWM) and CPU time per event under that load;
//   - cold start: process start to the answer to the first event, over HTTP
//     and, when the tree has Lambda support, under the Lambda Runtime
//     Interface Emulator (restorepoint and the floor: the SDK function is an
//     HTTP function);
//   - the in-process cost per event (go test -bench -benchmem);
//   - the size of the stripped linux/arm64 bootstrap.
//
// It prints a table (figure, restorepoint, floor, rp ÷ floor, SDK function,
// rp ÷ SDK, target, met?) and, with -out, writes it with the machine and the
// command between the markers of that Markdown file. All traffic stays on
// 127.0.0.1; every child process is stopped on exit, error or interrupt; the
// whole run is bounded by -timeout. A run in which any event of any receiver
// failed (for the floor and the SDK function: was not answered 200) is
// invalid: the harness exits 1 and does not write -out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// Names of the receivers besides restorepoint and the floor.
const (
	redisName = "restorepoint+redis" // restorepoint with the Redis store and the lookup
	sdkName   = "sdkfn"              // the function written with the official SDKs
)

// akskEnv are the credentials of the SDK function and of restorepoint: the
// emulator's demo key pair, so that both sign every request with AK/SK.
func akskEnv() []string {
	return []string{"CBR_ACCESS_KEY=" + cbrtest.DemoAccessKey, "CBR_SECRET_KEY=" + cbrtest.DemoSecretKey}
}

// sdkReceiver is the SDK function built at bin. It signs its requests with
// the emulator's demo key pair.
func sdkReceiver(bin string) receiver {
	return receiver{name: sdkName, bin: bin, env: akskEnv()}
}

// floorReceiver is the floor built at bin. It sends the emulator's static
// token: it is the floor, and signs nothing.
func floorReceiver(bin string) receiver {
	return receiver{name: "floor", bin: bin, env: []string{"CBR_TOKEN=" + cbrtest.DefaultToken}}
}

// restorepointEnv is what every restorepoint contender runs with: the demo
// key pair, as the SDK function signs with, and WEBHOOK_AUTH=none, so that
// its HTTP front door takes the load generator's events without a
// WEBHOOK_SECRET, as the SDK function and the floor do (no bearer check).
// dedupe is CBR_DEDUPE.
func restorepointEnv(dedupe string) []string {
	return append(akskEnv(), "WEBHOOK_AUTH=none", "CBR_DEDUPE="+dedupe)
}

// rpReceiver is "restorepoint serve" built at bin, with in-memory records
// and the lookup off: the path the earlier runs measured.
func rpReceiver(bin string) receiver {
	return receiver{name: "restorepoint", bin: bin, args: []string{"serve"}, check: checkCreated,
		env: restorepointEnv("off")}
}

// rotate returns rs rotated left by k, so that each receiver in turn runs
// first and none always runs on a warmer machine.
func rotate(rs []receiver, k int) []receiver {
	k %= len(rs)
	return append(slices.Clone(rs[k:]), rs[:k]...)
}

// redisReceiver is rp with the shared Redis store at url and the lookup
// before creating on: what many instances run with.
func redisReceiver(rp receiver, url string) receiver {
	r := rp
	r.name = redisName
	r.env = append(restorepointEnv("lookup"), "IDEMPOTENCY_STORE="+url)
	return r
}

// options are the command-line flags.
type options struct {
	root       string
	out        string
	goCmd      string
	events     int
	warmup     int
	reps       int
	colds      int
	levels     []int
	benchtime  string
	timeout    time.Duration
	skipGoTest bool
	rpBin      string
	redis      bool
}

func main() {
	o := options{goCmd: "go"}
	if g := os.Getenv("GO"); g != "" {
		o.goCmd = g
	}
	levels := "1,16,64"
	flag.StringVar(&o.root, "root", ".", "the repository's root directory")
	flag.StringVar(&o.out, "out", "", "Markdown file to write the results into (between its bench markers); relative to -root")
	flag.IntVar(&o.events, "events", 4000, "measured events per load run")
	flag.IntVar(&o.warmup, "warmup", 300, "events sent before each load run is measured")
	flag.IntVar(&o.reps, "reps", 3, "load runs per receiver and concurrency")
	flag.IntVar(&o.colds, "coldstarts", 10, "cold starts per receiver")
	flag.StringVar(&levels, "senders", levels, "comma-separated concurrency levels")
	flag.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime of the in-process benchmarks")
	flag.DurationVar(&o.timeout, "timeout", 7*time.Minute, "bound on the whole run")
	flag.BoolVar(&o.skipGoTest, "skip-gotest", false, "skip the in-process go test benchmarks")
	flag.StringVar(&o.rpBin, "restorepoint", "", "measure this restorepoint binary instead of building one (to compare builds)")
	flag.BoolVar(&o.redis, "redis", true, "also measure restorepoint with the Redis store and the lookup (needs redis-server)")
	flag.Parse()
	var err error
	if o.levels, err = parseLevels(levels); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -senders:", err)
		os.Exit(2)
	}
	if o.events < 1 || o.warmup < 1 || o.reps < 1 || o.colds < 1 || o.events > 100000 || o.reps > 20 || o.colds > 100 {
		fmt.Fprintln(os.Stderr, "bench: -events (1..100000), -warmup (>= 1), -reps (1..20) and -coldstarts (1..100) out of range")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parseLevels parses "1,16,64" into ascending distinct levels of 1 to 1024.
func parseLevels(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("%q: want numbers from 1 to 1024", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// levelStats gathers the load runs of one receiver at one concurrency.
type levelStats struct {
	throughput []float64       // events/s of each run
	lat        []time.Duration // every answered event of every run
	sent, errs int             // over all runs
	firstErr   string          // the first failure, if any
	peakRSS    int64           // the largest VmHWM, bytes
	cpu        []float64       // CPU µs per event of each run
}

// results is everything measured.
type results struct {
	load          map[string]map[int]*levelStats // receiver -> senders -> stats
	cold          map[string][]time.Duration     // receiver -> cold starts
	lambda        map[string][]time.Duration     // receiver -> cold starts under RIE
	lambdaNote    string                         // why Lambda was not measured
	fg            map[string][]time.Duration     // receiver -> cold starts under the FunctionGraph runtime API stand-in
	fgNote        string                         // why FunctionGraph was not measured
	size          map[string]int64               // receiver -> linux/arm64 binary size
	deployedLines int                            // non-test Go lines of the module's packages cmd/restorepoint links
	gobench       []benchResult
	goBenchErr    string
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(o options) error {
	began, loadBefore := time.Now(), loadAvg()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	fixture, err := os.ReadFile(filepath.Join(root, "testdata", "events", "server-tagged.json"))
	if err != nil {
		return fmt.Errorf("%w (run from the repository root, or set -root)", err)
	}
	dir, err := os.MkdirTemp("", "restorepoint-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ps := newProcs(dir)
	defer ps.stopAll()

	logf("building into %s", dir)
	bins, err := buildAll(ctx, o.goCmd, root, dir)
	if err != nil {
		return err
	}
	if o.rpBin != "" {
		if bins.restorepoint, err = filepath.Abs(o.rpBin); err != nil {
			return err
		}
	}
	rp := rpReceiver(bins.restorepoint)
	floor := floorReceiver(bins.floor)
	sdk := sdkReceiver(bins.sdk)
	receivers := []receiver{rp, floor, sdk}
	var extra []receiver // measured after the three, at every level
	if o.redis {
		srv, err := redistest.Start()
		if err != nil {
			return fmt.Errorf("%w (or run with -redis=false)", err)
		}
		defer srv.Close()
		extra = append(extra, redisReceiver(rp, srv.URL))
	}

	res := results{
		load:   map[string]map[int]*levelStats{rp.name: {}, floor.name: {}, sdk.name: {}, redisName: {}},
		cold:   map[string][]time.Duration{},
		fg:     map[string][]time.Duration{},
		lambda: map[string][]time.Duration{},
		size:   map[string]int64{},
	}
	for name, path := range map[string]string{rp.name: bins.bootstrap, floor.name: bins.floorArm64, sdk.name: bins.sdkArm64} {
		if res.size[name], err = fileSize(path); err != nil {
			return err
		}
	}
	if res.deployedLines, err = deployedLines(ctx, o.goCmd, root); err != nil {
		return err
	}

	// Throughput and latency; the order of the receivers rotates from run
	// to run.
	for _, senders := range o.levels {
		for rep := range o.reps {
			for _, r := range append(rotate(receivers, rep), extra...) {
				tag := fmt.Sprintf("bench-%s-%d-%d", r.name, senders, rep)
				run, err := measureLoad(ctx, ps, r, bins.dev, fixture, senders, o.warmup, o.events, tag)
				if err != nil {
					return fmt.Errorf("%s, %d senders: %w", r.name, senders, err)
				}
				st := res.load[r.name][senders]
				if st == nil {
					st = &levelStats{}
					res.load[r.name][senders] = st
				}
				st.throughput = append(st.throughput, run.throughput())
				st.lat = append(st.lat, run.lat...)
				st.sent += run.sent
				st.errs += run.errors()
				if st.firstErr == "" {
					st.firstErr = run.firstErr
				}
				st.peakRSS = max(st.peakRSS, run.peakRSS)
				st.cpu = append(st.cpu, float64(run.cpuPerItem)/float64(time.Microsecond))
				logf("%-12s %3d senders, run %d: %6.0f events/s, p50 %.2f ms, p99 %.2f ms, %d failed, VmHWM %.1f MB",
					r.name, senders, rep+1, run.throughput(), ms(percentile(run.lat, 50)), ms(percentile(run.lat, 99)),
					run.errors(), float64(run.peakRSS)/1e6)
			}
		}
	}

	// Cold starts over HTTP, against one emulator.
	emu, emuURL, err := startEmulator(ctx, ps, bins.dev)
	if err != nil {
		return err
	}
	events, err := makeEvents(fixture, "bench-cold", len(receivers)*o.colds)
	if err != nil {
		return err
	}
	for i := range o.colds {
		for j, r := range rotate(receivers, i) {
			d, err := coldStart(ctx, ps, r, emuURL, events[len(receivers)*i+j])
			if err != nil {
				return fmt.Errorf("cold start of %s: %w", r.name, err)
			}
			res.cold[r.name] = append(res.cold[r.name], d)
		}
	}
	logf("cold start (HTTP): restorepoint median %.1f ms, floor median %.1f ms, SDK function median %.1f ms",
		ms(percentile(res.cold[rp.name], 50)), ms(percentile(res.cold[floor.name], 50)), ms(percentile(res.cold[sdk.name], 50)))

	// Cold starts under the Lambda Runtime Interface Emulator.
	res.lambdaNote = lambdaMissing(root)
	if res.lambdaNote == "" {
		if err := buildLambda(ctx, o.goCmd, root, dir, &bins); err != nil {
			res.lambdaNote = "build failed: " + firstLine(err.Error())
		}
	}
	if res.lambdaNote == "" {
		lambdaEvents, err := makeEvents(fixture, "bench-lambda", 2*o.colds)
		if err != nil {
			return err
		}
		rpLambda := rp
		rpLambda.bin = bins.lambda
		type fn struct {
			r    receiver // its bin is the bootstrap
			want string
		}
		fns := []fn{{rpLambda, "io.restorepoint.checkpoint.created"}, {floor, `"ok":true`}}
	lambda:
		for i := range o.colds {
			for j, f := range fns {
				d, err := lambdaColdStart(ctx, ps, bins.rie, f.r, emuURL, lambdaEvents[2*i+j], f.want)
				if err != nil {
					if ctx.Err() != nil {
						return err
					}
					res.lambdaNote = f.r.name + " failed under RIE: " + firstLine(err.Error())
					logf("Lambda cold start: %v", err)
					break lambda
				}
				res.lambda[f.r.name] = append(res.lambda[f.r.name], d)
			}
		}
		if res.lambdaNote == "" {
			logf("cold start (Lambda RIE): restorepoint median %.1f ms, floor median %.1f ms",
				ms(percentile(res.lambda[rp.name], 50)), ms(percentile(res.lambda[floor.name], 50)))
		}
	} else {
		logf("Lambda cold start not measured: %s", res.lambdaNote)
	}

	// Cold starts as a FunctionGraph event function, under the runtime API
	// stand-in.
	fgEvents, err := makeEvents(fixture, "bench-fg", 2*o.colds)
	if err != nil {
		return err
	}
fg:
	for i := range o.colds {
		for j, r := range []receiver{rp, floor} {
			want := map[string]string{rp.name: "io.restorepoint.checkpoint.created", floor.name: `"ok":true`}[r.name]
			d, err := functionGraphColdStart(ctx, ps, r, emuURL, fgEvents[2*i+j], want)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				res.fgNote = r.name + " failed under the runtime API stand-in: " + firstLine(err.Error())
				logf("FunctionGraph cold start: %v", err)
				break fg
			}
			res.fg[r.name] = append(res.fg[r.name], d)
		}
	}
	if res.fgNote == "" {
		logf("cold start (FunctionGraph runtime API stand-in): restorepoint median %.1f ms, floor median %.1f ms",
			ms(percentile(res.fg[rp.name], 50)), ms(percentile(res.fg[floor.name], 50)))
	}
	emu.stop()

	if !o.skipGoTest {
		logf("go test -bench (benchtime %s)", o.benchtime)
		if res.gobench, err = runGoBench(ctx, o.goCmd, root, o.benchtime); err != nil {
			if ctx.Err() != nil {
				return err
			}
			res.goBenchErr = firstLine(err.Error())
		}
	} else {
		res.goBenchErr = "skipped (-skip-gotest)"
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	rows := buildRows(res, o.levels)
	detail := benchTable(res)
	fmt.Println()
	fmt.Print(table(rows))
	fmt.Println()
	fmt.Print(detail)

	invalid := validity(res)
	if invalid != "" {
		return errors.New("invalid run, " + invalid + "; " + o.out + " not written")
	}
	if o.out != "" {
		m := machine(o.goCmd, root)
		m.loadBefore, m.load = loadBefore, loadAvg()
		doc := report(rows, detail, m, o, time.Since(began))
		out := o.out
		if !filepath.IsAbs(out) {
			out = filepath.Join(root, out)
		}
		if err := writeDoc(out, doc); err != nil {
			return err
		}
		logf("wrote %s", o.out)
	}
	return nil
}

// validity returns why the run is invalid (some event failed), or "".
func validity(res results) string {
	var bad []string
	for _, name := range []string{"restorepoint", "floor", sdkName, redisName} {
		for senders, st := range res.load[name] {
			if st.errs > 0 {
				bad = append(bad, fmt.Sprintf("%s at %d senders: %d of %d events failed (first: %s)",
					name, senders, st.errs, st.sent, st.firstErr))
			}
		}
	}
	return strings.Join(bad, "; ")
}

// loadAvg is the 1-minute load average, to show how busy the machine was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// machineInfo describes where the benchmark ran.
type machineInfo struct {
	cpus               int
	model, mem, kernel string
	goVersion, commit  string
	date               string
	loadBefore, load   string // /proc/loadavg's 1-minute load before and after the run
}

func machine(goCmd, root string) machineInfo {
	m := machineInfo{cpus: runtime.NumCPU(), date: time.Now().UTC().Format("2006-01-02 15:04 MST")}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if n, err := parseStatusField(b, "MemTotal"); err == nil {
			m.mem = fmt.Sprintf("%.1f GB", float64(n)/1e9)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(goCmd, "version").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(out))
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if c := git("rev-parse", "--short", "HEAD"); c != "" {
		m.commit = c
		if git("status", "--porcelain") != "" {
			m.commit += " with uncommitted changes"
		}
	}
	return m
}
