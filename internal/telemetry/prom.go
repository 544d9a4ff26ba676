package telemetry

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/handler"
)

// PrometheusContentType is the media type of the text exposition format.
const PrometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the metrics as Prometheus text (GET /metrics). Requests
// must carry Authorization: Bearer <token> (handler.BearerAuthorized); with
// no token, every request is refused unless open. A refused request gets
// 401 and the same fixed reason either way. It answers 404 when Prometheus
// metrics are not kept.
func (t *Telemetry) Handler(token string, open bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.opts.Prometheus {
			http.NotFound(w, r)
			return
		}
		if (token != "" || !open) && !handler.BearerAuthorized(r.Header, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need Authorization: Bearer <METRICS_TOKEN>", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", PrometheusContentType)
		_ = WritePrometheus(w, t.reg.Read(r.Context(), false))
	})
}

// WritePrometheus writes families in the Prometheus text exposition format
// (version 0.0.4). Labels with empty values are left out (to Prometheus
// they are the same as none).
func WritePrometheus(w io.Writer, families []Family) error {
	bw := bufio.NewWriter(w)
	for _, f := range families {
		if len(f.Series) == 0 {
			continue
		}
		if f.Help != "" {
			bw.WriteString("# HELP " + f.Name + " " + escapeHelp(f.Help) + "\n")
		}
		bw.WriteString("# TYPE " + f.Name + " " + f.Type + "\n")
		for _, s := range f.Series {
			if f.Type != typeHistogram {
				bw.WriteString(f.Name + promLabels(s.Labels, "", "") + " " + formatFloat(s.Value) + "\n")
				continue
			}
			var cum uint64
			for i, c := range s.Counts {
				cum += c
				le := "+Inf"
				if i < len(f.Bounds) {
					le = formatFloat(f.Bounds[i])
				}
				bw.WriteString(f.Name + "_bucket" + promLabels(s.Labels, "le", le) + " " + strconv.FormatUint(cum, 10) + "\n")
			}
			labels := promLabels(s.Labels, "", "")
			bw.WriteString(f.Name + "_sum" + labels + " " + formatFloat(s.Sum) + "\n")
			bw.WriteString(f.Name + "_count" + labels + " " + strconv.FormatUint(s.Count, 10) + "\n")
		}
	}
	return bw.Flush()
}

// promLabels renders labels ({} left out when there are none), with one
// more label extra=value when extra is not empty.
func promLabels(labels []Label, extra, value string) string {
	var b strings.Builder
	sep := byte('{')
	for _, l := range labels {
		if l.Value == "" {
			continue
		}
		b.WriteByte(sep)
		sep = ','
		b.WriteString(sanitizeName(l.Name) + `="` + escapeLabel(l.Value) + `"`)
	}
	if extra != "" {
		b.WriteByte(sep)
		sep = ','
		b.WriteString(extra + `="` + value + `"`)
	}
	if sep == ',' {
		b.WriteByte('}')
	}
	return b.String()
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// escapeLabel escapes a label value; invalid UTF-8 becomes U+FFFD.
func escapeLabel(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return labelEscaper.Replace(s)
}

func escapeHelp(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return helpEscaper.Replace(s)
}

// formatFloat renders a sample value as Prometheus does.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
