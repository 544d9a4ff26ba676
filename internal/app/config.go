// Package app is restorepoint's configuration and wiring, shared by the
// deployed command (cmd/restorepoint) and the dev tools
// (cmd/restorepoint-dev): the Config read once from the environment through
// a getenv function and checked all at once, and the App wired from it (the
// token source, CBR client, function, result sink and front doors).
package app

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/githubapp"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/retention"
	"github.com/restorepoint/restorepoint/store/redis"
)

// Config is everything restorepoint reads from the environment, read once by
// Load. Each field's envconfig tag names its variable, its default tag the
// value when the variable is unset or empty, its desc tag what it means (the
// table of `restorepoint help env`, PrintEnv). The tags are envconfig's: a
// test holds Load to envconfig.Process and PrintEnv to envconfig.Usagef.
type Config struct {
	Endpoint          string     `envconfig:"CBR_ENDPOINT" desc:"CBR endpoint URL; overrides CBR_REGION"`
	Region            string     `envconfig:"CBR_REGION" default:"eu-de" desc:"region for the endpoint https://cbr.{region}.otc.t-systems.com"`
	ProjectID         string     `envconfig:"CBR_PROJECT_ID" desc:"project ID (required; FunctionGraph's RUNTIME_PROJECT_ID when unset)"`
	RuntimeProjectID  string     `envconfig:"RUNTIME_PROJECT_ID" desc:"project ID set by FunctionGraph; used when CBR_PROJECT_ID is unset"`
	Auth              string     `envconfig:"CBR_AUTH" desc:"aksk, aws-secret, password, token, token-file or functiongraph; chosen from what is set when empty"`
	AccessKey         string     `envconfig:"CBR_ACCESS_KEY" desc:"access key (AK) that signs CBR requests (CBR_AUTH=aksk)"`
	AccessKeyFile     string     `envconfig:"CBR_ACCESS_KEY_FILE" desc:"file holding the access key, re-read when it changes, instead of CBR_ACCESS_KEY (a pair rotated in a mounted secret)"`
	SecretKey         iam.Secret `envconfig:"CBR_SECRET_KEY" desc:"secret key (SK) of CBR_ACCESS_KEY"`
	SecretKeyFile     string     `envconfig:"CBR_SECRET_KEY_FILE" desc:"file holding the secret key, re-read when it changes, instead of CBR_SECRET_KEY"`
	SecurityToken     iam.Secret `envconfig:"CBR_SECURITY_TOKEN" desc:"security token of temporary access keys"`
	SecurityTokenFile string     `envconfig:"CBR_SECURITY_TOKEN_FILE" desc:"file holding the security token, re-read when it changes, instead of CBR_SECURITY_TOKEN"`
	CredentialsSecret string     `envconfig:"CBR_CREDENTIALS_SECRET" desc:"AWS Secrets Manager secret with the credentials, read at run time through the Parameters and Secrets extension (CBR_AUTH=aws-secret)"`
	ExtensionPort     int        `envconfig:"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT" default:"2773" desc:"port of the AWS Parameters and Secrets Lambda Extension on localhost"`
	SessionToken      iam.Secret `envconfig:"AWS_SESSION_TOKEN" desc:"set by AWS Lambda; sent to the Parameters and Secrets extension"`
	Token             iam.Secret `envconfig:"CBR_TOKEN" desc:"static X-Auth-Token, valid 24 hours: for trying things out (CBR_AUTH=token)"`
	TokenFile         string     `envconfig:"CBR_TOKEN_FILE" desc:"file holding the token, re-read when it changes (CBR_AUTH=token-file)"`
	IAMEndpoint       string     `envconfig:"IAM_ENDPOINT" desc:"IAM endpoint for password auth, e.g. https://iam.eu-de.otc.t-systems.com/v3 (a password in CBR_CREDENTIALS_SECRET: the region's when unset)"`
	IAMUsername       string     `envconfig:"IAM_USERNAME" desc:"IAM user name (CBR_AUTH=password)"`
	IAMPassword       iam.Secret `envconfig:"IAM_PASSWORD" desc:"IAM password (CBR_AUTH=password)"`
	IAMPasswordFile   string     `envconfig:"IAM_PASSWORD_FILE" desc:"file holding the IAM password, instead of IAM_PASSWORD"`
	IAMDomainName     string     `envconfig:"IAM_DOMAIN_NAME" desc:"IAM domain (account) name (CBR_AUTH=password)"`
	BackupTag         string     `envconfig:"CBR_BACKUP_TAG" default:"backup" desc:"server tag that asks for backups; false/no/off/none/disabled turn them off"`
	VaultTag          string     `envconfig:"CBR_VAULT_TAG" default:"backup-vault" desc:"server tag whose value is the vault ID"`
	VaultRoutes       string     `envconfig:"CBR_VAULT_ROUTES" desc:"backup tag value to vault ID, e.g. daily:VAULT_ID,weekly:VAULT_ID"`
	DefaultVaultID    string     `envconfig:"CBR_DEFAULT_VAULT_ID" desc:"vault used when the event and the tags name none"`
	AllowedVaults     string     `envconfig:"CBR_ALLOWED_VAULTS" desc:"comma-separated vault IDs; any other vault is refused"`
	ResultSource      string     `envconfig:"RESULT_SOURCE" default:"restorepoint" desc:"source attribute of result events"`
	ResultSink        string     `envconfig:"RESULT_SINK" desc:"URL every result event is also POSTed to"`
	KSink             string     `envconfig:"K_SINK" desc:"sink injected by a Knative SinkBinding; used when RESULT_SINK is unset"`
	WebhookSecret     iam.Secret `envconfig:"WEBHOOK_SECRET" desc:"HTTP requests need Authorization: Bearer SECRET or an X-Hub-Signature-256 HMAC of the body (GitHub, GitLab and Flux webhooks their sender's proof of it); without it every HTTP request is refused unless WEBHOOK_AUTH=none"`
	WebhookAuth       string     `envconfig:"WEBHOOK_AUTH" desc:"none: HTTP requests of no known webhook sender are accepted without WEBHOOK_SECRET (a cluster-local Service behind a Knative Broker, a local try-out); unset: they need it"`
	RulesFile         string     `envconfig:"RULES_FILE" desc:"YAML file of rules mapping any JSON event to a trigger, tried before the built-in decoders (needs a bootstrap built with RULES=1)"`
	LogLevel          string     `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`

	Port           int           `envconfig:"PORT" default:"8080" desc:"HTTP port (FunctionGraph: 8000)"`
	Timeout        time.Duration `envconfig:"CBR_TIMEOUT" default:"10s" desc:"timeout of one CBR or IAM call"`
	MaxAttempts    int           `envconfig:"CBR_MAX_ATTEMPTS" default:"4" desc:"attempts per CBR call, retries included"`
	Incremental    bool          `envconfig:"CBR_INCREMENTAL" default:"true" desc:"incremental backups unless the event says otherwise"`
	DryRun         bool          `envconfig:"DRY_RUN" default:"false" desc:"plan and report without calling the API"`
	Wait           bool          `envconfig:"WAIT_FOR_AVAILABLE" default:"false" desc:"wait until each checkpoint is available"`
	IdempotencyTTL time.Duration `envconfig:"IDEMPOTENCY_TTL" default:"1h" desc:"how long a handled event answers duplicate deliveries"`
	LockTTL        time.Duration `envconfig:"IDEMPOTENCY_LOCK_TTL" default:"15m" desc:"how long one attempt holds an event when the invocation has no deadline (HTTP): duplicates meanwhile get 409 and its work, waits included, ends by then; later, another delivery may take the event over"`
	MaxRecords     int           `envconfig:"IDEMPOTENCY_MAX_RECORDS" default:"10000" desc:"most idempotency records held; when full, the oldest delivered ones are dropped before they expire"`
	Store          iam.Secret    `envconfig:"IDEMPOTENCY_STORE" desc:"redis://[user:password@]host:port/db (rediss:// for TLS): idempotency records shared by every instance; in memory when unset"`
	Dedupe         string        `envconfig:"CBR_DEDUPE" default:"lookup" desc:"lookup: before creating, find the trigger's restore point in CBR (one GET backups each; needs cbr:backups:list); off: only after a lost answer"`
	MaxBodyBytes   int64         `envconfig:"MAX_BODY_BYTES" default:"1048576" desc:"largest request body accepted"`
	MaxBatchEvents int           `envconfig:"MAX_BATCH_EVENTS" default:"100" desc:"most events in one CloudEvents batch (application/cloudevents-batch+json); a larger batch is refused whole with 413"`

	// Housekeeping (internal/app/prune.go).
	Associate           bool   `envconfig:"CBR_ASSOCIATE" default:"false" desc:"true: a resource a trigger names with its type (a tagged server; volumes and SFS Turbo shares in resource_details) that is not in the vault is associated with it first (one vault read per such trigger; needs cbr:vaults:get and cbr:vaults:addResources)"`
	Retention           string `envconfig:"RETENTION" desc:"what restorepoint prune keeps of the restore points restorepoint made, per resource: keep_last=N (the N newest available), max_age=AGE (30d or a Go duration such as 720h), or both, e.g. keep_last=7,max_age=30d"`
	RetentionMaxDeletes int    `envconfig:"RETENTION_MAX_DELETES" default:"50" desc:"most backups one prune pass deletes"`

	Follow                  string        `envconfig:"FOLLOW" default:"on" desc:"on: restorepoint serve follows every restore point it makes to its end in the background and reports it (io.restorepoint.checkpoint.available or .failed); off: only follow passes do (io.restorepoint.follow, restorepoint follow)"`
	FollowTTL               time.Duration `envconfig:"FOLLOW_TTL" default:"168h" desc:"how long a restore point is followed before it is given up"`
	FollowLookback          time.Duration `envconfig:"FOLLOW_LOOKBACK" default:"0s" desc:"0: a follow pass that searches CBR (the first of restorepoint serve, every scheduled one) finds the restore points still being made; a duration such as 15m: also those made within it that ended before any instance read them, so that a pass on a fresh instance reports them (at least once without IDEMPOTENCY_STORE); at most IDEMPOTENCY_TTL"`
	GitHubAppID             int64         `envconfig:"GITHUB_APP_ID" desc:"GitHub App id: restorepoint reviews deployments its deployment protection rule holds (deployment_protection_rule webhooks)"`
	GitHubAppPrivateKey     iam.Secret    `envconfig:"GITHUB_APP_PRIVATE_KEY" desc:"the GitHub App's private key (PEM), with GITHUB_APP_ID"`
	GitHubAppPrivateKeyFile string        `envconfig:"GITHUB_APP_PRIVATE_KEY_FILE" desc:"file holding the GitHub App's private key, instead of GITHUB_APP_PRIVATE_KEY"`
	GitHubAPIURL            string        `envconfig:"GITHUB_API_URL" default:"https://api.github.com" desc:"GitHub's REST API: https://HOST/api/v3 for GitHub Enterprise Server"`

	FunctionGraphMode string `envconfig:"FUNCTIONGRAPH_MODE" default:"http" desc:"http: serve on PORT (HTTP function); event: answer FunctionGraph's custom runtime API (event function)"`
	RuntimeAPIAddr    string `envconfig:"RUNTIME_API_ADDR" desc:"host:port of FunctionGraph's custom runtime API, set by FunctionGraph (FUNCTIONGRAPH_MODE=event)"`
	RuntimeTimeout    int    `envconfig:"RUNTIME_TIMEOUT" desc:"function timeout in seconds, set by FunctionGraph: the deadline of each event invocation (15 minutes when unset)"`
	// Observability (internal/app/telemetry.go).
	Metrics                  string     `envconfig:"METRICS" default:"on" desc:"on: Prometheus text on GET /metrics when serving HTTP; emf: CloudWatch EMF lines on stdout after each Lambda invocation; off"`
	MetricsToken             iam.Secret `envconfig:"METRICS_TOKEN" desc:"GET /metrics, and the reasons of GET /readyz, need Authorization: Bearer TOKEN; without it /metrics refuses every request unless METRICS_AUTH=none"`
	MetricsAuth              string     `envconfig:"METRICS_AUTH" desc:"none: GET /metrics answers without a token while METRICS_TOKEN is unset (a scraper that sends none, on a cluster-local Service); unset: it needs METRICS_TOKEN"`
	OTLPEndpoint             string     `envconfig:"OTEL_EXPORTER_OTLP_ENDPOINT" desc:"OTLP/HTTP base URL: traces to /v1/traces, metrics to /v1/metrics (builds with -tags otlp)"`
	OTLPTracesEndpoint       string     `envconfig:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" desc:"OTLP/HTTP URL for traces only, overriding the base URL"`
	OTLPMetricsEndpoint      string     `envconfig:"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" desc:"OTLP/HTTP URL for metrics only, overriding the base URL"`
	OTLPHeaders              iam.Secret `envconfig:"OTEL_EXPORTER_OTLP_HEADERS" desc:"headers of OTLP requests, key=value,key=value (e.g. an API key)"`
	OTelServiceName          string     `envconfig:"OTEL_SERVICE_NAME" default:"restorepoint" desc:"service.name of spans and metrics; the EMF namespace"`
	OTelMetricExportInterval int        `envconfig:"OTEL_METRIC_EXPORT_INTERVAL" default:"60000" desc:"milliseconds between OTLP metric pushes (Lambda also pushes after each invocation)"`
}

