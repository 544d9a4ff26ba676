package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// TestRestorepointReceivers runs restorepoint as the harness does, built as
// packaged and started with the harness's receivers against the emulator:
// with in-memory records, with the Redis store and the lookup, and as a
// FunctionGraph event function under the runtime API stand-in. Each takes
// the load generator's event without a bearer token (WEBHOOK_AUTH=none, as
// the SDK function and the floor take it), answers a checkpoint.created
// result, and signs its CBR requests with the demo key pair, as the SDK
// function does, sending no token.
func TestRestorepointReceivers(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	bin := filepath.Join(dir, "restorepoint")
	if err := goBuild(ctx, "go", "..", nil, "-tags", packagedTags, "-o", bin, "./cmd/restorepoint"); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("../testdata/events/server-tagged.json")
	if err != nil {
		t.Fatal(err)
	}
	events, err := makeEvents(fixture, "rp-test", 3)
	if err != nil {
		t.Fatal(err)
	}
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	defer srv.Close()
	ps := newProcs(dir)
	defer ps.stopAll()
	client := newClient(1)
	defer client.CloseIdleConnections()

	// signedWithKeys checks the emulator's requests from index from on: all
	// signed with the demo keys, the last one a created checkpoint.
	signedWithKeys := func(name string, from int) {
		t.Helper()
		reqs := srv.Emulator.Requests()[from:]
		if len(reqs) == 0 {
			t.Fatalf("%s: no request to the emulator", name)
		}
		for _, r := range reqs {
			if r.AccessKey != cbrtest.DemoAccessKey || r.HasToken {
				t.Errorf("%s: %s %s signed by %q, token sent %v; want AK/SK %s and no token",
					name, r.Method, r.Path, r.AccessKey, r.HasToken, cbrtest.DemoAccessKey)
			}
		}
		if last := reqs[len(reqs)-1]; last.Method != http.MethodPost || last.Status != http.StatusOK {
			t.Errorf("%s: last request %s %s answered %d, want a created checkpoint", name, last.Method, last.Path, last.Status)
		}
	}

	rs := []receiver{rpReceiver(bin)}
	if redis, err := redistest.Start(); err != nil {
		t.Logf("restorepoint+redis not run: %v", err)
	} else {
		defer redis.Close()
		rs = append(rs, redisReceiver(rs[0], redis.URL))
	}
	for i, r := range rs {
		from := len(srv.Emulator.Requests())
		p, url, err := startReceiver(ctx, ps, r, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if res := runLoad(ctx, client, url, events[i:i+1], 1, r.check); res.ok != 1 {
			t.Fatal(p.failure(errors.New(res.firstErr)))
		}
		signedWithKeys(r.name, from)
		p.stop()
	}

	from := len(srv.Emulator.Requests())
	if _, err := functionGraphColdStart(ctx, ps, rs[0], srv.URL, events[2], "io.restorepoint.checkpoint.created"); err != nil {
		t.Fatal(err)
	}
	signedWithKeys("restorepoint as a FunctionGraph event function", from)
}
