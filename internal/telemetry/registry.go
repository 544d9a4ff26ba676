package telemetry

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/metric/noop"
)

// The deployed binary keeps its metrics in a registry of its own, reached
// through the OpenTelemetry metric API (registry.Meter), rather than in the
// OpenTelemetry SDK: the SDK's sdk/metric adds 1.5 MB to the stripped
// bootstrap, 20 packages and 0.7 ms to package initialisation (it compiles
// regexps at init), for aggregation this registry does in 300 lines. The
// SDK is linked only by the otlp build, which pushes over OTLP (otlp.go).

// Metric types, as the Prometheus text format names them.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
)

// Family is one metric as read from the registry: its series sorted by
// labels.
type Family struct {
	// Name is the Prometheus name (restorepoint_triggers_total).
	Name string
	// Help describes the metric.
	Help string
	// Type is counter, gauge or histogram.
	Type string
	// Unit is the OpenTelemetry unit ("s" for seconds).
	Unit string
	// Bounds are a histogram's bucket upper bounds (+Inf left out).
	Bounds []float64
	// Series are the label sets seen and their values.
	Series []Series
}

// Series is one label set of a Family.
type Series struct {
	// Labels are sorted by name; they include empty values.
	Labels []Label
	// Value is a counter's or a gauge's value.
	Value float64
	// Counts are a histogram's observations per bucket (not cumulative;
	// the last is the +Inf bucket), Sum their sum and Count their number.
	Counts []uint64
	Sum    float64
	Count  uint64
	// Min and Max are the extremes of a histogram's observations (NaN when
	// none were made).
	Min, Max float64
}

// Label is a label name and value.
type Label struct{ Name, Value string }

// registry keeps counters, histograms and observable gauges in memory.
type registry struct {
	mu       sync.Mutex
	families []*family
}

type family struct {
	Family
	series   map[attribute.Distinct]*series
	callback metric.Int64Callback // observable gauges
}

type series struct {
	attrs    attribute.Set
	value    float64
	counts   []uint64
	sum      float64
	count    uint64
	min, max float64 // since the last delta read

	// What the last delta read reported, for the next.
	sentValue  float64
	sentCounts []uint64
	sentSum    float64
	sentCount  uint64
}

// add registers a family.
func (r *registry) add(f Family, cb metric.Int64Callback) *family {
	fam := &family{Family: f, series: map[attribute.Distinct]*series{}, callback: cb}
	r.mu.Lock()
	r.families = append(r.families, fam)
	r.mu.Unlock()
	return fam
}

// get returns the series of attrs, made when new; r.mu is held.
func (f *family) get(attrs attribute.Set) *series {
	s, ok := f.series[attrs.Equivalent()]
	if !ok {
		s = &series{attrs: attrs, min: math.NaN(), max: math.NaN()}
		if f.Type == typeHistogram {
			s.counts = make([]uint64, len(f.Bounds)+1)
			s.sentCounts = make([]uint64, len(f.Bounds)+1)
		}
		f.series[attrs.Equivalent()] = s
	}
	return s
}

