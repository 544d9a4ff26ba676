package retention

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
)

func TestParsePolicy(t *testing.T) {
	good := map[string]Policy{
		"keep_last=7":                      {KeepLast: 7},
		"max_age=30d":                      {MaxAge: 30 * day},
		"keep_last=7,max_age=30d":          {KeepLast: 7, MaxAge: 30 * day},
		" max_age = 36h30m , keep_last=1 ": {KeepLast: 1, MaxAge: 36*time.Hour + 30*time.Minute},
		"max_age=720h":                     {MaxAge: 720 * time.Hour},
		"max_age=90s":                      {MaxAge: 90 * time.Second},
	}
	for s, want := range good {
		got, err := ParsePolicy(s)
		if err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	bad := map[string]string{
		"":                        "empty",
		"  ":                      "empty",
		"keep_last=0":             "at least 1",
		"keep_last=-3":            "at least 1",
		"keep_last=7.5":           "whole number",
		"keep_last=":              "whole number",
		"max_age=-1h":             "positive",
		"max_age=0d":              "positive",
		"max_age=0":               "positive",
		"max_age=-2d":             "positive",
		"max_age=30days":          "whole days",
		"max_age=1.5d":            "whole days",
		"max_age=99999999999999d": "too long",
		"keep_first=3":            `unknown key "keep_first"`,
		"keep_last=3,keep_last=4": "given twice",
		"keep_last=3,":            "empty item",
		"garbage":                 "not key=value",
		"keep_last=3;max_age=30d": "whole number",
		"KEEP_LAST=3":             "unknown key",
	}
	for s, want := range bad {
		if p, err := ParsePolicy(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want an error with %q", s, p, err, want)
		}
	}
}

func TestPolicyString(t *testing.T) {
	for p, want := range map[Policy]string{
		{KeepLast: 7, MaxAge: 30 * day}:   "keep_last=7,max_age=720h",
		{MaxAge: 90 * time.Minute}:        "max_age=1h30m",
		{MaxAge: 90 * time.Second}:        "max_age=1m30s",
		{MaxAge: 1500 * time.Millisecond}: "max_age=1.5s",
		{KeepLast: 3}:                     "keep_last=3",
		{}:                                "",
		{MaxAge: 10*time.Hour + 5*time.Minute + time.Second}: "max_age=10h5m1s",
	} {
		if got := p.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", p, got, want)
		}
	}
}

// FuzzParsePolicy holds ParsePolicy to never panic, to accept only
// policies with a positive rule, and to read back what String writes.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"keep_last=7,max_age=30d", "max_age=720h", "keep_last=1", "max_age=1h30m",
		"keep_last=0", "max_age=-1h", "x=y", ",", "max_age=9223372036854775807ns", "keep_last=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error for %q", s)
			}
			return
		}
		if p.IsZero() || p.KeepLast < 0 || p.MaxAge < 0 {
			t.Fatalf("ParsePolicy(%q) = %+v: no rule, or a negative one", s, p)
		}
		again, err := ParsePolicy(p.String())
		if err != nil || again != p {
			t.Fatalf("ParsePolicy(%q) = %+v, whose String %q reads back as %+v, %v", s, p, p.String(), again, err)
		}
	})
}

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// backup is a backup of resource r, created ageHours ago, in status.
func backup(id string, ageHours int, status string) cbr.Backup {
	return cbr.Backup{ID: id, ResourceID: "r", Status: status, CreatedAt: cbr.NewTimestamp(now.Add(-time.Duration(ageHours) * time.Hour))}
}

