package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/handler/handlertest"
)

// receiver is a program under test: restorepoint, the floor or the SDK
// function.
type receiver struct {
	name  string
	bin   string
	args  []string
	check checkFunc // of a 200 answer; nil accepts any
	env   []string  // added to env's: its credentials and settings
}

// env is the environment every receiver runs with: the emulator to call, its
// project, and the port to listen on. Credentials come with each receiver.
func env(emulator string, port int) []string {
	return []string{
		"CBR_ENDPOINT=" + emulator,
		"CBR_PROJECT_ID=" + cbrtest.DefaultProjectID,
		"PORT=" + strconv.Itoa(port),
	}
}

// startEmulator starts "restorepoint-dev emulator" (dev is that binary) on a
// free loopback port, with
// checkpoints available at once (so that no resource is skipped as still
// being backed up), and returns it with its URL.
func startEmulator(ctx context.Context, ps *procs, dev string) (*proc, string, error) {
	log, err := os.Create(ps.dir + "/emulator-stdout.log")
	if err != nil {
		return nil, "", err
	}
	uw := &urlWriter{w: log, found: make(chan string, 1)}
	p, err := ps.start("emulator", nil, uw, dev, "emulator", "--addr", "127.0.0.1:0", "--available-after=-1ns")
	if err != nil {
		log.Close()
		return nil, "", err
	}
	go func() { <-p.done; log.Close() }()
	select {
	case url := <-uw.found:
		if !strings.HasPrefix(url, "http://127.0.0.1:") {
			p.stop()
			return nil, "", fmt.Errorf("emulator listens on %q, not on loopback", url)
		}
		return p, url, nil
	case <-p.done:
		return nil, "", p.failure(errors.New("exited before listening"))
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, "", p.failure(errors.New("no URL after 10s"))
	case <-ctx.Done():
		p.stop()
		return nil, "", ctx.Err()
	}
}

// startReceiver starts r against the emulator on a free port and waits until
// it accepts connections. It returns the URL to post events to.
func startReceiver(ctx context.Context, ps *procs, r receiver, emulator string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	p, err := ps.start(r.name, append(env(emulator, port), r.env...), nil, r.bin, r.args...)
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitConnect(ctx, p, addr, 10*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, "http://" + addr + "/", nil
}

// loadRun is one measured load run of one receiver at one concurrency.
type loadRun struct {
	loadResult
	peakRSS    int64         // VmHWM after the run, bytes
	cpuPerItem time.Duration // CPU time of the receiver per measured event
}

// measureLoad runs one load run: a fresh emulator and receiver, warmup
// events, then n measured events from senders concurrent senders.
func measureLoad(ctx context.Context, ps *procs, r receiver, dev string, fixture []byte, senders, warmup, n int, tag string) (loadRun, error) {
	var run loadRun
	emu, emuURL, err := startEmulator(ctx, ps, dev)
	if err != nil {
		return run, err
	}
	defer emu.stop()
	p, url, err := startReceiver(ctx, ps, r, emuURL)
	if err != nil {
		return run, err
	}
	defer p.stop()

	bodies, err := makeEvents(fixture, tag, warmup+n)
	if err != nil {
		return run, err
	}
	client := newClient(senders)
	defer client.CloseIdleConnections()
	if w := runLoad(ctx, client, url, bodies[:warmup], senders, r.check); w.errors() > 0 {
		return run, p.failure(fmt.Errorf("warmup: %d of %d events failed, first: %s", w.errors(), warmup, w.firstErr))
	}
	cpu0, err := p.cpuTime()
	if err != nil {
		return run, err
	}
	run.loadResult = runLoad(ctx, client, url, bodies[warmup:], senders, r.check)
	cpu1, err := p.cpuTime()
	if err != nil {
		return run, err
	}
	if run.ok > 0 {
		run.cpuPerItem = (cpu1 - cpu0) / time.Duration(run.ok)
	}
	if run.peakRSS, err = p.procStatus("VmHWM"); err != nil {
		return run, err
	}
	if p.exited() {
		return run, p.failure(errors.New("exited during the run"))
	}
	return run, ctx.Err()
}

// coldStart measures one cold start of r: from just before the process is
// started to the end of the answer to its first event, polling for the
// listening port in between.
func coldStart(ctx context.Context, ps *procs, r receiver, emulator string, event []byte) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	start := time.Now()
	p, err := ps.start(r.name+"-cold", append(env(emulator, port), r.env...), nil, r.bin, r.args...)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	if err := waitConnect(ctx, p, addr, 10*time.Second); err != nil {
		return 0, err
	}
	status, h, body, err := post(ctx, client, "http://"+addr+"/", event)
	d := time.Since(start)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d: %.300s", status, body)
	}
	if err == nil && r.check != nil {
		err = r.check(h, body)
	}
	if err != nil {
		return 0, p.failure(err)
	}
	return d, nil
}

