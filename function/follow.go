package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
)

// Following a restore point to its end. CBR answers a create while the
// backups are still being made ("protecting"); they become "available", or
// one ends in "error", minutes to hours later. Every restore point
// restorepoint makes is recorded as a Follow, read again by follow passes
// (GET checkpoint, and a backups list by checkpoint once it ended), and
// reported once it ended: a completion result (io.restorepoint.checkpoint.
// available, or .failed) goes to the result sink exactly once across
// instances sharing a Store, at least once without one; a GitHub deployment
// waiting for it is reviewed. Nothing blocks a trigger's answer for it.

// Follow is a restore point restorepoint follows until it is usable or
// failed, as a FollowStore records it.
type Follow struct {
	// Marker is the 24 hex digits of the trigger's key marker: the key of
	// the record, and what the completion result's id derives from.
	Marker string `json:"marker"`
	// Trigger is the trigger's Ref; empty when the restore point was found
	// in CBR by its marker alone.
	Trigger     events.Ref `json:"trigger"`
	TraceParent string     `json:"traceparent,omitempty"`
	VaultID     string     `json:"vault_id"`
	Checkpoints []string   `json:"checkpoints"`
	// Review is the GitHub deployment waiting for it, if one is.
	Review *events.Review `json:"review,omitempty"`
	// Completion is how it ended, once it did.
	Completion *events.Completion `json:"completion,omitempty"`
	// Delivered says the completion result reached the sink; Reviewed that
	// the review was posted.
	Delivered bool `json:"delivered,omitempty"`
	Reviewed  bool `json:"reviewed,omitempty"`
}

// Done reports whether nothing is left to do for f: its end reported, and
// its review (if any) posted.
func (f Follow) Done() bool {
	return (f.Delivered || f.Review != nil && f.Review.Rejection != "") && (f.Review == nil || f.Reviewed)
}

// FollowStore records the restore points being followed. MemoryFollows keeps
// them in the process; store/redis shares them between instances.
type FollowStore interface {
	// Follow records f unless a record under f.Marker exists (that one is
	// kept); it lives until expiry. recorded reports whether f was.
	Follow(ctx context.Context, f Follow, expiry time.Time) (recorded bool, err error)
	// Followed returns the record under marker.
	Followed(ctx context.Context, marker string) (Follow, bool, error)
	// Following returns every record that is not Done.
	Following(ctx context.Context) ([]Follow, error)
	// Update replaces the record under f.Marker, living until expiry; a Done
	// one is no longer Following, but Followed until it expires.
	Update(ctx context.Context, f Follow, expiry time.Time) error
}

// Reviewer posts the review of a GitHub deployment held by restorepoint's
// deployment protection rule (githubapp): approved when approve, else
// rejected, with comment.
type Reviewer interface {
	Review(ctx context.Context, r events.Review, approve bool, comment string) error
}

// WithFollows sets where the restore points being followed are recorded
// (default: a MemoryFollows).
func WithFollows(s FollowStore) Option { return func(f *Function) { f.follows = s } }

// WithTracker sets what is done with the Follow of every restore point a
// trigger makes (default: recorded in the FollowStore at once). A background
// follower takes it instead, so that recording costs the trigger nothing.
func WithTracker(track func(ctx context.Context, fl Follow)) Option {
	return func(f *Function) { f.track = track }
}

// WithReviewer sets the poster of GitHub deployment reviews.
func WithReviewer(r Reviewer) Option { return func(f *Function) { f.reviewer = r } }

// Follows returns the function's FollowStore.
func (f *Function) Follows() FollowStore { return f.follows }

// followExpiry is until when fl is kept: while it is followed, FollowTTL
// (long enough for the largest backup); once done, IdempotencyTTL, for gates
// to answer from it.
func (f *Function) followExpiry(fl Follow) time.Time {
	if fl.Done() {
		return f.now().Add(f.cfg.IdempotencyTTL)
	}
	return f.now().Add(f.cfg.FollowTTL)
}

// Record records fl in the FollowStore (what WithTracker's default does).
func (f *Function) Record(ctx context.Context, fl Follow) error {
	_, err := f.follows.Follow(ctx, fl, f.followExpiry(fl))
	return err
}

// followOf is the Follow of the restore point created answers t with.
func followOf(t events.Trigger, created *events.Created) Follow {
	return Follow{
		Marker:      markerOf(t.Ref),
		Trigger:     t.Ref,
		TraceParent: t.TraceParent,
		VaultID:     created.VaultID,
		Checkpoints: created.CheckpointIDs(),
		Review:      t.Review,
	}
}

