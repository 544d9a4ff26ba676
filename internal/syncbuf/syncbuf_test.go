package syncbuf

import (
	"fmt"
	"testing"
	"time"
)

func TestWaitLineWhileWritten(t *testing.T) {
	var b Buffer
	go func() {
		for i := range 5 {
			fmt.Fprintf(&b, "line %d\n", i)
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprintln(&b, "listening on  127.0.0.1:8090 ")
	}()
	if rest, ok := b.WaitLine("listening on ", 5*time.Second); !ok || rest != "127.0.0.1:8090" {
		t.Fatalf("WaitLine = %q, %v", rest, ok)
	}
	if rest, ok := b.WaitLine("never ", 50*time.Millisecond); ok {
		t.Fatalf("WaitLine found %q for a line never written", rest)
	}
}
