package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
)

// The recipes of README "Holding a deploy until its restore point is
// available", each read from its file under deploy/ and run as written
// against the built binary and the emulator: the Argo CD PreSync Job's
// command line, the Flagger confirm-rollout webhook's payload, and the curl
// steps of the GitHub Actions and GitLab CI jobs, run by a shell. Each must
// wait while the restore point is pending, pass once it is available, and
// fail when a backup ended in error; each run makes one restore point,
// however often it asks.

const (
	// recipeAvailableAfter keeps a new restore point pending at the first
	// ask, so that every recipe must ask again (restorepoint answers
	// Retry-After: 10, which curl and restorepoint gate honour).
	recipeAvailableAfter = 1500 * time.Millisecond
	// recipeFailingResource is a resource of the emulator's vault whose
	// backups end in error.
	recipeFailingResource = cbrtest.DemoVolumeID
	// recipeTimeout bounds one run of a recipe's command.
	recipeTimeout = 60 * time.Second
)

// clusterLocalURL is the URL of restorepoint's cluster-local Knative Service
// that the in-cluster recipes call: its name and namespace.
var clusterLocalURL = regexp.MustCompile(`^http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local/$`)

// newRecipeWorld is a world whose restore points stay pending for
// recipeAvailableAfter and fail when they hold recipeFailingResource.
func newRecipeWorld(t *testing.T, opts options) *world {
	t.Helper()
	opts.emu.AvailableAfter = recipeAvailableAfter
	w := newWorld(t, opts)
	if err := w.emu.FailResource(recipeFailingResource); err != nil {
		t.Fatal(err)
	}
	return w
}

// gateAnswers returns how the child answered the trigger with this id, in
// order: "<status> <outcome>" of each of its "trigger" log lines.
func gateAnswers(c *child, id string) []string {
	var out []string
	for _, l := range c.logLines("trigger") {
		if l["id"] == id {
			status, _ := l["status"].(float64)
			outcome, _ := l["outcome"].(string)
			out = append(out, strconv.Itoa(int(status))+" "+outcome)
		}
	}
	return out
}

// checkWaited checks that the trigger id was answered pending first and
// last as want ("200 available", "422 failed"). The child's log is read as
// it writes it: the last line may follow the answer by a moment.
func checkWaited(t *testing.T, c *child, id, want string) {
	t.Helper()
	var answers []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		answers = gateAnswers(c, id)
		if len(answers) > 0 && answers[len(answers)-1] == want || time.Now().After(deadline) {
			break
		}
	}
	if len(answers) < 2 || answers[0] != "503 pending" || answers[len(answers)-1] != want {
		t.Errorf("trigger %s answered %v; want 503 pending first, %s last", id, answers, want)
	}
}

// repoYAML reads every document of a YAML file of the repository.
func repoYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// yamlDig walks a decoded YAML tree along keys (strings for maps, ints for
// lists) and fails the test when the path is not there.
func yamlDig(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for i, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map", keys[:i])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: no key %q", keys[:i], k)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", keys[:i], k)
			}
			v = l[k]
		}
	}
	return v
}

// yamlString is yamlDig for a string.
func yamlString(t *testing.T, v any, keys ...any) string {
	t.Helper()
	s, ok := yamlDig(t, v, keys...).(string)
	if !ok {
		t.Fatalf("%v: not a string", keys)
	}
	return s
}

