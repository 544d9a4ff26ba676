package app

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// Shutdown releases what the app holds besides telemetry: the IAM password
// token source is closed (no fetch or refresh after it) and the Redis
// store's connections are closed. Each shows in Ready: an app that was
// ready, or would be, is not after Shutdown.
func TestShutdownReleasesCredentialsAndStore(t *testing.T) {
	emu := cbrtest.NewServer(cbrtest.Options{})
	t.Cleanup(emu.Close)
	rds := redistest.MustStart(t)
	newApp := func(t *testing.T, extra env) *App {
		t.Helper()
		e := env{
			"CBR_ENDPOINT": emu.URL, "CBR_PROJECT_ID": cbrtest.DefaultProjectID,
			"IAM_ENDPOINT": emu.URL + "/v3", "IAM_USERNAME": cbrtest.DemoUser,
			"IAM_PASSWORD": cbrtest.DemoPassword, "IAM_DOMAIN_NAME": cbrtest.DemoDomain,
		}
		for k, v := range extra {
			e[k] = v
		}
		cfg, err := Load(e.get)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(cfg, NewLogger(cfg, io.Discard), "test")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ctx := context.Background()

	t.Run("password credentials", func(t *testing.T) {
		if err := newApp(t, nil).Ready(ctx); err != nil {
			t.Fatalf("an app not shut down: %v", err)
		}
		a := newApp(t, nil)
		if err := a.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		// No token was fetched before: Ready asks for one, and the closed
		// source refuses.
		if err := a.Ready(ctx); err == nil || !strings.Contains(err.Error(), "credentials: ") || !strings.Contains(err.Error(), "closed") {
			t.Errorf("after Shutdown: Ready = %v, want the credentials closed", err)
		}
	})
	t.Run("Redis store", func(t *testing.T) {
		a := newApp(t, env{"IDEMPOTENCY_STORE": rds.URL})
		if err := a.Ready(ctx); err != nil {
			t.Fatalf("before Shutdown: %v", err)
		}
		if err := a.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if err := a.Ready(ctx); err == nil || !strings.Contains(err.Error(), "idempotency store: ") {
			t.Errorf("after Shutdown: Ready = %v, want the idempotency store unreachable", err)
		}
	})
}
