package cbr

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidNameIsThePattern holds validName to the API page's pattern.
func TestValidNameIsThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	for _, s := range []string{
		"", "a", "Z", "0", "_", "-", "tagged-ecs-1f0f-0002-20240501T101500Z", "a b", "a.b", "a\n", "\na",
		"ä", "é1", "a/b", "a$", strings.Repeat("x", 63), strings.Repeat("x", 64), strings.Repeat("x", 65),
		strings.Repeat("é", 32), "abc\x00", "`", "@", "[", "{", "~",
	} {
		if got, want := validName(s), pattern.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
	for c := range 256 {
		s := string([]byte{byte(c)})
		if got, want := validName(s), pattern.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
