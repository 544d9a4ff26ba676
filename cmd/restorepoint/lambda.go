package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/restorepoint/restorepoint/handler"
)

// envLambdaRuntimeAPI is set by AWS Lambda (and by the Runtime Interface
// Emulator) to the address of the Runtime API.
const envLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"

// runLambda serves AWS Lambda invocations through the Runtime API until ctx
// ends. It is what `restorepoint` does when AWS_LAMBDA_RUNTIME_API is set,
// and what `restorepoint lambda` does explicitly.
func runLambda(ctx context.Context, stderr io.Writer) error {
	api := os.Getenv(envLambdaRuntimeAPI)
	if api == "" {
		return usageError{errors.New("lambda: " + envLambdaRuntimeAPI + " is not set; this command runs inside AWS Lambda or the Lambda Runtime Interface Emulator")}
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	a, err := newApp(cfg, logger)
	if err != nil {
		return err
	}
	a.logStart("lambda runtime", "runtime_api", api)
	// lambda.StartWithOptions never returns: it serves invocations until the
	// process ends (and exits the process when the Runtime API fails). Run it
	// aside so that SIGTERM, which cancels ctx, still ends the process.
	go lambda.StartWithOptions(a.lambdaHandler().Handle, lambda.WithContext(ctx))
	<-ctx.Done()
	return nil
}

// lambdaHandler is the Lambda front door of the app: Function URL requests
// get the HTTP front door's options (the webhook secret, the body limit).
func (a *app) lambdaHandler() *handler.Lambda {
	return handler.NewLambda(a.core, handler.HTTPOptions{
		MaxBodyBytes:  a.cfg.MaxBodyBytes,
		WebhookSecret: a.cfg.WebhookSecret,
	})
}
