package githubapp_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/githubapp"
)

// FuzzParsePrivateKey: any input gives a key or one of the three errors, on
// one line, quoting no key material.
func FuzzParsePrivateKey(f *testing.F) {
	for _, in := range keyInputs(f) {
		f.Add(in.data)
	}
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN \x00\xff weird type-----\nAAAA\n-----END \x00\xff weird type-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := githubapp.ParsePrivateKey(data)
		if err == nil {
			if key == nil || key.N == nil {
				t.Fatal("no error and no key")
			}
			return
		}
		if key != nil {
			t.Fatal("a key and an error")
		}
		if !errors.Is(err, githubapp.ErrNotPEM) && !errors.Is(err, githubapp.ErrNotPrivateKey) && !errors.Is(err, githubapp.ErrNotRSA) {
			t.Fatalf("error %v is none of the documented ones", err)
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) || len(msg) > 200 {
			t.Fatalf("error %q: want one short line of UTF-8", msg)
		}
		assertNoKeyMaterial(t, err.Error(), data)
	})
}
