// Package syncbuf is a bytes.Buffer that one goroutine may write while
// another reads it: the output of a process or server under test.
package syncbuf

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent use. The zero value is
// empty and ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitLine waits up to timeout for a line that starts with prefix and
// returns the rest of it, trimmed; ok is false when none came.
func (b *Buffer) WaitLine(prefix string, timeout time.Duration) (rest string, ok bool) {
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		for line := range strings.SplitSeq(b.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return strings.TrimSpace(rest), true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
	}
}
