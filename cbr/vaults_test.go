package cbr_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/otc"
)

// operations records the operation of every attempt the client reports.
type operations struct {
	mu  sync.Mutex
	ops []string
}

func (o *operations) observe(_ context.Context, a cbr.Attempt) {
	o.mu.Lock()
	o.ops = append(o.ops, a.Operation)
	o.mu.Unlock()
}

func (o *operations) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ops)
}

// TestEmulatorAssociate: a server outside every vault is associated with the
// empty server vault through addresources and then listed among its
// resources; associating it again is no error; a volume the server vault
// cannot hold and a full vault are refused with CBR's codes.
func TestEmulatorAssociate(t *testing.T) {
	ops := &operations{}
	c, srv, _ := newEmulatorClient(t, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)}, cbr.WithObserver(ops.observe))
	ctx := context.Background()

	v, err := c.GetVault(ctx, cbrtest.ServerVaultID)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != cbrtest.ServerVaultID || v.Name != cbrtest.ServerVaultName || len(v.Resources) != 0 ||
		v.Billing.ObjectType != cbr.VaultObjectServer || v.Billing.Allocated.String() != "200" || v.Billing.Used.String() != "0" {
		t.Fatalf("vault = %+v", v)
	}
	if holds, known := v.Holds(otc.TypeServer); !holds || !known {
		t.Errorf("Holds(server) = %v, %v", holds, known)
	}
	if holds, known := v.Holds(otc.TypeVolume); holds || !known {
		t.Errorf("Holds(volume) = %v, %v", holds, known)
	}
	server := cbr.Resource{ID: cbrtest.UnassociatedServerID, Type: otc.TypeServer, Name: cbrtest.UnassociatedServerName}
	for range 2 { // the second time it is already associated: no error
		ids, err := c.AddResources(ctx, cbrtest.ServerVaultID, []cbr.Resource{server})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{server.ID}) {
			t.Errorf("add_resource_ids = %v", ids)
		}
	}
	v, err = c.GetVault(ctx, cbrtest.ServerVaultID)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Has(server.ID) || len(v.Resources) != 1 || v.Resources[0].Type != otc.TypeServer || v.Resources[0].Name != cbrtest.UnassociatedServerName {
		t.Errorf("after addresources: resources %+v", v.Resources)
	}

	volume := cbr.Resource{ID: cbrtest.UnassociatedVolumeID, Type: otc.TypeVolume}
	_, err = c.AddResources(ctx, cbrtest.ServerVaultID, []cbr.Resource{volume})
	expectAPIError(t, err, http.StatusBadRequest, cbrtest.CodeVaultType)

	if err := srv.FillVault(cbrtest.ExampleVaultID); err != nil {
		t.Fatal(err)
	}
	_, err = c.AddResources(ctx, cbrtest.ExampleVaultID, []cbr.Resource{volume})
	expectAPIError(t, err, http.StatusBadRequest, cbrtest.CodeVaultFull)

	if untyped, err := c.GetVault(ctx, cbrtest.ExampleVaultID); err != nil {
		t.Fatal(err)
	} else if _, known := untyped.Holds(otc.TypeVolume); known || untyped.Billing.ObjectType != "" || !untyped.Has(cbrtest.ExampleServerID) {
		t.Errorf("untyped vault = %+v", untyped)
	}
	_, err = c.GetVault(ctx, "00000000-0000-4000-8000-000000000000")
	expectAPIError(t, err, http.StatusNotFound, cbrtest.CodeVaultNotFound)

	want := []string{"get_vault", "add_resources", "add_resources", "get_vault", "add_resources", "add_resources", "get_vault", "get_vault"}
	if got := ops.list(); !slices.Equal(got, want) {
		t.Errorf("operations %v, want %v", got, want)
	}
}

