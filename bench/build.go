package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// binaries are the programs the harness builds into its temporary directory.
type binaries struct {
	restorepoint, floor, sdk        string // for this machine: the receivers under test
	dev                             string // for this machine: restorepoint-dev, whose emulator they run against
	bootstrap, floorArm64, sdkArm64 string // linux/arm64, stripped: the sizes reported
	lambda, rie                     string // for this machine, when Lambda is measured
}

// sdkModule is the directory, under the repository's root, of the SDK
// function: a module of its own, so that restorepoint's module never depends
// on the Huawei Cloud SDK. It is built from there.
const sdkModule = "bench/sdkfn"

// Build flags of every binary: stripped, without cgo, as deployed.
const ldflags = "-s -w"

// packagedTags are the build tags of the deployed binary (TAGS in the
// Makefile, without RULES or OTLP): lambda.norpc leaves out net/rpc and
// encoding/gob, whose init costs start-up time, and nethttpomithttp2 the
// HTTP/2 that net/http bundles.
const packagedTags = "lambda.norpc,nethttpomithttp2"

// goBuild runs go build in dir with extra environment variables.
func goBuild(ctx context.Context, goCmd, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, goCmd, append([]string{"build", "-trimpath", "-ldflags", ldflags}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0"}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, out.String())
	}
	return nil
}

// buildAll builds the receivers and the stripped linux/arm64 binaries.
func buildAll(ctx context.Context, goCmd, root, dir string) (binaries, error) {
	b := binaries{
		restorepoint: filepath.Join(dir, "restorepoint"),
		floor:        filepath.Join(dir, "floor"),
		sdk:          filepath.Join(dir, "sdkfn"),
		dev:          filepath.Join(dir, "restorepoint-dev"),
		bootstrap:    filepath.Join(dir, "bootstrap-linux-arm64"),
		floorArm64:   filepath.Join(dir, "floor-linux-arm64"),
		sdkArm64:     filepath.Join(dir, "sdkfn-linux-arm64"),
	}
	arm64 := []string{"GOOS=linux", "GOARCH=arm64"}
	sdkDir := filepath.Join(root, sdkModule)
	for _, step := range []struct {
		dir  string
		env  []string
		args []string
	}{
		// As packaged (make lambda-zip, functiongraph-zip: TAGS), and the
		// floor the same way; the SDK function as its user would build it.
		{root, nil, []string{"-tags", packagedTags, "-o", b.restorepoint, "./cmd/restorepoint"}},
		{root, nil, []string{"-tags", packagedTags, "-o", b.floor, "./bench/floor"}},
		{sdkDir, nil, []string{"-o", b.sdk, "."}},
		{root, nil, []string{"-o", b.dev, "./cmd/restorepoint-dev"}},
		{root, arm64, []string{"-tags", packagedTags, "-o", b.bootstrap, "./cmd/restorepoint"}},
		{root, arm64, []string{"-tags", packagedTags, "-o", b.floorArm64, "./bench/floor"}},
		{sdkDir, arm64, []string{"-o", b.sdkArm64, "."}},
	} {
		if err := goBuild(ctx, goCmd, step.dir, step.env, step.args...); err != nil {
			return b, err
		}
	}
	return b, nil
}

// lambdaMissing says why the Lambda cold start cannot be measured in this
// tree, or "" when it can: the Runtime Interface Emulator's tools module and
// the Lambda front door must both be there.
func lambdaMissing(root string) string {
	for _, f := range []string{"tools/rie/go.mod", "handler/lambda.go"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			return f + " not in the tree (Lambda support not merged yet)"
		}
	}
	return ""
}

// buildLambda builds, for this machine, the bootstrap (as for Lambda:
// packagedTags) and the Runtime Interface Emulator from its tools module.
func buildLambda(ctx context.Context, goCmd, root, dir string, b *binaries) error {
	b.lambda = filepath.Join(dir, "bootstrap-"+runtime.GOOS+"-"+runtime.GOARCH)
	b.rie = filepath.Join(dir, "aws-lambda-rie")
	if err := goBuild(ctx, goCmd, root, nil, "-tags", packagedTags, "-o", b.lambda, "./cmd/restorepoint"); err != nil {
		return err
	}
	return goBuild(ctx, goCmd, filepath.Join(root, "tools", "rie"), nil,
		"-o", b.rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
}

// fileSize returns the size of the file at path in bytes.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