// tracked hands the Follow of a created result to the tracker.
func (f *Function) tracked(ctx context.Context, t events.Trigger, res events.Result) {
	if res.Created == nil || len(res.Created.Checkpoints) == 0 {
		return
	}
	// Best effort: a restore point not recorded is found again in CBR by a
	// follow pass that searches (FollowPass with search).
	f.handOver(ctx, followOf(t, res.Created))
}

// handOver gives fl to the tracker (WithTracker), else records it: what a
// follow pass has to do for it is then done by the next one (the
// background follower's, woken for it).
func (f *Function) handOver(ctx context.Context, fl Follow) {
	if f.track != nil {
		f.track(ctx, fl)
		return
	}
	_ = f.Record(ctx, fl)
}

// Reject rejects the deployment waiting for t, which makes no restore
// point, with reason; a review that cannot be posted now is recorded for the
// next follow pass.
func (f *Function) Reject(ctx context.Context, t events.Trigger, reason string) {
	r := *t.Review
	r.Rejection = "restorepoint: no restore point is made for this deployment, so it is rejected: " + reason +
		". Say what to back up in the deployment's payload.restorepoint, or map the environment with a rule (RULES_FILE)."
	fl := Follow{Marker: markerOf(t.Ref), Trigger: t.Ref, Review: &r}
	if posted, err := f.reviewOnce(ctx, fl); err != nil || !posted {
		// Like a restore point being made: a follow pass posts it, and the
		// background follower has nothing else to wake it for.
		f.handOver(ctx, fl)
		return
	}
	fl.Reviewed = true
	_ = f.follows.Update(ctx, fl, f.followExpiry(fl))
}

// check reads fl's checkpoints: the completion when every one has ended,
// else nil.
func (f *Function) check(ctx context.Context, fl Follow) (*events.Completion, error) {
	c := &events.Completion{Trigger: fl.Trigger, Marker: KeyMarker(fl.Marker), VaultID: fl.VaultID,
		CheckpointIDs: slices.Clone(fl.Checkpoints), Resources: []events.BackupState{}}
	var failedAt *events.BackupState
	for _, id := range fl.Checkpoints {
		cp, err := f.api.GetCheckpoint(ctx, id)
		var apiErr *cbr.APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == 404 {
			// Deleted before it was seen to end: it will never be usable.
			c.Resources = append(c.Resources, events.BackupState{CheckpointID: id, Status: cbr.StatusDeleted})
			failedAt = &c.Resources[len(c.Resources)-1]
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("follow restore point %s: %w", KeyMarker(fl.Marker), err)
		}
		if cp.Status != cbr.StatusAvailable && cp.Status != cbr.StatusError {
			return nil, nil
		}
		if t := cp.CreatedAt.Time; !t.IsZero() && (c.CreatedAt.IsZero() || t.Before(c.CreatedAt)) {
			c.CreatedAt = t
		}
		backups, err := f.api.ListBackups(ctx, cbr.BackupQuery{CheckpointID: id, Limit: cbr.MaxBackupsLimit})
		if err != nil {
			return nil, fmt.Errorf("follow restore point %s: %w", KeyMarker(fl.Marker), err)
		}
		byResource := make(map[string]cbr.Backup, len(backups.Backups))
		for _, b := range backups.Backups {
			byResource[b.ResourceID] = b
		}
		for _, r := range cp.Vault.Resources {
			s := events.BackupState{ID: r.ID, Type: r.Type, Name: r.Name, CheckpointID: id, Status: r.ProtectStatus}
			if b, ok := byResource[r.ID]; ok {
				s.BackupID, s.Status = b.ID, b.Status
			}
			c.Resources = append(c.Resources, s)
			if s.Status != cbr.StatusAvailable && failedAt == nil {
				failedAt = &c.Resources[len(c.Resources)-1]
			}
		}
		if cp.Status == cbr.StatusError && failedAt == nil {
			c.Resources = append(c.Resources, events.BackupState{CheckpointID: id, Status: cbr.StatusError})
			failedAt = &c.Resources[len(c.Resources)-1]
		}
	}
	c.CompletedAt = f.now().UTC()
	if !c.CreatedAt.IsZero() {
		c.Seconds = c.CompletedAt.Sub(c.CreatedAt).Seconds()
	}
	if failedAt != nil {
		what := "the restore point"
		if failedAt.ID != "" {
			what = "the backup of " + failedAt.Type + " " + failedAt.ID
		}
		c.Error = &events.Failure{Class: failure.Rejected, Message: fmt.Sprintf("%s in checkpoint %s ended %s",
			what, failedAt.CheckpointID, failedAt.Status)}
	}
	return c, nil
}

