package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/handler"
)

// binary returns the headers of a binary-mode CloudEvent of type typ.
func binary(typ, id string) http.Header {
	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", id)
	h.Set("Ce-Source", "/e2e/hostile")
	h.Set("Ce-Type", typ)
	h.Set("Content-Type", "application/json")
	return h
}

// with returns h with key set to value ("" deletes it).
func with(h http.Header, key, value string) http.Header {
	h = h.Clone()
	if value == "" {
		h.Del(key)
	} else {
		h.Set(key, value)
	}
	return h
}

func contentType(ct string) http.Header { return http.Header{"Content-Type": {ct}} }

// structured is a structured-mode CloudEvent body of type typ with data.
func structured(typ, id, data string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/e2e/hostile","type":%q,"datacontenttype":"application/json","data":%s}`,
		id, typ, data)
}

// batchOf is a CloudEvents batch of n server.tagged events.
func batchOf(n int) []byte {
	b := []byte{'['}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, structured(events.TypeServerTagged, fmt.Sprintf("batch-%d", i), tagged("", ""))...)
	}
	return append(b, ']')
}

// uuids returns n distinct UUIDs as a JSON list.
func uuids(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%08x-0000-4000-8000-000000000000"`, i)
	}
	b.WriteByte(']')
	return b.String()
}

const (
	server = cbrtest.ExampleServerID
	vault  = cbrtest.ExampleVaultID
)

