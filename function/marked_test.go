package function_test

import (
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
)

// TestMarked: Marked tells the descriptions restorepoint writes (ending in
// a key marker) from others, whatever else they say.
func TestMarked(t *testing.T) {
	marker := function.KeyMarker(events.Ref{Source: "src", ID: "id"}.Digest())
	for desc, want := range map[string]bool{
		marker:                                 true,
		"Backup of server web-1 " + marker:     true,
		"[rp:0123456789abcdef01234567]":        true,
		"":                                     false,
		"Backup of server web-1":               false,
		marker + " ":                           false, // the marker ends the description
		marker + " edited":                     false,
		"[rp:0123456789ABCDEF01234567]":        false, // upper case: not restorepoint's
		"[rp:0123456789abcdef0123456]":         false, // 23 digits
		"[rp:0123456789abcdef012345678]":       false, // 25 digits
		"[rp:0123456789abcdeg01234567]":        false,
		"(rp:0123456789abcdef01234567)":        false,
		"other tool [rp:short]":                false,
		"x[rp:0123456789abcdef01234567]":       true, // the form, wherever the text before ends
		"[rp:[rp:0123456789abcdef01234567]]":   false,
		"\u00e9[rp:0123456789abcdef01234567]]": false,
	} {
		if got := function.Marked(desc); got != want {
			t.Errorf("Marked(%q) = %v, want %v", desc, got, want)
		}
	}
}

// FuzzMarked holds Marked to every description restorepoint plans: each
// ends in its trigger's marker, whatever the event's own description.
func FuzzMarked(f *testing.F) {
	f.Add("src", "id", "a description")
	f.Add("", "", "")
	f.Add("s", "i", "[rp:0123456789abcdef01234567] at the start")
	f.Fuzz(func(t *testing.T, source, id, desc string) {
		fn := function.New(function.Config{DefaultVaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce"}, nil)
		tr := events.Trigger{Ref: events.Ref{ID: id, Source: source, Type: events.TypeDeployPre}, Kind: events.KindDeployPre,
			DeployPre: &events.DeployPre{Service: "s", Description: desc}}
		plan, err := fn.Plan(tr)
		if err != nil {
			return // a description CBR would refuse
		}
		for _, r := range plan.Requests {
			if d := r.Parameters.Description; !function.Marked(d) || !strings.HasSuffix(d, function.KeyMarker(tr.Ref.Digest())) {
				t.Fatalf("description %q is not marked with %s", d, function.KeyMarker(tr.Ref.Digest()))
			}
		}
	})
}
