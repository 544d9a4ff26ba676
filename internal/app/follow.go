package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/githubapp"
	"github.com/restorepoint/restorepoint/internal/telemetry"
)

// The follow-through of the app: the background follower of serve, the
// follow passes a schedule asks for (with retention, when RETENTION is set),
// gates, and the GitHub App that reviews deployments.

// RunFollower follows the restore points the app makes in the background
// until ctx ends (restorepoint serve with FOLLOW=on).
func (a *App) RunFollower(ctx context.Context) { a.background.Run(ctx) }

// logPass logs what a background pass did, when it did anything.
func (a *App) logPass(r events.FollowReport, err error) {
	switch {
	case err != nil:
		a.logger.Warn("follow pass", "error", err.Error())
	case r.Available+r.Failed+r.Reviews > 0 || len(r.Errors) > 0:
		level := a.logger.Info
		if len(r.Errors) > 0 {
			level = a.logger.Warn
		}
		level("follow pass", "pending", r.Pending, "available", r.Available, "failed", r.Failed,
			"reviews", r.Reviews, "errors", r.Errors)
	}
}

// FollowPass implements handler.Follower: a follow pass that searches CBR,
// then, when RETENTION is set, a retention pass.
func (a *App) FollowPass(ctx context.Context, deliver function.Deliver, search bool) (events.FollowReport, error) {
	report, err := a.fn.FollowPass(ctx, deliver, search)
	if err != nil || a.cfg.Retention == "" {
		return report, err
	}
	pruner, perr := a.Pruner(PruneOptions{})
	if perr != nil {
		report.Errors = append(report.Errors, perr.Error())
		return report, nil
	}
	pr, perr := pruner.Pass(ctx, deliver)
	report.Deleted = len(pr.Deleted)
	if perr != nil {
		report.Errors = append(report.Errors, "retention: "+perr.Error())
	}
	return report, nil
}

// GateOf implements handler.Follower.
func (a *App) GateOf(ctx context.Context, t events.Trigger, created *events.Created) (function.Gate, error) {
	return a.fn.GateOf(ctx, t, created)
}

// Poll implements handler.Follower.
func (a *App) Poll(ctx context.Context, ref events.Ref) (function.Gate, bool, error) {
	return a.fn.Poll(ctx, ref)
}

// Reject implements handler.Follower.
func (a *App) Reject(ctx context.Context, t events.Trigger, reason string) {
	a.fn.Reject(ctx, t, reason)
}

// reviewer posts deployment reviews as the GitHub App GITHUB_APP_ID, and
// counts them.
type reviewer struct {
	client *githubapp.Client
	tel    *telemetry.Telemetry
}

// newReviewer makes the GitHub App of the configuration.
func newReviewer(cfg Config, tel *telemetry.Telemetry) (reviewer, error) {
	key, err := cfg.GitHubAppKey()
	if err != nil {
		return reviewer{}, &ConfigError{Problems: []error{err}}
	}
	c, err := githubapp.New(githubapp.Config{AppID: cfg.GitHubAppID, PrivateKey: key, APIURL: cfg.GitHubAPIURL})
	if err != nil {
		return reviewer{}, &ConfigError{Problems: []error{fmt.Errorf("GITHUB_APP_ID: %w", err)}}
	}
	return reviewer{client: c, tel: tel}, nil
}

// Review implements function.Reviewer.
func (r reviewer) Review(ctx context.Context, rv events.Review, approve bool, comment string) error {
	state := githubapp.StateRejected
	if approve {
		state = githubapp.StateApproved
	}
	if rv.CallbackURL == "" {
		return errors.New("the deployment protection rule gave no deployment_callback_url")
	}
	err := r.client.Review(ctx, rv.InstallationID, rv.CallbackURL,
		githubapp.Review{EnvironmentName: rv.Environment, State: state, Comment: comment})
	if err != nil {
		r.tel.Review(ctx, "failed")
		return err
	}
	r.tel.Review(ctx, string(state))
	return nil
}
