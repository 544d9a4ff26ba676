// Package retention prunes the restore points restorepoint made: per vault
// it lists the backups (paged), keeps only those whose description carries
// restorepoint's key marker (function.Marked), groups them per resource and
// deletes what the policy (RETENTION: keep_last, max_age) no longer keeps,
// at most a configured number a pass, emitting an
// io.restorepoint.backup.deleted result event for each. A backup restorepoint
// did not make is never touched, whatever its name.
package retention

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
)

// Policy is what RETENTION says: how many backups of a resource to keep and
// how old they may grow. A zero field is no rule; at least one is set.
type Policy struct {
	// KeepLast keeps a resource's KeepLast newest available backups; the
	// older available ones go (keep_last=N, N at least 1).
	KeepLast int
	// MaxAge removes available backups older than MaxAge (max_age=30d).
	MaxAge time.Duration
}

// Policy keys, as RETENTION names them.
const (
	keyKeepLast = "keep_last"
	keyMaxAge   = "max_age"
)

// day is the unit of the d suffix of ages.
const day = 24 * time.Hour

// ParsePolicy reads a RETENTION value: comma-separated key=value items,
// keep_last (a whole number, at least 1) and max_age (a Go duration such as
// 720h or 36h30m, or whole days such as 30d; positive), each at most once,
// at least one of them. Spaces around items, keys and values are ignored.
// The error names the item and the rule it breaks.
func ParsePolicy(s string) (Policy, error) {
	var p Policy
	seen := map[string]bool{}
	items := strings.Split(s, ",")
	if strings.TrimSpace(s) == "" {
		return Policy{}, errors.New("empty: want keep_last=N and/or max_age=AGE, e.g. keep_last=7,max_age=30d")
	}
	for _, item := range items {
		item = strings.TrimSpace(item)
		key, value, ok := strings.Cut(item, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case item == "":
			return Policy{}, fmt.Errorf("%q: an empty item", s)
		case !ok:
			return Policy{}, fmt.Errorf("%q is not key=value (keys: keep_last, max_age)", item)
		case seen[key]:
			return Policy{}, fmt.Errorf("%s is given twice", key)
		}
		seen[key] = true
		switch key {
		case keyKeepLast:
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return Policy{}, fmt.Errorf("keep_last=%s: want a whole number, at least 1", value)
			}
			p.KeepLast = n
		case keyMaxAge:
			d, err := parseAge(value)
			if err != nil {
				return Policy{}, fmt.Errorf("max_age=%s: %v", value, err)
			}
			p.MaxAge = d
		default:
			return Policy{}, fmt.Errorf("unknown key %q: want keep_last or max_age", key)
		}
	}
	return p, nil
}

// parseAge reads an age: whole days with the suffix d (30d), or a Go
// duration (720h, 90m, 1h30m); it must be positive.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		switch {
		case err != nil:
			return 0, errors.New("want whole days (30d) or a Go duration (720h)")
		case n < 1:
			return 0, errors.New("must be positive")
		case n > int64(math.MaxInt64/day):
			return 0, errors.New("too long")
		}
		return time.Duration(n) * day, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, errors.New("want whole days (30d) or a Go duration (720h)")
	case d <= 0:
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// String writes p as RETENTION reads it: "keep_last=7,max_age=720h".
func (p Policy) String() string {
	var parts []string
	if p.KeepLast > 0 {
		parts = append(parts, p.keepLastRule())
	}
	if p.MaxAge > 0 {
		parts = append(parts, p.maxAgeRule())
	}
	return strings.Join(parts, ",")
}

// IsZero reports whether p has no rule: nothing would ever be removed.
func (p Policy) IsZero() bool { return p.KeepLast <= 0 && p.MaxAge <= 0 }

func (p Policy) keepLastRule() string { return keyKeepLast + "=" + strconv.Itoa(p.KeepLast) }
func (p Policy) maxAgeRule() string   { return keyMaxAge + "=" + formatAge(p.MaxAge) }

// formatAge writes d as a Go duration without trailing zero units: 720h,
// 1h30m, 90s.
func formatAge(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Decision is what the policy says about one backup.
type Decision struct {
	// Backup is the backup as CBR listed it.
	Backup cbr.Backup
	// Delete says the backup goes; Rule names the rule that chose it
	// ("keep_last=7" or "max_age=720h"; keep_last first when both do).
	Delete bool
	Rule   string
	// Spared, for a backup that stays although a rule reaches it, or that
	// no rule may touch, says why: it is not available, or it is the
	// resource's newest available backup. Empty for an ordinary keep.
	Spared string
}

// Decide applies p to the backups of one resource, at now: keep_last keeps
// the KeepLast newest available ones, max_age removes available ones older
// than MaxAge, and a backup goes when either rule chooses it. The newest
// available backup always stays, and so does every backup that is not
// available (protecting, or an error kept for inspection). The decisions
// come newest first (equal creation times by id).
func (p Policy) Decide(backups []cbr.Backup, now time.Time) []Decision {
	sorted := slices.Clone(backups)
	sort.Slice(sorted, func(i, j int) bool { return newerFirst(sorted[i], sorted[j]) < 0 })
	out := make([]Decision, len(sorted))
	available := 0 // available backups seen so far, newer than this one
	for i, b := range sorted {
		d := Decision{Backup: b}
		if b.Status != cbr.StatusAvailable {
			d.Spared = fmt.Sprintf("status %s: only available backups are pruned", cmp.Or(b.Status, "unknown"))
			out[i] = d
			continue
		}
		available++
		old := p.MaxAge > 0 && now.Sub(b.CreatedAt.Time) > p.MaxAge
		switch {
		case available == 1:
			if old {
				d.Spared = "the newest available backup of its resource is never deleted (" + p.maxAgeRule() + " would remove it)"
			}
		case p.KeepLast > 0 && available > p.KeepLast:
			d.Delete, d.Rule = true, p.keepLastRule()
		case old:
			d.Delete, d.Rule = true, p.maxAgeRule()
		}
		out[i] = d
	}
	return out
}

// newerFirst orders backups by creation time, newest first, then by id.
func newerFirst(a, b cbr.Backup) int {
	return cmp.Or(b.CreatedAt.Time.Compare(a.CreatedAt.Time), strings.Compare(a.ID, b.ID))
}
