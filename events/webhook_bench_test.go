package events

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

// BenchmarkDecode compares the per-event cost of the webhook decoders with
// decoding a CloudEvent (docs/benchmarks.md, "Rules and webhooks cost").
func BenchmarkDecode(b *testing.B) {
	for _, file := range []string{"github-deployment.http", "gitlab-deployment-running.http", "flux-kustomization.http"} {
		h, body := readWebhook(b, file)
		b.Run(file, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := DecodeWebhook(h, body); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
	data, err := os.ReadFile(filepath.Join("..", "testdata", "events", "deploy-pre.json"))
	if err != nil {
		b.Fatal(err)
	}
	var e event.Event
	if err := e.UnmarshalJSON(data); err != nil {
		b.Fatal(err)
	}
	b.Run("cloudevent deploy-pre", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEvent(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("structured cloudevent JSON deploy-pre", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