// completionResult is the result event of fl's end.
func completionResult(fl Follow) events.Result {
	typ := events.TypeCheckpointAvailable
	if fl.Completion.Error != nil {
		typ = events.TypeCheckpointFailed
	}
	return events.Result{Type: typ, ID: ResultID(fl.Marker, typ), Subject: fl.VaultID,
		TraceParent: fl.TraceParent, Completed: fl.Completion}
}

// endKey is the idempotency key under which a restore point's end is
// delivered once: apart from every trigger's (a digest has no colon).
func endKey(marker string) string { return "end:" + marker }

// deliverEnd delivers fl's completion result exactly once across instances
// sharing the Store: the first to claim it delivers it; one that finds it
// delivered, or being delivered, leaves it.
func (f *Function) deliverEnd(ctx context.Context, fl Follow, deliver Deliver) (delivered bool, err error) {
	key := endKey(fl.Marker)
	claim, err := f.store.Begin(ctx, key, f.now().Add(time.Minute))
	switch {
	case errors.Is(err, ErrInProgress):
		return false, nil
	case err != nil:
		return false, storeError("begin", err)
	case claim.Completed && !claim.Deliver:
		return true, nil
	}
	if !claim.Completed {
		raw, _ := json.Marshal(fl.Completion)
		if err := f.store.Complete(ctx, key, claim.Lease, raw, f.now().Add(f.cfg.FollowTTL), true); err != nil {
			return false, storeError("complete", err)
		}
	}
	sendErr := deliver(ctx, completionResult(fl))
	if err := f.store.Settle(ctx, key, claim.Lease, sendErr == nil); err != nil && sendErr == nil {
		sendErr = storeError("settle", err)
	}
	if sendErr != nil {
		return false, fmt.Errorf("result sink: %w", sendErr)
	}
	return true, nil
}

// review posts fl's review: the rejection it was recorded with, else
// approved when its restore point is available and rejected when it failed.
func (f *Function) review(ctx context.Context, fl Follow) error {
	if f.reviewer == nil {
		return errors.New("a GitHub deployment waits for a review, but no GitHub App is configured (GITHUB_APP_ID)")
	}
	r := *fl.Review
	approve, comment := false, r.Rejection
	if comment == "" {
		c := fl.Completion
		approve = c.Error == nil
		if approve {
			comment = fmt.Sprintf("restorepoint: the restore point is available (%s, vault %s, checkpoints %v).",
				c.Marker, c.VaultID, c.CheckpointIDs)
		} else {
			comment = fmt.Sprintf("restorepoint: the restore point failed (%s, vault %s): %s.", c.Marker, c.VaultID, c.Error.Message)
		}
	}
	return f.reviewer.Review(ctx, r, approve, comment)
}

// reviewKey is the idempotency key under which fl's review is posted once.
func reviewKey(marker string) string { return "review:" + marker }

// reviewOnce posts fl's review once across instances sharing the Store: the
// first to claim it posts it; one that finds it posted reports it posted,
// one that finds it being posted leaves it (posted false, no error). A
// review that could not be posted is released for the next pass.
func (f *Function) reviewOnce(ctx context.Context, fl Follow) (posted bool, err error) {
	key := reviewKey(fl.Marker)
	claim, err := f.store.Begin(ctx, key, f.now().Add(time.Minute))
	switch {
	case errors.Is(err, ErrInProgress):
		return false, nil
	case err != nil:
		return false, storeError("begin", err)
	case claim.Completed:
		return true, nil
	}
	if err := f.review(ctx, fl); err != nil {
		_ = f.store.Release(ctx, key, claim.Lease, nil, time.Time{})
		return false, err
	}
	if err := f.store.Complete(ctx, key, claim.Lease, []byte("posted"), f.now().Add(f.cfg.FollowTTL), false); err != nil {
		return true, storeError("complete", err)
	}
	return true, nil
}

