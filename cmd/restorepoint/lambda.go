package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/restorepoint/restorepoint/internal/app"
)

// envLambdaRuntimeAPI is set by AWS Lambda (and by the Runtime Interface
// Emulator) to the address of the Runtime API.
const envLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"

// runLambda serves AWS Lambda invocations through the Runtime API until ctx
// ends. It is what `restorepoint` does when AWS_LAMBDA_RUNTIME_API is set,
// and what `restorepoint lambda` does explicitly.
func runLambda(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	api := getenv(envLambdaRuntimeAPI)
	if api == "" {
		return app.UsageError{Err: errors.New("lambda: " + envLambdaRuntimeAPI + " is not set; this command runs inside AWS Lambda or the Lambda Runtime Interface Emulator")}
	}
	a, err := newApp(getenv, stderr, app.ForLambda(stdout))
	if err != nil {
		return err
	}
	a.LogStart("lambda runtime", "runtime_api", api)
	// lambda.StartWithOptions never returns: it serves invocations until the
	// process ends (and exits the process when the Runtime API fails). Run it
	// aside so that SIGTERM, which cancels ctx, still ends the process.
	// The handler is a lambda.Handler (Invoke), so the runtime calls it
	// without reflection. (The runtime client reads AWS_LAMBDA_RUNTIME_API
	// from the process environment itself.)
	go lambda.StartWithOptions(a.LambdaInvoker(), lambda.WithContext(ctx))
	<-ctx.Done()
	shutdownApp(a)
	return nil
}

// shutdownGrace bounds the flush of spans and metrics at exit.
const shutdownGrace = 3 * time.Second

// shutdownApp flushes the spans and metrics a exports and releases its
// credentials and store (on SIGTERM, once the front door has stopped); a
// failure is logged, not returned: the triggers were handled.
func shutdownApp(a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		a.Logger().Warn("shutdown", "error", err)
	}
}
