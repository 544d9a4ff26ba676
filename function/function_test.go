package function_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/otc"
)

var fixedNow = time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)

// env is a function wired to an emulator over loopback HTTP.
type env struct {
	srv    *cbrtest.Server
	client *cbr.Client
	fn     *function.Function
}

func newEnv(t *testing.T, cfg function.Config, opts cbrtest.Options, fnOpts ...function.Option) *env {
	t.Helper()
	srv := cbrtest.NewServer(opts)
	t.Cleanup(srv.Close)
	return newEnvOn(t, srv, cfg, fnOpts...)
}

// newEnvOn is newEnv on an emulator already running: another instance.
func newEnvOn(t *testing.T, srv *cbrtest.Server, cfg function.Config, fnOpts ...function.Option) *env {
	t.Helper()
	client, err := cbr.New(srv.URL, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)},
		cbr.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	fnOpts = append([]function.Option{function.WithClock(func() time.Time { return fixedNow })}, fnOpts...)
	return &env{srv: srv, client: client, fn: function.New(cfg, client, fnOpts...)}
}

func tagged(id string, tags map[string]string) events.Trigger {
	return events.Trigger{
		Ref:          events.Ref{ID: id, Source: "test", Type: events.TypeServerTagged},
		Kind:         events.KindServerTagged,
		ServerTagged: &events.ServerTagged{ServerID: cbrtest.ExampleServerID, ServerName: cbrtest.ExampleServerName, Tags: tags},
	}
}

func deploy(id string, d events.DeployPre) events.Trigger {
	return events.Trigger{
		Ref:       events.Ref{ID: id, Source: "ci", Type: events.TypeDeployPre},
		Kind:      events.KindDeployPre,
		DeployPre: &d,
	}
}

func mustHandle(t *testing.T, fn *function.Function, tr events.Trigger) events.Result {
	t.Helper()
	res, err := fn.Handle(context.Background(), tr, nil)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return res
}

