// Package redis is a function.Store in Redis (any Redis 6.2+ compatible
// server: Open Telekom Cloud DCS for Redis, ElastiCache, MemoryDB, Valkey),
// shared by every instance of restorepoint, so that a trigger delivered to
// several instances is handled once. It is configured by
// IDEMPOTENCY_STORE=redis://[user:password@]host:port/db (rediss:// for TLS).
//
// Each key is one Redis string, "restorepoint:" followed by the digest of the
// trigger key (events.Ref.Digest: 64 hex digits, whatever the event),
// whose value is compact: one letter for the state, then its data.
//
//	L<lockUntil>:<lease>         in progress until lockUntil (Unix ms); PX = the lock
//	P<partial>                   a partial result to resume from; PX = its expiry
//	D<result>                    completed and delivered; PX = IDEMPOTENCY_TTL
//	U<result>                    completed, not delivered, nobody delivering it
//	H<until>:<lease>:<result>    completed, held for delivery until (Unix ms)
//
// <lease> is the holder's lease (function.NewLease: 32 hex digits, never a
// colon), so that the value says who may complete, settle or release it.
// A claim is SET NX PX (in the Begin script, which also reads what an
// earlier attempt left); Complete, Settle, Release and the hand-over of an
// undelivered result are Lua scripts, each a compare-and-set on the lease
// (see function.Store), so that each step is one atomic round trip.
// Expired locks and records vanish by their PX. Times of holds are those of
// the instances' clocks.
//
// Nothing is done at package init and no connection is made until the first
// command (or Ping).
package redis

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/otc"
)

// Prefix is put before every trigger key.
const Prefix = "restorepoint:"

// Store is a function.Store in Redis. It is safe for concurrent use.
type Store struct {
	pool *redis.Pool
	now  func() time.Time
	addr string
	// The scripts, made by New rather than at package init (NewScript
	// hashes its source), so that linking the store costs nothing at start.
	begin, complete, settle, release *redis.Script
}

// Options tune a Store; the zero value is ready to use.
type Options struct {
	// Now is the clock of locks and holds (default time.Now).
	Now func() time.Time
	// Timeout bounds each command (dial, read, write); default 2s.
	Timeout time.Duration
}

// server is where and how to connect, from the URL.
type server struct {
	addr, user, password string
	db                   int
	tls                  bool
	host                 string // for TLS server name verification
}

// CheckURL reports whether New accepts rawURL, without revealing the
// password in the error: redis:// or rediss://, a host with an optional
// port, an optional numeric database as the path, no query, no fragment.
func CheckURL(rawURL string) error {
	_, err := parse(rawURL)
	return err
}

// parse checks rawURL and returns the server it names.
func parse(rawURL string) (server, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return server{}, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return server{}, fmt.Errorf("scheme %q: want redis:// or rediss://", u.Scheme)
	case u.Opaque != "" || u.Hostname() == "":
		return server{}, errors.New("no host")
	case u.Fragment != "":
		return server{}, errors.New("must not have a fragment")
	case u.RawQuery != "":
		return server{}, errors.New("must not have a query")
	}
	srv := server{host: u.Hostname(), tls: u.Scheme == "rediss"}
	port := u.Port()
	if port == "" {
		port = "6379"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return server{}, errors.New("port: want a number from 1 to 65535")
	}
	srv.addr = net.JoinHostPort(srv.host, port)
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return server{}, fmt.Errorf("database %q: want a number", db)
		}
		srv.db = n
	}
	if u.User != nil {
		// user:password@ is ACL AUTH; :password@ or password@ (as
		// redis-cli takes it) is the server's requirepass.
		srv.user = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			srv.password = pw
		} else {
			srv.user, srv.password = "", srv.user
		}
	}
	return srv, nil
}

// New returns a Store for the Redis server at rawURL. It does not connect:
// the first command does.
func New(rawURL string, o Options) (*Store, error) {
	srv, err := parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("idempotency store: %w", err)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	dialOpts := []redis.DialOption{
		redis.DialConnectTimeout(timeout), redis.DialReadTimeout(timeout), redis.DialWriteTimeout(timeout),
		redis.DialDatabase(srv.db), redis.DialUsername(srv.user), redis.DialPassword(srv.password),
		redis.DialUseTLS(srv.tls), redis.DialTLSHandshakeTimeout(timeout),
		redis.DialTLSConfig(&tls.Config{ServerName: srv.host, MinVersion: tls.VersionTLS12}),
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	pool := &redis.Pool{
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "tcp", srv.addr, dialOpts...)
		},
		// As many idle connections as a busy instance keeps using; one
		// idle past a few minutes may have been dropped by a proxy.
		MaxIdle:     64,
		IdleTimeout: 4 * time.Minute,
	}
	return &Store{pool: pool, now: now, addr: srv.addr,
		begin:    redis.NewScript(1, beginScript),
		complete: redis.NewScript(1, leaseLua+completeScript),
		settle:   redis.NewScript(1, leaseLua+settleScript),
		release:  redis.NewScript(1, leaseLua+releaseScript)}, nil
}

