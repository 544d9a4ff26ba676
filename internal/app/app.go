package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/internal/telemetry"
	"github.com/restorepoint/restorepoint/store/redis"
)

// App is everything a front door needs, wired from a Config.
type App struct {
	cfg     Config
	version string
	logger  *slog.Logger
	creds   credentials
	client  *cbr.Client
	fn      *function.Function
	core    *handler.Core
	store   *redis.Store // nil: records in memory
	tel     *telemetry.Telemetry
	// background follows restore points in the background of serve (RunFollower).
	background *function.Background
}

// NewLogger returns the JSON logger on w at the configured level.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := cfg.logLevel()
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// New wires the credentials, CBR client, function, rules, result sink and
// core from cfg, which Load or Config.Check has accepted. version goes into
// the User-Agent of CBR calls and into the start log line. A rules file
// (RULES_FILE) that does not compile is a *ConfigError listing every problem.
// The telemetry the configuration asks for is wired in too (for the HTTP
// front door unless ForLambda is given).
func New(cfg Config, logger *slog.Logger, version string, opts ...Option) (*App, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ruleSet, err := LoadRules(cfg.RulesFile, logger)
	if err != nil {
		return nil, err
	}
	creds, err := newCredentials(cfg)
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(cfg, logger, version, o)
	if err != nil {
		return nil, err
	}
	httpClient := &http.Client{Timeout: cfg.Timeout, Transport: newTransport()}
	client, err := cbr.New(cfg.CBREndpoint(), cfg.ProjectID, creds.auth,
		cbr.WithHTTPClient(httpClient),
		cbr.WithMaxAttempts(cfg.MaxAttempts),
		cbr.WithUserAgent("restorepoint/"+version),
		cbr.WithObserver(tel.CBRAttempt))
	if err != nil {
		return nil, err
	}
	var records function.Store = function.NewBoundedMemoryStore(time.Now, cfg.FunctionConfig().MaxRecords)
	var store *redis.Store
	if cfg.Store != "" {
		// No connection yet: the first trigger (or /readyz) makes it.
		if store, err = redis.New(cfg.Store.Reveal(), redis.Options{Timeout: min(cfg.Timeout, 2*time.Second)}); err != nil {
			return nil, err
		}
		records = store
	}
	var follows function.FollowStore = function.NewMemoryFollows(time.Now, cfg.MaxRecords)
	if store != nil {
		follows = store
	}
	a := &App{cfg: cfg, version: version, logger: logger, creds: creds, client: client, store: store, tel: tel}
	fnOpts := []function.Option{function.WithStore(tel.Store(records)), function.WithPlanObserver(tel.Planned),
		function.WithFollows(follows), function.WithTracker(func(ctx context.Context, fl function.Follow) { a.background.Track(ctx, fl) })}
	if cfg.GitHubAppID != 0 {
		r, err := newReviewer(cfg, tel)
		if err != nil {
			return nil, err
		}
		fnOpts = append(fnOpts, function.WithReviewer(r))
	}
	a.fn = function.New(cfg.FunctionConfig(), client, fnOpts...)
	a.core = &handler.Core{Function: a.fn, Source: cfg.ResultSource, Logger: logger, Rules: ruleSet, Observer: tel, Follower: a}
	a.background = function.NewBackground(a.fn, a.DeliverResult, a.logPass)
	core := a.core
	if sink := cfg.Sink(); sink != "" {
		s, err := handler.NewHTTPSink(sink, httpClient)
		if err != nil {
			return nil, err
		}
		core.Sink = tel.Sink(s)
	}
	return a, nil
}

// Logger returns the app's logger.
func (a *App) Logger() *slog.Logger { return a.logger }

// Config returns the configuration the app was wired from.
func (a *App) Config() Config { return a.cfg }

// LogStart logs that the app starts serving, with what it is wired to (the
// sink URL without a password).
func (a *App) LogStart(msg string, attrs ...any) {
	store := "memory"
	if a.store != nil {
		store = "redis " + a.store.Addr()
	}
	attrs = append(attrs, "endpoint", a.cfg.CBREndpoint(), "project_id", a.cfg.ProjectID, "auth", a.cfg.Auth,
		"sink", handler.RedactURL(a.cfg.Sink()), "dry_run", a.cfg.DryRun, "rules_file", a.cfg.RulesFile,
		"idempotency_store", store, "dedupe", a.cfg.Dedupe, "version", a.version)
	a.logger.Info(msg, attrs...)
}

