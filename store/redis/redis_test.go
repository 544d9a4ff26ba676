package redis_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/function/storetest"
	"github.com/restorepoint/restorepoint/store/redis"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// The Store passes the conformance suite against a real redis-server, in
// real time (records expire by the server's PX). The subtests run in
// parallel on one server, each with its own keys.
func TestContract(t *testing.T) {
	srv := redistest.MustStart(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		s, err := redis.New(srv.URL, redis.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ns := prefixed{s, strings.Repeat("x", int(n.Add(1))) + "/"}
		return storetest.Harness{Store: ns, Now: time.Now, Advance: time.Sleep}
	})
}

// The follow records: one server for each subtest, since the list of
// restore points followed is one for the whole store.
func TestFollowsContract(t *testing.T) {
	storetest.RunFollows(t, func(t *testing.T) storetest.FollowHarness {
		srv := redistest.MustStart(t)
		s, err := redis.New(srv.URL, redis.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return storetest.FollowHarness{Follows: s, Now: time.Now, Advance: time.Sleep}
	})
}

// prefixed keeps the subtests' keys apart on the one server.
type prefixed struct {
	s      *redis.Store
	prefix string
}

func (p prefixed) Begin(ctx context.Context, key string, lockUntil time.Time) (function.Claim, error) {
	return p.s.Begin(ctx, p.prefix+key, lockUntil)
}
func (p prefixed) Complete(ctx context.Context, key, lease string, result []byte, expiry time.Time, deliver bool) error {
	return p.s.Complete(ctx, p.prefix+key, lease, result, expiry, deliver)
}
func (p prefixed) Settle(ctx context.Context, key, lease string, delivered bool) error {
	return p.s.Settle(ctx, p.prefix+key, lease, delivered)
}
func (p prefixed) Release(ctx context.Context, key, lease string, partial []byte, expiry time.Time) error {
	return p.s.Release(ctx, p.prefix+key, lease, partial, expiry)
}

func TestCheckURL(t *testing.T) {
	for _, good := range []string{"redis://127.0.0.1:6379/0", "rediss://user:pw@cache.example:6380/3", "redis://h", "redis://:pw@h/2", "redis://[::1]:6379"} {
		if err := redis.CheckURL(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"http://h:1/0", "redis://:pw-SECRET-4@/0", "redis://u:pw-SECRET-4@h/x", "::", "redis://h/0#f", "h:6379",
		"redis://u:pw-SECRET-4@h/0?dial_timeout=1s", "redis://u:pw-SECRET-4@h:99999/0", "redis://u:pw-SECRET-4@h:port/0", "redis:opaque"} {
		err := redis.CheckURL(bad)
		if err == nil {
			t.Errorf("%s: accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error shows the password: %v", bad, err)
		}
	}
}

// Addr names host and port, the default port when the URL has none, and
// never the password.
func TestAddr(t *testing.T) {
	for url, want := range map[string]string{
		"redis://u:pw@cache.example/1": "cache.example:6379",
		"rediss://cache.example:6380":  "cache.example:6380",
		"redis://[::1]:7000":           "[::1]:7000",
	} {
		s, err := redis.New(url, redis.Options{})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if got := s.Addr(); got != want {
			t.Errorf("%s: Addr %q, want %q", url, got, want)
		}
		s.Close()
	}
}

// A server that cannot be reached fails every step promptly, without the
// password in the error; a restarted one works again.
func TestUnreachable(t *testing.T) {
	srv := redistest.MustStart(t)
	url := strings.Replace(srv.URL, "redis://", "redis://default:pw-SECRET-77@", 1)
	s, err := redis.New(url, redis.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Begin(ctx, "k", time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	_, err = s.Begin(ctx, "k2", time.Now().Add(time.Second))
	if err == nil || errors.Is(err, function.ErrInProgress) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("Begin with the server down: %v; want an error without the password", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping with the server down: nil")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("failing took %v", took)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(ctx, "k2", time.Now().Add(time.Second)); err != nil {
		t.Fatalf("Begin after the restart: %v", err)
	}
}

// Records are compact, in the format the package doc lists: the state
// letter, the lock time or hold and the holder's lease, the result.
func TestRecordsAreCompact(t *testing.T) {
	s, raw := storeAndConn(t)
	ctx := context.Background()
	const key, result = "src\x00id", `{"id":"r"}`
	value := func() string {
		t.Helper()
		v, err := redigo.String(raw.Do("GET", redis.Prefix+key))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	lockUntil := time.Now().Add(time.Minute)
	claim, err := s.Begin(ctx, key, lockUntil)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(claim.Lease) {
		t.Fatalf("lease %q, want 32 hex digits", claim.Lease)
	}
	hold := strconv.FormatInt(lockUntil.UnixMilli(), 10)
	if v, want := value(), "L"+hold+":"+claim.Lease; v != want {
		t.Fatalf("in progress: %q, want %q", v, want)
	}
	if err := s.Complete(ctx, key, claim.Lease, []byte(result), time.Now().Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	if v, want := value(), "H"+hold+":"+claim.Lease+":"+result; v != want {
		t.Fatalf("held for delivery: %q, want %q", v, want)
	}
	if err := s.Settle(ctx, key, claim.Lease, true); err != nil {
		t.Fatal(err)
	}
	if v, want := value(), "D"+result; v != want {
		t.Fatalf("delivered: %q, want %q", v, want)
	}
	c, err := s.Begin(ctx, key, time.Now().Add(time.Minute))
	if err != nil || !c.Completed || string(c.Result) != result || c.Lease != "" {
		t.Fatalf("Begin = %+v, %v", c, err)
	}
}

// A pooled connection the server dropped while it was idle (a restart of
// a proxy, the server's idle timeout) costs the step nothing: it is tried
// once more on another connection.
func TestDroppedConnectionIsRetried(t *testing.T) {
	s, raw := storeAndConn(t)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil { // leaves one idle connection in the pool
		t.Fatal(err)
	}
	// Every client but this one (SKIPME yes): the store's idle connection.
	if n, err := redigo.Int(raw.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL = %d, %v; want the store's one connection", n, err)
	}
	if _, err := s.Begin(ctx, "after-drop", time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Begin on a dropped connection: %v, want it retried on a new one", err)
	}
}

// A command of a transaction that fails inside EXEC fails the step: Redis
// answers EXEC with the command's error among the replies.
func TestTransactionErrorsAreReported(t *testing.T) {
	s, raw := storeAndConn(t)
	// The set of followed markers made a string: SADD fails with WRONGTYPE.
	if _, err := raw.Do("SET", redis.Prefix+"following", "not a set"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Follow(context.Background(), function.Follow{Marker: "0123456789abcdef01234567"}, time.Now().Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Follow with the set broken: %v, want the WRONGTYPE error", err)
	}
}

// storeAndConn starts a redis-server for t and returns a Store on it and a
// connection of the test's own, both closed when t ends.
func storeAndConn(t *testing.T) (*redis.Store, redigo.Conn) {
	t.Helper()
	srv := redistest.MustStart(t)
	s, err := redis.New(srv.URL, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	raw, err := redigo.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return s, raw
}