// tagged is server.tagged data with one member replaced: key=raw JSON.
func tagged(key, raw string) string {
	m := map[string]string{
		"server_id":   `"` + server + `"`,
		"server_name": `"web"`,
		"tags":        `{"backup":"daily"}`,
		"vault_id":    `"` + vault + `"`,
	}
	if raw == "" {
		delete(m, key)
	} else {
		m[key] = raw
	}
	var parts []string
	for _, k := range []string{"server_id", "server_name", "tags", "vault_id", "wait"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// deploy is deploy.pre data for vault with extra members.
func deploy(extra string) string {
	return `{"service":"shop","version":"1.0","vault_id":"` + vault + `"` + extra + `}`
}

// Bad input: each malformed or hostile request gets the documented status
// (README, "HTTP status codes and retries") and a message that names what is
// wrong; the process stays up and its memory bounded.
func TestBadInput(t *testing.T) {
	w := newWorld(t, options{})
	const (
		tagType    = events.TypeServerTagged
		deployType = events.TypeDeployPre
	)
	deep := strings.Repeat("[", 200_000) + strings.Repeat("]", 200_000)
	big := bytes.Repeat([]byte("x"), 10<<20)
	signed := structured(tagType, "signed-1", tagged("", ""))

	cases := []struct {
		name   string
		header http.Header
		body   []byte
		status int
		// msg must appear in the reply's message (case-insensitive).
		msg string
		// event says the reply is a failed result event (400, 422).
		event bool
	}{
		// Not JSON, or not whole.
		{"truncated structured event", contentType("application/cloudevents+json"), []byte(`{"specversion":"1.0","id":"t1","sou`), 400, "CloudEvent", false},
		{"truncated data", binary(tagType, "t2"), []byte(`{"server_id":"94eb`), 400, "data", true},
		{"truncated raw payload", contentType("application/json"), []byte(`{"cts":{"time":`), 415, "must be valid JSON", false},
		{"empty body", http.Header{}, nil, 415, "expected a CloudEvent", false},
		{"whitespace body, JSON", contentType("application/json"), []byte(" \n\t "), 415, "expected a CloudEvent", false},
		{"empty data", binary(tagType, "t4"), nil, 400, "data", true},
		{"not JSON, text/plain", contentType("text/plain"), []byte("hello"), 415, "expected a CloudEvent", false},
		{"not JSON in binary mode", with(binary(tagType, "t6"), "Content-Type", "text/plain"), []byte("hello"), 400, "data", true},
		{"JSON array, no envelope", contentType("application/json"), []byte(`[1,2,3]`), 415, "expected a CloudEvent", false},
		{"unknown JSON object, no envelope", contentType("application/json"), []byte(`{"hello":"world"}`), 415, "expected a CloudEvent", false},

		// Wrong types and nulls.
		{"data null", binary(tagType, "t9"), []byte(`null`), 400, "data", true},
		{"data a list", binary(tagType, "t10"), []byte(`[]`), 400, "data", true},
		{"server_id a number", binary(tagType, "t11"), []byte(tagged("server_id", "42")), 400, "data.server_id", true},
		{"server_id null", binary(tagType, "t12"), []byte(tagged("server_id", "null")), 400, "data.server_id", true},
		{"server_id missing", binary(tagType, "t13"), []byte(tagged("server_id", "")), 400, "data.server_id", true},
		{"tags a string", binary(tagType, "t14"), []byte(tagged("tags", `"backup=daily"`)), 400, "data.tags", true},
		{"tag value an object", binary(tagType, "t15"), []byte(tagged("tags", `{"backup":{"a":1}}`)), 400, "data.tags.backup", true},
		{"vault_id a path", binary(tagType, "t16"), []byte(tagged("vault_id", `"../../etc/passwd"`)), 400, "data.vault_id", true},
		{"wait a string", binary(tagType, "t17"), []byte(tagged("wait", `"yes"`)), 400, "data.wait", true},
		{"service null", binary(deployType, "t18"), []byte(`{"service":null,"vault_id":"` + vault + `"}`), 400, "data.service", true},
		{"resource of unknown type", binary(deployType, "t19"), []byte(deploy(`,"resources":[{"id":"` + server + `","type":"OS::Evil::Thing"}]`)), 400, "data.resources[0].type", true},
		{"resource a number", binary(deployType, "t20"), []byte(deploy(`,"resources":[1]`)), 400, "data.resources[0]", true},

		// Hostile sizes and shapes.
		{"10 MB body", binary(tagType, "t21"), big, 413, "MAX_BODY_BYTES", false},
		{"deep nesting in data", binary(tagType, "t22"), []byte(`{"tags":` + deep + `}`), 400, "data", true},
		{"deep nesting, structured", contentType("application/cloudevents+json"), structured(tagType, "t23", deep), 400, "", false},
		{"deep nesting, raw payload", contentType("application/json"), []byte(`{"cts":` + deep + `}`), 415, "must be valid JSON", false},
		{"deep nesting, batch", contentType("application/cloudevents-batch+json"), []byte(deep), 400, "batch", false},
		{"20 000 resources", binary(deployType, "t26"), []byte(deploy(`,"resources":` + uuids(20_000))), 400, "data.resources", true},
		{"5 000 resources not in the vault", binary(deployType, "t27"), []byte(deploy(`,"resources":` + uuids(5_000))), 422, "BackupService.0001", true},
		{"name with control characters", binary(deployType, "t28"), []byte(deploy(`,"name":"pre\u0000deploy\n\u001b[31m"`)), 400, "name", true},
		// An event's own description is shortened to leave room for the key
		// marker (names CBR can find): a long one is not refused.
		{"description too long", binary(deployType, "t29"), []byte(deploy(`,"description":"` + strings.Repeat("d", 300) + `"`)), 200, "", true},
		// Text CBR may refuse never reaches it: an event's own description
		// and resource names are refused naming the field.
		{"description with markup", binary(deployType, "t29b"), []byte(deploy(`,"description":"<script>alert(1)</script>"`)), 400, "data.description", true},
		{"description with ANSI escapes", binary(deployType, "t29c"), []byte(deploy(`,"description":"red \u001b[31m alert"`)), 400, "data.description", true},
		{"description with a bidi override", binary(deployType, "t29d"), []byte(deploy(`,"description":"exe.\u202etxt"`)), 400, "data.description", true},
		{"resource name with control characters", binary(deployType, "t29e"),
			[]byte(deploy(`,"resources":[{"id":"` + server + `","type":"OS::Nova::Server","name":"web\u0085\u007f"}]`)), 400, "data.resources[0].name", true},
		{"server name with markup", binary(tagType, "t29f"), []byte(tagged("server_name", `"<b>web</b>"`)), 400, "data.server_name", true},
		{"invalid UTF-8 in the name", binary(deployType, "t30"), []byte(deploy(`,"name":"pre-` + "\xff\xfe" + `-deploy"`)), 400, "name", true},
		{"invalid UTF-8 in the service", binary(deployType, "t30b"), []byte(`{"service":"` + "\xc3\x28" + `","vault_id":"` + vault + `"}`), 400, "data.service", true},
		{"unknown type", binary("io.restorepoint.unknown", "t31"), []byte(`{}`), 400, "type", true},
		{"unknown structured type", contentType("application/cloudevents+json"), structured("com.example.evil", "t32", `{"x":1}`), 400, "type", true},

		// Broken envelopes.
		{"missing ce-id", with(binary(tagType, ""), "Ce-Id", ""), []byte(tagged("", "")), 400, "id", false},
		{"missing ce-source", with(binary(tagType, "t34"), "Ce-Source", ""), []byte(tagged("", "")), 400, "source", false},
		{"wrong ce-specversion", with(binary(tagType, "t35"), "Ce-Specversion", "2.0"), []byte(tagged("", "")), 415, "expected a CloudEvent", false},
		{"wrong structured specversion", contentType("application/cloudevents+json"),
			[]byte(`{"specversion":"2.0","id":"t36","source":"/x","type":"` + tagType + `","data":{}}`), 400, "specversion", true},
		{"structured id a number", contentType("application/cloudevents+json"),
			[]byte(`{"specversion":"1.0","id":7,"source":"/x","type":"` + tagType + `","data":{}}`), 400, "id", true},
		{"structured time in epoch milliseconds", contentType("application/cloudevents+json"),
			[]byte(`{"specversion":"1.0","id":"t36b","source":"/x","type":"` + tagType + `","time":1714557600000,"data":{}}`), 400, "time", true},
		{"structured extension with an underscore", contentType("application/cloudevents+json"),
			[]byte(`{"specversion":"1.0","id":"t36c","source":"/x","type":"` + tagType + `","my_ext":"x","data":{}}`), 400, "my_ext", true},
		{"batch of garbage", contentType("application/cloudevents-batch+json"), []byte(`[1,"x",null]`), 400, "batch", false},
		{"batch not a list", contentType("application/cloudevents-batch+json"), []byte(`{"specversion":"1.0"}`), 400, "batch", false},
		{"batch of 101 events", contentType("application/cloudevents-batch+json"), batchOf(101), 413, "at most 100 (MAX_BATCH_EVENTS)", false},
		{"data_base64 not base64", contentType("application/json"),
			[]byte(`{"specversion":"1.0","id":"t40","source":"/x","type":"` + tagType + `","data_base64":"%%%"}`), 400, "data_base64", true},
		{"CTS with wrong types", contentType("application/json"), []byte(`{"cts":{"trace_name":42,"code":[],"resource_id":{}}}`), 400, "cts", true},

		// Webhook authentication.
		{"no credentials", http.Header{"Authorization": {""}, "Content-Type": {"application/cloudevents+json"}}, signed, 401, "unauthorized", false},
		{"wrong bearer", http.Header{"Authorization": {"Bearer not-the-secret"}, "Content-Type": {"application/cloudevents+json"}}, signed, 401, "unauthorized", false},
		{"basic auth", http.Header{"Authorization": {"Basic " + secretWebhook}, "Content-Type": {"application/cloudevents+json"}}, signed, 401, "unauthorized", false},
		{"forged signature", http.Header{handler.HeaderSignature: {handler.Sign("guessed", signed)}, "Content-Type": {"application/cloudevents+json"}}, signed, 401, "unauthorized", false},
		{"signature of another body", http.Header{handler.HeaderSignature: {handler.Sign(secretWebhook, []byte("{}"))}, "Content-Type": {"application/cloudevents+json"}}, signed, 401, "unauthorized", false},
		{"malformed signature", http.Header{handler.HeaderSignature: {"sha1=deadbeef"}, "Content-Type": {"application/cloudevents+json"}}, signed, 401, "unauthorized", false},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}

	_, hwmBefore := w.proc.memory()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.post(c.header, c.body)
			msg := r.message()
			if r.status != c.status {
				t.Fatalf("status %d, want %d; message %q; body %.300s", r.status, c.status, msg, r.body)
			}
			if c.event && c.status == http.StatusOK {
				expectCreated(t, r.event, r.status, c.header.Get("Ce-Id"))
				return
			}
			if c.event {
				if r.event == nil || r.event.Type() != events.TypeCheckpointFailed {
					t.Fatalf("reply %.300s, want a failed result event", r.body)
				}
				d := dataOf(t, r.event)
				class := failure.Invalid
				if c.status == http.StatusUnprocessableEntity {
					class = failure.Rejected
				}
				if d.Error == nil || d.Error.Class != class {
					t.Errorf("error %+v, want class %s", d.Error, class)
				}
			} else if r.event != nil {
				t.Errorf("reply is a %s event, want an error body", r.event.Type())
			} else if !json.Valid(r.body) {
				t.Errorf("error body %.300q is not JSON", r.body)
			}
			if msg == "" {
				t.Fatalf("no message in %.300s", r.body)
			}
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.msg)) {
				t.Errorf("message %q does not mention %q", msg, c.msg)
			}
			if len(msg) > 2000 {
				t.Errorf("message of %d bytes; want a short, clear one", len(msg))
			}
		})
	}

	if code, body := w.get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz after the bad input: %d %s", code, body)
	}
	// Still serving triggers.
	reply, status := w.mustSend(exampleEvent("after-bad-input"))
	expectCreated(t, reply, status, "after-bad-input")

	rss, hwm := w.proc.memory()
	t.Logf("child memory: VmHWM %d MB before the table, VmHWM %d MB and VmRSS %d MB after (race=%v)",
		hwmBefore>>20, hwm>>20, rss>>20, raceEnabled)
	limit := int64(100 << 20)
	if raceEnabled {
		limit = 250 << 20 // the race detector's shadow memory
	}
	if hwm > limit {
		t.Errorf("peak resident memory %d MB, want at most %d MB", hwm>>20, limit>>20)
	}
}
