package app

import "errors"

// ErrRulesNotBuiltIn is the problem of a RULES_FILE given to a binary built
// without the rules engine, and the answer of its `rules check`.
var ErrRulesNotBuiltIn = errors.New("RULES_FILE: this bootstrap was built without rules; " +
	"build it with `make build RULES=1` (or lambda-zip, functiongraph-zip, sam build with RULES=1; see README)")
