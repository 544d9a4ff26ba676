package cbr_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
)

func TestListBackups(t *testing.T) {
	body := `{"backups":[{"id":"b1","name":"n","description":"d","checkpoint_id":"c1","resource_id":"r1",` +
		`"resource_type":"OS::Nova::Server","vault_id":"v1","status":"protecting","created_at":"2020-02-05T10:38:34.209782",` +
		`"resource_size":40,"extra_info":null}],"count":7}`
	// A dropped connection is retried: listing changes nothing.
	c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{hijack: true}, {hijack: true}, {status: 200, body: body}})
	list, err := c.ListBackups(context.Background(), cbr.BackupQuery{VaultID: "v1", Name: "n a", Limit: 100, Offset: 200})
	if err != nil {
		t.Fatal(err)
	}
	if list.Count != 7 || len(list.Backups) != 1 || list.Backups[0].CheckpointID != "c1" || list.Backups[0].Gone() {
		t.Fatalf("list = %+v", list)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	r := reqs[2]
	if r.method != "GET" || r.path != "/prefix/v3/"+project+"/backups" || r.header.Get("X-Auth-Token") != secretToken {
		t.Errorf("request %s %s", r.method, r.path)
	}
	if q, want := r.rawQuery, (url.Values{"vault_id": {"v1"}, "name": {"n a"}, "limit": {"100"}, "offset": {"200"}}).Encode(); q != want {
		t.Errorf("query %q, want %q", q, want)
	}
}

func TestListBackupsErrors(t *testing.T) {
	c, f, _ := serve(t, iam.TokenAuthorizer{Source: iam.NewStatic(secretToken)}, []reply{{status: 200, body: `{"count":1}`}})
	for _, q := range []cbr.BackupQuery{{Limit: cbr.MaxBackupsLimit + 1}, {Limit: -1}, {Offset: -1}} {
		var fe *failure.FieldError
		if _, err := c.ListBackups(context.Background(), q); !errors.As(err, &fe) {
			t.Errorf("%+v: err = %v, want a field error", q, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests for bad queries", n)
	}
	if _, err := c.ListBackups(context.Background(), cbr.BackupQuery{}); !errors.Is(err, cbr.ErrMalformedResponse) {
		t.Errorf("no backups array: err = %v, want ErrMalformedResponse", err)
	}
}

func TestBackupGone(t *testing.T) {
	for status, gone := range map[string]bool{"error": true, "deleting": true, "deleted": true,
		"available": false, "protecting": false, "restoring": false, "": false} {
		if got := (cbr.Backup{Status: status}).Gone(); got != gone {
			t.Errorf("Gone(%q) = %v", status, got)
		}
	}
}
