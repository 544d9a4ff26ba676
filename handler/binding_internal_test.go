package handler

import (
	"net/textproto"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding/spec"
)

// TestAttributeHeader holds the constant headers of attributeHeader and
// extensionHeader to the binding's rule: Ce- and the name, canonical, but
// datacontenttype, which is Content-Type, for every attribute of every spec
// version sdk-go knows.
func TestAttributeHeader(t *testing.T) {
	for _, v := range spec.VS.Versions() {
		for _, a := range v.Attributes() {
			want := textproto.CanonicalMIMEHeaderKey(headerPrefix + a.Name())
			if a.Name() == "datacontenttype" {
				want = "Content-Type"
			}
			if got := attributeHeader(a.Name()); got != want {
				t.Errorf("attributeHeader(%q) = %q, want %q", a.Name(), got, want)
			}
		}
	}
	for _, name := range []string{"traceparent", "tracestate", "myext", "x"} {
		if got, want := extensionHeader(name), textproto.CanonicalMIMEHeaderKey(headerPrefix+name); got != want {
			t.Errorf("extensionHeader(%q) = %q, want %q", name, got, want)
		}
	}
}