// AuthNone is the value that opens, set explicitly, what a secret guards
// by default: WEBHOOK_AUTH=none opens the HTTP front door to requests
// without the webhook secret, METRICS_AUTH=none opens GET /metrics without
// METRICS_TOKEN.
const AuthNone = "none"

// FunctionGraph modes (FUNCTIONGRAPH_MODE).
const (
	ModeHTTP  = "http"
	ModeEvent = "event"
)

// Auth modes (CBR_AUTH).
const (
	AuthToken         = "token"
	AuthTokenFile     = "token-file"
	AuthPassword      = "password"
	AuthFunctionGraph = "functiongraph"
	AuthAKSK          = "aksk"
	AuthAWSSecret     = "aws-secret"
)

// Load reads the configuration through getenv and checks it, reporting
// every problem at once in a *ConfigError, each naming its variable. An
// empty variable counts as unset. No secret value appears in an error.
// getenv is the only way it reads the environment.
func Load(getenv func(string) string) (Config, error) {
	cfg, problems := read(getenv)
	cfg = cfg.resolved()
	problems = append(problems, cfg.problems()...)
	if len(problems) > 0 {
		return cfg, &ConfigError{Problems: sortErrors(problems)}
	}
	return cfg, nil
}

// LoadPlanning is Load for planning only (restorepoint explain): the project
// and the credentials are not needed, so their problems are not reported.
func LoadPlanning(getenv func(string) string) (Config, error) {
	cfg, problems := read(getenv)
	cfg = cfg.resolved()
	problems = append(problems, cfg.problems()...)
	var kept []error
	for _, p := range problems {
		if !credentialProblem(p) {
			kept = append(kept, p)
		}
	}
	if len(kept) > 0 {
		return cfg, &ConfigError{Problems: sortErrors(kept)}
	}
	return cfg, nil
}

