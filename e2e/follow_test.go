package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/otc"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// Follow-through (issue 18): every restore point restorepoint makes ends in
// one completion result at the sink (io.restorepoint.checkpoint.available
// or .failed), from the background follower of serve (FOLLOW=on), a follow
// pass of a fresh instance, or `restorepoint follow`; gates answer from the
// restore point's state.

// followAfter is how long the emulator's backups stay "protecting" in these
// tests: long enough to see a gate pending, short enough for a quick suite.
const followAfter = 2 * time.Second

// followServers returns the default fixture with n more servers in the
// example vault, and their ids: restore points of distinct resources, made
// while others are still "protecting", are not skipped.
func followServers(n int) (*cbrtest.Fixture, []string) {
	f := cbrtest.DefaultFixture()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-e2e0-4f00-8a00-%012x", i+1, i+1)
		f.Vaults[0].Resources = append(f.Vaults[0].Resources, cbrtest.FixtureResource{
			ID: ids[i], Name: fmt.Sprintf("follow-%d", i), Type: otc.TypeServer, SizeGB: 10})
	}
	return &f, ids
}

// completion is a completion result the sink acknowledged.
type completion struct {
	event event.Event
	data  events.Completion
}

// completions returns the completion results the sink acknowledged, in
// order, duplicates included: the available and failed results that carry
// a key marker (a failed trigger's result carries none).
func completions(t *testing.T, s *sink) []completion {
	t.Helper()
	var out []completion
	for _, e := range s.Events() {
		if e.Type() != events.TypeCheckpointAvailable && e.Type() != events.TypeCheckpointFailed {
			continue
		}
		var c events.Completion
		if err := json.Unmarshal(e.Data(), &c); err != nil {
			t.Fatalf("result %s: data %s: %v", e.Type(), e.Data(), err)
		}
		if c.Marker != "" {
			out = append(out, completion{event: e, data: c})
		}
	}
	return out
}

// awaitCompletions waits up to d until the sink holds n distinct completion
// results, then a while longer (settle) for late duplicates, and returns
// them by event id; a duplicate delivery fails the test.
func awaitCompletions(t *testing.T, s *sink, n int, d, settle time.Duration) map[string]completion {
	t.Helper()
	distinct := func() int {
		ids := map[string]bool{}
		for _, c := range completions(t, s) {
			ids[c.event.ID()] = true
		}
		return len(ids)
	}
	eventually(t, d, fmt.Sprintf("%d completion results at the sink", n), func() bool { return distinct() >= n })
	time.Sleep(settle)
	byID := map[string]completion{}
	for _, c := range completions(t, s) {
		if _, dup := byID[c.event.ID()]; dup {
			t.Errorf("completion %s (%s) delivered more than once", c.event.ID(), c.data.Marker)
		}
		byID[c.event.ID()] = c
	}
	if len(byID) != n {
		t.Fatalf("%d distinct completion results at the sink, want %d", len(byID), n)
	}
	return byID
}

// byCheckpoint returns the completions by their first checkpoint id.
func byCheckpoint(cs map[string]completion) map[string]completion {
	out := map[string]completion{}
	for _, c := range cs {
		if len(c.data.CheckpointIDs) > 0 {
			out[c.data.CheckpointIDs[0]] = c
		}
	}
	return out
}

// checkAvailable checks that c is the available result of the restore
// point created made for resource.
func checkAvailable(t *testing.T, c completion, created resultData, resource string) {
	t.Helper()
	if c.event.Type() != events.TypeCheckpointAvailable || c.data.Error != nil {
		t.Errorf("completion %s of %s: %s, error %+v; want available", c.event.ID(), resource, c.event.Type(), c.data.Error)
	}
	if len(c.data.CheckpointIDs) != 1 || c.data.CheckpointIDs[0] != created.Checkpoints[0].ID || c.data.VaultID != created.VaultID {
		t.Errorf("completion of %s: checkpoints %v in %s, want %s in %s", resource, c.data.CheckpointIDs, c.data.VaultID,
			created.Checkpoints[0].ID, created.VaultID)
	}
	if len(c.data.Resources) != 1 || c.data.Resources[0].ID != resource || c.data.Resources[0].Status != "available" ||
		c.data.Resources[0].BackupID == "" {
		t.Errorf("completion of %s: resources %+v, want its backup available", resource, c.data.Resources)
	}
	if c.data.CreatedAt.IsZero() || c.data.CompletedAt.Before(c.data.CreatedAt) || c.data.Seconds < 0 {
		t.Errorf("completion of %s: created %v, completed %v, %v s", resource, c.data.CreatedAt, c.data.CompletedAt, c.data.Seconds)
	}
}

