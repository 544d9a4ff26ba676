package otc

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextRule(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"Backup before deploying shop 1.4.2", 255, ""},
		{"é ü 日本 \uFFFD", 255, ""},
		{"", 255, ""},
		{strings.Repeat("é", 255), 255, ""},
		{strings.Repeat("é", 256), 255, "at most 255 characters"},
		{"no limit " + strings.Repeat("x", 1000), 0, ""},
		{"bad \xff byte", 255, "must be valid UTF-8"},
		{"tab\there", 255, "must not contain control characters, bidirectional controls, < or >"},
		{"ansi \x1b[31mred", 255, "must not contain control characters, bidirectional controls, < or >"},
		{"del \x7f", 255, "must not contain control characters, bidirectional controls, < or >"},
		{"c1 \u0085", 255, "must not contain control characters, bidirectional controls, < or >"},
		{"rlo \u202e", 255, "must not contain control characters, bidirectional controls, < or >"},
		{"isolate \u2067", 255, "must not contain control characters, bidirectional controls, < or >"},
		{"<script>", 255, "must not contain control characters, bidirectional controls, < or >"},
	}
	for _, tt := range tests {
		if got := TextRule(tt.in, tt.max); got != tt.want {
			t.Errorf("TextRule(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for s, want := range map[string]bool{
		"deploy-1842": true, "/ci/shop": true, "a<b>": true, "日本": true,
		"nl\n": false, "\xff": false, "\u202e": false, "\x00": false,
	} {
		if got := Printable(s); got != want {
			t.Errorf("Printable(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	for s, want := range map[string]bool{
		"backup_name": true, "a": true, "pre-deploy-shop-1-4-2": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "with space": false, "ü": false, "a.b": false,
	} {
		if got := ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
	for in, want := range map[string]string{
		"shop 1.4.2": "shop-1-4-2", "--a__b--": "a__b", "日本 web": "web", "": "", "a/b/c": "a-b-c",
	} {
		if got := NameFrom(in); got != want {
			t.Errorf("NameFrom(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"3b5816b5-f29c-4172-9d9a-76c719a659ce": true, "3B5816B5-F29C-4172-9D9A-76C719A659CE": true,
		"3b5816b5f29c41729d9a76c719a659ce": false, "3b5816b5-f29c-4172-9d9a-76c719a659cg": false, "": false,
	} {
		if got := IsUUID(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
	if !ValidResourceType(TypeServer) || !ValidResourceType(TypeVolume) || !ValidResourceType(TypeSFSTurbo) || ValidResourceType("OS::Ironic::BareMetalServer") {
		t.Error("ValidResourceType does not hold the three documented types")
	}
}

// cleanTextSlow is CleanText without its fast path: the rule rune by rune.
func cleanTextSlow(s string, max int) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if max > 0 && n == max {
			break
		}
		switch {
		case r == '<' || r == '>':
			continue
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") || forbidden(r):
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// FuzzCleanText holds CleanText to its rule: what it makes passes TextRule,
// is made again unchanged, and its fast path agrees with the slow one.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"Backup of server ecs-1f0f-0002, tagged backup=daily", "a<b>\x00\xff", "\u202eevil\x1b[0m", "keep \uFFFD drop \xff", strings.Repeat("é", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := CleanText(s, MaxDescription)
		if rule := TextRule(got, MaxDescription); rule != "" {
			t.Fatalf("CleanText(%q) = %q, which breaks %q", s, got, rule)
		}
		if again := CleanText(got, MaxDescription); again != got {
			t.Fatalf("CleanText is not stable: %q then %q", got, again)
		}
		if slow := cleanTextSlow(s, MaxDescription); slow != got {
			t.Fatalf("CleanText(%q) = %q, the rule says %q", s, got, slow)
		}
	})
}
