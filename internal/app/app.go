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
)

// App is everything a front door needs, wired from a Config.
type App struct {
	cfg     Config
	version string
	logger  *slog.Logger
	tokens  cbr.TokenSource
	fn      *function.Function
	core    *handler.Core
	tel     *telemetry.Telemetry
}

// NewLogger returns the JSON logger on w at the configured level.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := cfg.logLevel()
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// New wires the token source, CBR client, function, result sink and core
// from cfg, which Load or Config.Check has accepted. version goes into the
// User-Agent of CBR calls and into the start log line. The telemetry the
// configuration asks for is wired in too (for the HTTP front door unless
// ForLambda is given).
func New(cfg Config, logger *slog.Logger, version string, opts ...Option) (*App, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tokens, err := tokenSource(cfg)
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(cfg, logger, version, o)
	if err != nil {
		return nil, err
	}
	httpClient := &http.Client{Timeout: cfg.Timeout, Transport: newTransport()}
	client, err := cbr.New(cfg.CBREndpoint(), cfg.ProjectID, tokens,
		cbr.WithHTTPClient(httpClient),
		cbr.WithMaxAttempts(cfg.MaxAttempts),
		cbr.WithUserAgent("restorepoint/"+version),
		cbr.WithObserver(tel.CBRAttempt))
	if err != nil {
		return nil, err
	}
	store := tel.Store(function.NewBoundedMemoryStore(time.Now, cfg.FunctionConfig().MaxRecords))
	fn := function.New(cfg.FunctionConfig(), client, function.WithStore(store), function.WithPlanObserver(tel.Planned))
	core := &handler.Core{Function: fn, Source: cfg.ResultSource, Logger: logger, Observer: tel}
	if sink := cfg.Sink(); sink != "" {
		s, err := handler.NewHTTPSink(sink, httpClient)
		if err != nil {
			return nil, err
		}
		core.Sink = tel.Sink(s)
	}
	return &App{cfg: cfg, version: version, logger: logger, tokens: tokens, fn: fn, core: core, tel: tel}, nil
}

// Logger returns the app's logger.
func (a *App) Logger() *slog.Logger { return a.logger }

// Config returns the configuration the app was wired from.
func (a *App) Config() Config { return a.cfg }

// LogStart logs that the app starts serving, with what it is wired to (the
// sink URL without a password).
func (a *App) LogStart(msg string, attrs ...any) {
	attrs = append(attrs, "endpoint", a.cfg.CBREndpoint(), "project_id", a.cfg.ProjectID, "auth", a.cfg.Auth,
		"sink", handler.RedactURL(a.cfg.Sink()), "dry_run", a.cfg.DryRun, "version", a.version)
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

// tokenSource builds the token source the configuration names.
func tokenSource(cfg Config) (cbr.TokenSource, error) {
	switch cfg.Auth {
	case AuthToken:
		return iam.NewStatic(cfg.Token), nil
	case AuthTokenFile:
		return iam.NewFile(cfg.TokenFile), nil
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
			return nil, err
		}
		return p, nil
	case AuthFunctionGraph:
		var fallback iam.TokenSource
		if cfg.Token != "" {
			fallback = iam.NewStatic(cfg.Token)
		}
		return iam.ContextSource{Fallback: fallback}, nil
	}
	return nil, fmt.Errorf("CBR_AUTH: unknown mode %q", cfg.Auth)
}

// HTTPHandler is the HTTP front door of the app, with GET /metrics when
// METRICS=on.
func (a *App) HTTPHandler() http.Handler {
	return a.withMetrics(handler.NewHTTP(a.core, handler.HTTPOptions{
		MaxBodyBytes:  a.cfg.MaxBodyBytes,
		WebhookSecret: a.cfg.WebhookSecret,
		RequestTokens: a.cfg.Auth == AuthFunctionGraph,
		Ready:         a.Ready,
	}))
}

// Ready reports whether a token can be had. With per-request tokens there
// is nothing to check ahead of a request.
func (a *App) Ready(ctx context.Context) error {
	if a.cfg.Auth == AuthFunctionGraph {
		return nil
	}
	if _, err := a.tokens.Token(ctx); err != nil {
		return fmt.Errorf("token source: %w", err)
	}
	return nil
}

// LambdaHandler is the Lambda front door of the app: Function URL requests
// get the HTTP front door's options (the webhook secret, the body limit).
func (a *App) LambdaHandler() *handler.Lambda {
	return handler.NewLambda(a.core, handler.HTTPOptions{
		MaxBodyBytes:  a.cfg.MaxBodyBytes,
		WebhookSecret: a.cfg.WebhookSecret,
	})
}
