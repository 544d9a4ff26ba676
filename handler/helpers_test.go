package handler_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
)

// delivered ends a stub Function's Handle as function.Function's does:
// the result goes to deliver before it is returned.
func delivered(ctx context.Context, deliver function.Deliver, r events.Result) (events.Result, error) {
	if deliver != nil {
		if err := deliver(ctx, r); err != nil {
			return r, fmt.Errorf("result sink: %w", err)
		}
	}
	return r, nil
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// binaryMessage is e as a message that writes binary mode.
func binaryMessage(e event.Event) binding.Message { return binding.ToMessage(&e) }

// lockedWriter makes a buffer safe for concurrent log writes.
type lockedWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func newTestLogger(buf *bytes.Buffer) *slog.Logger {
	var w io.Writer = &lockedWriter{buf: buf}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// handleEvent decodes e and runs it through core, as the HTTP front door
// does with a binary-mode event.
func handleEvent(ctx context.Context, core *handler.Core, e event.Event) handler.Outcome {
	t, err := events.DecodeEvent(e)
	if err != nil {
		t.Ref = events.Ref{ID: e.ID(), Source: e.Source(), Type: e.Type()}
	}
	return core.Run(ctx, t, err)
}