// maxIdleConnsPerHost is how many idle connections to the CBR endpoint (and
// to the sink) are kept for reuse. net/http's default of 2 makes every
// concurrent trigger beyond the second dial a connection and close it again;
// under 64 concurrent triggers that churn was a fifth of the CPU time.
const maxIdleConnsPerHost = 128

// newTransport returns net/http's default transport (proxy settings, dial
// and TLS timeouts, HTTP/2) with room for maxIdleConnsPerHost idle
// connections per host.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * maxIdleConnsPerHost
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return t
}

// credentials are how CBR calls are authorised, as the configuration says.
type credentials struct {
	// auth authorises every attempt.
	auth iam.Authorizer
	// ready checks ahead of a request that credentials can be had; nil when
	// they come with each request.
	ready func(ctx context.Context) error
	// webhookSecret, when not nil, gives the webhook secret at run time.
	webhookSecret func(ctx context.Context) (iam.Secret, error)
	// close, when not nil, stops what keeps the credentials fresh (an IAM
	// token's refresh).
	close func() error
}

// newCredentials builds the credentials cfg.Auth names.
func newCredentials(cfg Config) (credentials, error) {
	tokens := func(ts iam.TokenSource) credentials {
		return credentials{auth: iam.TokenAuthorizer{Source: ts}, ready: func(ctx context.Context) error {
			_, err := ts.Token(ctx)
			return err
		}}
	}
	switch cfg.Auth {
	case AuthToken:
		return tokens(iam.NewStatic(cfg.Token)), nil
	case AuthTokenFile:
		return tokens(iam.NewFile(cfg.TokenFile)), nil
	case AuthPassword:
		p, err := iam.NewPassword(iam.PasswordConfig{
			Endpoint:     cfg.IAMEndpoint,
			Username:     cfg.IAMUsername,
			Password:     cfg.IAMPassword,
			PasswordFile: cfg.IAMPasswordFile,
			DomainName:   cfg.IAMDomainName,
			ProjectID:    cfg.ProjectID,
			HTTPClient:   &http.Client{Timeout: cfg.Timeout},
		})
		if err != nil {
			return credentials{}, err
		}
		c := tokens(p)
		c.close = p.Close
		return c, nil
	case AuthAKSK:
		keys, err := accessKeys(cfg)
		if err != nil {
			return credentials{}, err
		}
		return credentials{auth: iam.Signer{Keys: keys}, ready: func(ctx context.Context) error {
			_, err := keys.Keys(ctx)
			return err
		}}, nil
	case AuthAWSSecret:
		ext, err := iam.NewSecretsExtension(iam.SecretsExtensionConfig{
			SecretID:     cfg.CredentialsSecret,
			SessionToken: cfg.SessionToken,
			Port:         cfg.ExtensionPort,
		})
		if err != nil {
			return credentials{}, err
		}
		sc, err := iam.NewSecretCredentials(iam.SecretCredentialsConfig{
			Secret:      ext,
			IAMEndpoint: cfg.IAMTokensEndpoint(),
			ProjectID:   cfg.ProjectID,
			HTTPClient:  &http.Client{Timeout: cfg.Timeout},
		})
		if err != nil {
			return credentials{}, err
		}
		c := credentials{auth: sc, ready: sc.Check, close: sc.Close}
		if cfg.WebhookSecret == "" {
			c.webhookSecret = sc.WebhookSecret
		}
		return c, nil
	case AuthFunctionGraph:
		// Each request's own keys or token; the configured ones for
		// requests without.
		var fallback iam.Authorizer
		switch {
		case cfg.AccessKey != "" || cfg.AccessKeyFile != "":
			keys, err := accessKeys(cfg)
			if err != nil {
				return credentials{}, err
			}
			fallback = iam.Signer{Keys: keys}
		case cfg.Token != "":
			fallback = iam.TokenAuthorizer{Source: iam.NewStatic(cfg.Token)}
		}
		return credentials{auth: iam.RequestCredentials{Fallback: fallback}}, nil
	}
	return credentials{}, fmt.Errorf("CBR_AUTH: unknown mode %q", cfg.Auth)
}

