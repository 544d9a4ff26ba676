package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
)

// SIGTERM with triggers in flight: they complete with 200 and their results
// reach the sink; connections opened after the signal are refused; the
// process exits 0.
func TestSIGTERMWithTriggersInFlight(t *testing.T) {
	const latency = 700 * time.Millisecond
	w := newWorld(t, options{})
	w.emu.SetLatency(latency)

	// Three triggers for different resources, so that none is skipped.
	triggers := []struct{ id, server string }{
		{"term-1", cbrtest.ExampleServerID},
		{"term-2", cbrtest.DemoServerID},
		{"term-3", cbrtest.DemoVolumeID},
	}
	type result struct {
		id       string
		status   int
		resultID string
		err      error
		at       time.Time
	}
	results := make(chan result, len(triggers))
	var wg sync.WaitGroup
	for _, tr := range triggers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			reply, status, err := w.send(ctx, taggedEvent(tr.id, tr.server, cbrtest.ExampleVaultID))
			r := result{id: tr.id, status: status, err: err, at: time.Now()}
			if reply != nil {
				r.resultID = reply.ID()
			}
			results <- r
		})
	}
	// The triggers are in flight once the emulator holds their creates.
	eventually(t, 10*time.Second, "the creates to reach the emulator", func() bool {
		return len(creates(w.emu)) == len(triggers)
	})
	signalled := time.Now()
	w.proc.signal(syscall.SIGTERM)

	// New connections are refused while the triggers are still in flight.
	var refusedAt time.Time
	deadline := time.Now().Add(latency / 2)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+w.proc.port, 100*time.Millisecond)
		if err == nil {
			conn.Close()
		} else if isConnRefused(err) {
			refusedAt = time.Now()
			break
		} else if !errors.Is(err, syscall.ECONNRESET) { // reset: queued as the listener closed
			t.Fatalf("dial after SIGTERM: %v, want connection refused", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if refusedAt.IsZero() {
		t.Fatalf("connections still accepted %v after SIGTERM", latency/2)
	}
	// A trigger sent now is refused too.
	late, err := (&http.Client{Timeout: 5 * time.Second}).Post(w.proc.url, "application/json", nil)
	if err == nil {
		late.Body.Close()
		t.Fatalf("a request after SIGTERM got %s, want a refused connection", late.Status)
	} else if !isConnRefused(err) {
		t.Errorf("a request after SIGTERM: %v, want connection refused", err)
	}

	wg.Wait()
	close(results)
	var ids []string
	for r := range results {
		if r.err != nil || r.status != http.StatusOK {
			t.Errorf("%s: status %d, err %v; want 200", r.id, r.status, r.err)
			continue
		}
		if !r.at.After(refusedAt) {
			t.Errorf("%s answered before new connections were refused; not in flight", r.id)
		}
		ids = append(ids, r.resultID)
	}
	if err := w.proc.wait(10 * time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	t.Logf("refused %v after SIGTERM; exited %v after", refusedAt.Sub(signalled).Round(time.Millisecond),
		time.Since(signalled).Round(time.Millisecond))
	if n := w.emu.CountCreates(); n != len(triggers) {
		t.Errorf("%d creates, want %d", n, len(triggers))
	}
	expectSinkHas(t, w.sink, ids...)
	if len(ids) != len(triggers) {
		t.Error(fmt.Sprintf("%d of %d triggers completed", len(ids), len(triggers)))
	}
}
