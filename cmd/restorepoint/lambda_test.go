package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/internal/app"
)

func TestLambdaCommandNeedsTheRuntimeAPI(t *testing.T) {
	t.Setenv(envLambdaRuntimeAPI, "")
	os.Unsetenv(envLambdaRuntimeAPI)
	_, _, err := runCmd(t, "", "lambda")
	var ue app.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), envLambdaRuntimeAPI) {
		t.Fatalf("restorepoint lambda outside Lambda: %v, want a usage error naming %s", err, envLambdaRuntimeAPI)
	}
	out, _, err := runCmd(t, "", "help")
	if err != nil || !strings.Contains(out, "restorepoint lambda") {
		t.Fatalf("help does not list the lambda command: %v\n%s", err, out)
	}
}
