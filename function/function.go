// Package function is restorepoint's core: it turns a trigger into
// create-checkpoint calls and a result. It decides the vault, the name and
// description, splits large requests, and optionally waits for the restore
// point to become available. It owns idempotency and delivery end to end:
// through a Store it answers duplicate deliveries from a record, and it
// hands every result to the caller's Deliver, a created one exactly once
// across duplicates. It knows nothing of the platform an event came from.
package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// CheckpointAPI is the part of the CBR client the function calls:
// *cbr.Client. A create whose answer may have been lost must fail with an
// error wrapping cbr.ErrAnswerLost (and not be retried blindly), so that the
// function looks the restore point up with ListBackups before creating again.
type CheckpointAPI interface {
	CreateCheckpoint(ctx context.Context, req cbr.VaultBackup) (*cbr.CheckpointCreate, error)
	GetCheckpoint(ctx context.Context, id string) (*cbr.CheckpointCreate, error)
	ListBackups(ctx context.Context, q cbr.BackupQuery) (*cbr.BackupList, error)
}

// Config holds the decisions an operator makes; see Defaults.
type Config struct {
	// BackupTag is the server tag that asks for backups (CBR_BACKUP_TAG).
	BackupTag string
	// VaultTag is the server tag whose value is a vault ID (CBR_VAULT_TAG).
	VaultTag string
	// VaultRoutes maps backup tag values to vault IDs (CBR_VAULT_ROUTES).
	VaultRoutes map[string]string
	// DefaultVaultID is the vault when nothing else names one (CBR_DEFAULT_VAULT_ID).
	DefaultVaultID string
	// AllowedVaults, when not empty, is the only vaults backed up (CBR_ALLOWED_VAULTS).
	AllowedVaults []string
	// FullBackups sends incremental=false when a trigger does not say
	// (CBR_INCREMENTAL=false); otherwise incremental=true is sent.
	FullBackups bool
	// DryRun plans and reports without calling the API (DRY_RUN).
	DryRun bool
	// WaitForAvailable waits for every checkpoint to be available (WAIT_FOR_AVAILABLE).
	WaitForAvailable bool
	// PollInterval is the first wait between status reads; it doubles up to PollMax.
	PollInterval time.Duration
	// PollMax is the longest wait between status reads.
	PollMax time.Duration
	// IdempotencyTTL is how long a completed trigger answers duplicates (IDEMPOTENCY_TTL).
	IdempotencyTTL time.Duration
	// LockTTL bounds an in-progress record, and the work it locks, when the
	// context has no deadline.
	LockTTL time.Duration
	// MaxRecords bounds the idempotency records of the default MemoryStore
	// (IDEMPOTENCY_MAX_RECORDS); see NewBoundedMemoryStore for what is evicted.
	MaxRecords int
	// Dedupe is DedupeLookup (the default) or DedupeOff (CBR_DEDUPE): whether
	// a restore point is looked up in CBR before every create, or only before
	// retrying a create whose answer was lost.
	Dedupe string
	// CreateAttempts bounds the creates of one restore point whose answers
	// are lost (CBR_MAX_ATTEMPTS); a lookup comes before each retry.
	CreateAttempts int
	// FollowTTL is how long a restore point is followed, and its end kept
	// for gates (FOLLOW_TTL).
	FollowTTL time.Duration
	// FollowLookback, when positive, is how far back a follow pass that
	// searches CBR also looks for restore points that ended before any
	// instance read them (FOLLOW_LOOKBACK; see searchCBR). At most
	// IdempotencyTTL, how long an end reported is kept.
	FollowLookback time.Duration
	// Associate associates the resources a trigger names that are not in
	// the vault with it before backing them up (CBR_ASSOCIATE; see
	// associate). The CheckpointAPI must then be a VaultAPI too.
	Associate bool
}

