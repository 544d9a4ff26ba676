//go:build race

package rules

// raceEnabled: the race detector changes what escapes to the heap, so
// TestBudget checks what an evaluation allocates only without it.
const raceEnabled = true
