package app

import (
	"regexp"
	"strings"
	"testing"
)

// TestConfigPatterns holds uuidish and regionName to the patterns they replace.
func TestConfigPatterns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       func(string) bool
		pattern *regexp.Regexp
	}{
		{"uuidish", uuidish, regexp.MustCompile(`^[0-9A-Za-z-]{1,64}$`)},
		{"regionName", regionName, regexp.MustCompile(`^[a-z0-9-]+$`)},
	} {
		inputs := []string{
			"", "a", "Z", "0", "-", "_", "eu-de", "EU-DE", "eu_de", "f841e01fd2b14e7fa41b6ae7aa6b0594",
			"3b5816b5-f29c-4172-9d9a-76c719a659ce", "a b", "a\n", "\na", "ä", "é1", strings.Repeat("x", 63),
			strings.Repeat("x", 64), strings.Repeat("x", 65), strings.Repeat("é", 32), "abc\x00",
		}
		for c := range 256 {
			inputs = append(inputs, string([]byte{byte(c)}), "a"+string([]byte{byte(c)}))
		}
		for _, s := range inputs {
			if got, want := tc.f(s), tc.pattern.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the pattern says %v", tc.name, s, got, want)
			}
		}
	}
}