// Addr is the server's host:port (never the password), for logs.
func (s *Store) Addr() string { return s.addr }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.do(ctx, "ping", func(c redis.Conn) (any, error) { return redis.DoContext(c, ctx, "PING") })
	return err
}

// Close closes the connections.
func (s *Store) Close() error { return s.pool.Close() }

// do runs one step on a pooled connection. A step that fails on the
// network (a connection the server or a proxy dropped while it was idle)
// is tried once more, on another connection (the pool drops a broken one):
// each step is a single command, a script or a MULTI/EXEC, which Redis
// runs whole or not at all. A Begin whose claim went through before the
// connection broke finds its own lock the second time and answers in
// progress: the trigger is retried by its platform, never run twice.
func (s *Store) do(ctx context.Context, step string, f func(redis.Conn) (any, error)) (any, error) {
	var reply any
	var err error
	for range 2 {
		var c redis.Conn
		if c, err = s.pool.GetContext(ctx); err == nil {
			reply, err = f(c)
			c.Close()
		}
		// Not again after an answer of the server, the caller's end, or a
		// timeout (the step may have run and be slow to answer).
		var redisErr redis.Error
		var netErr net.Error
		if err == nil || errors.As(err, &redisErr) || ctx.Err() != nil || errors.As(err, &netErr) && netErr.Timeout() {
			break
		}
	}
	if err != nil {
		return nil, s.fail(step, err)
	}
	return reply, nil
}

// fail wraps a Redis error with the step. Errors of the server (a
// redis.Error) say what Redis said, never the password; a network failure
// is said without the server's address, which the start line names.
func (s *Store) fail(step string, err error) error {
	var redisErr redis.Error
	if !errors.As(err, &redisErr) {
		err = &otc.TransportError{Err: err}
	}
	return fmt.Errorf("redis %s: %w", step, err)
}

// ms returns the milliseconds from now until t, at least 1 (PX must be positive).
func (s *Store) ms(t time.Time) int64 { return max(t.Sub(s.now()).Milliseconds(), 1) }