// keyMarker is the key marker restorepoint derives from a CloudEvent's
// source and id (function.KeyMarker of events.Ref.Digest).
func keyMarker(source, id string) string { return senderKeyMarker("", source, id) }

// senderKeyMarker is keyMarker for a trigger of a webhook sender
// (events.SenderGitHub ...), whose keys are in the sender's namespace.
func senderKeyMarker(sender, source, id string) string {
	return "[rp:" + events.Ref{Sender: sender, Source: source, ID: id}.Digest()[:24] + "]"
}

// Three instances sharing one Redis, each following in the background:
// 20 restore points, triggered across them, end in exactly 20 completion
// results at the sink, each once.
func TestFollowThreeInstancesShareRedis(t *testing.T) {
	redis := redistest.MustStart(t)
	fixture, servers := followServers(20)
	w := newWorld(t, options{
		emu: cbrtest.Options{AvailableAfter: followAfter, Fixture: fixture},
		env: map[string]string{"IDEMPOTENCY_STORE": redis.URL, "FOLLOW": "on"},
	})
	w.startMore(2)

	created := map[string]resultData{} // by server
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, server := range servers {
		wg.Go(func() {
			r, err := w.postEventTo(w.procs[i%len(w.procs)], taggedEvent(fmt.Sprintf("follow-%d", i), server, cbrtest.ExampleVaultID))
			if err != nil {
				t.Errorf("trigger %d: %v", i, err)
				return
			}
			d := expectCreated(t, r.event, r.status, fmt.Sprintf("follow-%d", i))
			mu.Lock()
			created[server] = d
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if n := w.emu.CountCreates(); n != len(servers) {
		t.Fatalf("%d creates, want %d", n, len(servers))
	}

	got := byCheckpoint(awaitCompletions(t, w.sink, len(servers), 30*time.Second, 3*time.Second))
	for _, server := range servers {
		d := created[server]
		c, ok := got[d.Checkpoints[0].ID]
		if !ok {
			t.Errorf("no completion for the restore point of %s", server)
			continue
		}
		checkAvailable(t, c, d, server)
		if c.data.Trigger.ID != d.Trigger.ID || c.data.Marker != keyMarker(d.Trigger.Source, d.Trigger.ID) {
			t.Errorf("completion of %s: trigger %+v, marker %s; want trigger %s", server, c.data.Trigger, c.data.Marker, d.Trigger.ID)
		}
	}
	if n := len(w.sink.Events()); n != 2*len(servers) {
		t.Errorf("the sink acknowledged %d events, want %d created and %d available results", n, len(servers), len(servers))
	}
}

// A follow pass on a fresh instance finishes what a killed one left: the
// restore points are found in CBR by their key markers in the configured
// vault, and their completions reach the sink under the ids the first
// instance would have used.
func TestFollowFreshInstanceFinishesKilledOne(t *testing.T) {
	fixture, servers := followServers(3)
	w := newWorld(t, options{
		emu: cbrtest.Options{AvailableAfter: 5 * time.Second, Fixture: fixture},
		env: map[string]string{"FOLLOW": "on", "CBR_DEFAULT_VAULT_ID": cbrtest.ExampleVaultID},
	})
	created := triggerThenKill(t, w, servers, "killed")
	for _, cp := range w.emu.Checkpoints() {
		if cp.Status != "protecting" {
			t.Fatalf("checkpoint %s is %s when the fresh instance starts; the test needs them protecting", cp.ID, cp.Status)
		}
	}
	w.startMore(1) // same emulator, sink and configuration; its own memory store
	checkReportedByMarker(t, w, created, servers, "killed")
	if n := w.emu.CountCreates(); n != len(servers) {
		t.Errorf("%d creates, want %d: the fresh instance only follows", n, len(servers))
	}
}

// With FOLLOW_LOOKBACK, a fresh instance also reports the restore points a
// killed one made that ended before any instance read them (the gap a
// platform without a shared store had): each once, under the id the first
// instance would have used.
func TestFollowFreshInstanceReportsWhatEndedUnseen(t *testing.T) {
	fixture, servers := followServers(3)
	w := newWorld(t, options{
		emu: cbrtest.Options{AvailableAfter: 2 * time.Second, Fixture: fixture},
		env: map[string]string{"FOLLOW": "on", "CBR_DEFAULT_VAULT_ID": cbrtest.ExampleVaultID, "FOLLOW_LOOKBACK": "10m"},
	})
	created := triggerThenKill(t, w, servers, "unseen")
	awaitAllAvailable(t, w)
	w.startMore(1) // its first pass searches CBR; its memory store is empty
	checkReportedByMarker(t, w, created, servers, "unseen")
}

// With a shared store, the lookback reports no end twice: an instance that
// starts after every end was reported lists the vault's newest backups,
// finds the restore points again in CBR, and reports nothing more.
func TestFollowLookbackWithSharedStoreReportsOnce(t *testing.T) {
	redis := redistest.MustStart(t)
	fixture, servers := followServers(3)
	w := newWorld(t, options{
		emu: cbrtest.Options{AvailableAfter: time.Second, Fixture: fixture},
		env: map[string]string{"FOLLOW": "on", "CBR_DEFAULT_VAULT_ID": cbrtest.ExampleVaultID, "FOLLOW_LOOKBACK": "10m",
			"IDEMPOTENCY_STORE": redis.URL},
	})
	for i, server := range servers {
		id := fmt.Sprintf("shared-%d", i)
		reply, status := w.mustSend(taggedEvent(id, server, cbrtest.ExampleVaultID))
		expectCreated(t, reply, status, id)
	}
	awaitCompletions(t, w.sink, len(servers), 20*time.Second, 0)
	listings := func() int { // the lookback's: the newest backups of the vault, any status
		n := 0
		for _, r := range w.emu.Requests() {
			if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/backups") && strings.Contains(r.Query, "sort=created_at") {
				n++
			}
		}
		return n
	}
	before := listings()
	w.startMore(1)
	eventually(t, 10*time.Second, "the new instance's lookback listing", func() bool { return listings() > before })
	awaitCompletions(t, w.sink, len(servers), time.Second, 2*time.Second)
}

// triggerThenKill sends w's instance a tagged trigger for each server (ids
// prefix-0, prefix-1, …), kills it before it reads any of their restore
// points, and returns what it answered, by server.
func triggerThenKill(t *testing.T, w *world, servers []string, prefix string) map[string]resultData {
	t.Helper()
	created := map[string]resultData{}
	for i, server := range servers {
		id := fmt.Sprintf("%s-%d", prefix, i)
		reply, status := w.mustSend(taggedEvent(id, server, cbrtest.ExampleVaultID))
		created[server] = expectCreated(t, reply, status, id)
	}
	w.proc.signal(syscall.SIGKILL)
	_ = w.proc.wait(10 * time.Second)
	if cs := completions(t, w.sink); len(cs) != 0 {
		t.Fatalf("the killed instance reported %d completions before it died", len(cs))
	}
	return created
}

// awaitAllAvailable waits until every checkpoint of w's emulator is
// available.
func awaitAllAvailable(t *testing.T, w *world) {
	t.Helper()
	eventually(t, 10*time.Second, "the restore points available", func() bool {
		for _, cp := range w.emu.Checkpoints() {
			if cp.Status != "available" {
				return false
			}
		}
		return true
	})
}

// checkReportedByMarker waits for one completion of each server's restore
// point (made by triggerThenKill with prefix) and checks it: available, and
// under the marker of its trigger, as the instance that made it would have
// reported it.
func checkReportedByMarker(t *testing.T, w *world, created map[string]resultData, servers []string, prefix string) {
	t.Helper()
	got := byCheckpoint(awaitCompletions(t, w.sink, len(servers), 20*time.Second, 2*time.Second))
	for i, server := range servers {
		d := created[server]
		c, ok := got[d.Checkpoints[0].ID]
		if !ok {
			t.Errorf("no completion for the restore point of %s", server)
			continue
		}
		checkAvailable(t, c, d, server)
		if want := keyMarker(d.Trigger.Source, fmt.Sprintf("%s-%d", prefix, i)); c.data.Marker != want {
			t.Errorf("completion of %s: marker %s, want %s", server, c.data.Marker, want)
		}
	}
}

// A restore point whose backup ends in error ends in one
// io.restorepoint.checkpoint.failed completion naming the resource.
func TestFollowFailedRestorePoint(t *testing.T) {
	w := newWorld(t, options{emu: cbrtest.Options{AvailableAfter: time.Second}, env: map[string]string{"FOLLOW": "on"}})
	if err := w.emu.FailResource(cbrtest.DemoServerID); err != nil {
		t.Fatal(err)
	}
	reply, status := w.mustSend(taggedEvent("failing-1", cbrtest.DemoServerID, cbrtest.ExampleVaultID))
	d := expectCreated(t, reply, status, "failing-1")

	for _, c := range awaitCompletions(t, w.sink, 1, 15*time.Second, 2500*time.Millisecond) {
		if c.event.Type() != events.TypeCheckpointFailed || c.data.Error == nil {
			t.Fatalf("completion %s, error %+v; want failed", c.event.Type(), c.data.Error)
		}
		if !strings.Contains(c.data.Error.Message, cbrtest.DemoServerID) || c.data.Error.Class == "" {
			t.Errorf("error %+v does not name the resource %s", c.data.Error, cbrtest.DemoServerID)
		}
		if len(c.data.Resources) != 1 || c.data.Resources[0].ID != cbrtest.DemoServerID || c.data.Resources[0].Status != "error" ||
			c.data.CheckpointIDs[0] != d.Checkpoints[0].ID {
			t.Errorf("resources %+v of checkpoints %v, want %s in error in %s", c.data.Resources, c.data.CheckpointIDs,
				cbrtest.DemoServerID, d.Checkpoints[0].ID)
		}
		if c.event.Subject() != cbrtest.ExampleVaultID {
			t.Errorf("subject %q, want the vault", c.event.Subject())
		}
	}
}

// ---------------------------------------------------------------------------
// Gates.

// deployPre is a deploy.pre trigger for resource in the example vault;
// gate adds "gate": true.
func deployPre(id, resource string, gate bool) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/e2e/ci")
	e.SetType(events.TypeDeployPre)
	data := map[string]any{"service": "shop", "version": id, "vault_id": cbrtest.ExampleVaultID, "resources": []string{resource}}
	if gate {
		data["gate"] = true
	}
	_ = e.SetData(event.ApplicationJSON, data)
	return e
}

// postGate sends e in binary mode to child c's URL with the query ?gate=1.
func (w *world) postGate(c *child, e event.Event) reply {
	w.t.Helper()
	req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), c.url+"/?gate=1", e)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secretWebhook)
	return w.do(req)
}

