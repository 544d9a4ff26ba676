package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cloudevent "github.com/cloudevents/sdk-go/v2/event"
	redigo "github.com/gomodule/redigo/redis"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// A CloudEvent any sender may compose cannot claim the idempotency key of a
// signed GitHub delivery: the GitHub deployment still makes its own restore
// point, of its own resources, and is not answered as a duplicate.
func TestCloudEventCannotClaimGitHubKey(t *testing.T) {
	w := newWorld(t, options{})
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "webhooks", "github-deployment.http"))
	if err != nil {
		t.Fatal(err)
	}
	req, body, err := handler.ReadRequest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := req.Header.Clone()
	h.Set(events.HeaderGitHubSignature, handler.Sign(secretWebhook, body))

	// The forgery: the GitHub trigger's source and id, another vault and server.
	forged := cloudevent.New()
	forged.SetID("1584279114")
	forged.SetSource(events.GitHubSourcePrefix + "702918345")
	forged.SetType(events.TypeDeployPre)
	_ = forged.SetData(cloudevent.ApplicationJSON, map[string]any{
		"service": "evil", "vault_id": cbrtest.WeeklyVaultID, "resources": []string{cbrtest.WeeklyServerID}})
	reply, status := w.mustSend(forged)
	expectCreated(t, reply, status, "1584279114")

	r := w.post(h, body)
	d := expectCreated(t, r.event, r.status, "1584279114")
	if d.Duplicate || d.VaultID != cbrtest.ExampleVaultID {
		t.Fatalf("the signed GitHub delivery was answered as %+v; want its own restore point in its own vault", d)
	}
	if n := w.emu.CountCreates(); n != 2 {
		t.Fatalf("%d restore points, want one for each", n)
	}
}

// Ids and sources longer than 1 KiB are refused on every front door, naming
// the attribute; what is logged and answered of them is shortened; and the
// process's memory does not grow with them.
func TestLongIDsRefusedAndNotKept(t *testing.T) {
	w := newWorld(t, options{})
	big := strings.Repeat("x", 200<<10)
	_, hwmBefore := w.proc.memory()
	for i := range 1000 {
		id := fmt.Sprintf("%d-%s", i, big)
		body := structured(events.TypeServerTagged, id, tagged("", ""))
		body = bytes.Replace(body, []byte(`"source":"/e2e/hostile"`), []byte(`"source":"/`+big+`"`), 1)
		r := w.post(contentType("application/cloudevents+json"), body)
		if r.status != http.StatusBadRequest || !strings.Contains(r.message(), "at most 1024 bytes") {
			t.Fatalf("event %d: status %d, message %.200q; want 400 naming the attribute", i, r.status, r.message())
		}
		if len(r.body) > 4096 {
			t.Fatalf("event %d: a reply of %d bytes; the id must be shortened", i, len(r.body))
		}
	}
	rss, hwm := w.proc.memory()
	t.Logf("child memory: VmHWM %d MB before, VmHWM %d MB and VmRSS %d MB after 1,000 events with 200 KB ids and sources (race=%v)",
		hwmBefore>>20, hwm>>20, rss>>20, raceEnabled)
	if limit := int64(64 << 20); !raceEnabled && rss > limit {
		t.Errorf("VmRSS %d MB after the large ids, want under %d MB: they must not be kept", rss>>20, limit>>20)
	}

	// A 900 KB ce-id header: refused, and neither echoed nor logged whole.
	header := binary(events.TypeServerTagged, strings.Repeat("h", 900<<10))
	r := w.post(header, []byte(tagged("", "")))
	if r.status != http.StatusBadRequest || len(r.body) > 4096 {
		t.Fatalf("900 KB ce-id: status %d, %d bytes of reply; want a short 400", r.status, len(r.body))
	}
	for _, line := range strings.Split(string(w.proc.logs.Bytes()), "\n") {
		if len(line) > 16<<10 {
			t.Fatalf("a log line of %d bytes: ids must be shortened", len(line))
		}
	}
}

// The shared store keeps fixed-size keys: a digest of the trigger's key,
// whatever the length of its id and source.
func TestStoredKeysAreDigests(t *testing.T) {
	redis := redistest.MustStart(t)
	w := newWorld(t, options{env: map[string]string{"IDEMPOTENCY_STORE": redis.URL}})
	for _, id := range []string{"short", strings.Repeat("i", 1000)} {
		reply, status := w.mustSend(exampleEvent(id))
		expectCreated(t, reply, status, id)
	}
	client, err := redigo.DialURL(redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	keys, err := redigo.Strings(client.Do("KEYS", "*"))
	if err != nil {
		t.Fatal(err)
	}
	// Each trigger has its record under its key's digest, and its restore
	// point (followed to its end) under the digest's marker part.
	records, follows := 0, 0
	for _, k := range keys {
		switch {
		case len(k) == len("restorepoint:")+64 && !strings.Contains(k[len("restorepoint:"):], ":"):
			records++
		case strings.HasPrefix(k, "restorepoint:follow:") && len(k) == len("restorepoint:follow:")+24:
			follows++
		case k == "restorepoint:following":
		default:
			t.Errorf("key %.80q… of %d bytes, want restorepoint: and a SHA-256 in hex, or a follow record", k, len(k))
		}
	}
	if records != 2 || follows != 2 {
		t.Errorf("keys %q: %d records and %d follow records, want 2 of each", keys, records, follows)
	}
}
