// Package e2e holds restorepoint's reliability suite: end-to-end tests that
// build the restorepoint binary, run `restorepoint serve` as a child process
// against the embedded CBR + IAM emulator (with fault injection) and a
// recording result sink, and drive it through its real HTTP front door.
//
// The tests live in _test.go files and run with `go test ./...` (and so
// `make test`). Every test searches the child's logs, its replies and the
// events the sink received for the CBR token, the IAM password and the
// webhook secret.
package e2e
