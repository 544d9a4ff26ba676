package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/failure"
)

// signedBy returns the access keys of the emulator's create requests.
func signedBy(emu *cbrtest.Server) []string {
	var keys []string
	for _, r := range emu.Requests() {
		if r.Method == http.MethodPost {
			keys = append(keys, r.AccessKey)
		}
	}
	return keys
}

// AK/SK over HTTP: `restorepoint serve` signs every create with the keys of
// CBR_ACCESS_KEY and CBR_SECRET_KEY_FILE, and a rotated secret key file is
// read again after the emulator refuses the old one.
func TestAccessKeysOverHTTP(t *testing.T) {
	w := newWorld(t, options{aksk: true})
	reply, status := w.mustSend(exampleEvent("aksk-1"))
	expectCreated(t, reply, status, "aksk-1")
	if got := signedBy(w.emu); len(got) != 1 || got[0] != accessKey {
		t.Fatalf("creates signed by %q, want %s", got, accessKey)
	}
	if r := w.emu.Requests(); r[len(r)-1].HasToken {
		t.Error("a signed request also sent X-Auth-Token")
	}
}

// A wrong secret key is refused by the emulator: a checkpoint.failed of
// class unauthorized, with the API's 401, after one re-read of the key.
func TestAccessKeysWrongKeyRefused(t *testing.T) {
	w := newWorld(t, options{aksk: true})
	w.emu.SetAccessKey(accessKey, "another-secret-key")
	reply, status := w.mustSend(exampleEvent("aksk-wrong-1"))
	d := expectFailed(t, reply, status, http.StatusForbidden, failure.Unauthorized)
	if d.Error.Status != 401 {
		t.Errorf("error %+v, want the API's 401", d.Error)
	}
	// The first CBR call (the lookup before creating) is refused, the keys
	// are read again once, and refused again: nothing is created.
	var statuses []int
	for _, r := range w.emu.Requests() {
		statuses = append(statuses, r.Status)
	}
	if !equalInts(statuses, []int{401, 401}) || len(creates(w.emu)) != 0 {
		t.Errorf("CBR answers %v, creates %v; want [401 401] (one re-read of the keys) and no create", statuses, creates(w.emu))
	}
}

// A clock 20 minutes off: the emulator refuses the X-Sdk-Date, reported as
// unauthorized, with the reason in the message.
func TestAccessKeysSkewedClockRefused(t *testing.T) {
	w := newWorld(t, options{aksk: true, emu: cbrtest.Options{Now: func() time.Time { return time.Now().Add(20 * time.Minute) }}})
	reply, status := w.mustSend(exampleEvent("aksk-skew-1"))
	d := expectFailed(t, reply, status, http.StatusForbidden, failure.Unauthorized)
	if !strings.Contains(d.Error.Message, "X-Sdk-Date") {
		t.Errorf("error %+v, want it to name X-Sdk-Date", d.Error)
	}
}

// FunctionGraph: CBR_AUTH=functiongraph signs with the temporary keys a
// request carries (both namings), else fails naming the headers.
func TestFunctionGraphTemporaryKeys(t *testing.T) {
	w := newWorld(t, options{noCredentials: true, env: map[string]string{"CBR_AUTH": "functiongraph"}})
	body := []byte(`{"specversion":"1.0","id":"%s","source":"/ci/shop","type":"io.restorepoint.deploy.pre",` +
		`"datacontenttype":"application/json","data":{"service":"shop","version":"1","vault_id":"` + cbrtest.ExampleVaultID +
		`","resources":["` + cbrtest.ExampleServerID + `"]}}`)
	structured := func(id string, h http.Header) reply {
		h.Set("Content-Type", "application/cloudevents+json")
		return w.post(h, []byte(strings.Replace(string(body), "%s", id, 1)))
	}
	for _, tc := range []struct {
		id     string
		header http.Header
	}{
		{"fg-keys-1", http.Header{
			"X-Cff-Security-Access-Key": {cbrtest.DemoTemporaryAccessKey},
			"X-Cff-Security-Secret-Key": {cbrtest.DemoTemporarySecretKey},
			"X-Cff-Security-Token":      {cbrtest.DemoSecurityToken},
		}},
		{"fg-keys-2", http.Header{
			"X-Cff-Access-Key":     {cbrtest.DemoTemporaryAccessKey},
			"X-Cff-Secret-Key":     {cbrtest.DemoTemporarySecretKey},
			"X-Cff-Security-Token": {cbrtest.DemoSecurityToken},
		}},
	} {
		r := structured(tc.id, tc.header)
		if r.status != http.StatusOK || r.event == nil || !strings.HasSuffix(r.event.Type(), "checkpoint.created") {
			t.Fatalf("%s: status %d %s", tc.id, r.status, r.body)
		}
	}
	if got := signedBy(w.emu); len(got) != 2 || got[0] != cbrtest.DemoTemporaryAccessKey || got[1] != cbrtest.DemoTemporaryAccessKey {
		t.Fatalf("creates signed by %q", got)
	}

	r := structured("fg-none-1", http.Header{})
	if r.event == nil || !strings.HasSuffix(r.event.Type(), "checkpoint.failed") {
		t.Fatalf("without credentials: status %d %s", r.status, r.body)
	}
	d := dataOf(t, r.event)
	if d.Error == nil || d.Error.Class != failure.Unauthorized {
		t.Fatalf("error %+v, want unauthorized", d.Error)
	}
	for _, h := range []string{"X-CFF-Security-Access-Key", "X-CFF-Access-Key", "X-CFF-Auth-Token"} {
		if !strings.Contains(d.Error.Message, h) {
			t.Errorf("message %q does not name %s", d.Error.Message, h)
		}
	}
}
