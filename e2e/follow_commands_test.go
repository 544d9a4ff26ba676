package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// The follow-through commands of the binary: `restorepoint gate`, the
// polling client of CI jobs, and `restorepoint follow`, one follow pass
// from a shell or a cron job.

// runCommand runs `sh -c script` with exactly env (plus PATH and
// $RESTOREPOINT, the binary) and returns its stdout, stderr and exit code.
func runCommand(t *testing.T, script string, env map[string]string, d time.Duration) (stdout, stderr []byte, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0", "RESTOREPOINT=" + binPath}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("sh -c %q: %v\n%s", script, err, errOut.Bytes())
	}
	if ctx.Err() != nil {
		t.Fatalf("sh -c %q did not end within %v:\n%s", script, d, errOut.Bytes())
	}
	if bytes.Contains(errOut.Bytes(), []byte("WARNING: DATA RACE")) {
		t.Errorf("data race in %q:\n%s", script, errOut.Bytes())
	}
	for _, s := range searchedSecrets {
		if bytes.Contains(out.Bytes(), []byte(s)) || bytes.Contains(errOut.Bytes(), []byte(s)) {
			t.Errorf("a secret %.6s... in the output of %q", s, script)
		}
	}
	return out.Bytes(), errOut.Bytes(), code
}

// printed is one JSON object restorepoint gate or follow printed.
type printed struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// printedObjects decodes the stream of JSON objects in out.
func printedObjects(t *testing.T, out []byte) []printed {
	t.Helper()
	var list []printed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p printed
		err := dec.Decode(&p)
		if err == io.EOF {
			return list
		}
		if err != nil {
			t.Fatalf("output is not a stream of JSON objects: %v\n%s", err, out)
		}
		list = append(list, p)
	}
}

// eventFile writes e as a structured CloudEvent to a file and returns its path.
func eventFile(t *testing.T, e event.Event) string {
	t.Helper()
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), e.ID()+".json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// `restorepoint gate` against a running instance asks while the restore
// point is pending and exits 0 with the checkpoint.available result once it
// is available, 1 with the checkpoint.failed result when it failed.
func TestGateCommand(t *testing.T) {
	w := newWorld(t, options{emu: cbrtest.Options{AvailableAfter: followAfter}, env: map[string]string{"FOLLOW": "on"}})
	if err := w.emu.FailResource(cbrtest.DemoVolumeID); err != nil {
		t.Fatal(err)
	}
	type run struct {
		stdout, stderr []byte
		code           int
	}
	gate := func(e event.Event) run {
		var r run
		r.stdout, r.stderr, r.code = runCommand(t, `"$RESTOREPOINT" gate --url "$URL" --event "$EVENT" --timeout 1m`,
			map[string]string{"URL": w.proc.url, "EVENT": eventFile(t, e), "WEBHOOK_SECRET": secretWebhook}, 90*time.Second)
		return r
	}
	var available, failed run
	var wg sync.WaitGroup
	wg.Go(func() { available = gate(deployPre("cmd-gate-1", cbrtest.ExampleServerID, false)) })
	wg.Go(func() { failed = gate(deployPre("cmd-gate-2", cbrtest.DemoVolumeID, false)) })
	wg.Wait()

	if available.code != 0 || !bytes.Contains(available.stderr, []byte("pending")) {
		t.Fatalf("gate of an available restore point: exit %d, stderr:\n%s", available.code, available.stderr)
	}
	p := printedObjects(t, available.stdout)
	var c events.Completion
	if len(p) != 1 || p[0].Type != events.TypeCheckpointAvailable || json.Unmarshal(p[0].Data, &c) != nil ||
		c.Trigger.ID != "cmd-gate-1" || len(c.Resources) != 1 || c.Resources[0].ID != cbrtest.ExampleServerID {
		t.Fatalf("gate printed %s, want the checkpoint.available result", available.stdout)
	}
	if failed.code != 1 {
		t.Fatalf("gate of a failed restore point: exit %d, stderr:\n%s", failed.code, failed.stderr)
	}
	if p := printedObjects(t, failed.stdout); len(p) != 1 || p[0].Type != events.TypeCheckpointFailed ||
		!strings.Contains(string(p[0].Data), cbrtest.DemoVolumeID) {
		t.Fatalf("gate printed %s, want the checkpoint.failed result", failed.stdout)
	}
	if n := w.emu.CountCreates(); n != 2 {
		t.Errorf("%d creates, want 2: a gate asked again creates nothing", n)
	}
	// The sink gets the completions once, under the ids the gates printed.
	got := awaitCompletions(t, w.sink, 2, 10*time.Second, time.Second)
	if _, ok := got[p[0].ID]; !ok {
		t.Errorf("the sink has no completion %s", p[0].ID)
	}
}

// `restorepoint follow`, run from a shell with the shared store of the
// instances that made the restore points (which do not follow: FOLLOW=off),
// reports the completions to the sink and prints them; run again, it
// reports nothing twice.
func TestFollowCommand(t *testing.T) {
	redis := redistest.MustStart(t)
	w := newWorld(t, options{emu: cbrtest.Options{AvailableAfter: time.Second}, env: map[string]string{"IDEMPOTENCY_STORE": redis.URL}})
	created := map[string]resultData{}
	for _, server := range []string{cbrtest.ExampleServerID, cbrtest.DemoServerID} {
		id := "cmd-follow-" + server[:8]
		reply, status := w.mustSend(taggedEvent(id, server, cbrtest.ExampleVaultID))
		created[server] = expectCreated(t, reply, status, id)
	}
	awaitAllAvailable(t, w)
	if cs := completions(t, w.sink); len(cs) != 0 {
		t.Fatalf("%d completions before the follow pass; FOLLOW=off should report none", len(cs))
	}

	follow := func() (events.FollowReport, []printed) {
		t.Helper()
		stdout, stderr, code := runCommand(t, `"$RESTOREPOINT" follow`, w.env, time.Minute)
		if code != 0 {
			t.Fatalf("restorepoint follow: exit %d\n%s", code, stderr)
		}
		p := printedObjects(t, stdout)
		var report events.FollowReport
		if len(p) == 0 || p[len(p)-1].Type != events.TypeFollowDone || json.Unmarshal(p[len(p)-1].Data, &report) != nil {
			t.Fatalf("restorepoint follow printed %s, want the follow.done report last", stdout)
		}
		return report, p[:len(p)-1]
	}
	report, results := follow()
	if report.Available != 2 || report.Pending != 0 || len(report.Errors) != 0 || len(results) != 2 {
		t.Fatalf("first pass: %+v, %d results printed; want 2 available", report, len(results))
	}
	got := byCheckpoint(awaitCompletions(t, w.sink, 2, 5*time.Second, 0))
	for server, d := range created {
		c, ok := got[d.Checkpoints[0].ID]
		if !ok {
			t.Fatalf("no completion for %s", server)
		}
		checkAvailable(t, c, d, server)
	}
	for _, p := range results {
		if _, ok := awaitCompletions(t, w.sink, 2, time.Second, 0)[p.ID]; !ok || p.Type != events.TypeCheckpointAvailable {
			t.Errorf("printed %s %s, which the sink does not have", p.Type, p.ID)
		}
	}

	report, results = follow()
	if report.Available != 0 || report.Pending != 0 || len(results) != 0 {
		t.Errorf("second pass: %+v, %d results printed; want nothing left", report, len(results))
	}
	awaitCompletions(t, w.sink, 2, time.Second, 500*time.Millisecond)
}