// TestEmulatorDeleteBackup: a backup is deleted (204) and gone from the
// list; deleting it again is ErrNotFound; a locked backup is refused with
// CBR's code and stays.
func TestEmulatorDeleteBackup(t *testing.T) {
	ops := &operations{}
	c, srv, _ := newEmulatorClient(t, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)}, cbr.WithObserver(ops.observe))
	ctx := context.Background()
	cps, err := srv.SeedCheckpoints(cbrtest.Seed{VaultID: cbrtest.ExampleVaultID,
		Resources: []string{cbrtest.ExampleServerID, cbrtest.DemoServerID}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.ListBackups(ctx, cbr.BackupQuery{CheckpointID: cps[0].ID})
	if err != nil || len(list.Backups) != 2 {
		t.Fatalf("backups %+v, %v", list, err)
	}
	gone, locked := list.Backups[0], list.Backups[1]
	if !srv.SetBackupLocked(locked.ID, true) {
		t.Fatal("no backup to lock")
	}

	if err := c.DeleteBackup(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	err = c.DeleteBackup(ctx, gone.ID)
	if !errors.Is(err, cbr.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	expectAPIError(t, err, http.StatusNotFound, cbrtest.CodeBackupNotFound)

	err = c.DeleteBackup(ctx, locked.ID)
	expectAPIError(t, err, http.StatusBadRequest, cbrtest.CodeBackupLocked)
	if errors.Is(err, cbr.ErrNotFound) || failure.ClassOf(err) != failure.Rejected {
		t.Errorf("locked: %v (class %s), want a rejected error that is not ErrNotFound", err, failure.ClassOf(err))
	}

	left := srv.Backups()
	if len(left) != 1 || left[0].ID != locked.ID {
		t.Errorf("backups left %+v, want only the locked one", left)
	}
	if got, want := ops.list(), []string{"list_backups", "delete_backup", "delete_backup", "delete_backup"}; !slices.Equal(got, want) {
		t.Errorf("operations %v, want %v", got, want)
	}
}

func expectAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr *cbr.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code != code || apiErr.Message == "" {
		t.Fatalf("err = %v, want %d %s with a message", err, status, code)
	}
}

// TestGetVaultWire: the request's path and headers, numbers sent as strings,
// a retry after a 503, and answers that are not a vault.
func TestGetVaultWire(t *testing.T) {
	body := `{"vault":{"id":"v/1","name":"n","resources":[{"id":"r1","type":"OS::Nova::Server","name":"web","protect_status":"available","extra_info":{}}],` +
		`"billing":{"allocated":"100","used":40,"status":"available","object_type":"server","size":100},"unknown":1}}`
	c, f, s := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{status: 503}, {status: 200, body: body}})
	v, err := c.GetVault(context.Background(), "v/1")
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "v/1" || !v.Has("r1") || v.Has("r2") || v.Resources[0].ProtectStatus != "available" ||
		v.Billing.Allocated.String() != "100" || v.Billing.Used.String() != "40" || v.Billing.Status != "available" {
		t.Errorf("vault = %+v", v)
	}
	reqs := f.requests()
	if len(reqs) != 2 || len(s.waits()) != 1 {
		t.Fatalf("%d requests, %d waits; want a retry after the 503", len(reqs), len(s.waits()))
	}
	if r := reqs[1]; r.method != http.MethodGet || r.rawPath != "/prefix/v3/"+project+"/vaults/v%2F1" || r.header.Get("X-Auth-Token") != secretToken {
		t.Errorf("request %s %s", r.method, r.rawPath)
	}

	for _, bad := range []string{`{"vault":{}}`, `{}`, `[]`, `{"vault":{"id":"v","billing":{"allocated":true}}}`} {
		c, _, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{status: 200, body: bad}})
		if _, err := c.GetVault(context.Background(), "v"); !errors.Is(err, cbr.ErrMalformedResponse) {
			t.Errorf("%s: err = %v, want ErrMalformedResponse", bad, err)
		}
	}
	var fe *failure.FieldError
	if _, err := c.GetVault(context.Background(), " "); !errors.As(err, &fe) || fe.Field != "vault_id" {
		t.Errorf("blank id: %v, want a field error for vault_id", err)
	}
}

