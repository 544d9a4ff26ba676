package rules

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/events"
)

// Input is what rule expressions see.
type Input struct {
	// Headers are the request's headers, by lower-case name; several values
	// of one header are joined by ", ". Empty (not nil) without headers.
	Headers map[string]string
	// Attributes are the CloudEvent's context attributes and extensions
	// (id, source, type, subject, time, specversion, datacontenttype, ...),
	// when the payload is a CloudEvent in structured or binary mode; else empty.
	Attributes map[string]any
	// Data is the JSON body (or the CloudEvent's data) as DecodeJSON returns
	// it; a body that is no JSON is a string; an empty body is nil.
	Data any

	header http.Header
	body   []byte
}

// NewInput builds the input of a payload: h are the HTTP headers (nil for
// an SQS, SNS or EventBridge body) and body the raw payload. A structured
// CloudEvent (Content-Type application/cloudevents+json, or a JSON object
// with a string "specversion") gives its attributes and its data (data, or
// data_base64 decoded); a binary-mode CloudEvent (ce-specversion header)
// gives the ce-* headers as attributes and the body as data. Any other body
// is the data as it is.
func NewInput(h http.Header, body []byte) Input {
	in := Input{
		Headers:    make(map[string]string, len(h)),
		Attributes: map[string]any{},
		header:     h,
		body:       body,
	}
	for k, vs := range h {
		in.Headers[strings.ToLower(k)] = strings.ToValidUTF8(strings.Join(vs, ", "), "\uFFFD")
	}
	data := DecodeJSON(body)
	if specversion := in.Headers["ce-specversion"]; specversion != "" {
		for k, v := range in.Headers {
			if name, ok := strings.CutPrefix(k, "ce-"); ok && name != "" {
				in.Attributes[name] = v
			}
		}
		if ct := in.Headers["content-type"]; ct != "" {
			in.Attributes["datacontenttype"] = ct
		}
		in.Data = data
		return in
	}
	obj, isObject := data.(map[string]any)
	_, hasVersion := obj["specversion"].(string)
	ct := strings.ToLower(in.Headers["content-type"])
	if isObject && (hasVersion || strings.HasPrefix(ct, "application/cloudevents+json")) {
		for k, v := range obj {
			if k != "data" && k != "data_base64" {
				in.Attributes[k] = v
			}
		}
		in.Data = obj["data"]
		if s, ok := obj["data_base64"].(string); ok && in.Data == nil {
			if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
				in.Data = DecodeJSON(raw)
			}
		}
		return in
	}
	in.Data = data
	return in
}

// DecodeJSON decodes a JSON document into the values CEL sees: objects as
// map[string]any, arrays as []any, strings, bools, nil, and numbers as
// int64 when written as an integer that fits, else float64. A body that is
// no valid JSON (or nests deeper than encoding/json allows) is returned as a
// string, invalid UTF-8 replaced; an empty body is nil.
func DecodeJSON(body []byte) any {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.InputOffset() != int64(len(trimmed)) {
		return strings.ToValidUTF8(string(body), "\uFFFD")
	}
	if _, err := dec.Token(); err != io.EOF {
		return strings.ToValidUTF8(string(body), "\uFFFD")
	}
	return convertNumbers(v)
}

// convertNumbers replaces every json.Number in v by int64 or float64.
func convertNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		return number(v)
	case map[string]any:
		for k, e := range v {
			v[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = convertNumbers(e)
		}
	}
	return v
}

func number(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return s
	}
	return f
}

// DefaultRefSource is the Ref.Source of a trigger made by a rule from a
// payload that names neither a sender's key nor a CloudEvent id.
const DefaultRefSource = "webhook"

// Base returns the trigger a match is built on (see Match.Trigger): its Ref
// is the default idempotency key, for a rule without an id. It is the
// sender's stable key when the headers name a webhook sender whose decoder
// accepts the body (GitHub: repository + deployment id; GitLab:
// Idempotency-Key, else project + deployment id + status); else the
// CloudEvent's source and id (with its type, subject, time, dryrun and
// traceparent); else Source DefaultRefSource and ID events.BodyID of the body.
func (in Input) Base() events.Trigger {
	if t, ok, err := events.DecodeWebhook(events.Header(in.header), in.body); ok && err == nil {
		return events.Trigger{Ref: t.Ref, Time: t.Time, Review: t.Review, Gate: t.Gate}
	}
	id, _ := in.Attributes["id"].(string)
	source, _ := in.Attributes["source"].(string)
	if id != "" && source != "" && utf8.ValidString(id+source) {
		var t events.Trigger
		typ, _ := in.Attributes["type"].(string)
		subject, _ := in.Attributes["subject"].(string)
		t.Ref = events.Ref{ID: id, Source: source, Type: typ, Subject: subject}
		if s, ok := in.Attributes["time"].(string); ok {
			t.Time, _ = time.Parse(time.RFC3339Nano, s)
		}
		switch v := in.Attributes[events.ExtensionDryRun].(type) {
		case bool:
			t.DryRun = v
		case string:
			t.DryRun = strings.EqualFold(v, "true")
		}
		t.TraceParent, _ = in.Attributes[events.ExtensionTraceParent].(string)
		return t
	}
	return events.Trigger{Ref: events.Ref{ID: events.BodyID(in.body), Source: DefaultRefSource, Type: DefaultRefSource}}
}
