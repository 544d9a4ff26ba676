package githubapp_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/restorepoint/restorepoint/githubapp"
	"github.com/restorepoint/restorepoint/githubapp/githubtest"
)

// A deployment_protection_rule webhook arrives; once the restore point is
// made, the app approves the deployment.
func ExampleClient_Review() {
	srv := githubtest.NewServer(githubtest.Options{}) // GitHub's API, for the example
	defer srv.Close()
	hook, err := srv.DeploymentProtectionRuleWebhook("webhook-secret", githubtest.DeploymentProtectionRule{})
	if err != nil {
		panic(err)
	}

	key, err := githubapp.ParsePrivateKey(githubtest.KeyPEM()) // GITHUB_APP_PRIVATE_KEY
	if err != nil {
		panic(err)
	}
	app, err := githubapp.New(githubapp.Config{AppID: srv.AppID(), PrivateKey: key, APIURL: srv.APIURL(),
		HTTPClient: srv.Client()})
	if err != nil {
		panic(err)
	}

	var event struct {
		Environment           string `json:"environment"`
		DeploymentCallbackURL string `json:"deployment_callback_url"`
		Installation          struct {
			ID int64 `json:"id"`
		} `json:"installation"`
	}
	if err := json.Unmarshal(hook.Body, &event); err != nil {
		panic(err)
	}
	// Refuse a webhook whose callback is not on the API before doing any work.
	if err := app.CheckCallbackURL(event.DeploymentCallbackURL); err != nil {
		panic(err)
	}
	// ... make the restore point ...
	err = app.Review(context.Background(), event.Installation.ID, event.DeploymentCallbackURL, githubapp.Review{
		EnvironmentName: event.Environment,
		State:           githubapp.StateApproved,
		Comment:         "restore point 9c2e0f4a created",
	})
	fmt.Println("review:", err)
	for _, r := range srv.Reviews() {
		fmt.Printf("%s/%s run %d, %s: %s (%s)\n", r.Owner, r.Repo, r.RunID, r.EnvironmentName, r.State, r.Comment)
	}
	// Output:
	// review: <nil>
	// example-org/shop run 9876543210, production: approved (restore point 9c2e0f4a created)
}
