package function

import (
	"testing"

	"github.com/restorepoint/restorepoint/events"
)

// FuzzDecodeRecord holds decodeRecord to never panic, and to decode what
// encodeRecord made of what it decoded to the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"id":"r","checkpoints":[{"id":"c","status":"protecting","vault":{"skipped_resources":[]}}]}`))
	f.Add([]byte(`{"id":"r"}`))
	f.Add([]byte(`{"id":"r","checkpoints":[],"associated":[{"id":"s","type":"OS::Nova::Server","name":"web"}],"skipped":[{"id":"d","type":"OS::Cinder::Volume","name":"","code":"BackupService.6114","reason":"full"}]}`))
	f.Add([]byte(`{"checkpoints":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		asResult := func(r storedResult) events.Result {
			return events.Result{ID: r.ID, Created: &events.Created{Checkpoints: r.Checkpoints,
				AssociatedResources: r.Associated, SkippedResources: r.Skipped}}
		}
		enc, err := encodeRecord(asResult(r))
		if err != nil {
			t.Fatalf("encode of decoded %s: %v", data, err)
		}
		again, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", enc, err)
		}
		if enc2, err := encodeRecord(asResult(again)); err != nil || string(enc2) != string(enc) {
			t.Fatalf("round trip not stable:\n%s\n%s", enc, enc2)
		}
	})
}