// pollGate sends the read-only gate poll GET /?gate=1 for the trigger with
// source and id to child c: in the query, or (headers) as Ce-Source and
// Ce-Id.
func (w *world) pollGate(c *child, source, id string, headers bool) reply {
	w.t.Helper()
	target := c.url + "/?gate=1"
	if !headers {
		target += "&" + url.Values{"source": {source}, "id": {id}}.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if headers {
		req.Header.Set("Ce-Source", source)
		req.Header.Set("Ce-Id", id)
	}
	req.Header.Set("Authorization", "Bearer "+secretWebhook)
	return w.do(req)
}

// do sends req to a child and reads the reply as tryPostTo does.
func (w *world) do(req *http.Request) reply {
	w.t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		w.t.Fatal(err)
	}
	w.record(resp.Header, data)
	r := reply{status: resp.StatusCode, header: resp.Header, body: data}
	if resp.Header.Get("Ce-Specversion") != "" {
		resp.Body = io.NopCloser(bytes.NewReader(data))
		if e, err := cehttp.NewEventFromHTTPResponse(resp); err == nil {
			r.event = e
		}
	}
	return r
}

// pendingGate is the body of a pending gate's answer.
type pendingGate struct {
	Status        string   `json:"status"`
	Marker        string   `json:"marker"`
	VaultID       string   `json:"vault_id"`
	CheckpointIDs []string `json:"checkpoint_ids"`
	Message       string   `json:"message"`
}