// advance does what is left for fl: read its end, deliver it, review. It
// changes fl as it goes, reports whether it did, and returns what failed
// (tried again next pass).
func (f *Function) advance(ctx context.Context, fl *Follow, deliver Deliver) (changed bool, _ error) {
	var errs []error
	rejected := fl.Review != nil && fl.Review.Rejection != ""
	if fl.Completion == nil && !rejected {
		c, err := f.check(ctx, *fl)
		if err != nil || c == nil {
			return false, err
		}
		fl.Completion, changed = c, true
	}
	if fl.Completion != nil && !fl.Delivered {
		ok, err := f.deliverEnd(ctx, *fl, deliver)
		fl.Delivered, changed = ok, changed || ok
		errs = append(errs, err)
	}
	if fl.Review != nil && !fl.Reviewed && (fl.Delivered || rejected) {
		posted, err := f.reviewOnce(ctx, *fl)
		fl.Reviewed, changed = posted, changed || posted
		if err != nil {
			errs = append(errs, fmt.Errorf("review of %s: %w", fl.Review.Environment, err))
		}
	}
	return changed, errors.Join(errs...)
}

// followConcurrency bounds the restore points one pass reads at once.
const followConcurrency = 8

// FollowPass reads every restore point being followed once, and reports
// (deliver) and reviews those that ended. With search it first looks in CBR
// for restore points restorepoint made that are still being made (backups
// carrying a key marker, protecting, in the configured vaults) and follows
// those it did not know: a pass on a fresh instance loses nothing. It reads
// several restore points at once, so deliver is called concurrently. The
// report says what it found; an error, only when nothing could be read.
func (f *Function) FollowPass(ctx context.Context, deliver Deliver, search bool) (events.FollowReport, error) {
	return f.followPass(ctx, deliver, search, nil, nil)
}

// followPass is FollowPass over the records pick selects (every one when pick
// is nil; the others count as pending, unread); seen, when not nil, is told
// of every record read, as the pass left it. pick is called in turn, seen
// concurrently.
func (f *Function) followPass(ctx context.Context, deliver Deliver, search bool,
	pick func(Follow) bool, seen func(Follow)) (events.FollowReport, error) {
	var report events.FollowReport
	list, err := f.follows.Following(ctx)
	if err != nil {
		return report, fmt.Errorf("follow store: %w", err)
	}
	if search {
		found, err := f.searchCBR(ctx, list)
		if err != nil {
			report.Errors = append(report.Errors, err.Error())
		}
		list = append(list, found...)
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, followConcurrency)
	)
	unread := 0
	for _, fl := range list {
		if pick != nil && !pick(fl) {
			unread++
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ended, reviewed := fl.Completion != nil, fl.Reviewed
			changed, err := f.advance(ctx, &fl, deliver)
			if changed {
				if uerr := f.follows.Update(ctx, fl, f.followExpiry(fl)); uerr != nil {
					err = errors.Join(err, fmt.Errorf("follow store: %w", uerr))
				}
			}
			if seen != nil {
				seen(fl)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case fl.Completion == nil && (fl.Review == nil || fl.Review.Rejection == ""):
				report.Pending++
			case ended || fl.Completion == nil:
			case fl.Completion.Error != nil:
				report.Failed++
			default:
				report.Available++
			}
			if fl.Reviewed && !reviewed {
				report.Reviews++
			}
			if err != nil {
				report.Errors = append(report.Errors, err.Error())
			}
		})
	}
	wg.Wait()
	report.Pending += unread
	slices.Sort(report.Errors)
	return report, nil
}

