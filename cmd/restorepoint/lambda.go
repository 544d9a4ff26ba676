package main

import (
	"context"
	"errors"
	"io"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/restorepoint/restorepoint/internal/app"
)

// envLambdaRuntimeAPI is set by AWS Lambda (and by the Runtime Interface
// Emulator) to the address of the Runtime API.
const envLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"

// runLambda serves AWS Lambda invocations through the Runtime API until ctx
// ends. It is what `restorepoint` does when AWS_LAMBDA_RUNTIME_API is set,
// and what `restorepoint lambda` does explicitly.
func runLambda(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	api := getenv(envLambdaRuntimeAPI)
	if api == "" {
		return usageError{errors.New("lambda: " + envLambdaRuntimeAPI + " is not set; this command runs inside AWS Lambda or the Lambda Runtime Interface Emulator")}
	}
	cfg, err := app.Load(getenv)
	if err != nil {
		return err
	}
	a, err := app.New(cfg, app.NewLogger(cfg, stderr), version)
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
	go lambda.StartWithOptions(a.LambdaHandler(), lambda.WithContext(ctx))
	<-ctx.Done()
	return nil
}