// TestAddResourcesWire: the body CBR documents, a retry after a dropped
// connection (associating twice is harmless), the checks made before any
// request, and answers without add_resource_ids.
func TestAddResourcesWire(t *testing.T) {
	c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)},
		[]reply{{hijack: true}, {status: 200, body: `{"add_resource_ids":["s1","d1"]}`}})
	ids, err := c.AddResources(context.Background(), "vault-1", []cbr.Resource{
		{ID: "s1", Type: otc.TypeServer, Name: "web-2"}, {ID: "d1", Type: otc.TypeVolume}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"s1", "d1"}) {
		t.Errorf("ids %v", ids)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (one retry)", len(reqs))
	}
	r := reqs[1]
	if r.method != http.MethodPost || r.path != "/prefix/v3/"+project+"/vaults/vault-1/addresources" ||
		r.header.Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Errorf("request %s %s %q", r.method, r.path, r.header.Get("Content-Type"))
	}
	assertJSONEqual(t, r.body, []byte(`{"resources":[{"id":"s1","type":"OS::Nova::Server","name":"web-2"},{"id":"d1","type":"OS::Cinder::Volume"}]}`))

	for name, call := range map[string]struct {
		vault string
		rs    []cbr.Resource
	}{
		"no vault":     {"", []cbr.Resource{{ID: "s", Type: otc.TypeServer}}},
		"none":         {"v", nil},
		"too many":     {"v", make([]cbr.Resource, otc.MaxResources+1)},
		"no id":        {"v", []cbr.Resource{{Type: otc.TypeServer}}},
		"unknown type": {"v", []cbr.Resource{{ID: "s", Type: "OS::Ironic::BareMetalServer"}}},
		"bad name":     {"v", []cbr.Resource{{ID: "s", Type: otc.TypeServer, Name: "a<b>"}}},
	} {
		var fe failure.FieldErrors
		if _, err := c.AddResources(context.Background(), call.vault, call.rs); !errors.As(err, &fe) || failure.ClassOf(err) != failure.Invalid {
			t.Errorf("%s: err = %v, want invalid field errors", name, err)
		}
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests after refused calls, want still 2", n)
	}

	c, _, _ = serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{status: 200, body: `{"ids":[]}`}})
	if _, err := c.AddResources(context.Background(), "v", []cbr.Resource{{ID: "s", Type: otc.TypeServer}}); !errors.Is(err, cbr.ErrMalformedResponse) {
		t.Errorf("no add_resource_ids: err = %v, want ErrMalformedResponse", err)
	}
}

// TestDeleteBackupWire: 204 without a body, a retry after a 500, a 404 in
// the gateway's shape is ErrNotFound too, and a blank id sends nothing.
func TestDeleteBackupWire(t *testing.T) {
	c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{status: 500}, {status: 204}})
	if err := c.DeleteBackup(context.Background(), "b 1"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[1].method != http.MethodDelete || reqs[1].rawPath != "/prefix/v3/"+project+"/backups/b%201" {
		t.Fatalf("requests %+v", reqs)
	}

	c, _, _ = serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)},
		[]reply{{status: 404, body: `{"error":{"code":404,"message":"Not found","title":"Not Found"}}`}})
	if err := c.DeleteBackup(context.Background(), "b"); !errors.Is(err, cbr.ErrNotFound) {
		t.Errorf("404: err = %v, want ErrNotFound", err)
	}
	c, f, _ = serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)},
		[]reply{{status: 403, body: `{"error_code":"BackupService.8600","error_msg":"forbidden"}`}})
	err := c.DeleteBackup(context.Background(), "b")
	if errors.Is(err, cbr.ErrNotFound) || failure.ClassOf(err) != failure.Rejected || len(f.requests()) != 1 {
		t.Errorf("403: err = %v after %d requests, want one rejected error that is not ErrNotFound", err, len(f.requests()))
	}
	var fe *failure.FieldError
	if err := c.DeleteBackup(context.Background(), ""); !errors.As(err, &fe) || len(f.requests()) != 1 {
		t.Errorf("blank id: %v", err)
	}
}