func checkpoints(t *testing.T, c *events.Created) []cbr.CheckpointCreate {
	t.Helper()
	out := make([]cbr.CheckpointCreate, len(c.Checkpoints))
	for i, raw := range c.Checkpoints {
		if err := json.Unmarshal(raw.JSON, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestHandleServerTaggedCreatesCheckpoint(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	res := mustHandle(t, e.fn, tagged("1", map[string]string{"backup": "daily", "backup-vault": cbrtest.ExampleVaultID}))
	if res.Type != events.TypeCheckpointCreated || res.Created == nil {
		t.Fatalf("result = %+v, want created", res)
	}
	if res.Subject != cbrtest.ExampleVaultID || res.Created.VaultID != cbrtest.ExampleVaultID {
		t.Errorf("vault = %q/%q", res.Subject, res.Created.VaultID)
	}
	cps := checkpoints(t, res.Created)
	if len(cps) != 1 || cps[0].Status != cbr.StatusProtecting || len(cps[0].Vault.Resources) != 1 ||
		cps[0].Vault.Resources[0].ID != cbrtest.ExampleServerID {
		t.Fatalf("checkpoints = %+v", cps)
	}
	// No event time: the name is the same on every delivery, ending in the
	// digest of the trigger's source and id.
	if got := cps[0].ExtraInfo.Name; got != "tagged-ecs-1f0f-0002-9fc5e62eb1" {
		t.Errorf("name = %q", got)
	}
	reqs := e.srv.Requests()
	var body cbr.CreateCheckpointRequest
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	p := body.Checkpoint.Parameters
	if p.Incremental == nil || !*p.Incremental || p.AutoTrigger != nil {
		t.Errorf("incremental/auto_trigger = %v/%v, want explicit true / absent", p.Incremental, p.AutoTrigger)
	}
	if len(p.ResourceDetails) != 1 || p.ResourceDetails[0].Type != otc.TypeServer || len(p.Resources) != 0 {
		t.Errorf("resources = %+v / %+v", p.Resources, p.ResourceDetails)
	}
	if res.ID == "" {
		t.Error("result has no id")
	}
}

func TestVaultRulesInOrder(t *testing.T) {
	const (
		eventVault = "11111111-1111-4111-8111-111111111111"
		tagVault   = "22222222-2222-4222-8222-222222222222"
		routeVault = "33333333-3333-4333-8333-333333333333"
		defVault   = "44444444-4444-4444-8444-444444444444"
	)
	cfg := function.Config{VaultRoutes: map[string]string{"daily": routeVault}, DefaultVaultID: defVault}
	fn := function.New(cfg, nil)
	tests := []struct {
		name    string
		eventV  string
		tags    map[string]string
		cfg     *function.Config
		want    string
		wantErr string
	}{
		{"event vault wins", eventVault, map[string]string{"backup": "daily", "backup-vault": tagVault}, nil, eventVault, ""},
		{"vault tag next", "", map[string]string{"backup": "daily", "backup-vault": tagVault}, nil, tagVault, ""},
		{"vault tag alone asks for backup", "", map[string]string{"backup-vault": tagVault}, nil, tagVault, ""},
		{"route next", "", map[string]string{"backup": "daily"}, nil, routeVault, ""},
		{"default last", "", map[string]string{"backup": "weekly"}, nil, defVault, ""},
		{"no vault", "", map[string]string{"backup": "weekly"}, &function.Config{}, "", "vault_id: no vault for server"},
		{"allowed list refuses", "", map[string]string{"backup": "daily"},
			&function.Config{VaultRoutes: cfg.VaultRoutes, AllowedVaults: []string{defVault}}, "", "CBR_VAULT_ROUTES: vault " + routeVault + " is not in CBR_ALLOWED_VAULTS"},
		{"custom tags", "", map[string]string{"bk": "yes", "bk-vault": tagVault},
			&function.Config{BackupTag: "bk", VaultTag: "bk-vault"}, tagVault, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fn
			if tc.cfg != nil {
				f = function.New(*tc.cfg, nil)
			}
			tr := tagged("x", tc.tags)
			tr.ServerTagged.VaultID = tc.eventV
			plan, err := f.Plan(tr)
			if tc.wantErr != "" {
				var inv *failure.FieldError
				if !errors.As(err, &inv) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a *failure.FieldError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.VaultID != tc.want || len(plan.Requests) != 1 || plan.Requests[0].VaultID != tc.want {
				t.Fatalf("plan vault = %q, want %q", plan.VaultID, tc.want)
			}
		})
	}
}

func TestIgnoreRules(t *testing.T) {
	fn := function.New(function.Config{DefaultVaultID: cbrtest.ExampleVaultID}, nil)
	tests := []struct {
		tags       map[string]string
		wantIgnore string
	}{
		{map[string]string{"env": "prod"}, `has neither tag "backup" nor tag "backup-vault"`},
		{map[string]string{}, "has neither"},
		{map[string]string{"backup": "false"}, "backup=false, which disables backups"},
		{map[string]string{"backup": "No"}, "disables"},
		{map[string]string{"backup": "OFF"}, "disables"},
		{map[string]string{"backup": "none"}, "disables"},
		{map[string]string{"backup": " Disabled "}, "disables"},
		{map[string]string{"backup": "daily"}, ""},
		{map[string]string{"backup": ""}, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.tags), func(t *testing.T) {
			plan, err := fn.Plan(tagged("x", tc.tags))
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantIgnore == "" {
				if plan.IgnoreReason != "" || len(plan.Requests) != 1 {
					t.Fatalf("plan = %+v, want one request", plan)
				}
				return
			}
			if !strings.Contains(plan.IgnoreReason, tc.wantIgnore) || len(plan.Requests) != 0 {
				t.Fatalf("ignore reason = %q, want %q", plan.IgnoreReason, tc.wantIgnore)
			}
		})
	}
	// An ignored trigger makes an ignored result and no API call.
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	res := mustHandle(t, e.fn, tagged("ign", map[string]string{"backup": "off"}))
	if res.Type != events.TypeTriggerIgnored || res.Ignored == nil || res.Ignored.Trigger.ID != "ign" {
		t.Fatalf("result = %+v", res)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Fatalf("emulator saw %d requests", n)
	}
	// So does a trigger the decoder marked as ignored.
	res = mustHandle(t, e.fn, events.Trigger{Ref: events.Ref{ID: "cts"}, Kind: events.KindIgnored, IgnoreReason: "tag deleted"})
	if res.Ignored == nil || res.Ignored.Reason != "tag deleted" {
		t.Fatalf("result = %+v", res)
	}
}

func TestNamesAndDescriptions(t *testing.T) {
	fn := function.New(function.Config{DefaultVaultID: cbrtest.ExampleVaultID}, nil, function.WithClock(func() time.Time { return fixedNow }))
	long := strings.Repeat("abcdefghij", 10)
	tests := []struct {
		name     string
		d        events.DeployPre
		wantName string
		wantDesc string
	}{
		{"example", events.DeployPre{Service: "shop", Version: "1.4.2", Environment: "production"},
			"pre-deploy-shop-1-4-2-" + tagX, "Before deploying shop 1.4.2 to production, by io.restorepoint.deploy.pre event x from ci " + markerX},
		{"unicode and punctuation", events.DeployPre{Service: "Bäckerei <Ü> shop!", Version: "v2"},
			"pre-deploy-B-ckerei-shop-v2-" + tagX, "Before deploying Bäckerei Ü shop! v2, by io.restorepoint.deploy.pre event x from ci " + markerX},
		{"long subject shortened, leaving room for a part suffix", events.DeployPre{Service: long},
			"pre-deploy-" + long[:64-len("-p9999")-len("pre-deploy-")-len("-"+tagX)] + "-" + tagX, ""},
		{"event name kept, its description marked", events.DeployPre{Service: "shop", Name: "my_backup-1", Description: "before the big release"},
			"my_backup-1", "before the big release " + markerX},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := fn.Plan(deploy("x", tc.d))
			if err != nil {
				t.Fatal(err)
			}
			p := plan.Requests[0].Parameters
			if p.Name != tc.wantName {
				t.Errorf("name = %q, want %q", p.Name, tc.wantName)
			}
			if len(p.Name) > otc.MaxNameLen {
				t.Errorf("name has %d characters", len(p.Name))
			}
			if tc.wantDesc != "" && p.Description != tc.wantDesc {
				t.Errorf("description = %q, want %q", p.Description, tc.wantDesc)
			}
		})
	}
	// A generated description is cut to 255 characters and loses < and >.
	plan, err := fn.Plan(deploy(strings.Repeat("<é>", 200), events.DeployPre{Service: "shop"}))
	if err != nil {
		t.Fatal(err)
	}
	desc := plan.Requests[0].Parameters.Description
	if n := len([]rune(desc)); n != otc.MaxDescription || strings.ContainsAny(desc, "<>") {
		t.Errorf("description has %d characters (want %d) or angle brackets: %q", n, otc.MaxDescription, desc)
	}
	// An event's own name that the API would refuse is invalid, naming the field.
	_, err = fn.Plan(deploy("x", events.DeployPre{Service: "shop", Name: "no spaces allowed"}))
	if err == nil || !strings.Contains(err.Error(), "checkpoint.parameters.name") {
		t.Fatalf("err = %v, want a name validation error", err)
	}
	// An event's own description is shortened to leave room for the marker.
	plan, err = fn.Plan(deploy("x", events.DeployPre{Service: "shop", Description: strings.Repeat("d", 300)}))
	if err != nil {
		t.Fatal(err)
	}
	if desc := plan.Requests[0].Parameters.Description; len(desc) != otc.MaxDescription || !strings.HasSuffix(desc, " "+markerX) {
		t.Errorf("description %q: want %d characters ending in the marker", desc, otc.MaxDescription)
	}
	// With an event time, the name carries it too.
	tr := deploy("x", events.DeployPre{Service: "shop"})
	tr.Time = fixedNow
	if plan, err = fn.Plan(tr); err != nil || plan.Requests[0].Parameters.Name != "pre-deploy-shop-20261127T101500Z-"+tagX {
		t.Errorf("Plan with a time: %+v, %v", plan.Requests, err)
	}
}