// expectPending checks that r is a pending gate's answer for the trigger
// with source and id: 503, Retry-After, and a body saying what is pending.
func expectPending(t *testing.T, r reply, source, id string) pendingGate {
	t.Helper()
	var p pendingGate
	if r.status != http.StatusServiceUnavailable || json.Unmarshal(r.body, &p) != nil || p.Status != "pending" {
		t.Fatalf("gate of %s: %d %s, want 503 pending", id, r.status, r.body)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s <= 0 {
		t.Errorf("gate of %s: Retry-After %q, want seconds", id, r.header.Get("Retry-After"))
	}
	if p.Marker != keyMarker(source, id) || p.VaultID != cbrtest.ExampleVaultID || len(p.CheckpointIDs) != 1 || p.Message == "" {
		t.Errorf("gate of %s: pending body %s", id, r.body)
	}
	return p
}

// expectEnded checks that r is the answer of a gate whose restore point
// ended: status with a result event of type typ for checkpoint.
func expectEnded(t *testing.T, r reply, status int, typ, checkpoint string) *event.Event {
	t.Helper()
	if r.status != status || r.event == nil || r.event.Type() != typ {
		t.Fatalf("gate: %d %v %s, want %d with %s", r.status, r.header, r.body, status, typ)
	}
	var c events.Completion
	if err := json.Unmarshal(r.event.Data(), &c); err != nil || len(c.CheckpointIDs) != 1 || c.CheckpointIDs[0] != checkpoint {
		t.Fatalf("gate: result data %s, want the completion of %s", r.event.Data(), checkpoint)
	}
	return r.event
}

// gateUntilEnded asks again with send while the gate answers pending, and
// returns the first other answer; it counts the pending answers.
func gateUntilEnded(t *testing.T, send func() reply, pending *int, d time.Duration) reply {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := send()
		if r.status != http.StatusServiceUnavailable {
			return r
		}
		*pending++
		if time.Now().After(deadline) {
			t.Fatalf("gate still pending after %v: %s", d, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metric returns the sum of the samples of a Prometheus metric of child c
// whose labels contain label (such as outcome="pending").
func (w *world) metric(c *child, name, label string) float64 {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+secretMetrics)
	r := w.do(req)
	if r.status != http.StatusOK {
		w.t.Fatalf("GET /metrics: %d", r.status)
	}
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			w.t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// Gates over HTTP: a deploy.pre with "gate": true, and one sent with
// ?gate=1, answer 503 pending until their restore points are available,
// then 200 with the checkpoint.available result, the one the sink gets
// once; a failing one ends in 422 with checkpoint.failed. Read-only polls
// answer the same, and 404 for a trigger never delivered, creating nothing.
func TestGates(t *testing.T) {
	w := newWorld(t, options{emu: cbrtest.Options{AvailableAfter: followAfter}, env: map[string]string{"FOLLOW": "on"}})
	if err := w.emu.FailResource(cbrtest.DemoVolumeID); err != nil {
		t.Fatal(err)
	}
	const source = "/e2e/ci"
	if r := w.pollGate(w.proc, source, "never-delivered", false); r.status != http.StatusNotFound || r.message() == "" {
		t.Fatalf("poll of a trigger never delivered: %d %s, want 404 with the reason", r.status, r.body)
	}

	field, query, failing := deployPre("gate-field", cbrtest.ExampleServerID, true),
		deployPre("gate-query", cbrtest.DemoServerID, false), deployPre("gate-failing", cbrtest.DemoVolumeID, true)
	sendField := func() reply { return w.postEvent(field) }
	sendQuery := func() reply { return w.postGate(w.proc, query) }
	sendFailing := func() reply { return w.postEvent(failing) }
	pending := 0
	checkpoint := map[string]string{}
	for _, g := range []struct {
		id   string
		send func() reply
	}{{"gate-field", sendField}, {"gate-query", sendQuery}, {"gate-failing", sendFailing}} {
		p := expectPending(t, g.send(), source, g.id)
		pending++
		checkpoint[g.id] = p.CheckpointIDs[0]
		// At once, a poll (query, then headers) answers the same.
		expectPending(t, w.pollGate(w.proc, source, g.id, false), source, g.id)
		expectPending(t, w.pollGate(w.proc, source, g.id, true), source, g.id)
	}
	if n := w.emu.CountCreates(); n != 3 {
		t.Fatalf("%d creates, want 3", n)
	}
	if r := w.postEvent(deployPre("plain", cbrtest.DemoDataVolumeID, false)); r.status != http.StatusOK ||
		r.event == nil || r.event.Type() != events.TypeCheckpointCreated {
		t.Fatalf("a trigger that is no gate: %d %s, want 200 created", r.status, r.body)
	}

	available := expectEnded(t, gateUntilEnded(t, sendField, &pending, 20*time.Second), http.StatusOK,
		events.TypeCheckpointAvailable, checkpoint["gate-field"])
	availableQuery := expectEnded(t, gateUntilEnded(t, sendQuery, &pending, 20*time.Second), http.StatusOK,
		events.TypeCheckpointAvailable, checkpoint["gate-query"])
	failed := expectEnded(t, gateUntilEnded(t, sendFailing, &pending, 20*time.Second), http.StatusUnprocessableEntity,
		events.TypeCheckpointFailed, checkpoint["gate-failing"])

	// Asked again, and polled, they answer the same result.
	if e := expectEnded(t, sendField(), http.StatusOK, events.TypeCheckpointAvailable, checkpoint["gate-field"]); e.ID() != available.ID() {
		t.Errorf("asked again: result %s, want %s", e.ID(), available.ID())
	}
	for _, p := range []struct {
		id     string
		status int
		typ    string
		want   *event.Event
	}{
		{"gate-field", http.StatusOK, events.TypeCheckpointAvailable, available},
		{"gate-query", http.StatusOK, events.TypeCheckpointAvailable, availableQuery},
		{"gate-failing", http.StatusUnprocessableEntity, events.TypeCheckpointFailed, failed},
	} {
		for _, headers := range []bool{false, true} {
			if e := expectEnded(t, w.pollGate(w.proc, source, p.id, headers), p.status, p.typ, checkpoint[p.id]); e.ID() != p.want.ID() {
				t.Errorf("poll of %s: result %s, want %s", p.id, e.ID(), p.want.ID())
			}
		}
	}
	if r := w.pollGate(w.proc, source, "never-delivered", true); r.status != http.StatusNotFound {
		t.Errorf("poll of a trigger never delivered: %d %s, want 404", r.status, r.body)
	}
	if n := w.emu.CountCreates(); n != 4 {
		t.Errorf("%d creates, want 4: gates asked again and polls create nothing", n)
	}

	// The sink gets each completion once, under the id the gates answered.
	got := awaitCompletions(t, w.sink, 4, 15*time.Second, 2*time.Second)
	for _, want := range []*event.Event{available, availableQuery, failed} {
		c, ok := got[want.ID()]
		if !ok || c.event.Type() != want.Type() {
			t.Errorf("the sink has no %s %s (it has %d completions)", want.Type(), want.ID(), len(got))
		}
	}

	if n := w.metric(w.proc, "restorepoint_triggers_total", `outcome="pending"`); n != float64(pending) {
		t.Errorf("restorepoint_triggers_total{outcome=\"pending\"} = %v, want the %d pending answers to triggers", n, pending)
	}
	if n := w.metric(w.proc, "restorepoint_triggers_total", `outcome="retried"`); n != 0 {
		t.Errorf("restorepoint_triggers_total{outcome=\"retried\"} = %v: a pending gate is not an error", n)
	}
}