// Vaults returns the vaults the configuration names, each once, in this
// order: DefaultVaultID, the vaults of VaultRoutes (by their tag values),
// AllowedVaults. Retention and the follow pass's search in CBR cover them.
func (c Config) Vaults() []string {
	var out []string
	add := func(v string) {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	add(c.DefaultVaultID)
	for _, value := range slices.Sorted(maps.Keys(c.VaultRoutes)) {
		add(c.VaultRoutes[value])
	}
	for _, v := range c.AllowedVaults {
		add(v)
	}
	return out
}

// Defaults returns the configuration restorepoint runs with when nothing is set.
func Defaults() Config {
	return Config{
		BackupTag:      "backup",
		VaultTag:       "backup-vault",
		PollInterval:   time.Second,
		PollMax:        15 * time.Second,
		IdempotencyTTL: time.Hour,
		LockTTL:        15 * time.Minute,
		MaxRecords:     10000,
		Dedupe:         DedupeLookup,
		CreateAttempts: 4,
		FollowTTL:      7 * 24 * time.Hour,
	}
}

// Function handles triggers. It is safe for concurrent use.
type Function struct {
	cfg   Config
	api   CheckpointAPI
	store Store
	now   func() time.Time                           // tests: WithClock
	newID func() string                              // tests: WithIDs
	sleep func(context.Context, time.Duration) error // tests: WithSleep

	planObserver PlanObserver                  // WithPlanObserver
	follows      FollowStore                   // WithFollows
	track        func(context.Context, Follow) // WithTracker
	reviewer     Reviewer                      // WithReviewer
}

// Option changes how a Function is built.
type Option func(*Function)

// WithStore sets the idempotency store (default: a MemoryStore bounded by
// Config.MaxRecords).
func WithStore(s Store) Option { return func(f *Function) { f.store = s } }

// New returns a Function that calls api. Zero fields of cfg take their Defaults.
func New(cfg Config, api CheckpointAPI, opts ...Option) *Function {
	d := Defaults()
	if cfg.BackupTag == "" {
		cfg.BackupTag = d.BackupTag
	}
	if cfg.VaultTag == "" {
		cfg.VaultTag = d.VaultTag
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = d.PollInterval
	}
	if cfg.PollMax <= 0 {
		cfg.PollMax = d.PollMax
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = d.IdempotencyTTL
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = d.LockTTL
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = d.MaxRecords
	}
	if cfg.Dedupe != DedupeOff {
		cfg.Dedupe = d.Dedupe
	}
	if cfg.CreateAttempts <= 0 {
		cfg.CreateAttempts = d.CreateAttempts
	}
	if cfg.FollowTTL <= 0 {
		cfg.FollowTTL = d.FollowTTL
	}
	f := &Function{cfg: cfg, api: api, now: time.Now, newID: uuid.NewString, sleep: otc.Sleep}
	for _, opt := range opts {
		opt(f)
	}
	if f.store == nil {
		f.store = NewBoundedMemoryStore(f.now, f.cfg.MaxRecords)
	}
	if f.follows == nil {
		f.follows = NewMemoryFollows(f.now, f.cfg.MaxRecords)
	}
	return f
}

// Deliver sends a result to where results go (the result sink), before the
// trigger is acknowledged. It returns an error when the result could not be
// sent; the trigger should then be delivered again.
type Deliver func(ctx context.Context, r events.Result) error

// Handle carries out t and returns its result: created (or planned, on a dry
// run), ignored, or failed. Every result is passed to deliver (when not nil)
// before Handle returns, and a created result exactly once across
// duplicates: a duplicate whose result was delivered gets it back marked as
// a duplicate without delivering it again.
//
// An error without a result (its Type empty) means nothing was done: the
// trigger is still in progress elsewhere (ErrInProgress) or the idempotency
// store failed; it should be delivered again. An error with a result means
// the result was made but deliver failed (the error wraps deliver's): the
// trigger should be delivered again, and the result will be delivered then.
// Or it wraps ErrLeaseLost: this attempt outlived its lock (Config.LockTTL,
// or the context's deadline) and another attempt has taken the trigger over,
// so the store refused to record this attempt's end and its record was left
// to the other attempt. The result stands (its checkpoints exist, and it was
// passed to deliver as usual); unless the error also wraps deliver's,
// nothing needs to be delivered again, and the error is for the log. A
// failed result whose record was refused so says in its message instead.
func (f *Function) Handle(ctx context.Context, t events.Trigger, deliver Deliver) (events.Result, error) {
	plan, err := f.plan(ctx, t)
	switch {
	case err != nil:
		return f.deliver(ctx, deliver, f.failed(t, plan.VaultID, err))
	case plan.IgnoreReason != "":
		if t.Review != nil {
			// A deployment held for a restore point there will not be:
			// rejected, saying why, never left to pass silently.
			f.Reject(ctx, t, plan.IgnoreReason)
		}
		return f.deliver(ctx, deliver, events.Result{
			Type:        events.TypeTriggerIgnored,
			ID:          ResultID(t.Ref.Digest(), events.TypeTriggerIgnored),
			TraceParent: t.TraceParent,
			Ignored:     &events.Ignored{Trigger: t.Ref, Reason: plan.IgnoreReason},
		})
	case f.cfg.DryRun || t.DryRun:
		return f.deliver(ctx, deliver, f.planned(t, plan))
	}

	// The store keeps the key's digest: a fixed size, whatever the event's
	// id and source.
	key := t.Ref.Digest()
	claim, err := f.store.Begin(ctx, key, f.lockUntil(ctx))
	if err != nil {
		if !errors.Is(err, ErrInProgress) {
			err = fmt.Errorf("idempotency store: %w", err)
		}
		return events.Result{}, err
	}
	if claim.Completed {
		return f.duplicate(ctx, t, plan, claim, deliver)
	}
	var done []events.Checkpoint // what an earlier attempt of a split trigger made
	if claim.Result != nil {
		if partial, err := decodeRecord(claim.Result); err == nil {
			done = partial.Checkpoints
		} // else unreadable: start afresh rather than never finish
	}

	workCtx, cancelWork := f.working(ctx)
	res, err := f.create(workCtx, t, plan, done)
	cancelWork()
	// What follows is bounded by the caller's deadline, not by the lock's:
	// an attempt that outlived its lock still records (or is refused, by
	// the lease) and delivers what it made.
	res.ID = ResultID(key, events.TypeCheckpointCreated)
	storeCtx, cancelStore := Finishing(ctx)
	defer cancelStore()
	expiry := f.now().Add(f.cfg.IdempotencyTTL)
	if err != nil {
		// No completed record, so that the next delivery runs again; but
		// checkpoints already made are kept, so that it makes only the
		// ones left.
		var partial []byte
		if len(res.Created.Checkpoints) > 0 {
			var encErr error
			if partial, encErr = encodeRecord(res); encErr != nil {
				err = errors.Join(err, encErr)
			}
		}
		if storeErr := f.store.Release(storeCtx, key, claim.Lease, partial, expiry); storeErr != nil {
			err = errors.Join(err, storeError("release", storeErr))
		}
		return f.deliver(ctx, deliver, f.failed(t, plan.VaultID, err))
	}
	record, err := encodeRecord(res)
	if err == nil {
		err = f.store.Complete(storeCtx, key, claim.Lease, record, expiry, deliver != nil)
	}
	if err != nil {
		// The checkpoints exist: say so, and let a duplicate find out on
		// its own.
		if errors.Is(err, ErrLeaseLost) {
			// The record is another attempt's now: leave it alone.
			res, sendErr := f.deliver(ctx, deliver, res)
			f.tracked(ctx, t, res)
			return res, joinLeaseLost(sendErr, storeError("complete", err))
		}
		_ = f.store.Release(storeCtx, key, claim.Lease, nil, time.Time{})
		return f.deliver(ctx, deliver, res)
	}
	answer, err := f.deliverHeld(ctx, key, claim.Lease, deliver, res, res)
	f.tracked(ctx, t, answer)
	return answer, err
}

// storeError describes the error of a store step, saying which step a lost
// lease refused.
func storeError(step string, err error) error {
	if errors.Is(err, ErrLeaseLost) {
		return fmt.Errorf("idempotency store: %s refused: %w", step, err)
	}
	return fmt.Errorf("idempotency store: %w", err)
}

// joinLeaseLost adds a refused store step to err (which may be nil).
func joinLeaseLost(err, refused error) error {
	if err == nil {
		return refused
	}
	return errors.Join(err, refused)
}

// duplicate answers a trigger that completed before from its record,
// delivering the stored result first when the claim says it is held for
// delivery.
func (f *Function) duplicate(ctx context.Context, t events.Trigger, plan Plan, claim Claim, deliver Deliver) (events.Result, error) {
	rec, err := decodeRecord(claim.Result)
	var stored events.Result
	if err == nil {
		stored, err = rec.result(t, plan)
	}
	if err != nil {
		if claim.Deliver {
			settleCtx, cancel := Finishing(ctx)
			_ = f.store.Settle(settleCtx, t.Ref.Digest(), claim.Lease, false)
			cancel()
		}
		return events.Result{}, fmt.Errorf("idempotency store: %w", err)
	}
	dup := stored
	created := *stored.Created
	created.Duplicate = true
	dup.Created = &created
	if !claim.Deliver || deliver == nil {
		return dup, nil
	}
	return f.deliverHeld(ctx, t.Ref.Digest(), claim.Lease, deliver, stored, dup)
}

// deliverHeld delivers r, which this attempt holds for delivery under key
// with lease, settles the record, and returns answer.
func (f *Function) deliverHeld(ctx context.Context, key, lease string, deliver Deliver, r, answer events.Result) (events.Result, error) {
	if deliver == nil {
		return answer, nil
	}
	var sendErr error
	if err := deliver(ctx, r); err != nil {
		sendErr = fmt.Errorf("result sink: %w", err)
	}
	// A Settle that fails leaves the record held until its lock runs out;
	// then a duplicate delivers the result (again, if this send went
	// through: the sink sees the same event id). One refused because the
	// lease was lost comes after the lock ran out during the send, and
	// another attempt was handed the result: that is told. Either way the
	// answer to this attempt is what the delivery did.
	settleCtx, cancel := Finishing(ctx)
	defer cancel()
	err := f.store.Settle(settleCtx, key, lease, sendErr == nil)
	if errors.Is(err, ErrLeaseLost) {
		return answer, joinLeaseLost(sendErr, storeError("settle", err))
	}
	return answer, sendErr
}

// deliver delivers a result that has no idempotency record (failed,
// ignored, planned) and returns it.
func (f *Function) deliver(ctx context.Context, deliver Deliver, r events.Result) (events.Result, error) {
	if r.ID == "" {
		r.ID = f.newID()
	}
	if deliver == nil {
		return r, nil
	}
	if err := deliver(ctx, r); err != nil {
		return r, fmt.Errorf("result sink: %w", err)
	}
	return r, nil
}

// The last moments before a trigger's deadline (an invocation's, or its
// lock's) are kept for finishing it: the work stops finishMargin before the
// deadline (at most a tenth of the time left), and recording the result and
// delivering it stop answerMargin before it (at most a quarter of what is
// left then), so that the answer goes out in time rather than the platform
// reporting a timeout after the work succeeded.
const (
	finishMargin = time.Second
	answerMargin = 250 * time.Millisecond
)

// finishTimeout bounds finishing a trigger that has no deadline.
const finishTimeout = 10 * time.Second

// working returns the context of a trigger's work: ctx, ending a margin
// before its deadline, or before its lock (LockTTL from now) when it has
// none: once the lock expires a duplicate runs again, and a wait for a
// checkpoint that never becomes available must not hold the caller for ever.
func (f *Function) working(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(f.cfg.LockTTL)
	}
	return context.WithDeadline(ctx, d.Add(-min(finishMargin, time.Until(d)/10)))
}

