//go:build rules

package app

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/rules"
)

// RulesBuiltIn reports whether the rules engine (CEL) is linked: only in a
// binary built with the build tag rules (make build RULES=1).
const RulesBuiltIn = true

// LoadRules loads and compiles the rules file (RULES_FILE); "" is no rules.
// A file that cannot be read or compiled is a *ConfigError naming
// RULES_FILE and listing every problem (rule, field and CEL's message).
func LoadRules(file string, logger *slog.Logger) (handler.Rules, error) {
	if file == "" {
		return nil, nil
	}
	set, err := rules.Load(file, rules.WithLogger(logger))
	if err != nil {
		return nil, rulesProblem(err)
	}
	return set, nil
}

// CheckRules validates a rules file for `restorepoint rules check`: a
// one-line summary of the rules, or the *ConfigError LoadRules gives.
func CheckRules(file string) (summary string, err error) {
	set, err := rules.Load(file)
	if err != nil {
		return "", rulesProblem(err)
	}
	return fmt.Sprintf("%s: %d rule(s) ok: %s", file, set.Len(), strings.Join(set.Names(), ", ")), nil
}

// rulesProblem makes a *ConfigError of a rules file's error.
func rulesProblem(err error) error {
	var le *rules.LoadError
	if errors.As(err, &le) {
		return &ConfigError{Problems: []error{fmt.Errorf("RULES_FILE: %w", le)}}
	}
	return &ConfigError{Problems: []error{fmt.Errorf("RULES_FILE: %w", err)}}
}