// searchCBR finds the restore points restorepoint made that are not in
// known (the records still followed), records them and returns them: those
// still being made, and, with FollowLookback, those made within it that
// ended before any instance read them. A restore point the follow store
// already has a record of (one whose end was reported is kept for
// IdempotencyTTL, which FollowLookback does not exceed) is not returned.
func (f *Function) searchCBR(ctx context.Context, known []Follow) ([]Follow, error) {
	seen := make(map[string]bool, len(known))
	for _, fl := range known {
		seen[fl.Marker] = true
	}
	found := map[string]*Follow{}
	var order []string
	add := func(vault string, b cbr.Backup) {
		marker, ok := MarkerOf(b.Description)
		if !ok || seen[marker] || b.CheckpointID == "" {
			return
		}
		fl := found[marker]
		if fl == nil {
			fl = &Follow{Marker: marker, VaultID: vault}
			found[marker] = fl
			order = append(order, marker)
		}
		if !slices.Contains(fl.Checkpoints, b.CheckpointID) {
			fl.Checkpoints = append(fl.Checkpoints, b.CheckpointID)
		}
	}
	var errs []error
	since := f.now().Add(-f.cfg.FollowLookback)
	for _, vault := range f.cfg.Vaults() {
		err := f.eachBackup(ctx, cbr.BackupQuery{VaultID: vault, Status: cbr.StatusProtecting}, func(b cbr.Backup) bool {
			add(vault, b)
			return true
		})
		if err == nil && f.cfg.FollowLookback > 0 {
			err = f.eachBackup(ctx, cbr.BackupQuery{VaultID: vault, Sort: "created_at:desc"}, func(b cbr.Backup) bool {
				if b.CreatedAt.Before(since) {
					return false
				}
				if b.Status != cbr.BackupStatusDeleting && b.Status != cbr.BackupStatusDeleted {
					add(vault, b)
				}
				return true
			})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("search vault %s: %w", vault, err))
		}
	}
	out := make([]Follow, 0, len(order))
	for _, marker := range order {
		fl := *found[marker]
		recorded, err := f.follows.Follow(ctx, fl, f.followExpiry(fl))
		if err != nil {
			errs = append(errs, fmt.Errorf("follow store: %w", err))
		}
		if recorded {
			out = append(out, fl)
		}
	}
	return out, errors.Join(errs...)
}

// eachBackup calls fn with the backups q lists, page by page (at most
// maxLookupPages of MaxBackupsLimit), until fn returns false.
func (f *Function) eachBackup(ctx context.Context, q cbr.BackupQuery, fn func(cbr.Backup) bool) error {
	q.Limit = cbr.MaxBackupsLimit
	for page := range maxLookupPages {
		q.Offset = page * cbr.MaxBackupsLimit
		list, err := f.api.ListBackups(ctx, q)
		if err != nil {
			return err
		}
		for _, b := range list.Backups {
			if !fn(b) {
				return nil
			}
		}
		if len(list.Backups) < cbr.MaxBackupsLimit {
			return nil
		}
	}
	return nil
}

// GateState is what a gate answers: the restore point is pending, available
// or failed.
type GateState string

// Gate states.
const (
	GatePending   GateState = "pending"
	GateAvailable GateState = "available"
	GateFailed    GateState = "failed"
)

// Gate is the state of a trigger's restore point, for a deployer that waits
// for it.
type Gate struct {
	State GateState
	// Result is the completion result (available or failed) once it ended.
	Result events.Result
	// Follow is the restore point as last read.
	Follow Follow
}

// GateOf reads the state of the restore point created answers t with: from
// the FollowStore when its end is known, else from CBR. It reports nothing
// to the sink: the follower does, once.
func (f *Function) GateOf(ctx context.Context, t events.Trigger, created *events.Created) (Gate, error) {
	fl := followOf(t, created)
	if known, ok, err := f.follows.Followed(ctx, fl.Marker); err == nil && ok && known.Completion != nil {
		fl = known
	}
	return f.gate(ctx, fl)
}

// Poll answers a read-only gate poll for the trigger ref names: from the
// FollowStore, else from CBR by the trigger's marker in the configured
// vaults. found is false when restorepoint made no restore point for it.
func (f *Function) Poll(ctx context.Context, ref events.Ref) (g Gate, found bool, err error) {
	marker := markerOf(ref)
	fl, ok, err := f.follows.Followed(ctx, marker)
	if err != nil {
		return Gate{}, false, fmt.Errorf("follow store: %w", err)
	}
	if !ok {
		if fl, ok, err = f.findMarker(ctx, marker); err != nil || !ok {
			return Gate{}, false, err
		}
		fl.Trigger = ref
	}
	g, err = f.gate(ctx, fl)
	return g, true, err
}

// gate reads fl's state.
func (f *Function) gate(ctx context.Context, fl Follow) (Gate, error) {
	if fl.Completion == nil {
		c, err := f.check(ctx, fl)
		if err != nil {
			return Gate{}, err
		}
		fl.Completion = c
	}
	switch {
	case fl.Completion == nil:
		return Gate{State: GatePending, Follow: fl}, nil
	case fl.Completion.Error != nil:
		return Gate{State: GateFailed, Result: completionResult(fl), Follow: fl}, nil
	}
	return Gate{State: GateAvailable, Result: completionResult(fl), Follow: fl}, nil
}