// tagX and markerX are the name tag and description marker of the trigger
// deploy("x", …) (no sender, source "ci", id "x"): the SHA-256 of its key
// "0:2:cix" begins 138be88fb7902b8d16c89c5f.
const (
	tagX    = "138be88fb7"
	markerX = "[rp:138be88fb7902b8d16c89c5f]"
)

func TestDeployResourcesSplitAndDeduplicated(t *testing.T) {
	fixture := cbrtest.Fixture{Vaults: []cbrtest.FixtureVault{{ID: cbrtest.ExampleVaultID, Name: "big", RetentionDuration: -1}}}
	var refs []events.ResourceRef
	for i := range 600 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		fixture.Vaults[0].Resources = append(fixture.Vaults[0].Resources, cbrtest.FixtureResource{ID: id, Name: fmt.Sprint("vol-", i), Type: otc.TypeVolume, SizeGB: 10})
		if i%2 == 0 {
			refs = append(refs, events.ResourceRef{ID: id, Bare: true})
		} else {
			refs = append(refs, events.ResourceRef{ID: id, Type: otc.TypeVolume, Name: fmt.Sprint("vol-", i)})
		}
	}
	refs = append(refs, refs[:50]...) // duplicates are dropped
	e := newEnv(t, function.Config{}, cbrtest.Options{Fixture: &fixture})
	res := mustHandle(t, e.fn, deploy("big", events.DeployPre{Service: "shop", VaultID: cbrtest.ExampleVaultID, Resources: refs, Incremental: cbr.Bool(false)}))
	if res.Created == nil {
		t.Fatalf("result = %+v", res.Failed)
	}
	if got := e.srv.CountCreates(); got != 3 {
		t.Fatalf("creates = %d, want 3", got)
	}
	if len(res.Created.Checkpoints) != 3 || len(res.Created.Resources) != 600 {
		t.Fatalf("checkpoints = %d, resources = %d", len(res.Created.Checkpoints), len(res.Created.Resources))
	}
	backedUp := 0
	for _, cp := range checkpoints(t, res.Created) {
		backedUp += len(cp.Vault.Resources)
	}
	if backedUp != 600 || len(res.Created.SkippedResources) != 0 {
		t.Fatalf("backed up %d, skipped %d", backedUp, len(res.Created.SkippedResources))
	}
	for i, r := range createRequests(e.srv) {
		var body cbr.CreateCheckpointRequest
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		p := body.Checkpoint.Parameters
		if n := len(p.Resources) + len(p.ResourceDetails); n > otc.MaxResources {
			t.Errorf("request %d carries %d resources", i, n)
		}
		if p.Incremental == nil || *p.Incremental {
			t.Errorf("request %d: incremental = %v, want explicit false", i, p.Incremental)
		}
		if want := fmt.Sprintf("-p%d", i+1); !strings.HasSuffix(p.Name, want) {
			t.Errorf("request %d name %q lacks %q", i, p.Name, want)
		}
	}
}