// Finishing returns the context of the steps that finish a trigger once its
// work is done (recording the result, delivering it to the sink): they run
// even when ctx is cancelled (a sender that hung up), and end a margin
// before ctx's deadline, or after finishTimeout when it has none. A result
// that cannot be delivered by then fails the trigger retryably.
func Finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	detached := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(detached, d.Add(-min(answerMargin, time.Until(d)/4)))
	}
	return context.WithTimeout(detached, finishTimeout)
}

// lockUntil is when an in-progress record expires: the invocation's deadline,
// or LockTTL from now.
func (f *Function) lockUntil(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return f.now().Add(f.cfg.LockTTL)
}

// create sends the planned requests and gathers what the API reported,
// starting after the checkpoints done holds (an earlier attempt's, or nil).
// Unless Dedupe is off, each restore point is first looked up in CBR, and
// one found is taken instead of creating it; when every restore point this
// attempt needed was found so, the result is a duplicate. On an error the
// result holds the checkpoints made so far.
func (f *Function) create(ctx context.Context, t events.Trigger, plan Plan, done []events.Checkpoint) (events.Result, error) {
	res, err := createdResult(t, plan, "", done)
	if err != nil {
		// Cannot happen for checkpoints this function recorded; start afresh.
		res, _ = createdResult(t, plan, "", nil)
	}
	created := res.Created
	if f.cfg.Associate {
		if plan, err = f.associate(ctx, plan, created); err != nil {
			return res, err
		}
	}
	start, found := len(created.Checkpoints), 0
	for i := start; i < len(plan.Requests); i++ {
		var cp *cbr.CheckpointCreate
		var err error
		if f.cfg.Dedupe != DedupeOff {
			cp, err = f.lookup(ctx, plan.Requests[i], plan.Marker)
			if cp != nil {
				found++
			}
		}
		if cp == nil && err == nil {
			cp, err = f.createOnce(ctx, plan.Requests[i], plan.Marker)
		}
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("create checkpoint %d of %d (the %d before it are kept for the retry): %w", i+1, len(plan.Requests), i, err)
			}
			return res, err
		}
		for _, s := range cp.Vault.SkippedResources {
			created.SkippedResources = append(created.SkippedResources, events.SkippedResource(s))
		}
		if plan.Wait {
			cp = f.wait(ctx, cp)
		}
		raw := cp.Raw
		if raw == nil {
			var err error
			if raw, err = json.Marshal(cp); err != nil {
				return res, fmt.Errorf("encode checkpoint %s: %w", cp.ID, err)
			}
		}
		created.Checkpoints = append(created.Checkpoints, events.Checkpoint{ID: cp.ID, Status: cp.Status, JSON: raw})
	}
	created.Duplicate = found > 0 && found == len(plan.Requests)-start
	return res, nil
}

