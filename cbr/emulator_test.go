package cbr_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
)

// Integration tests against the CBR emulator in cbr/cbrtest.

func newEmulatorClient(t *testing.T, auth iam.Authorizer, opts ...cbr.Option) (*cbr.Client, *cbrtest.Server, *sleeps) {
	t.Helper()
	srv := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	t.Cleanup(srv.Close)
	s := &sleeps{}
	all := append([]cbr.Option{cbr.WithHTTPClient(srv.Client()), cbr.WithSleep(s.sleep)}, opts...)
	c, err := cbr.New(srv.URL, cbrtest.DefaultProjectID, auth, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, s
}

func TestEmulatorCreateExample(t *testing.T) {
	c, srv, _ := newEmulatorClient(t, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
	ctx := context.Background()
	cp, err := c.CreateCheckpoint(ctx, exampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if cp.ID == "" || cp.Status != cbr.StatusProtecting || cp.ProjectID != cbrtest.DefaultProjectID ||
		cp.Vault.ID != cbrtest.ExampleVaultID || cp.Vault.Name != cbrtest.ExampleVaultName || cp.CreatedAt.IsZero() {
		t.Errorf("checkpoint = %+v", cp)
	}
	if len(cp.Vault.Resources) != 1 || cp.Vault.Resources[0].ID != cbrtest.ExampleServerID ||
		cp.Vault.Resources[0].ResourceSize.String() != "40" || len(cp.Vault.SkippedResources) != 0 {
		t.Errorf("vault = %+v", cp.Vault)
	}
	if cp.ExtraInfo == nil || cp.ExtraInfo.Name != "backup_name" || cp.ExtraInfo.Description != "backup_description" || cp.ExtraInfo.RetentionDuration != -1 {
		t.Errorf("extra_info = %+v", cp.ExtraInfo)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Token != cbrtest.DefaultToken || reqs[0].Header.Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Fatalf("requests = %+v", reqs)
	}
	assertJSONEqual(t, reqs[0].Body, readFixture(t, "example_request.json"))

	got, err := c.GetCheckpoint(ctx, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != cp.ID || got.Status != cbr.StatusAvailable {
		t.Errorf("GetCheckpoint = %s %s, want %s available", got.ID, got.Status, cp.ID)
	}
}

func TestEmulatorErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown vault", func(t *testing.T) {
		c, _, _ := newEmulatorClient(t, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
		_, err := c.CreateCheckpoint(ctx, cbr.VaultBackup{VaultID: "00000000-0000-4000-8000-000000000000"})
		var apiErr *cbr.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "BackupService.6105" || apiErr.RequestID == "" {
			t.Fatalf("err = %v, want 404 BackupService.6105 with request id", err)
		}
		if failure.ClassOf(err) != failure.Rejected {
			t.Errorf("class %q", failure.ClassOf(err))
		}
	})
	t.Run("unknown checkpoint", func(t *testing.T) {
		c, _, _ := newEmulatorClient(t, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
		_, err := c.GetCheckpoint(ctx, "nope")
		if failure.ClassOf(err) != failure.Rejected {
			t.Fatalf("err = %v, want rejected", err)
		}
	})
	t.Run("throttled then busy then created", func(t *testing.T) {
		c, srv, s := newEmulatorClient(t, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
		srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: 429, RetryAfter: "2"})
		srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", Status: 500, Code: "BackupService.0002"})
		if _, err := c.CreateCheckpoint(ctx, exampleRequest()); err != nil {
			t.Fatal(err)
		}
		if n := srv.CountCreates(); n != 1 {
			t.Errorf("creates = %d, want 1", n)
		}
		if w := s.waits(); len(w) != 2 || w[0] != 2*time.Second {
			t.Errorf("waits = %v, want [2s, backoff]", w)
		}
	})
	t.Run("reset mid-response: the answer is lost, the create not retried, the backups listed", func(t *testing.T) {
		c, srv, _ := newEmulatorClient(t, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
		srv.Inject(cbrtest.Fault{Method: http.MethodPost, Path: "/checkpoints", ResetMidResponse: true})
		req := exampleRequest()
		_, err := c.CreateCheckpoint(ctx, req)
		if !errors.Is(err, cbr.ErrAnswerLost) {
			t.Fatalf("err = %v, want ErrAnswerLost", err)
		}
		if n := srv.CountCreates(); n != 1 {
			t.Errorf("creates = %d, want 1 (a create whose answer is lost is not retried)", n)
		}
		list, err := c.ListBackups(ctx, cbr.BackupQuery{VaultID: req.VaultID, Name: req.Parameters.Name, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		cps := srv.Checkpoints()
		if list.Count != 1 || len(list.Backups) != 1 || len(cps) != 1 || list.Backups[0].CheckpointID != cps[0].ID ||
			list.Backups[0].Name != req.Parameters.Name || list.Backups[0].Description != req.Parameters.Description {
			t.Errorf("backups %+v, want the one of checkpoint %+v", list, cps)
		}
	})
	t.Run("revoked token is replaced", func(t *testing.T) {
		src := &swappable{token: cbrtest.DefaultToken}
		c, srv, _ := newEmulatorClient(t, iam.TokenAuthorizer{Source: src})
		srv.RevokeTokens()
		src.onInvalidate = func() string { srv.SetToken("fresh-token"); return "fresh-token" }
		if _, err := c.CreateCheckpoint(ctx, exampleRequest()); err != nil {
			t.Fatal(err)
		}
		if src.invalidated != 1 {
			t.Errorf("Invalidate called %d times, want 1", src.invalidated)
		}
	})
}

// swappable is a TokenSource whose Invalidate fetches a new token.
type swappable struct {
	mu           sync.Mutex
	token        string
	invalidated  int
	onInvalidate func() string
}

func (s *swappable) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, nil
}

func (s *swappable) Invalidate(string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated++
	s.token = s.onInvalidate()
}
