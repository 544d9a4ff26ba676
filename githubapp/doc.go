// Package githubapp is restorepoint's side of a GitHub App that implements a
// custom deployment protection rule: it authenticates as the app, gets
// installation access tokens, and reviews (approves or rejects) a deployment
// that waits for the rule, by posting to the deployment_callback_url of the
// deployment_protection_rule webhook.
//
// Authentication, as GitHub documents it for apps:
//
//   - The app signs a JSON Web Token with its RSA private key (RS256): iss is
//     the app id, iat a minute in the past (clock drift), exp nine minutes
//     after now, so that the token lives ten minutes, GitHub's maximum
//     ([Client.AppJWT]).
//   - With that JWT it asks POST {api}/app/installations/{installation_id}/access_tokens
//     for an installation access token (valid an hour). The [Client] keeps one
//     per installation until five minutes before it expires; concurrent
//     callers share one request ([Client.InstallationToken]).
//   - With the installation token it posts the review
//     {"environment_name":…,"state":"approved"|"rejected","comment":…} to the
//     callback URL ([Client.Review]). The token is sent only to the configured
//     API: a callback URL elsewhere is refused before anything is sent
//     ([Client.CheckCallbackURL]).
//
// Every call is retried on throttling (429, or 403 with GitHub's rate-limit
// signs) and unavailability (5xx, network failures) with exponential backoff
// and full jitter, within the context's deadline; a review answered 401 drops
// the installation token and is tried once more with a fresh one. Every error
// states its class for [failure.ClassOf] (see [APIError.FailureClass]); error
// texts carry the status and GitHub's message, on one line and bounded, and
// never the private key, the JWT or an installation token.
//
// The package does nothing when imported (it has no init work); package
// githubtest holds a stand-in of the GitHub API for tests.
package githubapp
