//go:build !rules

package app

import (
	"log/slog"

	"github.com/restorepoint/restorepoint/handler"
)

// RulesBuiltIn reports whether the rules engine (CEL) is linked: only in a
// binary built with the build tag rules (make build RULES=1).
const RulesBuiltIn = false

// LoadRules is not available without the build tag rules: a set RULES_FILE
// is a configuration problem (Config.Check reports it), so there is nothing
// to load.
func LoadRules(file string, logger *slog.Logger) (handler.Rules, error) {
	if file == "" {
		return nil, nil
	}
	return nil, &ConfigError{Problems: []error{ErrRulesNotBuiltIn}}
}

// CheckRules answers `restorepoint rules check` in a binary without rules:
// ErrRulesNotBuiltIn.
func CheckRules(file string) (summary string, err error) {
	return "", ErrRulesNotBuiltIn
}
