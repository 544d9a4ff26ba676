package telemetry

import (
	"fmt"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// setOf is the attribute set o records.
func setOf(o metric.MeasurementOption) attribute.Set {
	return metric.NewAddConfig([]metric.AddOption{o}).Attributes()
}

// wantSet is the set metric.WithAttributes gives for keys and values.
func wantSet(keys []attribute.Key, values ...string) attribute.Set {
	kvs := make([]attribute.KeyValue, len(keys))
	for i, k := range keys {
		kvs[i] = k.String(values[i])
	}
	return setOf(metric.WithAttributes(kvs...))
}

func TestAttrCacheReusesOptions(t *testing.T) {
	c := newAttrCache("operation", "status", "code")
	a := c.option("create_checkpoint", "200", "")
	if b := c.option("create_checkpoint", "200", ""); a != b {
		t.Error("the same values gave two options")
	}
	if got, want := setOf(a), wantSet(c.keys, "create_checkpoint", "200", ""); !got.Equals(&want) {
		t.Errorf("attributes %v, want %v", got.ToSlice(), want.ToSlice())
	}
	seen := map[metric.MeasurementOption]bool{a: true}
	for _, v := range [][]string{
		{"create_checkpoint", "400", "BackupService.6302"},
		{"get_checkpoint", "200", ""},
		{"create_checkpoint", "error", ""},
		{"", "create_checkpoint", "200"}, // the same strings under other keys
	} {
		o := c.option(v...)
		if seen[o] {
			t.Errorf("%q: an option already handed out for other values", v)
		}
		seen[o] = true
		if got, want := setOf(o), wantSet(c.keys, v...); !got.Equals(&want) {
			t.Errorf("%q: attributes %v, want %v", v, got.ToSlice(), want.ToSlice())
		}
	}
}

// TestAttrCacheNoAllocations: a cached tuple costs no allocation.
func TestAttrCacheNoAllocations(t *testing.T) {
	c := newAttrCache("type", "outcome")
	kind, outcome := "server.tagged", "created"
	c.option(kind, outcome)
	if n := testing.AllocsPerRun(100, func() { c.option(kind, outcome) }); n != 0 {
		t.Errorf("%v allocations per cached look-up, want 0", n)
	}
}

// TestAttrCacheBounded: past maxAttrCacheEntries tuples, the cache keeps
// what it has and builds the others per call, with the same attributes.
func TestAttrCacheBounded(t *testing.T) {
	c := newAttrCache("code")
	first := c.option("code-0")
	for i := range maxAttrCacheEntries + 50 {
		c.option(fmt.Sprint("code-", i))
	}
	if n := len(c.opts); n != maxAttrCacheEntries {
		t.Errorf("%d entries, want %d", n, maxAttrCacheEntries)
	}
	if c.option("code-0") != first {
		t.Error("a cached tuple was dropped")
	}
	over := fmt.Sprint("code-", maxAttrCacheEntries+10)
	o := c.option(over)
	if got, want := setOf(o), wantSet(c.keys, over); !got.Equals(&want) {
		t.Errorf("uncached tuple: attributes %v, want %v", got.ToSlice(), want.ToSlice())
	}
	if n := len(c.opts); n != maxAttrCacheEntries {
		t.Errorf("%d entries after an uncached tuple, want %d", n, maxAttrCacheEntries)
	}
}

// TestAttrCacheConcurrent: goroutines looking up the same tuples at once get
// one option per tuple (run with -race).
func TestAttrCacheConcurrent(t *testing.T) {
	c := newAttrCache("type", "outcome")
	const goroutines, tuples = 8, 40
	got := make([][]metric.MeasurementOption, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			got[g] = make([]metric.MeasurementOption, tuples)
			for i := range tuples {
				got[g][i] = c.option(fmt.Sprint("type-", i%5), fmt.Sprint("outcome-", i))
			}
		})
	}
	wg.Wait()
	for i := range tuples {
		for g := 1; g < goroutines; g++ {
			if got[g][i] != got[0][i] {
				t.Fatalf("tuple %d: goroutines %d and 0 got different options", i, g)
			}
		}
		want := wantSet(c.keys, fmt.Sprint("type-", i%5), fmt.Sprint("outcome-", i))
		if s := setOf(got[0][i]); !s.Equals(&want) {
			t.Errorf("tuple %d: attributes %v, want %v", i, s.ToSlice(), want.ToSlice())
		}
	}
}

func TestAttrCacheWrongArity(t *testing.T) {
	c := newAttrCache("type", "outcome")
	defer func() {
		if recover() == nil {
			t.Error("one value for two keys did not panic")
		}
	}()
	c.option("server.tagged")
}