// wait polls cp until it is available or in error, or until ctx ends, and
// returns the last state read. Skipped resources stay as the create reported.
func (f *Function) wait(ctx context.Context, cp *cbr.CheckpointCreate) *cbr.CheckpointCreate {
	delay := f.cfg.PollInterval
	last := cp
	for last.Status != cbr.StatusAvailable && last.Status != cbr.StatusError {
		if err := f.sleep(ctx, delay); err != nil {
			return last
		}
		delay = min(2*delay, f.cfg.PollMax)
		got, err := f.api.GetCheckpoint(ctx, cp.ID)
		if err != nil {
			if ctx.Err() != nil || !failure.Retryable(err) {
				return last
			}
			continue
		}
		if !slices.Equal(got.Vault.SkippedResources, cp.Vault.SkippedResources) {
			// The create's answer says what was skipped; a read-back may
			// not. Report the read-back with the create's list, re-encoded.
			got.Vault.SkippedResources = cp.Vault.SkippedResources
			got.Raw = nil
		}
		last = got
	}
	return last
}

// planned is the result of a dry run: what would be sent.
func (f *Function) planned(t events.Trigger, plan Plan) events.Result {
	reqs := make([]json.RawMessage, 0, len(plan.Requests))
	for _, r := range plan.Requests {
		raw, err := json.Marshal(cbr.CreateCheckpointRequest{Checkpoint: r})
		if err != nil {
			return f.failed(t, plan.VaultID, err)
		}
		reqs = append(reqs, raw)
	}
	return events.Result{
		Type:        events.TypeCheckpointCreated,
		Subject:     plan.VaultID,
		TraceParent: t.TraceParent,
		Created: &events.Created{
			Trigger:          t.Ref,
			VaultID:          plan.VaultID,
			Checkpoints:      []events.Checkpoint{},
			Resources:        nonNil(plan.Resources),
			SkippedResources: []events.SkippedResource{},
			DryRun:           true,
			Requests:         reqs,
		},
	}
}

// failed turns err into a failed result.
func (f *Function) failed(t events.Trigger, vault string, err error) events.Result {
	return events.Result{
		Type:        events.TypeCheckpointFailed,
		Subject:     vault,
		TraceParent: t.TraceParent,
		Failed:      &events.Failed{Trigger: t.Ref, VaultID: vault, Error: Failure(err)},
	}
}

// Failure describes err for a failed result: its class, and the API's status,
// code and request id when the API answered.
func Failure(err error) events.Failure {
	class := failure.ClassOf(err)
	out := events.Failure{
		Class:     class,
		Message:   err.Error(),
		Retryable: class.Retryable(),
	}
	var apiErr *cbr.APIError
	if errors.As(err, &apiErr) {
		out.Status = apiErr.StatusCode
		out.Code = apiErr.Code
		out.RequestID = apiErr.RequestID
		out.RetryAfter = apiErr.RetryAfter
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
