package function

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
)

// cleanDescriptionSlow is cleanDescription without its fast path.
func cleanDescriptionSlow(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == cbr.MaxDescription {
			break
		}
		switch {
		case r == '<' || r == '>':
			continue
		case r == utf8.RuneError || r < ' ' || r == 0x7f:
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// TestCleanDescriptionFastPath holds the fast path to the rune-by-rune rule.
func TestCleanDescriptionFastPath(t *testing.T) {
	inputs := []string{
		"", " ", "plain", "  padded  ", "Backup of server ecs-1 by io.restorepoint.server.tagged event 1 from /s",
		"a<b>c", "tab\there", "nl\n", "del\x7f", "bad \xff byte", "repl \uFFFD char", "é ü 日本",
		strings.Repeat("x", cbr.MaxDescription-1), strings.Repeat("x", cbr.MaxDescription), strings.Repeat("x", cbr.MaxDescription+1),
		strings.Repeat("é", cbr.MaxDescription), strings.Repeat("é", cbr.MaxDescription+1),
		strings.Repeat("x", cbr.MaxDescription-1) + "  y", strings.Repeat(" ", cbr.MaxDescription+3) + "z",
	}
	for c := range 256 {
		inputs = append(inputs, "a"+string([]byte{byte(c)})+"b", string(rune(c)))
	}
	for _, s := range inputs {
		if got, want := cleanDescription(s), cleanDescriptionSlow(s); got != want {
			t.Errorf("cleanDescription(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzCleanDescription(f *testing.F) {
	f.Add("Backup of server ecs-1f0f-0002, tagged backup=daily")
	f.Add("a<b>\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := cleanDescription(s), cleanDescriptionSlow(s); got != want {
			t.Errorf("cleanDescription(%q) = %q, want %q", s, got, want)
		}
	})
}

// FuzzDecodeRecord holds decodeRecord to never panic, and to decode what
// encodeRecord made of what it decoded to the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"id":"r","checkpoints":[{"id":"c","status":"protecting","vault":{"skipped_resources":[]}}]}`))
	f.Add([]byte(`{"id":"r"}`))
	f.Add([]byte(`{"checkpoints":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		asResult := func(r storedResult) events.Result {
			return events.Result{ID: r.ID, Created: &events.Created{Checkpoints: r.Checkpoints}}
		}
		enc := encodeRecord(asResult(r))
		again, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", enc, err)
		}
		if enc2 := encodeRecord(asResult(again)); string(enc2) != string(enc) {
			t.Fatalf("round trip not stable:\n%s\n%s", enc, enc2)
		}
	})
}
