package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/githubapp/githubtest"
)

// GitHub deployment protection rules, against the GitHub API stand-in: the
// instance is the GitHub App (GITHUB_APP_ID and its key) and reviews the
// deployments its rule holds once their restore points ended.

// gitHubWorld is a world whose instance is the app of api, following in
// the background.
func gitHubWorld(t *testing.T, api *githubtest.Server) *world {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "app-key.pem")
	if err := os.WriteFile(keyFile, githubtest.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return newWorld(t, options{emu: cbrtest.Options{AvailableAfter: followAfter}, env: map[string]string{
		"FOLLOW":                      "on",
		"GITHUB_APP_ID":               strconv.FormatInt(api.AppID(), 10),
		"GITHUB_APP_PRIVATE_KEY_FILE": keyFile,
		"GITHUB_API_URL":              api.APIURL(),
	}})
}

// protectionRule is a deployment of run to env waiting for the rule; with
// resource, its payload asks for a restore point of it in the example vault.
func protectionRule(run int64, env, resource string) githubtest.DeploymentProtectionRule {
	d := githubtest.DeploymentProtectionRule{RunID: run, DeploymentID: 5000 + run, Environment: env}
	if resource != "" {
		d.Payload = json.RawMessage(fmt.Sprintf(`{"restorepoint":{"vault_id":%q,"resources":[%q]}}`, cbrtest.ExampleVaultID, resource))
	}
	return d
}

// protectionRuleMarker is the key marker of the restore point made for d.
func protectionRuleMarker(d githubtest.DeploymentProtectionRule) string {
	return senderKeyMarker(events.SenderGitHub, events.GitHubSourcePrefix+strconv.Itoa(githubtest.DefaultRepositoryID),
		fmt.Sprintf("%d/%s", d.DeploymentID, d.Environment))
}

// deliverWebhook sends the deployment_protection_rule webhook of d, signed
// with secret, to the instance.
func (w *world) deliverWebhook(api *githubtest.Server, secret string, d githubtest.DeploymentProtectionRule) reply {
	w.t.Helper()
	wh, err := api.DeploymentProtectionRuleWebhook(secret, d)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.post(wh.Header, wh.Body)
}

// reviewsOf returns the reviews the stand-in recorded for run.
func reviewsOf(api *githubtest.Server, run int64) []githubtest.ReviewRecord {
	var out []githubtest.ReviewRecord
	for _, r := range api.Reviews() {
		if r.RunID == run {
			out = append(out, r)
		}
	}
	return out
}

// reviewRequests returns the statuses of the review requests for run.
func reviewRequests(api *githubtest.Server, run int64) []int {
	var out []int
	suffix := fmt.Sprintf("/actions/runs/%d/deployment_protection_rule", run)
	for _, r := range api.Requests() {
		if r.Endpoint == githubtest.EndpointReview && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r.Status)
		}
	}
	return out
}