// accessKeys is the key source of the CBR_ACCESS_KEY variables.
func accessKeys(cfg Config) (*iam.AccessKeys, error) {
	return iam.NewAccessKeys(iam.AccessKeysConfig{
		AccessKey:         cfg.AccessKey,
		AccessKeyFile:     cfg.AccessKeyFile,
		SecretKey:         cfg.SecretKey,
		SecretKeyFile:     cfg.SecretKeyFile,
		SecurityToken:     cfg.SecurityToken,
		SecurityTokenFile: cfg.SecurityTokenFile,
	})
}

// HTTPHandler is the HTTP front door of the app, with GET /metrics when
// METRICS=on.
func (a *App) HTTPHandler() http.Handler {
	opts := a.httpOptions()
	opts.RequestTokens = a.cfg.Auth == AuthFunctionGraph
	opts.Ready = a.Ready
	opts.DetailsToken = a.cfg.MetricsToken
	return a.withMetrics(handler.NewHTTP(a.core, opts))
}

// Ready reports whether credentials can be had (a token, the access keys,
// the credentials secret) and the shared idempotency store (when
// configured) answers. With per-request credentials there are none to check
// ahead of a request.
func (a *App) Ready(ctx context.Context) error {
	if a.store != nil {
		if err := a.store.Ping(ctx); err != nil {
			return fmt.Errorf("idempotency store: %w", err)
		}
	}
	if a.creds.ready == nil {
		return nil
	}
	if err := a.creds.ready(ctx); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}

// httpOptions are the options of every HTTP front door: the body limit and
// who may call it.
func (a *App) httpOptions() handler.HTTPOptions {
	return handler.HTTPOptions{
		MaxBodyBytes:   a.cfg.MaxBodyBytes,
		MaxBatchEvents: a.cfg.MaxBatchEvents,
		WebhookSecret:  a.cfg.WebhookSecret,
		WebhookSecrets: a.creds.webhookSecret,
		Open:           a.cfg.WebhookAuth == AuthNone,
	}
}

// LambdaHandler is the Lambda front door of the app: Function URL requests
// get the HTTP front door's options (the webhook secret, the body limit).
func (a *App) LambdaHandler() *handler.Lambda {
	return handler.NewLambda(a.core, a.httpOptions())
}

// FunctionGraphHandler is the FunctionGraph event-function front door of the
// app: credentials per invocation with CBR_AUTH=functiongraph (required
// unless CBR_TOKEN is a fallback), each invocation's deadline
// RUNTIME_TIMEOUT, events bounded by MAX_BODY_BYTES, telemetry (OTLP)
// flushed before each answer.
func (a *App) FunctionGraphHandler() *handler.FunctionGraph {
	perRequest := a.cfg.Auth == AuthFunctionGraph
	opts := handler.FunctionGraphOptions{
		RequestCredentials: perRequest,
		RequireCredentials: perRequest && a.cfg.Token == "",
		Timeout:            time.Duration(a.cfg.RuntimeTimeout) * time.Second,
		MaxBodyBytes:       a.cfg.MaxBodyBytes,
	}
	if a.tel.NeedsFlush() {
		// The instance may be frozen between invocations, as on Lambda.
		opts.Flush = a.tel.Flush
	}
	return handler.NewFunctionGraph(a.core, opts)
}

// ServeFunctionGraph answers FunctionGraph's custom runtime API at
// RUNTIME_API_ADDR until ctx ends (FUNCTIONGRAPH_MODE=event). A runtime API
// that cannot be reached is an error naming RUNTIME_API_ADDR.
func (a *App) ServeFunctionGraph(ctx context.Context) error {
	// No client timeout: the request for the next invocation waits for one.
	api, err := handler.NewRuntimeAPI(a.cfg.RuntimeAPIAddr, &http.Client{Transport: newTransport()})
	if err != nil {
		return fmt.Errorf("RUNTIME_API_ADDR: %w", err)
	}
	if err := a.FunctionGraphHandler().Serve(ctx, api); err != nil {
		return fmt.Errorf("FunctionGraph runtime API at RUNTIME_API_ADDR=%s: %w", a.cfg.RuntimeAPIAddr, err)
	}
	return nil
}
