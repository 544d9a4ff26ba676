package githubapp

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	now := time.Date(2025, 6, 2, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		header  http.Header
		limited bool
		wait    time.Duration
	}{
		{"no signs", http.Header{}, false, 0},
		{"requests remain", http.Header{"X-Ratelimit-Remaining": {"12"}}, false, 0},
		{"Retry-After seconds", http.Header{"Retry-After": {"30"}}, true, 30 * time.Second},
		{"Retry-After date", http.Header{"Retry-After": {now.Add(time.Minute).Format(http.TimeFormat)}}, true, time.Minute},
		{"Retry-After in the past", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, true, 0},
		{"Retry-After huge", http.Header{"Retry-After": {"99999999999999"}}, true, maxRetryAfterHint},
		{"Retry-After garbage", http.Header{"Retry-After": {"soon"}}, true, 0},
		{"none remaining, reset", http.Header{"X-Ratelimit-Remaining": {"0"},
			"X-Ratelimit-Reset": {strconv.FormatInt(now.Add(42*time.Second).Unix(), 10)}}, true, 42 * time.Second},
		{"none remaining, reset passed", http.Header{"X-Ratelimit-Remaining": {"0"},
			"X-Ratelimit-Reset": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}}, true, 0},
		{"none remaining, no reset", http.Header{"X-Ratelimit-Remaining": {"0"}}, true, 0},
		{"none remaining, reset far away", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"99999999999"}}, true, 0},
	}
	for _, tt := range tests {
		limited, wait := rateLimit(tt.header, now)
		if limited != tt.limited || wait != tt.wait {
			t.Errorf("%s: rateLimit = %v, %v; want %v, %v", tt.name, limited, wait, tt.limited, tt.wait)
		}
	}
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`, "Bad credentials"},
		{`{"message":"Validation Failed","errors":[{"resource":"Review","field":"state","code":"invalid"},"plain",{"message":"said so"},{"code":"custom"},{"field":"x","code":"y"}]}`,
			"Validation Failed: Review.state invalid; plain; said so; ..."},
		{`{"message":"Invalid request.\n\n\"state\" wasn't supplied."}`, `Invalid request. "state" wasn't supplied.`},
		{"<html>\n<h1>502 Bad Gateway</h1>\n</html>", "<html> <h1>502 Bad Gateway</h1> </html>"},
		{`{"error":"not GitHub's shape"}`, `{"error":"not GitHub's shape"}`},
		{``, ``},
	}
	for _, tt := range tests {
		if got := parseErrorBody([]byte(tt.body)); got != tt.want {
			t.Errorf("parseErrorBody(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
	if got := parseErrorBody([]byte(`{"message":"token ghs_abc refused"}`), "ghs_abc"); got != "token [redacted] refused" {
		t.Errorf("secret not removed: %q", got)
	}
}