// Check reports every problem of c as it is (nothing derived, nothing
// changed) in a *ConfigError, or nil.
func (c Config) Check() error {
	if problems := c.problems(); len(problems) > 0 {
		return &ConfigError{Problems: sortErrors(problems)}
	}
	return nil
}

// credentialProblem reports whether p is about the project or credentials.
func credentialProblem(p error) bool {
	for _, key := range []string{"CBR_PROJECT_ID", "CBR_AUTH", "CBR_TOKEN", "IAM_", "CBR_ACCESS_KEY",
		"CBR_SECRET_KEY", "CBR_SECURITY_TOKEN", "CBR_CREDENTIALS_SECRET", "AWS_SESSION_TOKEN", "PARAMETERS_SECRETS_"} {
		if strings.HasPrefix(p.Error(), key) {
			return true
		}
	}
	return false
}

// ConfigError lists every problem found in the configuration.
type ConfigError struct{ Problems []error }

// Error lists the problems, one a line.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "  " + p.Error()
	}
	return "configuration:\n" + strings.Join(lines, "\n")
}

// uuidish reports whether s matches ^[0-9A-Za-z-]{1,64}$, and regionName
// whether it matches ^[a-z0-9-]+$. They are loops rather than compiled
// regexps because compiling a {1,64} repetition at package init cost about a
// millisecond and 767 allocations of every start (a test holds them to the
// patterns).
func uuidish(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

func regionName(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// resolved returns c with what is derived from other variables filled in:
// the project from RUNTIME_PROJECT_ID when CBR_PROJECT_ID is unset, and the
// auth mode from the credentials that are set when CBR_AUTH is unset.
func (c Config) resolved() Config {
	if c.ProjectID == "" {
		c.ProjectID = c.RuntimeProjectID
	}
	if c.Auth == "" {
		c.Auth = c.chooseAuth()
	}
	return c
}

// problems checks c without changing it: every value a constructor would
// reject (cbr.New, iam.NewPassword, handler.NewHTTPSink, by the same rules)
// and every value out of range, each naming its variable.
func (c Config) problems() []error {
	var out []error
	bad := func(format string, args ...any) { out = append(out, fmt.Errorf(format, args...)) }

	if c.ProjectID == "" {
		bad("CBR_PROJECT_ID: required (or RUNTIME_PROJECT_ID on FunctionGraph)")
	} else if !uuidish(c.ProjectID) {
		bad("CBR_PROJECT_ID: letters, digits and - only, at most 64 characters")
	}
	if c.Endpoint != "" {
		if err := cbr.CheckEndpoint(c.CBREndpoint()); err != nil {
			bad("CBR_ENDPOINT: must be an http(s) URL such as https://cbr.eu-de.otc.t-systems.com, "+
				"without /v3, user info, query or fragment: %v", err)
		}
	} else if !regionName(c.Region) {
		bad("CBR_REGION: must be a region name such as eu-de")
	}
	if _, err := parseRoutes(c.VaultRoutes); err != nil {
		bad("CBR_VAULT_ROUTES: %v", err)
	}
	switch c.Auth {
	case AuthToken:
		if c.Token == "" {
			bad("CBR_TOKEN: required when CBR_AUTH=token")
		}
	case AuthTokenFile:
		if c.TokenFile == "" {
			bad("CBR_TOKEN_FILE: required when CBR_AUTH=token-file")
		}
	case AuthPassword:
		if c.IAMEndpoint == "" {
			bad("IAM_ENDPOINT: required when CBR_AUTH=password")
		} else {
			if err := iam.CheckEndpoint(c.IAMEndpoint); err != nil {
				bad("IAM_ENDPOINT: must be an http(s) URL such as https://iam.eu-de.otc.t-systems.com/v3, "+
					"without user info, query or fragment: %v", err)
			}
		}
		if strings.TrimSpace(c.IAMUsername) == "" {
			bad("IAM_USERNAME: required when CBR_AUTH=password")
		}
		if strings.TrimSpace(c.IAMDomainName) == "" {
			bad("IAM_DOMAIN_NAME: required when CBR_AUTH=password")
		}
		if strings.TrimSpace(string(c.IAMPassword)+c.IAMPasswordFile) == "" {
			bad("IAM_PASSWORD: IAM_PASSWORD or IAM_PASSWORD_FILE required when CBR_AUTH=password")
		}
	case AuthAKSK:
		out = append(out, c.keyProblems()...)
	case AuthAWSSecret:
		if strings.TrimSpace(c.CredentialsSecret) == "" {
			bad("CBR_CREDENTIALS_SECRET: required when CBR_AUTH=aws-secret")
		}
		if c.SessionToken == "" {
			bad("AWS_SESSION_TOKEN: required when CBR_AUTH=aws-secret (AWS Lambda sets it)")
		}
		if c.ExtensionPort < 1 || c.ExtensionPort > 65535 {
			bad("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: must be between 1 and 65535")
		}
		if c.IAMEndpoint != "" {
			if err := iam.CheckEndpoint(c.IAMEndpoint); err != nil {
				bad("IAM_ENDPOINT: must be an http(s) URL: %v", err)
			}
		}
	case AuthFunctionGraph:
		if c.AccessKey != "" || c.AccessKeyFile != "" {
			out = append(out, c.keyProblems()...)
		}
	case "":
		if c.CredentialsSecret != "" {
			bad("CBR_AUTH: CBR_CREDENTIALS_SECRET is set together with other credentials: choose one with CBR_AUTH")
			break
		}
		bad("CBR_AUTH: no credentials: set CBR_ACCESS_KEY[_FILE] with CBR_SECRET_KEY[_FILE], " +
			"CBR_CREDENTIALS_SECRET, IAM_USERNAME with IAM_PASSWORD, CBR_TOKEN, CBR_TOKEN_FILE, or CBR_AUTH=functiongraph")
	default:
		bad("CBR_AUTH: must be aksk, aws-secret, password, token, token-file or functiongraph, not %q", c.Auth)
	}
	for _, sink := range []struct{ name, url string }{{"RESULT_SINK", c.ResultSink}, {"K_SINK", c.KSink}} {
		if sink.url == "" {
			continue
		}
		if err := handler.CheckSinkURL(sink.url); err != nil {
			bad("%s: %v", sink.name, err)
		}
	}
	for _, v := range []struct{ name, value string }{{"WEBHOOK_AUTH", c.WebhookAuth}, {"METRICS_AUTH", c.MetricsAuth}} {
		if v.value != "" && v.value != AuthNone {
			bad("%s: must be none or unset, not %q", v.name, v.value)
		}
	}
	if c.ResultSource == "" {
		bad("RESULT_SOURCE: must not be empty")
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("PORT: must be between 0 and 65535")
	}
	if c.Timeout <= 0 {
		bad("CBR_TIMEOUT: must be positive")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 20 {
		bad("CBR_MAX_ATTEMPTS: must be between 1 and 20")
	}
	if c.IdempotencyTTL <= 0 {
		bad("IDEMPOTENCY_TTL: must be positive")
	}
	if c.LockTTL <= 0 {
		bad("IDEMPOTENCY_LOCK_TTL: must be positive")
	}
	if c.MaxRecords < 1 {
		bad("IDEMPOTENCY_MAX_RECORDS: must be at least 1")
	}
	if c.Store != "" {
		if err := redis.CheckURL(c.Store.Reveal()); err != nil {
			bad("IDEMPOTENCY_STORE: must be redis://[user:password@]host:port/db or rediss://…: %v", err)
		}
	}
	if c.Dedupe != function.DedupeLookup && c.Dedupe != function.DedupeOff {
		bad("CBR_DEDUPE: must be lookup or off, not %q", c.Dedupe)
	}
	if c.MaxBodyBytes < 1024 {
		bad("MAX_BODY_BYTES: must be at least 1024")
	}
	if c.Follow != "on" && c.Follow != "off" {
		bad("FOLLOW: must be on or off, not %q", c.Follow)
	}
	if c.FollowTTL <= 0 {
		bad("FOLLOW_TTL: must be positive")
	}
	if c.FollowLookback < 0 || c.FollowLookback > c.IdempotencyTTL {
		// An end reported is kept for IDEMPOTENCY_TTL: the lookback must
		// not see past it, or a pass would report the end again.
		bad("FOLLOW_LOOKBACK: must be 0 (off) or a duration up to IDEMPOTENCY_TTL (%s), not %s", c.IdempotencyTTL, c.FollowLookback)
	}
	if c.GitHubAppID != 0 {
		if _, err := c.GitHubAppKey(); err != nil {
			out = append(out, err)
		}
		if err := githubapp.CheckAPIURL(c.GitHubAPIURL); err != nil {
			bad("GITHUB_API_URL: %v", err)
		}
	} else if c.GitHubAppPrivateKey != "" || c.GitHubAppPrivateKeyFile != "" {
		bad("GITHUB_APP_ID: required with GITHUB_APP_PRIVATE_KEY[_FILE]")
	}
	if c.MaxBatchEvents < 1 {
		bad("MAX_BATCH_EVENTS: must be at least 1")
	}
	if c.Retention != "" {
		if _, err := retention.ParsePolicy(c.Retention); err != nil {
			bad("RETENTION: %v", err)
		}
	}
	if c.RetentionMaxDeletes < 1 {
		bad("RETENTION_MAX_DELETES: must be at least 1")
	}
	switch c.FunctionGraphMode {
	case ModeHTTP:
	case ModeEvent:
		if c.RuntimeAPIAddr == "" {
			bad("RUNTIME_API_ADDR: required when FUNCTIONGRAPH_MODE=event (FunctionGraph sets it for custom runtimes)")
		}
	default:
		bad("FUNCTIONGRAPH_MODE: must be http or event, not %q", c.FunctionGraphMode)
	}
	if c.RuntimeAPIAddr != "" {
		if _, err := handler.NewRuntimeAPI(c.RuntimeAPIAddr, nil); err != nil {
			bad("RUNTIME_API_ADDR: must be host:port: %v", err)
		}
	}
	if c.RuntimeTimeout < 0 {
		bad("RUNTIME_TIMEOUT: must be a positive number of seconds")
	}
	if _, err := c.logLevel(); err != nil {
		bad("LOG_LEVEL: %v", err)
	}
	if c.RulesFile != "" && !RulesBuiltIn {
		out = append(out, ErrRulesNotBuiltIn)
	}
	out = append(out, c.telemetryProblems()...)
	return out
}

// GitHubAppKey reads the GitHub App's private key: GITHUB_APP_PRIVATE_KEY
// or the file GITHUB_APP_PRIVATE_KEY_FILE names. The error names the
// variable and what is wrong, never the key.
func (c Config) GitHubAppKey() (*rsa.PrivateKey, error) {
	name, pem := "GITHUB_APP_PRIVATE_KEY", []byte(c.GitHubAppPrivateKey.Reveal())
	switch {
	case c.GitHubAppPrivateKey != "" && c.GitHubAppPrivateKeyFile != "":
		return nil, errors.New("GITHUB_APP_PRIVATE_KEY: set together with GITHUB_APP_PRIVATE_KEY_FILE: give one")
	case c.GitHubAppPrivateKeyFile != "":
		name = "GITHUB_APP_PRIVATE_KEY_FILE"
		b, err := os.ReadFile(c.GitHubAppPrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot read the file: %v", name, errors.Unwrap(err))
		}
		pem = b
	case c.GitHubAppPrivateKey == "":
		return nil, errors.New("GITHUB_APP_PRIVATE_KEY: GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE required with GITHUB_APP_ID")
	}
	key, err := githubapp.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return key, nil
}

// keyProblems checks the access key variables: a well-formed access key,
// one secret key (a value or a file that holds one line), at most one
// security token. Files are read: a missing or empty one is known at start.
// No secret value appears in a message.
func (c Config) keyProblems() []error {
	var out []error
	bad := func(format string, args ...any) { out = append(out, fmt.Errorf(format, args...)) }
	switch {
	case c.AccessKey != "" && c.AccessKeyFile != "":
		bad("CBR_ACCESS_KEY: set together with CBR_ACCESS_KEY_FILE: give one")
	case c.AccessKeyFile != "":
		if err := iam.CheckFile(c.AccessKeyFile); err != nil {
			bad("CBR_ACCESS_KEY_FILE: %s", strings.TrimPrefix(err.Error(), "iam: "))
		}
	case c.AccessKey == "":
		bad("CBR_ACCESS_KEY: CBR_ACCESS_KEY or CBR_ACCESS_KEY_FILE required when CBR_AUTH=aksk")
	default:
		if err := (iam.Keys{AccessKey: c.AccessKey, SecretKey: "-"}).Validate(); err != nil {
			bad("CBR_ACCESS_KEY: %s", strings.TrimPrefix(err.Error(), "iam: "))
		}
	}
	checkSecret := func(name string, value iam.Secret, file string, required bool) {
		switch {
		case value != "" && file != "":
			bad("%s: set together with %s_FILE: give one", name, name)
		case value == "" && file == "":
			if required {
				bad("%s: %s or %s_FILE required when CBR_AUTH=aksk", name, name, name)
			}
		case value != "":
			if err := (iam.Keys{AccessKey: "AK", SecretKey: value}).Validate(); err != nil && name == "CBR_SECRET_KEY" {
				bad("%s: %s", name, strings.TrimPrefix(err.Error(), "iam: "))
			}
		default:
			if err := iam.CheckFile(file); err != nil {
				bad("%s_FILE: %s", name, strings.TrimPrefix(err.Error(), "iam: "))
			}
		}
	}
	checkSecret("CBR_SECRET_KEY", c.SecretKey, c.SecretKeyFile, true)
	checkSecret("CBR_SECURITY_TOKEN", c.SecurityToken, c.SecurityTokenFile, false)
	return out
}

// hasAccessKeys reports whether any access key variable is set.
func (c Config) hasAccessKeys() bool {
	return c.AccessKey != "" || c.AccessKeyFile != "" || c.SecretKey != "" || c.SecretKeyFile != ""
}

// chooseAuth picks the auth mode from the credentials that are set: access
// keys first, then a token, a token file, a password; a credentials secret
// only when it is the one thing set ("" when it is not).
func (c Config) chooseAuth() string {
	others := c.hasAccessKeys() || c.Token != "" ||
		c.TokenFile != "" || c.IAMUsername != "" || c.IAMPassword != "" || c.IAMPasswordFile != ""
	switch {
	case c.CredentialsSecret != "" && others:
		return ""
	case c.hasAccessKeys():
		return AuthAKSK
	case c.Token != "":
		return AuthToken
	case c.TokenFile != "":
		return AuthTokenFile
	case c.IAMUsername != "" || c.IAMPassword != "" || c.IAMPasswordFile != "":
		return AuthPassword
	case c.CredentialsSecret != "":
		return AuthAWSSecret
	}
	return ""
}

// IAMTokensEndpoint returns IAM_ENDPOINT, else the region's IAM endpoint
// (for a password read from CBR_CREDENTIALS_SECRET).
func (c Config) IAMTokensEndpoint() string {
	if c.IAMEndpoint != "" {
		return c.IAMEndpoint
	}
	return "https://iam." + c.Region + ".otc.t-systems.com/v3"
}

// CBREndpoint returns the CBR endpoint: CBR_ENDPOINT without a trailing
// slash, else the region's.
func (c Config) CBREndpoint() string {
	if c.Endpoint != "" {
		return strings.TrimRight(c.Endpoint, "/")
	}
	return "https://cbr." + c.Region + ".otc.t-systems.com"
}

// Sink returns where result events go: RESULT_SINK, else K_SINK.
func (c Config) Sink() string {
	if c.ResultSink != "" {
		return c.ResultSink
	}
	return c.KSink
}

// logLevel parses LOG_LEVEL.
func (c Config) logLevel() (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(c.LogLevel))
	return l, err
}

// FunctionConfig maps the environment onto the function's decisions.
func (c Config) FunctionConfig() function.Config {
	routes, _ := parseRoutes(c.VaultRoutes)
	var allowed []string
	for _, v := range strings.Split(c.AllowedVaults, ",") {
		if v = strings.TrimSpace(v); v != "" {
			allowed = append(allowed, v)
		}
	}
	return function.Config{
		BackupTag:        c.BackupTag,
		VaultTag:         c.VaultTag,
		VaultRoutes:      routes,
		DefaultVaultID:   c.DefaultVaultID,
		AllowedVaults:    allowed,
		FullBackups:      !c.Incremental,
		DryRun:           c.DryRun,
		WaitForAvailable: c.Wait,
		IdempotencyTTL:   c.IdempotencyTTL,
		LockTTL:          c.LockTTL,
		MaxRecords:       c.MaxRecords,
		Dedupe:           c.Dedupe,
		CreateAttempts:   c.MaxAttempts,
		Associate:        c.Associate,
		FollowTTL:        c.FollowTTL,
		FollowLookback:   c.FollowLookback,
	}
}

// parseRoutes reads "value:vault,value:vault".
func parseRoutes(s string) (map[string]string, error) {
	routes := make(map[string]string)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		value, vault, ok := strings.Cut(item, ":")
		value, vault = strings.TrimSpace(value), strings.TrimSpace(vault)
		if !ok || value == "" || vault == "" {
			return nil, fmt.Errorf("%q is not value:vault-id (e.g. daily:3b5816b5-f29c-4172-9d9a-76c719a659ce)", item)
		}
		if _, dup := routes[value]; dup {
			return nil, fmt.Errorf("value %q is routed twice", value)
		}
		routes[value] = vault
	}
	return routes, nil
}

// sortErrors orders problems by their text, so that reports are stable.
func sortErrors(errs []error) []error {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// PrintEnv writes the table of every variable as Markdown (the README
// carries it verbatim): variable, default, meaning.
func PrintEnv(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| Variable | Default | Meaning |\n|---|---|---|\n")
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		tag := t.Field(i).Tag
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", tag.Get("envconfig"), tag.Get("default"), tag.Get("desc"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Default returns the configuration with every default applied and nothing
// read from the environment (for the demo and tests).
func Default() Config {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		if def, ok := v.Type().Field(i).Tag.Lookup("default"); ok {
			if err := setField(v.Field(i), def); err != nil {
				panic(fmt.Sprintf("Config.%s: bad default %q: %v", v.Type().Field(i).Name, def, err))
			}
		}
	}
	return c
}

// read reads every variable of Config through getenv, parsing each as
// envconfig does. A variable that is empty or unset keeps its default;
// every value that cannot be parsed is reported (the field keeps its
// default), not only the first.
func read(getenv func(string) string) (Config, []error) {
	cfg := Default()
	var problems []error
	v := reflect.ValueOf(&cfg).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key := f.Tag.Get("envconfig")
		s := getenv(key)
		if s == "" {
			continue
		}
		if err := setField(v.Field(i), s); err != nil {
			problems = append(problems, fmt.Errorf("%s: cannot parse %q as %s", key, s, f.Type))
		}
	}
	return cfg, problems
}

// setField parses s into f, one of the kinds a Config field has, as
// envconfig does: strconv.ParseBool, strconv.ParseInt with base 0,
// time.ParseDuration.
func setField(f reflect.Value, s string) error {
	if f.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(s)
		if err == nil {
			f.SetInt(int64(d))
		}
		return err
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 0, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetInt(n)
	default:
		return fmt.Errorf("unsupported field kind %s", f.Kind())
	}
	return nil
}

// UsageError is an error in a command line: like a *ConfigError, the
// program exits with ExitUsage.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ExitUsage is the exit status for bad configuration or arguments.
const ExitUsage = 2

// ExitCode is the exit status of a command that ended with err (not nil):
// ExitUsage for a UsageError or a *ConfigError, else 1.
func ExitCode(err error) int {
	var ue UsageError
	var ce *ConfigError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return ExitUsage
	}
	return 1
}
