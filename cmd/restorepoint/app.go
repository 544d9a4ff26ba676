package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/iam"
)

// app is everything a front door needs, wired from a Config.
type app struct {
	cfg    Config
	logger *slog.Logger
	tokens cbr.TokenSource
	fn     *function.Function
	core   *handler.Core
}

// newLogger returns the JSON logger on w at the configured level.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := cfg.logLevel()
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// newApp wires the token source, CBR client, function and core from cfg.
func newApp(cfg Config, logger *slog.Logger) (*app, error) {
	tokens, err := tokenSource(cfg)
	if err != nil {
		return nil, err
	}
	httpClient := &http.Client{Timeout: cfg.Timeout, Transport: newTransport()}
	client, err := cbr.New(cfg.endpoint(), cfg.ProjectID, tokens,
		cbr.WithHTTPClient(httpClient),
		cbr.WithMaxAttempts(cfg.MaxAttempts),
		cbr.WithUserAgent("restorepoint/"+version))
	if err != nil {
		return nil, err
	}
	fn := function.New(cfg.functionConfig(), client)
	core := &handler.Core{Function: fn, Source: cfg.ResultSource, Logger: logger}
	if sink := cfg.sink(); sink != "" {
		s, err := handler.NewHTTPSink(sink, httpClient)
		if err != nil {
			return nil, err
		}
		core.Sink = s
	}
	return &app{cfg: cfg, logger: logger, tokens: tokens, fn: fn, core: core}, nil
}

// logStart logs that the app starts serving, with what it is wired to (the
// sink URL without a password).
func (a *app) logStart(msg string, attrs ...any) {
	attrs = append(attrs, "endpoint", a.cfg.endpoint(), "project_id", a.cfg.ProjectID, "auth", a.cfg.Auth,
		"sink", handler.RedactURL(a.cfg.sink()), "dry_run", a.cfg.DryRun, "version", version)
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
	case authToken:
		return iam.NewStatic(cfg.Token), nil
	case authTokenFile:
		return iam.NewFile(cfg.TokenFile), nil
	case authPassword:
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
	case authFunctionGraph:
		var fallback iam.TokenSource
		if cfg.Token != "" {
			fallback = iam.NewStatic(cfg.Token)
		}
		return iam.ContextSource{Fallback: fallback}, nil
	}
	return nil, fmt.Errorf("CBR_AUTH: unknown mode %q", cfg.Auth)
}

// httpHandler is the HTTP front door of the app.
func (a *app) httpHandler() http.Handler {
	return handler.NewHTTP(a.core, handler.HTTPOptions{
		MaxBodyBytes:  a.cfg.MaxBodyBytes,
		WebhookSecret: a.cfg.WebhookSecret,
		RequestTokens: a.cfg.Auth == authFunctionGraph,
		Ready:         a.ready,
	})
}

// ready reports whether a token can be had. With per-request tokens there
// is nothing to check ahead of a request.
func (a *app) ready(ctx context.Context) error {
	if a.cfg.Auth == authFunctionGraph {
		return nil
	}
	if _, err := a.tokens.Token(ctx); err != nil {
		return fmt.Errorf("token source: %w", err)
	}
	return nil
}
