// Package otc holds the Open Telekom Cloud plumbing that the cbr and iam
// packages share: the token-source interfaces, reading error bodies in both
// shapes the services use, removing secrets from what is quoted, bounding
// messages, times without a zone, and sleeping with a context.
//
// Besides the standard library it imports only the failure leaf.
package otc

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx is done, and then returns ctx.Err(). A d of
// zero or less does not wait.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// timeLayouts are the layouts ParseTime tries, in order.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// ParseTime parses a time as Open Telekom Cloud services write them: RFC 3339
// (such as 2015-11-09T01:42:57.527363Z), with a zone offset without colon
// (+0800), or without a zone (2015-11-09T01:42:57.527363 or with a space
// instead of the T), which is taken as UTC. ok is false when s is none of
// these.
func ParseTime(s string) (t time.Time, ok bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
