package cbr

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"99999999999999999", maxRetryAfterHint},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(90 * time.Second).Format(time.RFC850), 90 * time.Second},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.value, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{backoffBase: 200 * time.Millisecond, backoffMax: 5 * time.Second}
	tests := []struct {
		rand    float64
		attempt int
		want    time.Duration
	}{
		{0.999, 1, 199800 * time.Microsecond},
		{0.5, 1, 100 * time.Millisecond},
		{0.5, 2, 200 * time.Millisecond},
		{0.5, 5, 1600 * time.Millisecond},
		{0.5, 6, 2500 * time.Millisecond},
		{0.5, 1000, 2500 * time.Millisecond},
		{0, 3, 0},
		{1.5, 3, 0}, // out of range jitter is ignored
	}
	for _, tt := range tests {
		c.rand = func() float64 { return tt.rand }
		if got := c.backoff(tt.attempt); got != tt.want {
			t.Errorf("backoff(%d) with rand %v = %v, want %v", tt.attempt, tt.rand, got, tt.want)
		}
	}
}