// yamlOfKind returns the one document of docs of this apiVersion and kind.
func yamlOfKind(t *testing.T, docs []map[string]any, apiVersion, kind string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, d := range docs {
		if d["apiVersion"] == apiVersion && d["kind"] == kind {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d documents of %s %s, want 1", len(found), apiVersion, kind)
	}
	return found[0]
}

// knativeService returns restorepoint's Knative Service, which the
// in-cluster recipes call.
func knativeService(t *testing.T) map[string]any {
	t.Helper()
	return yamlOfKind(t, repoYAML(t, "deploy/knative/service.yaml"), "serving.knative.dev/v1", "Service")
}

// checkClusterLocalURL checks that u is the cluster-local URL of the Knative
// Service, and that the Service is cluster-local.
func checkClusterLocalURL(t *testing.T, u string) {
	t.Helper()
	svc := knativeService(t)
	m := clusterLocalURL.FindStringSubmatch(u)
	if m == nil || m[1] != yamlString(t, svc, "metadata", "name") {
		t.Errorf("URL %q is not http://%s.<namespace>.svc.cluster.local/", u, yamlString(t, svc, "metadata", "name"))
	}
	if yamlString(t, svc, "metadata", "labels", "networking.knative.dev/visibility") != "cluster-local" {
		t.Error("the Knative Service the recipe calls is not cluster-local")
	}
}

// serviceEnv returns the literal value of a variable the Knative Service
// sets.
func serviceEnv(t *testing.T, name string) string {
	t.Helper()
	svc := knativeService(t)
	for _, e := range yamlDig(t, svc, "spec", "template", "spec", "containers", 0, "env").([]any) {
		if yamlDig(t, e, "name") == name {
			return yamlString(t, e, "value")
		}
	}
	t.Fatalf("the Knative Service does not set %s", name)
	return ""
}

// restorepointReads returns the variables restorepoint reads, from
// `restorepoint help env`.
func restorepointReads(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(binPath, "help", "env").Output()
	if err != nil {
		t.Fatalf("restorepoint help env: %v", err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|").FindAllSubmatch(out, -1) {
		names[string(m[1])] = true
	}
	if len(names) < 10 {
		t.Fatalf("restorepoint help env lists %d variables:\n%s", len(names), out)
	}
	return names
}

// recipe is one recipe: the options of the world it runs against, and its
// plan, which checks the recipe's files and returns its runs.
type recipe struct {
	name string
	opts func(t *testing.T) options
	// plan checks the recipe's files and returns its runs against w; dir
	// is a directory for the files the runs need.
	plan func(t *testing.T, w *world, dir string) []recipeRun
}

// recipeRun is one run of a recipe's command. Every run of every recipe is
// started at once (each waits at least one Retry-After), and each is
// checked once all have ended.
type recipeRun struct {
	name string
	// run runs it; it may run on any goroutine (it has no *testing.T).
	run func() ranRecipe
	// check checks how it ended.
	check func(t *testing.T, r ranRecipe)
	// creates says whether it makes a restore point (else it is refused).
	creates bool
}

// ranRecipe is how a run ended.
type ranRecipe struct {
	exit int    // a command's exit status; a webhook's last HTTP status
	out  string // a command's output; a webhook's last answer
	err  error  // it could not run, or did not end within recipeTimeout
}

func TestDeployGateRecipes(t *testing.T) {
	recipes := []recipe{
		{name: "ArgoCDPreSync", opts: func(*testing.T) options { return options{} }, plan: argoCDPreSync},
		{name: "FlaggerConfirmRollout", opts: func(t *testing.T) options {
			// Flagger sends no credentials: restorepoint runs as the
			// cluster-local Knative Service does.
			return options{noWebhook: true, env: map[string]string{"WEBHOOK_AUTH": serviceEnv(t, "WEBHOOK_AUTH")}}
		}, plan: flaggerConfirmRollout},
		{name: "GitHubActions", opts: func(*testing.T) options { return options{} }, plan: gitHubActions},
		{name: "GitLabCI", opts: func(*testing.T) options { return options{} }, plan: gitLabCI},
	}
	worlds := make([]*world, len(recipes))
	for i, r := range recipes {
		worlds[i] = newRecipeWorld(t, r.opts(t))
	}
	dir := t.TempDir()
	plans := make([][]recipeRun, len(recipes))
	t.Run("Files", func(t *testing.T) {
		for i, r := range recipes {
			t.Run(r.name, func(t *testing.T) { plans[i] = r.plan(t, worlds[i], dir) })
		}
	})

	ran := make([][]ranRecipe, len(recipes))
	var wg sync.WaitGroup
	for i, plan := range plans {
		ran[i] = make([]ranRecipe, len(plan))
		for j, run := range plan {
			wg.Go(func() { ran[i][j] = run.run() })
		}
	}
	wg.Wait()

	t.Run("Runs", func(t *testing.T) {
		for i, r := range recipes {
			if len(plans[i]) == 0 {
				continue // its files failed their checks
			}
			t.Run(r.name, func(t *testing.T) {
				creates := 0
				for j, run := range plans[i] {
					t.Run(run.name, func(t *testing.T) {
						if err := ran[i][j].err; err != nil {
							t.Fatal(err)
						}
						run.check(t, ran[i][j])
					})
					if run.creates {
						creates++
					}
				}
				if n := worlds[i].emu.CountCreates(); n != creates {
					t.Errorf("%d restore points made, want %d: one per gated run, however often it asked", n, creates)
				}
			})
		}
	})
}

// runRecipeCommand runs a recipe's command, bounded by recipeTimeout, with
// exactly env (plus PATH).
func runRecipeCommand(env map[string]string, name string, args ...string) ranRecipe {
	ctx, cancel := context.WithTimeout(context.Background(), recipeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return ranRecipe{err: fmt.Errorf("%s did not end within %v:\n%s", name, recipeTimeout, out)}
	case errors.As(err, &exit):
		return ranRecipe{exit: exit.ExitCode(), out: string(out)}
	case err != nil:
		return ranRecipe{err: fmt.Errorf("%s: %v", name, err)}
	}
	return ranRecipe{out: string(out)}
}

// withResources returns the structured CloudEvent event with another id
// and data.resources set to resources.
func withResources(t *testing.T, event []byte, id string, resources ...string) []byte {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(event, &e); err != nil {
		t.Fatal(err)
	}
	e["id"] = id
	e["data"].(map[string]any)["resources"] = resources
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// argoCDPreSync checks deploy/argocd/presync-gate.yaml: a PreSync hook Job
// running `restorepoint gate` with the event of a PreSync hook ConfigMap
// (created first) and WEBHOOK_SECRET from a Secret. Its runs are the Job's
// command line as the Job runs it, with the URL pointing at w's
// restorepoint and the event file holding the ConfigMap's event.json.
func argoCDPreSync(t *testing.T, w *world, dir string) []recipeRun {
	docs := repoYAML(t, "deploy/argocd/presync-gate.yaml")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want a ConfigMap and a Job", len(docs))
	}
	cm := yamlOfKind(t, docs, "v1", "ConfigMap")
	job := yamlOfKind(t, docs, "batch/v1", "Job")

	// Both are PreSync hooks, replaced at the next sync; the ConfigMap is
	// in an earlier wave.
	wave := func(doc map[string]any) int {
		s, _ := yamlDig(t, doc, "metadata", "annotations").(map[string]any)["argocd.argoproj.io/sync-wave"].(string)
		n, _ := strconv.Atoi(s)
		return n
	}
	for _, doc := range []map[string]any{cm, job} {
		if h := yamlString(t, doc, "metadata", "annotations", "argocd.argoproj.io/hook"); h != "PreSync" {
			t.Errorf("%s: hook %q, want PreSync", doc["kind"], h)
		}
		if p := yamlString(t, doc, "metadata", "annotations", "argocd.argoproj.io/hook-delete-policy"); p != "BeforeHookCreation" {
			t.Errorf("%s: hook-delete-policy %q, want BeforeHookCreation", doc["kind"], p)
		}
	}
	if wave(cm) >= wave(job) {
		t.Errorf("the ConfigMap's sync wave %d is not before the Job's %d", wave(cm), wave(job))
	}

	pod := yamlDig(t, job, "spec", "template", "spec")
	if r := yamlString(t, pod, "restartPolicy"); r != "Never" {
		t.Errorf("restartPolicy %q, want Never", r)
	}
	containers := yamlDig(t, pod, "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]
	if img, want := yamlString(t, c, "image"), yamlString(t, knativeService(t), "spec", "template", "spec", "containers", 0, "image"); img != want {
		t.Errorf("image %q, want restorepoint's, %q", img, want)
	}
	if _, ok := c.(map[string]any)["command"]; ok {
		t.Error("the container sets a command: the image's entrypoint is restorepoint")
	}
	args := yamlStrings(yamlDig(t, c, "args"))
	if len(args) == 0 || args[0] != "gate" {
		t.Fatalf("args %v, want restorepoint gate", args)
	}
	flags := map[string]int{} // flag name: index of its value in args
	for i := 1; i < len(args); i += 2 {
		if !strings.HasPrefix(args[i], "--") || i+1 == len(args) {
			t.Fatalf("args %v: want --flag value pairs", args)
		}
		flags[strings.TrimPrefix(args[i], "--")] = i + 1
	}
	for _, f := range []string{"url", "event", "timeout"} {
		if _, ok := flags[f]; !ok {
			t.Fatalf("args %v lack --%s", args, f)
		}
	}
	checkClusterLocalURL(t, args[flags["url"]])
	timeout, err := time.ParseDuration(args[flags["timeout"]])
	if err != nil {
		t.Fatalf("--timeout: %v", err)
	}
	if d, _ := yamlDig(t, job, "spec", "activeDeadlineSeconds").(int); time.Duration(d)*time.Second <= timeout {
		t.Errorf("activeDeadlineSeconds %d does not leave the gate its --timeout %v", d, timeout)
	}

	// The event file is a key of the ConfigMap, mounted from a volume of it.
	volumes := map[string]string{} // volume name: ConfigMap name
	for _, v := range yamlDig(t, pod, "volumes").([]any) {
		volumes[yamlString(t, v, "name")] = yamlString(t, v, "configMap", "name")
	}
	var event []byte
	for _, m := range yamlDig(t, c, "volumeMounts").([]any) {
		if volumes[yamlString(t, m, "name")] != yamlString(t, cm, "metadata", "name") {
			continue
		}
		key, ok := strings.CutPrefix(args[flags["event"]], yamlString(t, m, "mountPath")+"/")
		if data, _ := yamlDig(t, cm, "data").(map[string]any)[key].(string); ok && data != "" {
			event = []byte(data)
		}
	}
	if event == nil {
		t.Fatalf("--event %s is no key of the ConfigMap mounted into the Job", args[flags["event"]])
	}
	trigger, err := events.Decode(event)
	if err != nil || trigger.Kind != events.KindDeployPre {
		t.Fatalf("the ConfigMap's event: %+v, %v; want a deploy.pre trigger", trigger.Ref, err)
	}

	// Every variable is one restorepoint reads; the webhook secret comes
	// from a Secret (here: the world's secret).
	env := map[string]string{}
	reads := restorepointReads(t)
	for _, e := range yamlDig(t, c, "env").([]any) {
		name := yamlString(t, e, "name")
		if !reads[name] {
			t.Errorf("the Job sets %s, which restorepoint does not read", name)
		}
		if name == "WEBHOOK_SECRET" {
			yamlString(t, e, "valueFrom", "secretKeyRef", "name")
			env[name] = secretWebhook
		} else {
			env[name] = yamlString(t, e, "value")
		}
	}
	if _, ok := env["WEBHOOK_SECRET"]; !ok {
		t.Error("the Job does not pass WEBHOOK_SECRET")
	}

	job1 := func(name string, event []byte) func() ranRecipe {
		file := filepath.Join(dir, name+".json")
		if err := os.WriteFile(file, event, 0o644); err != nil {
			t.Fatal(err)
		}
		live := slices.Clone(args)
		live[flags["url"]], live[flags["event"]] = w.proc.url+"/", file
		return func() ranRecipe { return runRecipeCommand(env, binPath, live...) }
	}
	const failingID = "shop-failing"
	return []recipeRun{{
		name: "available", creates: true, run: job1("argocd-available", event),
		check: func(t *testing.T, r ranRecipe) {
			if r.exit != 0 || !strings.Contains(r.out, `"type":"`+events.TypeCheckpointAvailable+`"`) {
				t.Fatalf("exit %d, want 0 and the checkpoint.available result:\n%s", r.exit, r.out)
			}
			checkWaited(t, w.proc, trigger.Ref.ID, "200 available")
		},
	}, {
		name: "failed", creates: true, run: job1("argocd-failed", withResources(t, event, failingID, recipeFailingResource)),
		check: func(t *testing.T, r ranRecipe) {
			if r.exit != 1 || !strings.Contains(r.out, `"type":"`+events.TypeCheckpointFailed+`"`) || !strings.Contains(r.out, recipeFailingResource) {
				t.Fatalf("exit %d, want 1 and the checkpoint.failed result naming the resource:\n%s", r.exit, r.out)
			}
			checkWaited(t, w.proc, failingID, "422 failed")
		},
	}}
}

// flaggerConfirmRollout checks the confirm-rollout webhook of
// deploy/flagger/canary.yaml. Its runs post what Flagger posts to it, as
// Flagger does (no credentials; asking again while the answer is not 2xx),
// to w's restorepoint, configured as the cluster-local Knative Service.
func flaggerConfirmRollout(t *testing.T, w *world, _ string) []recipeRun {
	canary := yamlOfKind(t, repoYAML(t, "deploy/flagger/canary.yaml"), "flagger.app/v1beta1", "Canary")
	var hook map[string]any
	for _, h := range yamlDig(t, canary, "spec", "analysis", "webhooks").([]any) {
		if yamlDig(t, h, "type") == "confirm-rollout" {
			hook = h.(map[string]any)
		}
	}
	if hook == nil {
		t.Fatal("the Canary has no confirm-rollout webhook")
	}
	checkClusterLocalURL(t, yamlString(t, hook, "url"))
	metadata := map[string]string{}
	for k, v := range yamlDig(t, hook, "metadata").(map[string]any) {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("metadata %s is not a string: Flagger's metadata are strings", k)
		}
		metadata[k] = s
	}
	name, namespace := yamlString(t, canary, "metadata", "name"), yamlString(t, canary, "metadata", "namespace")
	payload := func(checksum string, metadata map[string]string) []byte {
		b, err := json.Marshal(map[string]any{"name": name, "namespace": namespace, "phase": "Progressing",
			"checksum": checksum, "metadata": metadata})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	trigger, err := events.Decode(payload("7d9f5c6b4", metadata))
	if err != nil || !trigger.Gate || trigger.Kind != events.KindDeployPre {
		t.Fatalf("Flagger's payload decodes to %+v, %v; want a deploy.pre gate", trigger.Ref, err)
	}
	if n := len(trigger.DeployPre.Resources); n != len(strings.Split(metadata["resources"], ",")) || trigger.DeployPre.VaultID != metadata["vault_id"] {
		t.Errorf("decoded vault %q and %d resources from metadata %v", trigger.DeployPre.VaultID, n, metadata)
	}

	// rollout asks until the answer is not pending; Flagger asks every
	// analysis interval, here every 200 ms. The URL's path is / (checked).
	rollout := func(body []byte) func() ranRecipe {
		return func() ranRecipe {
			deadline := time.Now().Add(recipeTimeout)
			for {
				r, err := w.tryPost(http.Header{"Content-Type": {"application/json"}}, body)
				switch {
				case err != nil:
					return ranRecipe{err: err}
				case r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "":
					return ranRecipe{err: fmt.Errorf("a pending answer without Retry-After: %s", r.body)}
				case r.status != http.StatusServiceUnavailable:
					return ranRecipe{exit: r.status, out: r.header.Get("Ce-Type") + " " + string(r.body)}
				case time.Now().After(deadline):
					return ranRecipe{err: fmt.Errorf("still pending after %v", recipeTimeout)}
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	failing := map[string]string{"vault_id": metadata["vault_id"], "resources": recipeFailingResource}
	return []recipeRun{{
		name: "available", creates: true, run: rollout(payload("7d9f5c6b4", metadata)),
		check: func(t *testing.T, r ranRecipe) {
			if r.exit != http.StatusOK || !strings.HasPrefix(r.out, events.TypeCheckpointAvailable+" ") {
				t.Fatalf("%d %s, want 200 with the checkpoint.available result", r.exit, r.out)
			}
			checkWaited(t, w.proc, "7d9f5c6b4", "200 available")
		},
	}, {
		name: "failed", creates: true, run: rollout(payload("5e8a1f2d3", failing)),
		check: func(t *testing.T, r ranRecipe) {
			if r.exit != http.StatusUnprocessableEntity || !strings.HasPrefix(r.out, events.TypeCheckpointFailed+" ") {
				t.Fatalf("%d %s, want 422 with the checkpoint.failed result", r.exit, r.out)
			}
			checkWaited(t, w.proc, "5e8a1f2d3", "422 failed")
		},
	}}
}

// ciStep is the shell step of a CI recipe that holds the deploy.
type ciStep struct {
	shell  []string          // the shell and its options, as the CI system runs it
	script string            // the step's commands
	env    map[string]string // what the CI system sets: its own variables and the step's
	// The variables of the URL, the secret, the resources (a JSON array)
	// and the trigger id (the CI system's run id).
	urlVar, secretVar, resourcesVar, idVar string
}

// curlRetryMaxTime matches the curl option bounding how long the step waits.
var curlRetryMaxTime = regexp.MustCompile(`--retry-max-time (\d+)`)

// checkWaitsLongEnough checks that the job's timeout leaves curl its
// --retry-max-time.
func checkWaitsLongEnough(t *testing.T, script string, timeout time.Duration) {
	t.Helper()
	m := curlRetryMaxTime.FindStringSubmatch(script)
	if m == nil {
		t.Fatal("the script does not bound its wait with --retry-max-time")
	}
	n, _ := strconv.Atoi(m[1])
	if wait := time.Duration(n) * time.Second; timeout <= wait {
		t.Errorf("the job's timeout %v ends before curl's --retry-max-time %v", timeout, wait)
	}
}

// ciRuns checks the step's script and returns its runs against w: with the
// world's URL and secret it must wait while the restore point is pending
// and then pass (available) or fail (a backup failed); with a wrong secret
// it must fail at once.
func ciRuns(t *testing.T, w *world, step ciStep) []recipeRun {
	t.Helper()
	for _, want := range []string{"curl ", "--fail-with-body", "?gate=1", "--retry ", "--retry-delay ", "-H @-"} {
		if !strings.Contains(step.script, want) {
			t.Errorf("the script lacks %q:\n%s", want, step.script)
		}
	}
	run := func(id, resources, secret string) func() ranRecipe {
		env := maps.Clone(step.env)
		env[step.urlVar], env[step.secretVar], env[step.idVar] = w.proc.url+"/", secret, id
		if resources != "" {
			env[step.resourcesVar] = resources
		}
		return func() ranRecipe {
			return runRecipeCommand(env, step.shell[0], append(slices.Clone(step.shell[1:]), "-c", step.script)...)
		}
	}
	return []recipeRun{{
		name: "available", creates: true, run: run("1001", "", secretWebhook),
		check: func(t *testing.T, r ranRecipe) {
			if r.exit != 0 || !strings.Contains(r.out, `"status":"available"`) {
				t.Fatalf("exit %d, want 0 and the checkpoint.available result:\n%s", r.exit, r.out)
			}
			checkWaited(t, w.proc, "1001", "200 available")
		},
	}, {
		name: "failed", creates: true, run: run("1002", `["`+recipeFailingResource+`"]`, secretWebhook),
		check: func(t *testing.T, r ranRecipe) {
			if r.exit == 0 || !strings.Contains(r.out, `"status":"error"`) || !strings.Contains(r.out, recipeFailingResource) {
				t.Fatalf("exit %d, want a failure and the checkpoint.failed result naming the resource:\n%s", r.exit, r.out)
			}
			checkWaited(t, w.proc, "1002", "422 failed")
		},
	}, {
		name: "wrong secret", run: run("1003", "", "not-the-secret"),
		check: func(t *testing.T, r ranRecipe) {
			if r.exit == 0 || !strings.Contains(r.out, "unauthorized") || strings.Contains(r.out, "Will retry") {
				t.Fatalf("exit %d, want a failure at once saying unauthorized:\n%s", r.exit, r.out)
			}
			if strings.Contains(r.out, "not-the-secret") {
				t.Error("the output shows the secret")
			}
		},
	}}
}

// gitHubActions checks deploy/github-actions/gate.yml: a job whose bash
// step POSTs to ?gate=1, needed by another job. Its runs run the step with
// bash as GitHub's runner does (-eo pipefail; -u here too, so that a
// variable the runner would not set fails the test), with the variables
// GitHub sets and the step's env, whose ${{ vars.… }} and
// ${{ secrets.… }} are the world's URL and secret.
func gitHubActions(t *testing.T, w *world, _ string) []recipeRun {
	docs := repoYAML(t, "deploy/github-actions/gate.yml")
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	jobs := yamlDig(t, docs[0], "jobs").(map[string]any)
	var gateJob string
	var step map[string]any
	for name, job := range jobs {
		for _, s := range yamlDig(t, job, "steps").([]any) {
			if run, _ := s.(map[string]any)["run"].(string); strings.Contains(run, "?gate=1") {
				if step != nil {
					t.Fatal("more than one gate step")
				}
				gateJob, step = name, s.(map[string]any)
			}
		}
	}
	if step == nil {
		t.Fatal("no step POSTs to ?gate=1")
	}
	held := false
	for name, job := range jobs {
		needs := job.(map[string]any)["needs"]
		if name != gateJob && (needs == gateJob || slices.Contains(yamlStrings(needs), gateJob)) {
			held = true
		}
	}
	if !held {
		t.Errorf("no job needs %s: nothing is held", gateJob)
	}
	if sh := yamlString(t, step, "shell"); sh != "bash" {
		t.Errorf("shell %q, want bash", sh)
	}
	script := yamlString(t, step, "run")
	if strings.Contains(script, "${{") {
		t.Error("the script holds expressions: they belong in the step's env")
	}
	minutes, _ := yamlDig(t, jobs[gateJob], "timeout-minutes").(int)
	checkWaitsLongEnough(t, script, time.Duration(minutes)*time.Minute)

	expr := regexp.MustCompile(`^\$\{\{ *(vars|secrets)\.[A-Z0-9_]+ *\}\}$`)
	s := ciStep{shell: []string{"bash", "--noprofile", "--norc", "-euo", "pipefail"}, script: script,
		env: map[string]string{
			"GITHUB_REPOSITORY": "example-org/shop",
			"GITHUB_SHA":        "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
			"GITHUB_SERVER_URL": "https://github.com",
		},
		resourcesVar: "RESTOREPOINT_RESOURCES", idVar: "GITHUB_RUN_ID"}
	for k, v := range yamlDig(t, step, "env").(map[string]any) {
		value, _ := v.(string)
		switch m := expr.FindStringSubmatch(value); {
		case m != nil && m[1] == "vars":
			s.urlVar = k
		case m != nil && m[1] == "secrets":
			s.secretVar = k
		case strings.Contains(value, "${{"):
			t.Fatalf("env %s = %q: an expression the test does not know", k, value)
		default:
			s.env[k] = value
		}
	}
	if s.urlVar == "" || s.secretVar == "" {
		t.Fatal("the step's env has no ${{ vars.… }} URL or no ${{ secrets.… }} secret")
	}
	return ciRuns(t, w, s)
}

// gitLabCI checks deploy/gitlab-ci/gate.gitlab-ci.yml: a job of the stage
// before-deploy, right before deploy. Its runs run the job's script with sh
// (the job's image has no bash; -u here, so that a variable GitLab would
// not set fails the test), with the variables GitLab sets, the job's
// variables, and the project's CI/CD variables RESTOREPOINT_URL and
// RESTOREPOINT_WEBHOOK_SECRET: the world's URL and secret.
func gitLabCI(t *testing.T, w *world, _ string) []recipeRun {
	docs := repoYAML(t, "deploy/gitlab-ci/gate.gitlab-ci.yml")
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	pipeline := docs[0]
	var job map[string]any
	for name, v := range pipeline {
		if j, ok := v.(map[string]any); ok && j["stage"] == "before-deploy" {
			if job != nil {
				t.Fatalf("more than one before-deploy job (%s)", name)
			}
			job = j
		}
	}
	if job == nil {
		t.Fatal("no job in the stage before-deploy")
	}
	stages := yamlStrings(yamlDig(t, pipeline, "stages"))
	if i := slices.Index(stages, "before-deploy"); i < 0 || i+1 >= len(stages) || stages[i+1] != "deploy" {
		t.Errorf("stages %v: want before-deploy right before deploy", stages)
	}
	if ep := yamlStrings(yamlDig(t, job, "image", "entrypoint")); !slices.Equal(ep, []string{""}) {
		t.Errorf("image entrypoint %q: an image whose entrypoint is curl needs [\"\"] to run a script", ep)
	}
	timeout, err := time.ParseDuration(yamlString(t, job, "timeout"))
	if err != nil {
		t.Fatalf("timeout: %v", err)
	}
	script := strings.Join(yamlStrings(yamlDig(t, job, "script")), "\n")
	checkWaitsLongEnough(t, script, timeout)

	s := ciStep{shell: []string{"sh", "-eu"}, script: script,
		env: map[string]string{
			"CI_PROJECT_PATH": "example-org/shop",
			"CI_COMMIT_SHA":   "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
			"CI_SERVER_URL":   "https://gitlab.example.com",
		},
		urlVar: "RESTOREPOINT_URL", secretVar: "RESTOREPOINT_WEBHOOK_SECRET",
		resourcesVar: "RESTOREPOINT_RESOURCES", idVar: "CI_PIPELINE_ID"}
	for k, v := range yamlDig(t, job, "variables").(map[string]any) {
		s.env[k] = v.(string)
	}
	return ciRuns(t, w, s)
}

// yamlStrings returns the strings of a YAML list.
func yamlStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
