package events_test

import (
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/events"
)

// TestRefDigestIsStable pins Digest to the hex SHA-256 of the length-prefixed
// key (sha256sum of the key, as written in each case): the digest is stored
// in records and names restore points in CBR, so it must not change between
// versions. The last case is longer than Digest's buffer on the stack.
func TestRefDigestIsStable(t *testing.T) {
	for _, c := range []struct {
		ref       events.Ref
		key, want string
	}{
		{events.Ref{Sender: "github", Source: "/restorepoint/tagger", ID: "evt-1"},
			"6:github20:/restorepoint/taggerevt-1", "e2d1eecf0cd2e13a21482b2885308d52f6138a4ef3d0df77ab728086523247ae"},
		{events.Ref{}, "0:0:", "390feabc786e369e55b904251d643b52b52b691c60eb74a498ef7c6df993bf12"},
		{events.Ref{Source: strings.Repeat("s", 1000), ID: strings.Repeat("x", 300)},
			"0:1000:" + strings.Repeat("s", 1000) + strings.Repeat("x", 300), "8c14a22937072b18416b019b4f1ef5cfb9a9ac582dba43a8aed864525f8d1028"},
	} {
		if got := c.ref.Key(); got != c.key {
			t.Errorf("Key() = %.40q, want %.40q", got, c.key)
		}
		if got := c.ref.Digest(); got != c.want {
			t.Errorf("Digest() of %.40q = %s, want %s", c.key, got, c.want)
		}
	}
}
