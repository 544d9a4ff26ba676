package cbr_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/otc"
)

func details(n int) []cbr.Resource {
	rs := make([]cbr.Resource, n)
	for i := range rs {
		rs[i] = cbr.Resource{ID: "r", Type: otc.TypeVolume}
	}
	return rs
}

func TestValidate(t *testing.T) {
	const p = "checkpoint.parameters"
	withParams := func(cp cbr.CheckpointParam) cbr.VaultBackup {
		return cbr.VaultBackup{VaultID: "v", Parameters: &cp}
	}
	tests := []struct {
		name string
		req  cbr.VaultBackup
		want failure.FieldErrors // nil: valid
	}{
		{"minimal", cbr.VaultBackup{VaultID: "v"}, nil},
		{"empty parameters", withParams(cbr.CheckpointParam{}), nil},
		{"vault_id missing", cbr.VaultBackup{}, failure.FieldErrors{{Field: "checkpoint.vault_id", Rule: "required"}}},
		{"vault_id blank", cbr.VaultBackup{VaultID: " \t"}, failure.FieldErrors{{Field: "checkpoint.vault_id", Rule: "required"}}},
		{"name 1 char", withParams(cbr.CheckpointParam{Name: "a"}), nil},
		{"name 64 chars", withParams(cbr.CheckpointParam{Name: strings.Repeat("a", 64)}), nil},
		{"name all allowed characters", withParams(cbr.CheckpointParam{Name: "AZaz09_-"}), nil},
		{"name 65 chars", withParams(cbr.CheckpointParam{Name: strings.Repeat("a", 65)}),
			failure.FieldErrors{{Field: p + ".name", Rule: "only letters, digits, _ and - allowed, 1-64 characters"}}},
		{"name with space", withParams(cbr.CheckpointParam{Name: "my backup"}),
			failure.FieldErrors{{Field: p + ".name", Rule: "only letters, digits, _ and - allowed, 1-64 characters"}}},
		{"name with dot", withParams(cbr.CheckpointParam{Name: "a.b"}),
			failure.FieldErrors{{Field: p + ".name", Rule: "only letters, digits, _ and - allowed, 1-64 characters"}}},
		{"name non-ASCII letter", withParams(cbr.CheckpointParam{Name: "größe"}),
			failure.FieldErrors{{Field: p + ".name", Rule: "only letters, digits, _ and - allowed, 1-64 characters"}}},
		{"name trailing newline", withParams(cbr.CheckpointParam{Name: "abc\n"}),
			failure.FieldErrors{{Field: p + ".name", Rule: "only letters, digits, _ and - allowed, 1-64 characters"}}},
		{"description 255 runes", withParams(cbr.CheckpointParam{Description: strings.Repeat("ä", 255)}), nil},
		{"description 256 chars", withParams(cbr.CheckpointParam{Description: strings.Repeat("a", 256)}),
			failure.FieldErrors{{Field: p + ".description", Rule: "at most 255 characters"}}},
		{"resource_details 256", withParams(cbr.CheckpointParam{ResourceDetails: details(256)}), nil},
		{"resource_details 257", withParams(cbr.CheckpointParam{ResourceDetails: details(257)}),
			failure.FieldErrors{{Field: p + ".resource_details", Rule: "at most 256 entries"}}},
		{"resource all types", withParams(cbr.CheckpointParam{ResourceDetails: []cbr.Resource{
			{ID: "a", Type: otc.TypeServer, Name: strings.Repeat("n", 255)},
			{ID: "b", Type: otc.TypeVolume, ExtraInfo: &cbr.ResourceExtraInfo{ExcludeVolumes: []string{"d"}}},
			{ID: "c", Type: otc.TypeSFSTurbo},
		}}), nil},
		{"resource without id", withParams(cbr.CheckpointParam{ResourceDetails: []cbr.Resource{{Type: otc.TypeServer}}}),
			failure.FieldErrors{{Field: p + ".resource_details[0].id", Rule: "required"}}},
		{"resource bad type", withParams(cbr.CheckpointParam{ResourceDetails: []cbr.Resource{{ID: "a", Type: otc.TypeServer}, {ID: "b", Type: "OS::Ironic::BareMetalServer"}}}),
			failure.FieldErrors{{Field: p + ".resource_details[1].type", Rule: "must be one of OS::Nova::Server, OS::Cinder::Volume, OS::Sfs::Turbo"}}},
		{"resource name 256", withParams(cbr.CheckpointParam{ResourceDetails: []cbr.Resource{{ID: "a", Type: otc.TypeServer, Name: strings.Repeat("n", 256)}}}),
			failure.FieldErrors{{Field: p + ".resource_details[0].name", Rule: "at most 255 characters"}}},
		{"resources empty entry", withParams(cbr.CheckpointParam{Resources: []string{"a", ""}}),
			failure.FieldErrors{{Field: p + ".resources[1]", Rule: "must not be empty"}}},
		{"many problems at once", cbr.VaultBackup{Parameters: &cbr.CheckpointParam{
			Name:            "bad name",
			Description:     strings.Repeat("d", 300),
			Resources:       []string{" "},
			ResourceDetails: []cbr.Resource{{}, {ID: "x", Type: "OS::Nova::Server"}, {ID: "y", Type: "nova", Name: strings.Repeat("n", 300)}},
		}}, failure.FieldErrors{
			{Field: "checkpoint.vault_id", Rule: "required"},
			{Field: p + ".name", Rule: "only letters, digits, _ and - allowed, 1-64 characters"},
			{Field: p + ".description", Rule: "at most 255 characters"},
			{Field: p + ".resources[0]", Rule: "must not be empty"},
			{Field: p + ".resource_details[0].id", Rule: "required"},
			{Field: p + ".resource_details[0].type", Rule: "must be one of OS::Nova::Server, OS::Cinder::Volume, OS::Sfs::Turbo"},
			{Field: p + ".resource_details[2].type", Rule: "must be one of OS::Nova::Server, OS::Cinder::Volume, OS::Sfs::Turbo"},
			{Field: p + ".resource_details[2].name", Rule: "at most 255 characters"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cbr.Validate(tt.req)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve failure.FieldErrors
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v (%T), want failure.FieldErrors", err, err)
			}
			if !reflect.DeepEqual(ve, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", ve, tt.want)
			}
			if got := failure.ClassOf(err); got != failure.Invalid {
				t.Errorf("ClassOf = %q, want invalid", got)
			}
			if failure.Retryable(err) {
				t.Error("validation error is retryable")
			}
		})
	}
}

func TestValidateErrorText(t *testing.T) {
	err := cbr.Validate(cbr.VaultBackup{Parameters: &cbr.CheckpointParam{Name: "a b"}})
	want := "checkpoint.vault_id: required; checkpoint.parameters.name: only letters, digits, _ and - allowed, 1-64 characters"
	if err == nil || err.Error() != want {
		t.Errorf("Error() = %v\nwant       %s", err, want)
	}
	var fe *failure.FieldError
	if !errors.As(err, &fe) || fe.Field != "checkpoint.vault_id" {
		t.Errorf("errors.As FieldError = %+v", fe)
	}
}

// A checkpoint id that is blank never reaches the server.
func TestGetCheckpointBlankSendsNothing(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer srv.Close()
	c, err := cbr.New(srv.URL, "p", iam.TokenAuthorizer{Source: iam.NewStatic("t")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCheckpoint(context.Background(), " "); failure.ClassOf(err) != failure.Invalid {
		t.Errorf("GetCheckpoint(blank) = %v, want invalid", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server hit %d times, want 0", n)
	}
}