// findMarker looks for the restore point with marker among the newest
// backups of the configured vaults.
func (f *Function) findMarker(ctx context.Context, marker string) (Follow, bool, error) {
	fl := Follow{Marker: marker}
	for _, vault := range f.cfg.Vaults() {
		list, err := f.api.ListBackups(ctx, cbr.BackupQuery{VaultID: vault, Sort: "created_at:desc", Limit: cbr.MaxBackupsLimit})
		if err != nil {
			return Follow{}, false, fmt.Errorf("look for restore point %s: %w", KeyMarker(marker), err)
		}
		for _, b := range list.Backups {
			if m, ok := MarkerOf(b.Description); ok && m == marker && !slices.Contains(fl.Checkpoints, b.CheckpointID) {
				fl.VaultID = vault
				fl.Checkpoints = append(fl.Checkpoints, b.CheckpointID)
			}
		}
		if len(fl.Checkpoints) > 0 {
			return fl, true, nil
		}
	}
	return Follow{}, false, nil
}

// MemoryFollows is a FollowStore in the process's memory, bounded: when it
// holds its bound of records, expired and done ones are dropped, then the
// ones that expire first, down to nine tenths of the bound, so that a
// process that makes restore points nobody follows (FOLLOW=off, no
// schedule) does not grow without end.
type MemoryFollows struct {
	now        func() time.Time
	maxRecords int
	mu         sync.Mutex
	records    map[string]*memoryFollow // by pointer: a map slot of a Follow's size is mostly empty room
}

type memoryFollow struct {
	f      Follow
	expiry time.Time
}

// NewMemoryFollows returns an empty MemoryFollows of at most maxRecords
// records (10,000 when 0) reading time from now (time.Now when nil).
func NewMemoryFollows(now func() time.Time, maxRecords int) *MemoryFollows {
	if now == nil {
		now = time.Now
	}
	if maxRecords <= 0 {
		maxRecords = Defaults().MaxRecords
	}
	return &MemoryFollows{now: now, maxRecords: maxRecords, records: map[string]*memoryFollow{}}
}

// Follow implements FollowStore.
func (m *MemoryFollows) Follow(_ context.Context, f Follow, expiry time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[f.Marker]; ok && m.now().Before(r.expiry) {
		return false, nil
	}
	if len(m.records) >= m.maxRecords {
		m.evict()
	}
	m.records[f.Marker] = &memoryFollow{f: clone(f), expiry: expiry}
	return true, nil
}

// evict drops expired and done records, then those that expire first, until
// nine tenths of the bound are left.
func (m *MemoryFollows) evict() {
	now := m.now()
	for k, r := range m.records {
		if !now.Before(r.expiry) || r.f.Done() {
			delete(m.records, k)
		}
	}
	keep := m.maxRecords * 9 / 10
	if len(m.records) <= keep {
		return
	}
	left := make([]*memoryFollow, 0, len(m.records))
	for _, r := range m.records {
		left = append(left, r)
	}
	sort.Slice(left, func(i, j int) bool { return left[i].expiry.Before(left[j].expiry) })
	for _, r := range left[:len(left)-keep] {
		delete(m.records, r.f.Marker)
	}
}

// Followed implements FollowStore.
func (m *MemoryFollows) Followed(_ context.Context, marker string) (Follow, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[marker]
	if !ok || !m.now().Before(r.expiry) {
		return Follow{}, false, nil
	}
	return clone(r.f), true, nil
}

// Following implements FollowStore.
func (m *MemoryFollows) Following(context.Context) ([]Follow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Follow
	now := m.now()
	for _, r := range m.records {
		if !r.f.Done() && now.Before(r.expiry) {
			out = append(out, clone(r.f))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Marker < out[j].Marker })
	return out, nil
}

// Update implements FollowStore.
func (m *MemoryFollows) Update(_ context.Context, f Follow, expiry time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[f.Marker] = &memoryFollow{f: clone(f), expiry: expiry}
	return nil
}

// clone copies f so that a caller's changes do not reach the store.
func clone(f Follow) Follow {
	f.Checkpoints = slices.Clone(f.Checkpoints)
	if f.Completion != nil {
		c := *f.Completion
		c.Resources = slices.Clone(c.Resources)
		f.Completion = &c
	}
	if f.Review != nil {
		r := *f.Review
		f.Review = &r
	}
	return f
}
