package handler

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/restorepoint/restorepoint/events"
)

// The CloudEvents HTTP protocol binding (binary, structured and batched
// mode), built on sdk-go's binding, format and spec packages. sdk-go's
// protocol/http package does the same, but it imports sdk-go's context
// package and go.uber.org/zap, whose initialisation and code every start of
// the function would pay for; this file is the part restorepoint uses.

// headerPrefix starts the header of every attribute but datacontenttype in
// binary mode.
const headerPrefix = "Ce-"

// ceSpecs maps HTTP headers to the attributes of each spec version: Ce-<name>
// and, for datacontenttype, Content-Type. Built on first use.
var ceSpecs = sync.OnceValue(func() *spec.Versions {
	return spec.WithPrefixMatchExact(attributeHeader, headerPrefix)
})

// attributeHeader returns the header that carries the attribute name. The
// CloudEvents 1.0 attributes' headers are constants, so that a reply does not
// build them again (TestAttributeHeader holds them to the rule).
func attributeHeader(name string) string {
	switch name {
	case "datacontenttype":
		return "Content-Type"
	case "specversion":
		return "Ce-Specversion"
	case "id":
		return "Ce-Id"
	case "source":
		return "Ce-Source"
	case "type":
		return "Ce-Type"
	case "subject":
		return "Ce-Subject"
	case "time":
		return "Ce-Time"
	case "dataschema":
		return "Ce-Dataschema"
	}
	return textproto.CanonicalMIMEHeaderKey(headerPrefix + name)
}

// extensionHeader returns the header that carries the extension name; the
// one restorepoint writes to every reply, traceparent, is a constant.
func extensionHeader(name string) string {
	switch name {
	case "":
		return headerPrefix
	case events.ExtensionTraceParent:
		return "Ce-Traceparent"
	}
	return headerPrefix + string(unicode.ToUpper(rune(name[0]))) + name[1:]
}

// httpMessage is a CloudEvent in an HTTP request, as a binding.Message that
// can be read once.
type httpMessage struct {
	header  http.Header
	body    io.Reader
	format  format.Format // structured or batched mode
	version spec.Version  // binary mode
}

var (
	_ binding.Message               = (*httpMessage)(nil)
	_ binding.MessageMetadataReader = (*httpMessage)(nil)
)

// newHTTPMessage reads the mode of a request from its headers: structured or
// batched by Content-Type, binary by Ce-Specversion, else unknown.
func newHTTPMessage(header http.Header, body io.Reader) *httpMessage {
	m := &httpMessage{header: header, body: body}
	if m.format = format.Lookup(header.Get("Content-Type")); m.format == nil {
		vs := ceSpecs()
		m.version = vs.Version(header.Get(vs.PrefixedSpecVersionName()))
	}
	return m
}

// ReadEncoding implements binding.MessageReader.
func (m *httpMessage) ReadEncoding() binding.Encoding {
	switch {
	case m.version != nil:
		return binding.EncodingBinary
	case m.format == format.JSONBatch:
		return binding.EncodingBatch
	case m.format != nil:
		return binding.EncodingStructured
	}
	return binding.EncodingUnknown
}

// ReadStructured implements binding.MessageReader.
func (m *httpMessage) ReadStructured(ctx context.Context, w binding.StructuredWriter) error {
	if m.format == nil {
		return binding.ErrNotStructured
	}
	return w.SetStructuredEvent(ctx, m.format, m.body)
}

// ReadBinary implements binding.MessageReader: every attribute header, every
// other Ce- header as an extension (its name lower-cased in the first
// letter, as the headers are canonicalised), and the body as data.
func (m *httpMessage) ReadBinary(ctx context.Context, w binding.BinaryWriter) error {
	if m.version == nil {
		return binding.ErrNotBinary
	}
	for k, v := range m.header {
		var err error
		if attr := m.version.Attribute(k); attr != nil {
			err = w.SetAttribute(attr, v[0])
		} else if len(k) > len(headerPrefix) && strings.HasPrefix(k, headerPrefix) {
			err = w.SetExtension(string(unicode.ToLower(rune(k[len(headerPrefix)])))+k[len(headerPrefix)+1:], v[0])
		}
		if err != nil {
			return err
		}
	}
	if m.body != nil {
		return w.SetData(m.body)
	}
	return nil
}

// GetAttribute implements binding.MessageMetadataReader (binary mode).
func (m *httpMessage) GetAttribute(k spec.Kind) (spec.Attribute, any) {
	if m.version == nil {
		return nil, nil
	}
	attr := m.version.AttributeFromKind(k)
	if attr == nil {
		return nil, nil
	}
	if v := m.header[attributeHeader(attr.Name())]; v != nil {
		return attr, v[0]
	}
	return attr, nil
}

// GetExtension implements binding.MessageMetadataReader (binary mode).
func (m *httpMessage) GetExtension(name string) any {
	if v := m.header[extensionHeader(name)]; v != nil {
		return v[0]
	}
	return nil
}

// Finish implements binding.Message.
func (m *httpMessage) Finish(error) error { return nil }

// httpWriter collects a CloudEvent in HTTP binary mode (or structured mode,
// when the context asks for it): attributes and extensions into header, the
// data into body.
type httpWriter struct {
	header http.Header
	body   []byte
	values []string // backs the header values set, one allocation for all
}

var (
	_ binding.BinaryWriter     = (*httpWriter)(nil)
	_ binding.StructuredWriter = (*httpWriter)(nil)
)

// writeEvent writes e into header in binary mode and returns the body.
func writeEvent(ctx context.Context, e *event.Event, header http.Header) ([]byte, error) {
	w := &httpWriter{header: header}
	if _, err := binding.Write(ctx, binding.ToMessage(e), w, w); err != nil {
		return nil, err
	}
	return w.body, nil
}

func (w *httpWriter) Start(context.Context) error { return nil }
func (w *httpWriter) End(context.Context) error   { return nil }

func (w *httpWriter) SetStructuredEvent(_ context.Context, f format.Format, r io.Reader) error {
	w.header.Set("Content-Type", f.MediaType())
	return w.SetData(r)
}

func (w *httpWriter) SetAttribute(attr spec.Attribute, value any) error {
	return w.set(attributeHeader(attr.Name()), value)
}

func (w *httpWriter) SetExtension(name string, value any) error {
	return w.set(extensionHeader(name), value)
}

func (w *httpWriter) set(key string, value any) error {
	if value == nil {
		delete(w.header, key)
		return nil
	}
	s, err := types.Format(value)
	if err != nil {
		return err
	}
	if len(w.values) == cap(w.values) {
		w.values = make([]string, 0, 8) // a reply's attributes and traceparent
	}
	w.values = append(w.values, s)
	n := len(w.values)
	w.header[key] = w.values[n-1 : n : n]
	return nil
}

func (w *httpWriter) SetData(r io.Reader) error {
	if b, ok := r.(*bytes.Buffer); ok {
		w.body = b.Bytes()
		return nil
	}
	b, err := io.ReadAll(r)
	w.body = b
	return err
}

// writeEventResponse answers with e in binary mode and status (200 when
// status is not one).
func writeEventResponse(ctx context.Context, w http.ResponseWriter, e *event.Event, status int) error {
	if status < 200 || status > 599 {
		status = http.StatusOK
	}
	body, err := writeEvent(ctx, e, w.Header())
	if err != nil {
		return err
	}
	if body != nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}