func TestSkippedResourcesReported(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	const stranger = "99999999-9999-4999-8999-999999999999"
	res := mustHandle(t, e.fn, deploy("skip", events.DeployPre{Service: "shop", VaultID: cbrtest.ExampleVaultID, Resources: []events.ResourceRef{
		{ID: cbrtest.DemoDataVolumeID, Type: otc.TypeVolume, Name: cbrtest.DemoDataVolumeName},
		{ID: stranger, Bare: true},
	}}))
	if res.Created == nil {
		t.Fatalf("result = %+v", res.Failed)
	}
	sk := res.Created.SkippedResources
	if len(sk) != 1 || sk[0].ID != stranger || sk[0].Code != "BackupService.6135" || sk[0].Reason == "" {
		t.Fatalf("skipped = %+v", sk)
	}
}

func TestDuplicateDeliveryCallsAPIOnce(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	tr := tagged("dup", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	var sent []events.Result
	first, err := e.fn.Handle(context.Background(), tr, func(ctx context.Context, r events.Result) error {
		// Until the first result is delivered, a duplicate waits.
		if _, err := e.fn.Handle(ctx, tr, nil); !errors.Is(err, function.ErrInProgress) {
			t.Errorf("duplicate during delivery: %v, want ErrInProgress", err)
		}
		sent = append(sent, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.fn.Handle(context.Background(), tr, func(context.Context, events.Result) error {
		t.Error("a delivered result was delivered again")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.srv.CountCreates() != 1 || len(sent) != 1 || sent[0].ID != first.ID {
		t.Fatalf("creates = %d, sent %d results, want 1 and 1", e.srv.CountCreates(), len(sent))
	}
	if first.Created.Duplicate || !second.Created.Duplicate {
		t.Fatalf("duplicate flags = %v, %v", first.Created.Duplicate, second.Created.Duplicate)
	}
	if first.ID != second.ID || string(first.Created.Checkpoints[0].JSON) != string(second.Created.Checkpoints[0].JSON) ||
		fmt.Sprint(second.Created.CheckpointIDs()) != fmt.Sprint(first.Created.CheckpointIDs()) || len(first.Created.CheckpointIDs()) != 1 {
		t.Fatal("duplicate result differs from the first")
	}
	// Another source with the same id is another trigger.
	other := tr
	other.Ref.Source = "elsewhere"
	mustHandle(t, e.fn, other)
	if e.srv.CountCreates() != 2 {
		t.Fatalf("creates = %d, want 2", e.srv.CountCreates())
	}
}

// A created result the sink could not take is delivered by the next
// duplicate, as first made (not marked as a duplicate), and then never again.
func TestUndeliveredResultIsDeliveredByTheNextDuplicate(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	tr := tagged("undelivered", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	sinkDown := errors.New("sink down")
	first, err := e.fn.Handle(context.Background(), tr, func(context.Context, events.Result) error { return sinkDown })
	if !errors.Is(err, sinkDown) || first.Created == nil {
		t.Fatalf("first: %+v, %v; want the created result and the sink's error", first, err)
	}
	var sent []events.Result
	deliver := func(_ context.Context, r events.Result) error { sent = append(sent, r); return nil }
	second, err := e.fn.Handle(context.Background(), tr, deliver)
	if err != nil || second.Created == nil || !second.Created.Duplicate {
		t.Fatalf("second: %+v, %v", second, err)
	}
	third, err := e.fn.Handle(context.Background(), tr, deliver)
	if err != nil || third.Created == nil || !third.Created.Duplicate {
		t.Fatalf("third: %+v, %v", third, err)
	}
	if len(sent) != 1 || sent[0].Created.Duplicate || sent[0].ID != first.ID || e.srv.CountCreates() != 1 {
		t.Fatalf("sent %+v, creates %d; want the first result once", sent, e.srv.CountCreates())
	}
}

// Results without a record (failed, ignored, planned) are delivered every time.
func TestEveryResultIsDelivered(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	var types []string
	deliver := func(_ context.Context, r events.Result) error { types = append(types, r.Type); return nil }
	for _, tr := range []events.Trigger{
		tagged("ignored", map[string]string{"backup": "off"}),
		deploy("invalid", events.DeployPre{Service: "shop"}),
		tagged("created", map[string]string{"backup-vault": cbrtest.ExampleVaultID}),
	} {
		if _, err := e.fn.Handle(context.Background(), tr, deliver); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{events.TypeTriggerIgnored, events.TypeCheckpointFailed, events.TypeCheckpointCreated}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", types, want)
	}
}

func TestConcurrentDuplicatesMakeOneCheckpoint(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	e.srv.SetLatency(50 * time.Millisecond)
	tr := tagged("storm", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	var (
		wg                             sync.WaitGroup
		mu                             sync.Mutex
		created, inProgress, duplicate int
	)
	for range 50 {
		wg.Go(func() {
			res, err := e.fn.Handle(context.Background(), tr, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, function.ErrInProgress):
				inProgress++
			case err != nil:
				t.Error(err)
			case res.Created != nil && res.Created.Duplicate:
				duplicate++
			case res.Created != nil:
				created++
			default:
				t.Errorf("unexpected result %+v", res)
			}
		})
	}
	wg.Wait()
	if e.srv.CountCreates() != 1 || created != 1 || inProgress+duplicate != 49 {
		t.Fatalf("creates=%d created=%d in-progress=%d duplicate=%d", e.srv.CountCreates(), created, inProgress, duplicate)
	}
}

func TestFailureLeavesNoRecord(t *testing.T) {
	store := function.NewMemoryStore(nil)
	e := newEnv(t, function.Config{}, cbrtest.Options{}, function.WithStore(store))
	e.srv.Inject(cbrtest.Fault{Method: http.MethodPost, Status: http.StatusNotFound, Code: "BackupService.6105", Message: "Vault does not exist."})
	tr := tagged("fail", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	res := mustHandle(t, e.fn, tr)
	if res.Failed == nil {
		t.Fatalf("result = %+v, want failed", res)
	}
	f := res.Failed.Error
	if f.Class != failure.Rejected || f.Status != 404 || f.Code != "BackupService.6105" || f.Retryable {
		t.Fatalf("failure = %+v", f)
	}
	if store.Len() != 0 {
		t.Fatalf("store holds %d records after a failure", store.Len())
	}
	res = mustHandle(t, e.fn, tr)
	if res.Created == nil || res.Created.Duplicate || e.srv.CountCreates() != 1 {
		t.Fatalf("retry: result = %+v, creates = %d", res, e.srv.CountCreates())
	}
}

func TestFailureClasses(t *testing.T) {
	tests := []struct {
		fault     cbrtest.Fault
		class     failure.Class
		retryable bool
	}{
		{cbrtest.Fault{Status: 400, Code: "BackupService.6125", Message: "A backup task is in progress."}, failure.Rejected, false},
		{cbrtest.Fault{Status: 429, RetryAfter: "1", Times: 10}, failure.Throttled, true},
		{cbrtest.Fault{Status: 500, Code: "BackupService.0002", Message: "Resources are being backed up. Try again later.", Times: 10}, failure.Unavailable, true},
		{cbrtest.Fault{Status: 503, Times: 10}, failure.Unavailable, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.class)+tc.fault.Code, func(t *testing.T) {
			e := newEnv(t, function.Config{}, cbrtest.Options{})
			tc.fault.Method = http.MethodPost
			e.srv.Inject(tc.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res, err := e.fn.Handle(ctx, tagged("c", map[string]string{"backup-vault": cbrtest.ExampleVaultID}), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed == nil || res.Failed.Error.Class != tc.class || res.Failed.Error.Retryable != tc.retryable ||
				res.Failed.Error.Status != tc.fault.Status {
				t.Fatalf("result = %+v", res.Failed)
			}
		})
	}
}

func TestDryRunCallsNoAPI(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	tr := tagged("dry", map[string]string{"backup-vault": cbrtest.ExampleVaultID})
	tr.DryRun = true
	res := mustHandle(t, e.fn, tr)
	if res.Created == nil || !res.Created.DryRun || len(res.Created.Requests) != 1 || len(res.Created.Checkpoints) != 0 {
		t.Fatalf("result = %+v", res.Created)
	}
	var body cbr.CreateCheckpointRequest
	if err := json.Unmarshal(res.Created.Requests[0], &body); err != nil || body.Checkpoint.VaultID != cbrtest.ExampleVaultID {
		t.Fatalf("planned request = %s (%v)", res.Created.Requests[0], err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Fatalf("emulator saw %d requests", n)
	}
	// DRY_RUN in the configuration does the same.
	e2 := newEnv(t, function.Config{DryRun: true}, cbrtest.Options{})
	res = mustHandle(t, e2.fn, tagged("dry2", map[string]string{"backup-vault": cbrtest.ExampleVaultID}))
	if res.Created == nil || !res.Created.DryRun || len(e2.srv.Requests()) != 0 {
		t.Fatalf("config dry run: %+v, %d requests", res.Created, len(e2.srv.Requests()))
	}
}

// Waiting polls with a delay that doubles up to PollMax. The sleep is
// injected: it moves the emulator's clock instead of waiting.
func TestWaitUntilAvailable(t *testing.T) {
	clk := &clock{now: fixedNow}
	var slept []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		clk.Advance(d)
		return nil
	}
	e := newEnv(t, function.Config{PollInterval: time.Second, PollMax: 4 * time.Second},
		cbrtest.Options{AvailableAfter: 10 * time.Second, Now: clk.Now}, function.WithSleep(sleep))
	d := events.DeployPre{Service: "shop", VaultID: cbrtest.ExampleVaultID, Wait: true,
		Resources: []events.ResourceRef{{ID: cbrtest.DemoDataVolumeID, Bare: true}}}
	res, err := e.fn.Handle(context.Background(), deploy("wait", d), nil)
	if err != nil || res.Created == nil {
		t.Fatalf("result = %+v, %v", res, err)
	}
	cps := checkpoints(t, res.Created)
	if cps[0].Status != cbr.StatusAvailable || res.Created.Checkpoints[0].Status != cbr.StatusAvailable {
		t.Fatalf("status = %q, want available", cps[0].Status)
	}
	// 1+2+4+4 = 11 s: available after 10.
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}; fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
	gets := 0
	for _, r := range e.srv.Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/checkpoints/") {
			gets++
		}
	}
	if gets != len(slept) {
		t.Fatalf("%d GET polls, want one after each sleep (%d)", gets, len(slept))
	}
}

func TestWaitBoundedByDeadline(t *testing.T) {
	e := newEnv(t, function.Config{PollInterval: 5 * time.Millisecond, WaitForAvailable: true}, cbrtest.Options{AvailableAfter: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := e.fn.Handle(ctx, tagged("slow", map[string]string{"backup-vault": cbrtest.ExampleVaultID}), nil)
	if err != nil || res.Created == nil {
		t.Fatalf("result = %+v, %v", res, err)
	}
	if st := checkpoints(t, res.Created)[0].Status; st != cbr.StatusProtecting {
		t.Fatalf("status = %q, want protecting (deadline passed)", st)
	}
}

// Without a deadline (the HTTP front door), waiting ends with the lock
// (LockTTL), after which a duplicate would run again.
func TestWaitBoundedByLockWithoutDeadline(t *testing.T) {
	e := newEnv(t, function.Config{PollInterval: 5 * time.Millisecond, WaitForAvailable: true, LockTTL: 150 * time.Millisecond},
		cbrtest.Options{AvailableAfter: time.Hour})
	done := make(chan events.Result, 1)
	go func() {
		res, _ := e.fn.Handle(context.Background(), tagged("stuck", map[string]string{"backup-vault": cbrtest.ExampleVaultID}), nil)
		done <- res
	}()
	select {
	case res := <-done:
		if res.Created == nil || checkpoints(t, res.Created)[0].Status != cbr.StatusProtecting {
			t.Fatalf("result = %+v, want created, still protecting", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Handle still waiting long after LockTTL")
	}
}

func TestCheckpointRequestedPassThrough(t *testing.T) {
	e := newEnv(t, function.Config{}, cbrtest.Options{})
	body := `{"parameters":{"auto_trigger":true,"description":"backup_description","incremental":true,"name":"backup_name","resources":["94eba8b2-acc9-4d82-badc-127144cc5526"]},"vault_id":"3b5816b5-f29c-4172-9d9a-76c719a659ce"}`
	tr := events.Trigger{Ref: events.Ref{ID: "req", Source: "ops"}, Kind: events.KindCheckpointRequested,
		CheckpointRequested: &events.CheckpointRequested{Body: json.RawMessage(body)}}
	res := mustHandle(t, e.fn, tr)
	if res.Created == nil {
		t.Fatalf("result = %+v", res.Failed)
	}
	sent := createRequests(e.srv)[0].Body
	var got, want any
	_ = json.Unmarshal(sent, &got)
	// As given, but for the key marker the description ends with.
	marked := strings.Replace(body, "backup_description", "backup_description "+function.KeyMarker(tr.Ref.Digest()), 1)
	_ = json.Unmarshal([]byte(`{"checkpoint":`+marked+`}`), &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %s\nwant %s", sent, body)
	}
	// Unknown fields and invalid values are refused before any call, naming the field.
	for _, bad := range []string{
		`{"vault_id":"v","parameters":{"nme":"x"}}`,
		`{"vault_id":"","parameters":{"name":"x"}}`,
		`{"vault_id":"v","parameters":{"resource_details":[{"id":"a","type":"OS::Nope"}]}}`,
	} {
		tr.CheckpointRequested.Body = json.RawMessage(bad)
		tr.Ref.ID = bad
		res := mustHandle(t, e.fn, tr)
		if res.Failed == nil || res.Failed.Error.Class != failure.Invalid || !strings.Contains(res.Failed.Error.Message, "checkpoint") {
			t.Errorf("%s: result = %+v", bad, res.Failed)
		}
	}
	if e.srv.CountCreates() != 1 {
		t.Fatalf("creates = %d", e.srv.CountCreates())
	}
}

const exampleVault = cbrtest.ExampleVaultID

// createRequests returns the create-checkpoint requests srv received.
func createRequests(srv *cbrtest.Server) []cbrtest.Request {
	var out []cbrtest.Request
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/checkpoints") {
			out = append(out, r)
		}
	}
	return out
}

// cbrtestOptions is an emulator whose checkpoints never block a new backup
// of the same resource.
func cbrtestOptions() cbrtest.Options { return cbrtest.Options{AvailableAfter: -1} }

func TestSplitTriggerResumesAfterAFailure(t *testing.T) {
	fixture := cbrtest.Fixture{Vaults: []cbrtest.FixtureVault{{ID: cbrtest.ExampleVaultID, Name: "big", RetentionDuration: -1}}}
	var refs []events.ResourceRef
	for i := range 600 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		fixture.Vaults[0].Resources = append(fixture.Vaults[0].Resources, cbrtest.FixtureResource{ID: id, Type: otc.TypeVolume, SizeGB: 1})
		refs = append(refs, events.ResourceRef{ID: id, Bare: true})
	}
	e := newEnv(t, function.Config{}, cbrtest.Options{Fixture: &fixture, AvailableAfter: -1})
	// The second create fails on every attempt the client makes.
	e.srv.Inject(cbrtest.Fault{Method: http.MethodPost, After: 1, Status: 503, Times: -1})
	tr := deploy("split", events.DeployPre{Service: "shop", VaultID: cbrtest.ExampleVaultID, Resources: refs})

	res := mustHandle(t, e.fn, tr)
	if res.Failed == nil || !res.Failed.Error.Retryable || !strings.Contains(res.Failed.Error.Message, "create checkpoint 2 of 3") {
		t.Fatalf("first attempt: %+v", res.Failed)
	}
	if n := e.srv.CountCreates(); n != 1 {
		t.Fatalf("creates after the first attempt = %d, want 1", n)
	}
	first := e.srv.Checkpoints()[0].ID

	// The retry makes only the two checkpoints left, and reports all three.
	e.srv.ClearFaults()
	res = mustHandle(t, e.fn, tr)
	if res.Created == nil || res.Created.Duplicate {
		t.Fatalf("retry: %+v", res)
	}
	if n := e.srv.CountCreates(); n != 3 {
		t.Fatalf("creates after the retry = %d, want 3 (nothing made twice)", n)
	}
	cps := checkpoints(t, res.Created)
	backedUp := 0
	for _, cp := range cps {
		backedUp += len(cp.Vault.Resources)
	}
	if len(cps) != 3 || cps[0].ID != first || backedUp != 600 || len(res.Created.CheckpointIDs()) != 3 {
		t.Fatalf("retry result: %d checkpoints (first %s, want %s), %d resources, ids %v", len(cps), cps[0].ID, first, backedUp, res.Created.CheckpointIDs())
	}
	// A later duplicate is answered from the record.
	if res := mustHandle(t, e.fn, tr); res.Created == nil || !res.Created.Duplicate || e.srv.CountCreates() != 3 {
		t.Fatalf("duplicate: %+v, creates %d", res, e.srv.CountCreates())
	}
}
