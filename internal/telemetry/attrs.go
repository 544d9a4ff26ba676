package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Every trigger, CBR attempt, delivery and review is counted with labels,
// and metric.WithAttributes builds a new attribute.Set for each measurement:
// a copy of the attributes, the set and the option are allocated per call,
// on the hot path (15 allocations, 1.1 KB, of a created trigger's 32 in
// BenchmarkTelemetryPrometheus).
// The label values come from small finite sets (trigger type, outcome,
// operation, HTTP status, CBR error code, ...), so an attrCache builds the
// option of each tuple of values once (metric.WithAttributeSet) and hands
// the same one out afterwards. The measurements, their metric names and
// their attributes are those metric.WithAttributes would give.

// maxAttrCacheEntries bounds each attrCache. Some values come from outside
// (a CBR error code, a skipped resource's code): past this many tuples a
// cache keeps what it has and builds the option of any other tuple per call,
// as metric.WithAttributes does, rather than grow without end.
const maxAttrCacheEntries = 256

// attrKey is the tuple of label values an option is cached under; labels
// past len(attrCache.keys) are "".
type attrKey [3]string

// attrCache hands out the metric.MeasurementOption of one instrument's label
// set (its keys, fixed when made) for a tuple of values, built once per
// tuple. It is safe for concurrent use.
//
// It is a map under an RWMutex rather than a sync.Map: a sync.Map's key is
// an interface, and an attrKey converted to one is allocated at every look-up.
type attrCache struct {
	keys []attribute.Key
	mu   sync.RWMutex
	opts map[attrKey]metric.MeasurementOption
}

// newAttrCache makes the cache of the label set keys (one to three names).
func newAttrCache(keys ...attribute.Key) *attrCache {
	if len(keys) == 0 || len(keys) > len(attrKey{}) {
		panic("telemetry: an attrCache has one to three keys")
	}
	return &attrCache{keys: keys, opts: make(map[attrKey]metric.MeasurementOption)}
}

// option returns the option that records the attributes keys[i] = values[i]:
// values holds one value per key, in the keys' order.
func (c *attrCache) option(values ...string) metric.MeasurementOption {
	if len(values) != len(c.keys) {
		panic("telemetry: attrCache.option takes one value per key")
	}
	var k attrKey
	copy(k[:], values)
	c.mu.RLock()
	o, ok := c.opts[k]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = c.build(values)
	c.mu.Lock()
	if prev, ok := c.opts[k]; ok {
		o = prev // another goroutine built it first: hand out one option per tuple
	} else if len(c.opts) < maxAttrCacheEntries {
		c.opts[k] = o
	}
	c.mu.Unlock()
	return o
}

// build makes the option of values, uncached.
func (c *attrCache) build(values []string) metric.MeasurementOption {
	kvs := make([]attribute.KeyValue, len(c.keys))
	for i, key := range c.keys {
		kvs[i] = key.String(values[i])
	}
	return metric.WithAttributeSet(attribute.NewSet(kvs...))
}

// metricAttrs are the label sets of the instruments that have labels (the
// README lists them), one cache each.
type metricAttrs struct {
	triggers        *attrCache // type, outcome
	triggerDuration *attrCache // type
	skipped         *attrCache // code
	cbrRequests     *attrCache // operation, status, code
	cbrDuration     *attrCache // operation
	sinkDeliveries  *attrCache // outcome
	storeErrors     *attrCache // operation
	reviews         *attrCache // state
}

func newMetricAttrs() metricAttrs {
	return metricAttrs{
		triggers:        newAttrCache("type", "outcome"),
		triggerDuration: newAttrCache("type"),
		skipped:         newAttrCache("code"),
		cbrRequests:     newAttrCache("operation", "status", "code"),
		cbrDuration:     newAttrCache("operation"),
		sinkDeliveries:  newAttrCache("outcome"),
		storeErrors:     newAttrCache("operation"),
		reviews:         newAttrCache("state"),
	}
}
