package cbr_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/iam"
)

func ExampleClient_CreateCheckpoint() {
	// A stand-in for https://cbr.eu-de.otc.t-systems.com that answers like
	// the API page's example.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"checkpoint":{"status":"protecting","created_at":"2019-05-10T07:59:12.733+00:00",
			"vault":{"skipped_resources":[],"id":"3b5816b5-f29c-4172-9d9a-76c719a659ce","name":"vault-be94",
			"resources":[{"name":"ecs-1f0f-0002","resource_size":40,"protect_status":"available",
			"type":"OS::Nova::Server","id":"94eba8b2-acc9-4d82-badc-127144cc5526"}]},
			"project_id":"f841e01fd2b14e7fa41b6ae7aa6b0594","id":"8b0851a8-adf3-4f4c-a914-dead08bf9664",
			"extra_info":{"retention_duration":-1,"name":"backup_name","description":"backup_description"}}}`)
	}))
	defer srv.Close()

	client, err := cbr.New(srv.URL, "f841e01fd2b14e7fa41b6ae7aa6b0594", iam.TokenAuthorizer{Source: iam.NewStatic("a-token")})
	if err != nil {
		fmt.Println(err)
		return
	}
	cp, err := client.CreateCheckpoint(context.Background(), cbr.VaultBackup{
		VaultID: "3b5816b5-f29c-4172-9d9a-76c719a659ce",
		Parameters: &cbr.CheckpointParam{
			AutoTrigger: cbr.Bool(true),
			Description: "backup_description",
			Incremental: cbr.Bool(true),
			Name:        "backup_name",
			Resources:   []string{"94eba8b2-acc9-4d82-badc-127144cc5526"},
		},
	})
	if err != nil {
		fmt.Println(failure.ClassOf(err), err)
		return
	}
	fmt.Println(cp.ID, cp.Status, cp.CreatedAt.UTC())
	for _, r := range cp.Vault.Resources {
		fmt.Println(r.Type, r.Name, r.ResourceSize, "GB")
	}
	fmt.Println("skipped:", len(cp.Vault.SkippedResources))
	// Output:
	// 8b0851a8-adf3-4f4c-a914-dead08bf9664 protecting 2019-05-10 07:59:12.733 +0000 UTC
	// OS::Nova::Server ecs-1f0f-0002 40 GB
	// skipped: 0
}

func ExampleAPIError_FailureClass() {
	err := cbr.Validate(cbr.VaultBackup{Parameters: &cbr.CheckpointParam{Name: "nightly backup"}})
	fmt.Println(failure.ClassOf(err), failure.Retryable(err))
	fmt.Println(err)

	err = &cbr.APIError{StatusCode: 500, Code: "BackupService.0002", Message: "Resources are being backed up. Try again later.",
		Method: "POST", URL: "https://cbr.eu-de.otc.t-systems.com/v3/p/checkpoints"}
	fmt.Println(failure.ClassOf(err), failure.Retryable(err))
	// Output:
	// invalid false
	// checkpoint.vault_id: required; checkpoint.parameters.name: only letters, digits, _ and - allowed, 1-64 characters
	// unavailable true
}