// unixMS returns t in Unix milliseconds.
func unixMS(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// beginScript claims KEYS[1] with SET NX PX, or reads what an earlier
// attempt left. ARGV: lock PX, lockUntil (Unix ms), now (Unix ms), the new
// lease. Returns {state, result}: 0 claimed fresh, 1 claimed with a partial
// result, 2 in progress, 3 completed and delivered, 4 completed and handed
// over for delivery.
const beginScript = `
local lock = 'L' .. ARGV[2] .. ':' .. ARGV[4]
if redis.call('SET', KEYS[1], lock, 'NX', 'PX', ARGV[1]) then return {0, ''} end
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], lock, 'PX', ARGV[1])
  return {0, ''}
end
local state = string.sub(v, 1, 1)
if state == 'P' then
  redis.call('SET', KEYS[1], lock, 'PX', ARGV[1])
  return {1, string.sub(v, 2)}
elseif state == 'D' then
  return {3, string.sub(v, 2)}
elseif state == 'H' then
  local sep = string.find(v, ':', 2, true)
  if tonumber(string.sub(v, 2, sep - 1)) > tonumber(ARGV[3]) then return {2, ''} end
  v = 'U' .. string.sub(v, string.find(v, ':', sep + 1, true) + 1)
  state = 'U'
end
if state == 'U' then
  redis.call('SET', KEYS[1], 'H' .. ARGV[2] .. ':' .. ARGV[4] .. ':' .. string.sub(v, 2), 'KEEPTTL')
  return {4, string.sub(v, 2)}
end
return {2, ''}
`

// leaseLua is put before the scripts of the steps that need a lease. Its
// holder(v) returns the lease, the hold (Unix ms) and, for H, the result of
// a record someone holds (L or H); nil for the others.
const leaseLua = `
local function holder(v)
  local state = string.sub(v, 1, 1)
  if state ~= 'L' and state ~= 'H' then return nil end
  local sep = string.find(v, ':', 2, true)
  if not sep then return nil end
  local hold = string.sub(v, 2, sep - 1)
  if state == 'L' then return string.sub(v, sep + 1), hold end
  local sep2 = string.find(v, ':', sep + 1, true)
  if not sep2 then return nil end
  return string.sub(v, sep + 1, sep2 - 1), hold, string.sub(v, sep2 + 1)
end
`

// completeScript stores a completed result, if KEYS[1] is held with the
// lease or gone. ARGV: lease, result, expiry PX, deliver ("1": held for
// delivery with the lease, until the lock of Begin runs out). Returns 1, or
// 0 when the lease was lost.
const completeScript = `
local v = redis.call('GET', KEYS[1])
local hold = '0'
if v then
  local lease, held = holder(v)
  if lease ~= ARGV[1] then return 0 end
  hold = held
end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], 'H' .. hold .. ':' .. ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], 'D' .. ARGV[2], 'PX', ARGV[3])
end
return 1
`

// settleScript ends a delivery held with the lease. ARGV: lease, delivered
// ("1" or "0"). Returns 1 (also when there is nothing to settle), or 0 when
// the lease was lost.
const settleScript = `
local v = redis.call('GET', KEYS[1])
if not v then return 1 end
local lease, _, result = holder(v)
if lease ~= ARGV[1] then return 0 end
if not result then return 1 end
local state = 'U'
if ARGV[2] == '1' then state = 'D' end
redis.call('SET', KEYS[1], state .. result, 'KEEPTTL')
return 1
`

// releaseScript drops KEYS[1], if held with the lease or gone, or leaves a
// partial result. ARGV: lease, "1" when there is a partial result, the
// partial result, its expiry PX. Returns 1, or 0 when the lease was lost.
const releaseScript = `
local v = redis.call('GET', KEYS[1])
if v and holder(v) ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], 'P' .. ARGV[3], 'PX', ARGV[4])
elseif v then
  redis.call('DEL', KEYS[1])
end
return 1
`

// Begin implements function.Store.
func (s *Store) Begin(ctx context.Context, key string, lockUntil time.Time) (function.Claim, error) {
	lease := function.NewLease()
	reply, err := s.do(ctx, "begin", func(c redis.Conn) (any, error) {
		return s.begin.DoContext(ctx, c, Prefix+key, s.ms(lockUntil), unixMS(lockUntil), unixMS(s.now()), lease)
	})
	if err != nil {
		return function.Claim{}, err
	}
	state, result, err := beginReply(reply)
	if err != nil {
		return function.Claim{}, s.fail("begin", err)
	}
	switch state {
	case 0:
		return function.Claim{Lease: lease}, nil
	case 1:
		return function.Claim{Lease: lease, Result: result}, nil
	case 2:
		return function.Claim{}, function.ErrInProgress
	case 3:
		return function.Claim{Result: result, Completed: true}, nil
	default:
		return function.Claim{Lease: lease, Result: result, Completed: true, Deliver: true}, nil
	}
}

// beginReply decodes the Begin script's answer {state, result}.
func beginReply(reply any) (int64, []byte, error) {
	out, _ := reply.([]any)
	if len(out) != 2 {
		return 0, nil, fmt.Errorf("unexpected answer of %d values", len(out))
	}
	state, ok := out[0].(int64)
	result, ok2 := out[1].([]byte)
	if !ok || !ok2 || state < 0 || state > 4 {
		return 0, nil, errors.New("unexpected answer")
	}
	if state == 0 || state == 2 {
		return state, nil, nil
	}
	return state, result, nil
}

// fenced runs a step's script, whose answer is 1 when it acted and 0 when
// the lease was lost (function.ErrLeaseLost).
func (s *Store) fenced(ctx context.Context, step string, script *redis.Script, key string, args ...any) error {
	n, err := redis.Int64(s.do(ctx, step, func(c redis.Conn) (any, error) {
		return script.DoContext(ctx, c, append([]any{Prefix + key}, args...)...)
	}))
	switch {
	case err != nil:
		return err
	case n == 0:
		return function.ErrLeaseLost
	}
	return nil
}

// flag is a boolean argument of a script.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Complete implements function.Store.
func (s *Store) Complete(ctx context.Context, key, lease string, result []byte, expiry time.Time, deliver bool) error {
	return s.fenced(ctx, "complete", s.complete, key, lease, result, s.ms(expiry), flag(deliver))
}

// Settle implements function.Store.
func (s *Store) Settle(ctx context.Context, key, lease string, delivered bool) error {
	return s.fenced(ctx, "settle", s.settle, key, lease, flag(delivered))
}

// Release implements function.Store.
func (s *Store) Release(ctx context.Context, key, lease string, partial []byte, expiry time.Time) error {
	return s.fenced(ctx, "release", s.release, key, lease, flag(partial != nil), partial, s.ms(expiry))
}

// followPrefix is put before the marker of a followed restore point; the
// set followingKey lists the markers not done.
const (
	followPrefix = Prefix + "follow:"
	followingKey = Prefix + "following"
)

// Follow implements function.FollowStore: SET NX, and the marker into the
// set of restore points followed.
func (s *Store) Follow(ctx context.Context, f function.Follow, expiry time.Time) (bool, error) {
	raw, err := json.Marshal(f)
	if err != nil {
		return false, err
	}
	cmds := []tx{{"SET", []any{followPrefix + f.Marker, raw, "PX", s.ms(expiry), "NX"}}}
	if !f.Done() {
		// Added also when the SET finds a record: Following drops done ones.
		cmds = append(cmds, tx{"SADD", []any{followingKey, f.Marker}})
	}
	replies, err := s.exec(ctx, "follow", cmds...)
	if err != nil {
		return false, err
	}
	return replies[0] != nil, nil // SET … NX answers nil when the key exists
}

// Followed implements function.FollowStore.
func (s *Store) Followed(ctx context.Context, marker string) (function.Follow, bool, error) {
	reply, err := s.do(ctx, "followed", func(c redis.Conn) (any, error) {
		return redis.DoContext(c, ctx, "GET", followPrefix+marker)
	})
	if err != nil {
		return function.Follow{}, false, err
	}
	raw, ok := reply.([]byte)
	if !ok {
		return function.Follow{}, false, nil
	}
	var f function.Follow
	if err := json.Unmarshal(raw, &f); err != nil {
		return function.Follow{}, false, s.fail("followed", err)
	}
	return f, true, nil
}

// Following implements function.FollowStore: the records of the set's
// markers; markers whose record expired are taken off the set.
func (s *Store) Following(ctx context.Context) ([]function.Follow, error) {
	markers, err := redis.Strings(s.do(ctx, "following", func(c redis.Conn) (any, error) {
		return redis.DoContext(c, ctx, "SMEMBERS", followingKey)
	}))
	if err != nil || len(markers) == 0 {
		return nil, err
	}
	keys := make([]any, len(markers))
	for i, m := range markers {
		keys[i] = followPrefix + m
	}
	values, err := redis.ByteSlices(s.do(ctx, "following", func(c redis.Conn) (any, error) {
		return redis.DoContext(c, ctx, "MGET", keys...)
	}))
	if err != nil {
		return nil, err
	}
	var out []function.Follow
	gone := []any{followingKey}
	for i, raw := range values {
		var f function.Follow
		if raw == nil || json.Unmarshal(raw, &f) != nil || f.Done() {
			gone = append(gone, markers[i])
			continue
		}
		out = append(out, f)
	}
	if len(gone) > 1 {
		_, _ = s.do(ctx, "following", func(c redis.Conn) (any, error) { return redis.DoContext(c, ctx, "SREM", gone...) })
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Marker < out[j].Marker })
	return out, nil
}

