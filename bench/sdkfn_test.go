package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
)

// TestSDKFunction runs the SDK function as the harness does, built from its
// own module and started with the harness's receiver, against the emulator
// (which answers resource_size as a number, like the API page): it creates
// the checkpoint with a request signed by the demo key pair and answers 200;
// it sends the body the floor sends (which the floor's TestSameBody holds to
// restorepoint's); a failing CBR makes it answer non-200, which the harness
// counts as a failure that invalidates the run; and its cold start is
// measured.
func TestSDKFunction(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	sdkBin, floorBin := filepath.Join(dir, "sdkfn"), filepath.Join(dir, "floor")
	if err := goBuild(ctx, "go", filepath.Join("..", sdkModule), nil, "-o", sdkBin, "."); err != nil {
		t.Fatal(err)
	}
	if err := goBuild(ctx, "go", "..", nil, "-o", floorBin, "./bench/floor"); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("../testdata/events/server-tagged.json")
	if err != nil {
		t.Fatal(err)
	}
	events, err := makeEvents(fixture, "sdk-test", 3)
	if err != nil {
		t.Fatal(err)
	}
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	defer srv.Close()
	ps := newProcs(dir)
	defer ps.stopAll()
	client := newClient(1)
	defer client.CloseIdleConnections()

	// The same event to the SDK function and to the floor.
	var bodies [][]byte
	for _, r := range []receiver{sdkReceiver(sdkBin), floorReceiver(floorBin)} {
		p, url, err := startReceiver(ctx, ps, r, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if res := runLoad(ctx, client, url, events[:1], 1, nil); res.ok != 1 {
			t.Fatal(p.failure(errors.New(res.firstErr)))
		}
		reqs := srv.Emulator.Requests()
		last := reqs[len(reqs)-1]
		if last.Method != http.MethodPost || last.Path != "/v3/"+cbrtest.DefaultProjectID+"/checkpoints" || last.Status != http.StatusOK {
			t.Fatalf("%s: last request %s %s answered %d, want a created checkpoint", r.name, last.Method, last.Path, last.Status)
		}
		if r.name == sdkName && (last.AccessKey != cbrtest.DemoAccessKey || last.HasToken) {
			t.Errorf("SDK function's request signed by %q, token sent %v; want AK/SK %s and no token",
				last.AccessKey, last.HasToken, cbrtest.DemoAccessKey)
		}
		bodies = append(bodies, last.Body)
	}
	if n := srv.Emulator.CountCreates(); n != 2 {
		t.Errorf("%d checkpoints created, want 2", n)
	}
	var sdkBody, floorBody any
	if err := json.Unmarshal(bodies[0], &sdkBody); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(bodies[1], &floorBody); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sdkBody, floorBody) {
		t.Errorf("SDK function's body\n%s\nfloor's body\n%s", bodies[0], bodies[1])
	}

	// CBR fails: the function answers 502, a failed event to the harness.
	_, url, err := startReceiver(ctx, ps, sdkReceiver(sdkBin), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Emulator.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: http.StatusInternalServerError})
	res := runLoad(ctx, client, url, events[1:2], 1, nil)
	if res.non200 != 1 || res.errors() != 1 || !strings.HasPrefix(res.firstErr, "status 502") {
		t.Errorf("with CBR failing: %d non-200, %d errors, first %q; want one 502", res.non200, res.errors(), res.firstErr)
	}
	st := &levelStats{sent: res.sent, errs: res.errors(), firstErr: res.firstErr}
	if v := validity(results{load: map[string]map[int]*levelStats{sdkName: {1: st}}}); !strings.Contains(v, sdkName) {
		t.Errorf("validity = %q, want the run invalid", v)
	}

	d, err := coldStart(ctx, ps, sdkReceiver(sdkBin), srv.URL, events[2])
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > 10*time.Second {
		t.Errorf("cold start %v", d)
	}
}

// TestSDKFunctionModule runs go vet and the tests of the SDK function's own
// module, which go test ./... in restorepoint's module does not descend into.
func TestSDKFunctionModule(t *testing.T) {
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-race", "-count=1", "./..."}} {
		cmd := exec.CommandContext(t.Context(), "go", args...)
		cmd.Dir = filepath.Join("..", sdkModule)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %s in %s: %v\n%s", strings.Join(args, " "), sdkModule, err, out)
		}
	}
}