// Read returns every family with its series, sorted by name. With delta,
// counters and histograms hold what changed since the previous delta read
// (series without change are left out), as CloudWatch wants them; without,
// they are cumulative, as Prometheus wants them. Observable gauges are
// observed now.
func (r *registry) Read(ctx context.Context, delta bool) []Family {
	r.mu.Lock()
	fams := slices.Clone(r.families)
	r.mu.Unlock()
	for _, f := range fams {
		if f.callback != nil {
			obs := &gaugeObserver{r: r, f: f}
			_ = f.callback(ctx, obs)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Family, 0, len(fams))
	for _, f := range fams {
		fam := f.Family
		fam.Series = make([]Series, 0, len(f.series))
		for _, s := range f.series {
			v := Series{Labels: labelsOf(s.attrs), Value: s.value, Sum: s.sum, Count: s.count,
				Counts: slices.Clone(s.counts), Min: s.min, Max: s.max}
			if delta && f.Type != typeGauge {
				v.Value -= s.sentValue
				v.Sum -= s.sentSum
				v.Count -= s.sentCount
				for i := range v.Counts {
					v.Counts[i] -= s.sentCounts[i]
				}
				s.sentValue, s.sentSum, s.sentCount = s.value, s.sum, s.count
				copy(s.sentCounts, s.counts)
				s.min, s.max = math.NaN(), math.NaN()
				if v.Value == 0 && v.Count == 0 {
					continue
				}
			}
			fam.Series = append(fam.Series, v)
		}
		sort.Slice(fam.Series, func(i, j int) bool { return compareLabels(fam.Series[i].Labels, fam.Series[j].Labels) < 0 })
		out = append(out, fam)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func labelsOf(set attribute.Set) []Label {
	out := make([]Label, 0, set.Len())
	for _, kv := range set.ToSlice() { // sorted by key
		out = append(out, Label{Name: string(kv.Key), Value: kv.Value.Emit()})
	}
	return out
}

func compareLabels(a, b []Label) int {
	for i := range min(len(a), len(b)) {
		if c := strings.Compare(a[i].Name, b[i].Name); c != 0 {
			return c
		}
		if c := strings.Compare(a[i].Value, b[i].Value); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// promName is the Prometheus name of an OpenTelemetry metric, translated as
// Prometheus translates them: dots become underscores, unit "s" adds
// _seconds, a counter adds _total.
func promName(name, unit, typ string) string {
	name = sanitizeName(name)
	if unit == "s" && !strings.HasSuffix(name, "_seconds") {
		name += "_seconds"
	}
	if typ == typeCounter && !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	return name
}

// sanitizeName replaces what a Prometheus metric or label name cannot hold
// with underscores.
func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || i > 0 && c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// Meter returns the OpenTelemetry meter that records into r. It implements
// the instruments restorepoint uses (Int64Counter, Float64Histogram,
// Int64ObservableGauge); every other instrument is a no-op.
func (r *registry) Meter() metric.Meter { return meter{r: r} }

type meter struct {
	noop.Meter
	r *registry
}

// Int64Counter implements metric.Meter.
func (m meter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	cfg := metric.NewInt64CounterConfig(opts...)
	f := m.r.add(Family{Name: promName(name, cfg.Unit(), typeCounter), Help: cfg.Description(), Type: typeCounter, Unit: cfg.Unit()}, nil)
	return counter{r: m.r, f: f}, nil
}

// Float64Histogram implements metric.Meter.
func (m meter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	cfg := metric.NewFloat64HistogramConfig(opts...)
	bounds := cfg.ExplicitBucketBoundaries()
	if bounds == nil {
		bounds = durationBuckets
	}
	f := m.r.add(Family{Name: promName(name, cfg.Unit(), typeHistogram), Help: cfg.Description(), Type: typeHistogram,
		Unit: cfg.Unit(), Bounds: slices.Clone(bounds)}, nil)
	return histogram{r: m.r, f: f}, nil
}

// Int64ObservableGauge implements metric.Meter: the callbacks are called at
// every read.
func (m meter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	cfg := metric.NewInt64ObservableGaugeConfig(opts...)
	cbs := cfg.Callbacks()
	m.r.add(Family{Name: promName(name, cfg.Unit(), typeGauge), Help: cfg.Description(), Type: typeGauge, Unit: cfg.Unit()},
		func(ctx context.Context, o metric.Int64Observer) error {
			for _, cb := range cbs {
				if err := cb(ctx, o); err != nil {
					return err
				}
			}
			return nil
		})
	return noop.Int64ObservableGauge{}, nil
}

type counter struct {
	embedded.Int64Counter
	r *registry
	f *family
}

// Add implements metric.Int64Counter.
func (c counter) Add(_ context.Context, incr int64, opts ...metric.AddOption) {
	if incr < 0 {
		return // a counter only grows
	}
	attrs := metric.NewAddConfig(opts).Attributes()
	c.r.mu.Lock()
	c.f.get(attrs).value += float64(incr)
	c.r.mu.Unlock()
}

// Enabled implements metric.Int64Counter.
func (counter) Enabled(context.Context) bool { return true }

type histogram struct {
	embedded.Float64Histogram
	r *registry
	f *family
}

// Record implements metric.Float64Histogram.
func (h histogram) Record(_ context.Context, v float64, opts ...metric.RecordOption) {
	if math.IsNaN(v) {
		return
	}
	attrs := metric.NewRecordConfig(opts).Attributes()
	i, _ := slices.BinarySearch(h.f.Bounds, v) // buckets are (lower, upper]
	h.r.mu.Lock()
	s := h.f.get(attrs)
	s.counts[i]++
	s.count++
	s.sum += v
	if math.IsNaN(s.min) || v < s.min {
		s.min = v
	}
	if math.IsNaN(s.max) || v > s.max {
		s.max = v
	}
	h.r.mu.Unlock()
}

// Enabled implements metric.Float64Histogram.
func (histogram) Enabled(context.Context) bool { return true }

type gaugeObserver struct {
	embedded.Int64Observer
	r *registry
	f *family
}

// Observe implements metric.Int64Observer.
func (o *gaugeObserver) Observe(v int64, opts ...metric.ObserveOption) {
	attrs := metric.NewObserveConfig(opts).Attributes()
	o.r.mu.Lock()
	o.f.get(attrs).value = float64(v)
	o.r.mu.Unlock()
}
