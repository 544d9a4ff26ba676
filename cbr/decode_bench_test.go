package cbr

import (
	"os"
	"testing"
)

// BenchmarkDecodeCheckpointResponse decodes the API page's example answer as
// every create and every follow read does (docs/benchmarks.md).
func BenchmarkDecodeCheckpointResponse(b *testing.B) {
	data, err := os.ReadFile("testdata/example_response.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := decodeCheckpointResponse(data)
		if err != nil || len(resp.Checkpoint.Raw) == 0 {
			b.Fatalf("decode: %v, raw %q", err, resp.Checkpoint.Raw)
		}
	}
}