// lambdaColdStart measures one cold start of r, whose bin is a Lambda
// bootstrap, under the Lambda Runtime Interface Emulator: from just before
// RIE is started (it starts the bootstrap on the first invocation, as Lambda
// does, with RIE's environment) to the end of the first invocation's answer.
// want must occur in the answer.
func lambdaColdStart(ctx context.Context, ps *procs, rie string, r receiver, emulator string, event []byte, want string) (time.Duration, error) {
	rport, err := freePort()
	if err != nil {
		return 0, err
	}
	aport, err := freePort()
	if err != nil {
		return 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(rport)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	start := time.Now()
	p, err := ps.start(r.name+"-rie", append(env(emulator, 0), r.env...), nil, rie, "--log-level", "error",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(aport),
		r.bin)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	if err := waitConnect(ctx, p, addr, 10*time.Second); err != nil {
		return 0, err
	}
	status, _, body, err := post(ctx, client, "http://"+addr+"/2015-03-31/functions/function/invocations", event)
	d := time.Since(start)
	if err == nil && (status != http.StatusOK || !bytes.Contains(body, []byte(want))) {
		err = fmt.Errorf("status %d, answer without %q: %.300s", status, want, body)
	}
	if err != nil {
		return 0, p.failure(err)
	}
	return d, nil
}

// goBenchPattern selects the in-process benchmarks the report shows.
const goBenchPattern = "^(BenchmarkPipeline|BenchmarkFloor|BenchmarkPrune1000|BenchmarkFollowPass100)$"

// runGoBench runs the in-process benchmarks of both programs, the prune
// pass over 1,000 backups and the follow pass over 100 restore points in
// the emulator.
func runGoBench(ctx context.Context, goCmd, root, benchtime string) ([]benchResult, error) {
	cmd := exec.CommandContext(ctx, goCmd, "test", "-run", "^$", "-bench", goBenchPattern,
		"-benchmem", "-benchtime", benchtime, "-count", "1", "./function/", "./bench/floor/", "./retention/")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	res := parseBench(string(out))
	if len(res) == 0 {
		return nil, fmt.Errorf("go test -bench printed no results:\n%s", out)
	}
	return res, nil
}

// functionGraphColdStart measures one cold start of r as a FunctionGraph
// event function, under the runtime API stand-in (handlertest; FunctionGraph
// has no emulator of its own): from just before r.bin is started (without
// r.args) with FUNCTIONGRAPH_MODE=event and RUNTIME_API_ADDR to the end of
// the first invocation's answer. want must occur in the answer.
func functionGraphColdStart(ctx context.Context, ps *procs, r receiver, emulator string, event []byte, want string) (time.Duration, error) {
	rt := handlertest.NewFunctionGraphRuntimeServer()
	defer rt.Close()
	fg := []string{"FUNCTIONGRAPH_MODE=event", "RUNTIME_API_ADDR=" + rt.Addr,
		"RUNTIME_PROJECT_ID=" + cbrtest.DefaultProjectID, "RUNTIME_TIMEOUT=30"}
	start := time.Now()
	p, err := ps.start(r.name+"-fg", slices.Concat(env(emulator, 0), r.env, fg), nil, r.bin)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	ictx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	a, err := rt.Invoke(ictx, handlertest.FunctionGraphInvocation{RequestID: "bench-" + r.name, Body: event})
	d := time.Since(start)
	if err == nil && (a.Endpoint != "response" || !bytes.Contains(a.Body, []byte(want))) {
		err = fmt.Errorf("answered on %s without %q: %.300s", a.Endpoint, want, a.Body)
	}
	if err != nil {
		return 0, p.failure(err)
	}
	return d, nil
}

// deployedLines counts the lines of the non-test Go files (as the default
// build selects them: packagedTags, no rules, no otlp) of the module's own
// packages that cmd/restorepoint links.
func deployedLines(ctx context.Context, goCmd, root string) (int, error) {
	cmd := exec.CommandContext(ctx, goCmd, "list", "-deps", "-tags", packagedTags,
		"-f", "{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}\n{{end}}{{end}}{{end}}", "./cmd/restorepoint")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("go list -deps: %w", err)
	}
	n := 0
	for path := range strings.Lines(string(out)) {
		path = strings.TrimSuffix(path, "\n") // one path a line: a path may hold spaces
		src, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		n += bytes.Count(src, []byte("\n"))
	}
	return n, nil
}
