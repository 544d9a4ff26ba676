package telemetry

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"time"
)

// emfMaxValues is the most values one EMF metric may carry.
const emfMaxValues = 100

// WriteEMF writes families as CloudWatch Embedded Metric Format lines under
// namespace ns, one JSON object a line and a series a line: the dimensions
// are the series' labels with a value, the metric is named as on /metrics.
// Counters and histograms are expected as deltas (registry.Read with
// delta); a histogram is written as its observations, each standing for
// its bucket's upper bound capped at the series' extremes (at most
// emfMaxValues of them), from which CloudWatch computes statistics.
func WriteEMF(w io.Writer, ns string, now time.Time, families []Family) error {
	var buf bytes.Buffer
	for _, f := range families {
		unit := "Count"
		if f.Unit == "s" {
			unit = "Seconds"
		}
		for _, s := range f.Series {
			obj := map[string]any{}
			dims := []string{}
			for _, l := range s.Labels {
				if l.Value != "" && l.Name != "_aws" && l.Name != f.Name {
					obj[l.Name] = l.Value
					dims = append(dims, l.Name)
				}
			}
			obj["_aws"] = map[string]any{
				"Timestamp": now.UnixMilli(),
				"CloudWatchMetrics": []any{map[string]any{
					"Namespace":  ns,
					"Dimensions": [][]string{dims},
					"Metrics":    []any{map[string]string{"Name": f.Name, "Unit": unit}},
				}},
			}
			if f.Type == typeHistogram {
				obj[f.Name] = histogramValues(f.Bounds, s)
			} else {
				obj[f.Name] = s.Value
			}
			b, err := json.Marshal(obj)
			if err != nil {
				return err
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
	}
	if buf.Len() == 0 {
		return nil
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// histogramValues stands for every observation of s by its bucket's upper
// bound, capped at s's extremes, at most emfMaxValues of them.
func histogramValues(bounds []float64, s Series) []float64 {
	out := []float64{}
	for i, c := range s.Counts {
		v := s.Max
		if i < len(bounds) {
			v = bounds[i]
		}
		if !math.IsNaN(s.Max) && v > s.Max {
			v = s.Max
		}
		if !math.IsNaN(s.Min) && v < s.Min {
			v = s.Min
		}
		for range c {
			if len(out) == emfMaxValues {
				return out
			}
			out = append(out, v)
		}
	}
	return out
}
