package app

import (
	"strings"
	"testing"
)

// FuzzParseRoutes feeds CBR_VAULT_ROUTES values to parseRoutes: it never
// panics, and what it accepts is a map of trimmed, non-empty values to
// trimmed, non-empty vaults that reads back the same when written out.
func FuzzParseRoutes(f *testing.F) {
	for _, s := range []string{
		"",
		"daily:3b5816b5-f29c-4172-9d9a-76c719a659ce",
		"daily:a, weekly:b ,",
		"daily:a,daily:b",
		"nocolon",
		":vault",
		"value:",
		"a:b:c",
		" , ,, ",
		"dä:\u00a0x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		routes, err := parseRoutes(s)
		if err != nil {
			if routes != nil {
				t.Fatalf("error %v with routes %v", err, routes)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		var items []string
		for value, vault := range routes {
			if value == "" || vault == "" || value != strings.TrimSpace(value) || vault != strings.TrimSpace(vault) {
				t.Fatalf("route %q -> %q from %q", value, vault, s)
			}
			if strings.Contains(value, ",") || strings.Contains(value, ":") || strings.Contains(vault, ",") {
				t.Fatalf("route %q -> %q holds a separator", value, vault)
			}
			items = append(items, value+":"+vault)
		}
		again, err := parseRoutes(strings.Join(items, ","))
		if err != nil || len(again) != len(routes) {
			t.Fatalf("routes %v do not read back: %v, %v", routes, again, err)
		}
		for k, v := range routes {
			if again[k] != v {
				t.Fatalf("route %q: %q read back as %q", k, v, again[k])
			}
		}
	})
}
