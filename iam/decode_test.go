package iam

import (
	"fmt"
	"testing"
	"time"
)

func TestDecodeTokenResponse(t *testing.T) {
	tests := []struct {
		body    string
		want    time.Time
		wantErr bool
	}{
		{`{"token":{"expires_at":"2015-11-09T01:42:57.527363Z"}}`, time.Date(2015, 11, 9, 1, 42, 57, 527363000, time.UTC), false},
		{`{"token":{"expires_at":"2015-11-09T01:42:57Z","issued_at":"2015-11-08T01:42:57Z"}}`, time.Date(2015, 11, 9, 1, 42, 57, 0, time.UTC), false},
		{`{"token":{"expires_at":"2015-11-09T02:42:57.5+01:00"}}`, time.Date(2015, 11, 9, 1, 42, 57, 500000000, time.UTC), false},
		{`{"token":{"expires_at":"2015-11-09T01:42:57.527363"}}`, time.Date(2015, 11, 9, 1, 42, 57, 527363000, time.UTC), false},
		{`{"token":{"expires_at":"tomorrow"}}`, time.Time{}, true},
		{`{"token":{"expires_at":""}}`, time.Time{}, true},
		{`{"token":{"expires_at":12}}`, time.Time{}, true},
		{`{"token":null}`, time.Time{}, true},
		{`{}`, time.Time{}, true},
		{`<html>`, time.Time{}, true},
		{``, time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := decodeTokenResponse([]byte(tt.body))
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("decodeTokenResponse(%s) = %v, %v; want %v (error: %v)", tt.body, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzDecodeTokenResponse(f *testing.F) {
	f.Add([]byte(`{"token":{"expires_at":"2015-11-09T01:42:57.527363Z","issued_at":"2015-11-08T01:42:57.527363Z"}}`))
	f.Add([]byte(`{"token":{"expires_at":"2015-11-09T01:42:57.527363"}}`))
	f.Add([]byte(`{"token":{"expires_at":"2015-11-09T02:42:57+01:00"}}`))
	f.Add([]byte(`{"token":{}}`))
	f.Add([]byte(`{"error":{"code":401}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		expires, err := decodeTokenResponse(body)
		if err != nil {
			if len(err.Error()) > 200 {
				t.Errorf("error is %d bytes long: %q", len(err.Error()), err)
			}
			return
		}
		// What was accepted must survive a round trip through IAM's format.
		again, err := decodeTokenResponse(fmt.Appendf(nil, `{"token":{"expires_at":%q}}`, expires.Format(time.RFC3339Nano)))
		if err != nil || !again.Equal(expires) {
			t.Errorf("round trip of %v: got %v, %v", expires, again, err)
		}
	})
}