// Update implements function.FollowStore.
func (s *Store) Update(ctx context.Context, f function.Follow, expiry time.Time) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	list := "SADD"
	if f.Done() {
		list = "SREM"
	}
	_, err = s.exec(ctx, "update follow", tx{"SET", []any{followPrefix + f.Marker, raw, "PX", s.ms(expiry)}},
		tx{list, []any{followingKey, f.Marker}})
	return err
}

// tx is one command of a MULTI/EXEC.
type tx struct {
	cmd  string
	args []any
}

// exec runs cmds as one transaction and returns their replies.
func (s *Store) exec(ctx context.Context, step string, cmds ...tx) ([]any, error) {
	reply, err := s.do(ctx, step, func(c redis.Conn) (any, error) {
		if err := c.Send("MULTI"); err != nil {
			return nil, err
		}
		for _, t := range cmds {
			if err := c.Send(t.cmd, t.args...); err != nil {
				return nil, err
			}
		}
		replies, err := redis.Values(redis.DoContext(c, ctx, "EXEC"))
		for _, r := range replies {
			if e, ok := r.(redis.Error); ok && err == nil {
				err = e
			}
		}
		return replies, err
	})
	replies, _ := reply.([]any)
	if err == nil && len(replies) != len(cmds) {
		err = fmt.Errorf("redis: %s: %d replies to %d commands", step, len(replies), len(cmds))
	}
	return replies, err
}

var (
	_ function.Store       = (*Store)(nil)
	_ function.FollowStore = (*Store)(nil)
)
