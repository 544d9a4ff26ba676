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
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/otc"
)

// Prefix is put before every trigger key.
const Prefix = "restorepoint:"

// Store is a function.Store in Redis. It is safe for concurrent use.
type Store struct {
	client *goredis.Client
	now    func() time.Time
	addr   string
	// The scripts, made by New rather than at package init (NewScript
	// hashes its source), so that linking the store costs nothing at start.
	begin, complete, settle, release *goredis.Script
}

// Options tune a Store; the zero value is ready to use.
type Options struct {
	// Now is the clock of locks and holds (default time.Now).
	Now func() time.Time
	// Timeout bounds each command (dial, read, write); default 2s.
	Timeout time.Duration
}

// CheckURL reports whether New accepts rawURL, without revealing the
// password in the error: redis:// or rediss://, a host, an optional
// numeric database as the path, no query but the ones go-redis knows.
func CheckURL(rawURL string) error {
	_, err := parse(rawURL)
	return err
}

// parse checks rawURL and returns go-redis options for it.
func parse(rawURL string) (*goredis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return nil, fmt.Errorf("scheme %q: want redis:// or rediss://", u.Scheme)
	case u.Hostname() == "":
		return nil, errors.New("no host")
	case u.Fragment != "":
		return nil, errors.New("must not have a fragment")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return nil, fmt.Errorf("database %q: want a number", db)
		}
	}
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		// go-redis quotes parts of the URL; say only what kind of problem.
		return nil, errors.New("not a redis URL go-redis accepts (user:password@host:port/db)")
	}
	return opts, nil
}

// New returns a Store for the Redis server at rawURL. It does not connect:
// the first command does.
func New(rawURL string, o Options) (*Store, error) {
	opts, err := parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("idempotency store: %w", err)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.MaxRetries = 1
	opts.DisableIdentity = true // no CLIENT SETINFO: not every server knows it
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Store{client: goredis.NewClient(opts), now: now, addr: opts.Addr,
		begin:    goredis.NewScript(beginScript),
		complete: goredis.NewScript(leaseLua + completeScript),
		settle:   goredis.NewScript(leaseLua + settleScript),
		release:  goredis.NewScript(leaseLua + releaseScript)}, nil
}

// Addr is the server's host:port (never the password), for logs.
func (s *Store) Addr() string { return s.addr }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.client.Close() }

// fail wraps a go-redis error with the step; go-redis errors name the
// address at most, never the password.
func (s *Store) fail(step string, err error) error {
	var redisErr goredis.Error
	if !errors.As(err, &redisErr) {
		// A network failure: said without the server's address, which
		// the start line names.
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
	out, err := s.begin.Run(ctx, s.client, []string{Prefix + key},
		s.ms(lockUntil), unixMS(lockUntil), unixMS(s.now()), lease).Slice()
	if err != nil {
		return function.Claim{}, s.fail("begin", err)
	}
	state, result, err := beginReply(out)
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
func beginReply(out []any) (int64, []byte, error) {
	if len(out) != 2 {
		return 0, nil, fmt.Errorf("unexpected answer of %d values", len(out))
	}
	state, ok := out[0].(int64)
	result, ok2 := out[1].(string)
	if !ok || !ok2 || state < 0 || state > 4 {
		return 0, nil, errors.New("unexpected answer")
	}
	if state == 0 || state == 2 {
		return state, nil, nil
	}
	return state, []byte(result), nil
}

// fenced runs a step's script, whose answer is 1 when it acted and 0 when
// the lease was lost (function.ErrLeaseLost).
func (s *Store) fenced(ctx context.Context, step string, script *goredis.Script, key string, args ...any) error {
	n, err := script.Run(ctx, s.client, []string{Prefix + key}, args...).Int64()
	switch {
	case err != nil:
		return s.fail(step, err)
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
func (s *Store) Follow(ctx context.Context, f function.Follow, expiry time.Time) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.SetNX(ctx, followPrefix+f.Marker, raw, time.Duration(s.ms(expiry))*time.Millisecond)
		if !f.Done() {
			p.SAdd(ctx, followingKey, f.Marker)
		}
		return nil
	})
	if err != nil {
		return s.fail("follow", err)
	}
	return nil
}

// Followed implements function.FollowStore.
func (s *Store) Followed(ctx context.Context, marker string) (function.Follow, bool, error) {
	raw, err := s.client.Get(ctx, followPrefix+marker).Bytes()
	if errors.Is(err, goredis.Nil) {
		return function.Follow{}, false, nil
	}
	if err != nil {
		return function.Follow{}, false, s.fail("followed", err)
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
	markers, err := s.client.SMembers(ctx, followingKey).Result()
	if err != nil || len(markers) == 0 {
		if err != nil {
			return nil, s.fail("following", err)
		}
		return nil, nil
	}
	keys := make([]string, len(markers))
	for i, m := range markers {
		keys[i] = followPrefix + m
	}
	values, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, s.fail("following", err)
	}
	var out []function.Follow
	var gone []any
	for i, v := range values {
		raw, ok := v.(string)
		var f function.Follow
		if !ok || json.Unmarshal([]byte(raw), &f) != nil || f.Done() {
			gone = append(gone, markers[i])
			continue
		}
		out = append(out, f)
	}
	if len(gone) > 0 {
		_ = s.client.SRem(ctx, followingKey, gone...).Err()
	}
	slices.SortFunc(out, func(a, b function.Follow) int { return strings.Compare(a.Marker, b.Marker) })
	return out, nil
}

// Update implements function.FollowStore.
func (s *Store) Update(ctx context.Context, f function.Follow, expiry time.Time) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, followPrefix+f.Marker, raw, time.Duration(s.ms(expiry))*time.Millisecond)
		if f.Done() {
			p.SRem(ctx, followingKey, f.Marker)
		} else {
			p.SAdd(ctx, followingKey, f.Marker)
		}
		return nil
	})
	if err != nil {
		return s.fail("update follow", err)
	}
	return nil
}

var (
	_ function.Store       = (*Store)(nil)
	_ function.FollowStore = (*Store)(nil)
)