// TestDecide holds the policy to its rules over one resource's backups.
func TestDecide(t *testing.T) {
	const av, prot, failed = cbr.StatusAvailable, cbr.StatusProtecting, cbr.StatusError
	tests := []struct {
		name    string
		policy  Policy
		backups []cbr.Backup
		deleted map[string]string // id: rule
		spared  []string
	}{
		{
			name:    "keep_last keeps the newest",
			policy:  Policy{KeepLast: 2},
			backups: []cbr.Backup{backup("b1", 1, av), backup("b2", 2, av), backup("b3", 3, av), backup("b4", 4, av)},
			deleted: map[string]string{"b3": "keep_last=2", "b4": "keep_last=2"},
		},
		{
			name:    "order of the list does not matter",
			policy:  Policy{KeepLast: 2},
			backups: []cbr.Backup{backup("b3", 3, av), backup("b1", 1, av), backup("b4", 4, av), backup("b2", 2, av)},
			deleted: map[string]string{"b3": "keep_last=2", "b4": "keep_last=2"},
		},
		{
			name:    "fewer than keep_last: nothing goes",
			policy:  Policy{KeepLast: 5},
			backups: []cbr.Backup{backup("b1", 1, av), backup("b2", 200, av)},
		},
		{
			name:    "max_age removes the old ones",
			policy:  Policy{MaxAge: 48 * time.Hour},
			backups: []cbr.Backup{backup("b1", 1, av), backup("b2", 47, av), backup("b3", 49, av), backup("b4", 100, av)},
			deleted: map[string]string{"b3": "max_age=48h", "b4": "max_age=48h"},
		},
		{
			name:    "max_age never takes the newest available backup",
			policy:  Policy{MaxAge: 24 * time.Hour},
			backups: []cbr.Backup{backup("b1", 30, av), backup("b2", 40, av)},
			deleted: map[string]string{"b2": "max_age=24h"},
			spared:  []string{"b1"},
		},
		{
			name:    "both: either rule removes, keep_last named first",
			policy:  Policy{KeepLast: 3, MaxAge: 48 * time.Hour},
			backups: []cbr.Backup{backup("b1", 1, av), backup("b2", 50, av), backup("b3", 60, av), backup("b4", 70, av)},
			deleted: map[string]string{"b2": "max_age=48h", "b3": "max_age=48h", "b4": "keep_last=3"},
		},
		{
			name:   "not available: never deleted, not counted",
			policy: Policy{KeepLast: 1},
			backups: []cbr.Backup{backup("new", 0, prot), backup("b1", 2, av), backup("err", 3, failed),
				backup("b2", 4, av), backup("odd", 5, ""), backup("b3", 6, av)},
			deleted: map[string]string{"b2": "keep_last=1", "b3": "keep_last=1"},
			spared:  []string{"new", "err", "odd"},
		},
		{
			name:    "only protecting and error: nothing goes",
			policy:  Policy{KeepLast: 1, MaxAge: time.Hour},
			backups: []cbr.Backup{backup("p", 100, prot), backup("e", 200, failed)},
			spared:  []string{"p", "e"},
		},
		{
			name:    "equal times: decided by id",
			policy:  Policy{KeepLast: 1},
			backups: []cbr.Backup{backup("b", 5, av), backup("a", 5, av)},
			deleted: map[string]string{"b": "keep_last=1"},
		},
		{name: "no backups", policy: Policy{KeepLast: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.policy.Decide(tc.backups, now)
			if len(ds) != len(tc.backups) {
				t.Fatalf("%d decisions for %d backups", len(ds), len(tc.backups))
			}
			deleted := map[string]string{}
			var spared []string
			for i, d := range ds {
				if i > 0 && ds[i-1].Backup.CreatedAt.Before(d.Backup.CreatedAt.Time) {
					t.Errorf("decisions not newest first: %s before %s", ds[i-1].Backup.ID, d.Backup.ID)
				}
				if d.Delete {
					deleted[d.Backup.ID] = d.Rule
					if d.Spared != "" {
						t.Errorf("%s deleted and spared", d.Backup.ID)
					}
				}
				if d.Spared != "" {
					spared = append(spared, d.Backup.ID)
				}
			}
			if fmt.Sprint(deleted) != fmt.Sprint(nonNil(tc.deleted)) {
				t.Errorf("deleted %v, want %v", deleted, tc.deleted)
			}
			slices.Sort(spared)
			want := slices.Sorted(slices.Values(tc.spared))
			if !slices.Equal(spared, want) {
				t.Errorf("spared %v, want %v", spared, want)
			}
		})
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
