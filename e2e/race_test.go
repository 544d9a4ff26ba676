//go:build race

package e2e

// raceEnabled makes TestMain build the child binary with -race too, so that
// a data race in the product under the storm fails the suite.
const raceEnabled = true