// awaitReview waits until the stand-in recorded a review for run whose
// restore point is checkpoint, and checks meanwhile that no review was
// asked for while the checkpoint was still being made.
func awaitReview(t *testing.T, w *world, api *githubtest.Server, run int64, checkpoint string, d time.Duration) githubtest.ReviewRecord {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		// Requests first, then the status: a status still protecting was
		// protecting when the requests were read.
		asked := len(reviewRequests(api, run))
		cp, ok := w.emu.Checkpoint(checkpoint)
		if !ok {
			t.Fatalf("no checkpoint %s at the emulator", checkpoint)
		}
		if asked > 0 && cp.Status == "protecting" {
			t.Fatalf("run %d: a review was asked for while checkpoint %s was still protecting", run, checkpoint)
		}
		if rs := reviewsOf(api, run); len(rs) > 0 {
			return rs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d: no review within %v; requests %v", run, d, reviewRequests(api, run))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createdCheckpoint checks that r answers a protection rule at once with
// the created result, and returns its checkpoint id.
func createdCheckpoint(t *testing.T, r reply, what string) string {
	t.Helper()
	if r.status != http.StatusOK || r.event == nil || r.event.Type() != events.TypeCheckpointCreated {
		t.Fatalf("%s: %d %s, want 200 with the created result", what, r.status, r.body)
	}
	var d resultData
	if err := json.Unmarshal(r.event.Data(), &d); err != nil || len(d.Checkpoints) != 1 {
		t.Fatalf("%s: created result %s", what, r.event.Data())
	}
	return d.Checkpoints[0].ID
}

// A deployment_protection_rule webhook is answered at once with the restore
// point created; once it is available the deployment is approved, once it
// failed rejected, each with a comment naming the restore point; one without
// payload.restorepoint is rejected at once saying what to configure; a
// forged one is refused unread. The app's JWT was accepted, and its
// installation token reused.
func TestGitHubDeploymentProtectionRule(t *testing.T) {
	api := githubtest.NewServer(githubtest.Options{})
	t.Cleanup(api.Close)
	w := gitHubWorld(t, api)
	if err := w.emu.FailResource(cbrtest.DemoVolumeID); err != nil {
		t.Fatal(err)
	}

	// A forged delivery: 401, nothing decoded, nothing done.
	forged := protectionRule(1000, "production", cbrtest.ExampleServerID)
	if r := w.deliverWebhook(api, "not-the-secret", forged); r.status != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d %s, want 401", r.status, r.body)
	}
	if len(w.emu.Requests()) != 0 || len(api.Requests()) != 0 || len(w.sink.Events()) != 0 {
		t.Fatalf("a forged webhook reached CBR (%d), GitHub (%d) or the sink (%d)",
			len(w.emu.Requests()), len(api.Requests()), len(w.sink.Events()))
	}
	if strings.Contains(string(w.proc.logs.Bytes()), githubtest.DefaultOwner) {
		t.Errorf("the log quotes the body of a forged webhook")
	}

	// No payload.restorepoint: rejected before the answer, saying what to configure.
	bare := protectionRule(1001, "qa", "")
	if r := w.deliverWebhook(api, secretWebhook, bare); r.status/100 != 2 {
		t.Fatalf("webhook without payload.restorepoint: %d %s, want it answered", r.status, r.body)
	}
	if rs := reviewsOf(api, 1001); len(rs) != 1 || rs[0].State != "rejected" || rs[0].EnvironmentName != "qa" ||
		!strings.Contains(rs[0].Comment, "payload.restorepoint") {
		t.Fatalf("reviews %+v, want qa rejected at once, saying what to configure", rs)
	}
	if n := w.emu.CountCreates(); n != 0 {
		t.Fatalf("%d creates for a deployment that names nothing to back up", n)
	}

	// A restore point that becomes available, and one that fails.
	approve, reject := protectionRule(1002, "production", cbrtest.ExampleServerID), protectionRule(1003, "staging", cbrtest.DemoVolumeID)
	start := time.Now()
	approveCP := createdCheckpoint(t, w.deliverWebhook(api, secretWebhook, approve), "production")
	rejectCP := createdCheckpoint(t, w.deliverWebhook(api, secretWebhook, reject), "staging")
	if took := time.Since(start); took >= followAfter {
		t.Errorf("the webhooks were answered in %v: not at once", took)
	}
	var approved, rejected githubtest.ReviewRecord
	var wg sync.WaitGroup
	wg.Go(func() { approved = awaitReview(t, w, api, approve.RunID, approveCP, 20*time.Second) })
	wg.Go(func() { rejected = awaitReview(t, w, api, reject.RunID, rejectCP, 20*time.Second) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if approved.State != "approved" || approved.EnvironmentName != "production" ||
		!strings.Contains(approved.Comment, protectionRuleMarker(approve)) || !strings.Contains(approved.Comment, approveCP) {
		t.Errorf("review %+v, want production approved naming %s and %s", approved, protectionRuleMarker(approve), approveCP)
	}
	if rejected.State != "rejected" || rejected.EnvironmentName != "staging" ||
		!strings.Contains(rejected.Comment, protectionRuleMarker(reject)) || !strings.Contains(rejected.Comment, cbrtest.DemoVolumeID) {
		t.Errorf("review %+v, want staging rejected naming %s and the failed volume", rejected, protectionRuleMarker(reject))
	}
	if approved.Owner != githubtest.DefaultOwner || approved.Repo != githubtest.DefaultRepo ||
		approved.InstallationID != githubtest.DefaultInstallationID {
		t.Errorf("review %+v, want it on %s/%s by installation %d", approved, githubtest.DefaultOwner, githubtest.DefaultRepo,
			githubtest.DefaultInstallationID)
	}

	// The sink gets the completions too, each once.
	got := byCheckpoint(awaitCompletions(t, w.sink, 2, 10*time.Second, time.Second))
	if got[approveCP].event.Type() != events.TypeCheckpointAvailable || got[rejectCP].event.Type() != events.TypeCheckpointFailed {
		t.Errorf("completions %v, want %s available and %s failed", got, approveCP, rejectCP)
	}
	// Each deployment was reviewed once, with the one installation token
	// the stand-in issued for a JWT it verified.
	for _, run := range []int64{1001, 1002, 1003} {
		if rs := reviewsOf(api, run); len(rs) != 1 {
			t.Errorf("run %d reviewed %d times, want once", run, len(rs))
		}
	}
	if n := api.TokensIssued(); n != 1 {
		t.Errorf("%d installation tokens issued, want 1 (cached)", n)
	}
	for _, r := range api.Requests() {
		if r.Endpoint == githubtest.EndpointAccessTokens && r.Status != http.StatusCreated {
			t.Errorf("the stand-in refused the app's JWT: %d", r.Status)
		}
	}
}

// GitHub refusing the review (unavailable, again and again) does not lose
// it: the refusal is retried with backoff, then kept for a later pass, which
// posts it once GitHub takes it again; and never approves before the
// restore point is available. A rejection refused when the webhook came is
// posted by a later pass too.
func TestGitHubReviewRefused(t *testing.T) {
	api := githubtest.NewServer(githubtest.Options{})
	t.Cleanup(api.Close)
	w := gitHubWorld(t, api)
	api.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointReview, Status: http.StatusBadGateway, Times: -1})

	bare := protectionRule(2002, "qa", "")
	if r := w.deliverWebhook(api, secretWebhook, bare); r.status/100 != 2 {
		t.Fatalf("webhook without payload.restorepoint: %d %s, want it answered", r.status, r.body)
	}
	if n := len(reviewRequests(api, bare.RunID)); n == 0 || len(reviewsOf(api, bare.RunID)) != 0 {
		t.Fatalf("%d review requests for the rejection, %d recorded; want it refused", n, len(reviewsOf(api, bare.RunID)))
	}
	api.ClearRefusals()
	eventually(t, 10*time.Second, "the rejection posted", func() bool { return len(reviewsOf(api, bare.RunID)) > 0 })
	if rs := reviewsOf(api, bare.RunID); rs[0].State != "rejected" || !strings.Contains(rs[0].Comment, "payload.restorepoint") {
		t.Errorf("review %+v, want qa rejected saying what to configure", rs[0])
	}

	api.Refuse(githubtest.Refusal{Endpoint: githubtest.EndpointReview, Status: http.StatusBadGateway, Times: -1})
	d := protectionRule(2001, "production", cbrtest.ExampleServerID)
	cp := createdCheckpoint(t, w.deliverWebhook(api, secretWebhook, d), "production")
	eventually(t, 20*time.Second, "review requests refused", func() bool { return len(reviewRequests(api, d.RunID)) >= 2 })
	if st, ok := w.emu.Checkpoint(cp); !ok || st.Status != "available" {
		t.Fatalf("a review was asked for while the checkpoint was %s", st.Status)
	}
	eventually(t, 10*time.Second, "the refusal reported in the log", func() bool {
		for _, l := range w.proc.logLines("follow pass") {
			if errs, _ := l["errors"].([]any); len(errs) > 0 && strings.Contains(fmt.Sprint(errs), "review") {
				return true
			}
		}
		return false
	})
	api.ClearRefusals()
	r := awaitReview(t, w, api, d.RunID, cp, 20*time.Second)
	if r.State != "approved" || !strings.Contains(r.Comment, protectionRuleMarker(d)) {
		t.Errorf("review %+v, want approved naming %s", r, protectionRuleMarker(d))
	}
	time.Sleep(time.Second)
	for _, run := range []int64{d.RunID, bare.RunID} {
		if rs := reviewsOf(api, run); len(rs) != 1 {
			t.Errorf("run %d: %d reviews recorded, want 1", run, len(rs))
		}
	}
	statuses := reviewRequests(api, d.RunID)
	for _, s := range statuses[:len(statuses)-1] {
		if s != http.StatusBadGateway {
			t.Errorf("review requests answered %v, want 502s and a last 204", statuses)
		}
	}
}
