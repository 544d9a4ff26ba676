// Package rules maps any JSON event to a restorepoint trigger with
// declarative rules: a YAML file of named rules, each a CEL `match`
// expression and an action whose fields are CEL expressions, tried in file
// order, first match wins.
//
// The file's shape:
//
//	rules:
//	  - name: github-production
//	    match: 'headers["x-github-event"] == "deployment" && data.deployment.environment == "production"'
//	    action:
//	      type: deploy.pre          # deploy.pre, server.tagged, checkpoint.requested or ignore
//	      id: '"github/" + string(data.repository.id) + "/" + string(data.deployment.id)'
//	      vault_id: '"3b5816b5-f29c-4172-9d9a-76c719a659ce"'
//	      resources: '["94eba8b2-acc9-4d82-badc-127144cc5526"]'
//	      name: '"pre-deploy-" + data.repository.name'
//	  - name: skip-staging
//	    match: 'has(data.environment) && data.environment == "staging"'
//	    action:
//	      type: ignore
//	      reason: '"staging is not backed up"'
//
// Expressions see three variables: headers (map(string, string), lower-case
// names, several values joined by ", "), attributes (map(string, dyn), the
// CloudEvent's context attributes and extensions, empty for other payloads)
// and data (dyn: the JSON body, or the CloudEvent's data). JSON numbers
// written as integers that fit int64 are CEL int, others double, so
// string(data.repository.id) is "702918345". The standard CEL library is
// available (contains, startsWith, endsWith, matches, size, has, all, exists,
// map, filter, ...); the string extensions (lowerAscii, split, substring) are
// not, as they would add about 0.8 MB to the binary.
//
// Each expression's evaluation has a budget, DefaultCostLimit cost units:
// every operation costs what CEL's cost model says, and every string, bytes
// value and list element the expression builds costs by its size too (see
// DefaultCostLimit), so that no payload can make a rule use more than a few
// megabytes. A match over its budget counts as no match and is logged; an
// action field over its budget is a *failure.FieldError naming the rule and
// the field.
//
// CEL is compiled only by Parse and Load: importing the package costs nothing
// at start-up.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"gopkg.in/yaml.v3"

	"github.com/restorepoint/restorepoint/failure"
)

// Action types, the values of a rule's action.type.
const (
	TypeDeployPre           = "deploy.pre"
	TypeServerTagged        = "server.tagged"
	TypeCheckpointRequested = "checkpoint.requested"
	TypeIgnore              = "ignore"
)

// DefaultCostLimit is the budget of one expression's evaluation, in cost
// units (only tests set another): CEL's cost of each operation
// (the per-call limit Kubernetes uses), plus 1 for each byte of a string or
// bytes value the expression builds and 64 for each element of a list it
// builds. It bounds what one evaluation allocates to a few megabytes.
const DefaultCostLimit uint64 = 1_000_000

// MaxFileSize is the largest rules file Load and Parse accept.
const MaxFileSize = 1 << 20

// problem is a problem with one rule: at load, a field that is missing,
// unknown or does not compile; at evaluation, an action field that fails or
// yields something the trigger cannot take. It leaves the package as a
// *failure.FieldError (see fieldError).
type problem struct {
	// Rule is the rule's name, or "rules[<index>]" for a rule without one;
	// "" for a problem with the file as a whole.
	Rule string
	// Field is the field of the rule: "match", "action.vault_id",
	// "action.resources[1].type", "name".
	Field string
	// Line is the line of the rules file, when known (load errors only).
	Line int
	// Message says what is wrong; for a CEL problem, CEL's message.
	Message string
}

// fieldError returns the problem as the project's one field error: Field
// names the line (when known), the rule and its field, `line 4: rule
// "github-production": action.vault_id`, and Rule is the message, so that
// its text is `line 4: rule "github-production": action.vault_id: must be a
// UUID`. Its class is failure.Invalid.
func (e *problem) fieldError() *failure.FieldError {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d", e.Line)
	}
	if e.Rule != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		fmt.Fprintf(&b, "rule %q", e.Rule)
	}
	if e.Field != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(e.Field)
	}
	return &failure.FieldError{Field: b.String(), Rule: e.Message}
}

// LoadError lists every problem found in a rules file.
type LoadError struct {
	// File is the file's name as given to Load or Parse.
	File string
	// Errors are the problems, in file order, each naming its line, rule and
	// field.
	Errors []*failure.FieldError
}

// Error returns one line per problem, after a line naming the file.
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rules file %s: %d problem(s)", e.File, len(e.Errors))
	for _, p := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(p.Error(), "\n", "\n    "))
	}
	return b.String()
}

// Unwrap returns the problems, for errors.As.
func (e *LoadError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, p := range e.Errors {
		errs[i] = p
	}
	return errs
}

// Option configures Parse and Load.
type Option func(*options)

type options struct {
	costLimit uint64       // DefaultCostLimit; tests: WithCostLimit
	logger    *slog.Logger // nil: slog.Default()
}

// WithLogger sets the logger of the Set's evaluations, which logs a match
// stopped at its budget; by default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Set is a compiled rules file, safe for concurrent use.
type Set struct {
	rules     []*rule
	costLimit uint64
	logger    *slog.Logger
}

// rule is one compiled rule.
type rule struct {
	name   string // the label used in errors: name, or rules[i]
	index  int
	typ    string
	match  cel.Program
	fields []field // the action's expressions, in actionFields order
}

// field is one compiled action field.
type field struct {
	key  string // "id", "vault_id", ...
	prog cel.Program
}

// Load reads and compiles the rules file at path (see Parse).
func Load(path string, opts ...Option) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limitedReader{f, MaxFileSize + 1}); err != nil {
		return nil, fmt.Errorf("rules file %s: %w", path, err)
	}
	return Parse(path, buf.Bytes(), opts...)
}

type limitedReader struct {
	f *os.File
	n int64
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("larger than 1 MiB")
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	n, err := r.f.Read(p)
	r.n -= int64(n)
	return n, err
}

// Names returns the rules' names, in file order.
func (s *Set) Names() []string {
	names := make([]string, len(s.rules))
	for i, r := range s.rules {
		names[i] = r.name
	}
	return names
}

// Len returns the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// fileSpec, ruleSpec and actionSpec are the file's shape, decoded strictly.
type fileSpec struct {
	Rules []ruleSpec `yaml:"rules"`
}

type ruleSpec struct {
	Name   *string    `yaml:"name"`
	Match  *string    `yaml:"match"`
	Action actionSpec `yaml:"action"`
}

type actionSpec struct {
	Type        *string `yaml:"type"`
	ID          *string `yaml:"id"`
	Subject     *string `yaml:"subject"`
	VaultID     *string `yaml:"vault_id"`
	Resources   *string `yaml:"resources"`
	Name        *string `yaml:"name"`
	Description *string `yaml:"description"`
	Incremental *string `yaml:"incremental"`
	Wait        *string `yaml:"wait"`
	Gate        *string `yaml:"gate"`
	Reason      *string `yaml:"reason"`
}

// fieldKind is what an action field's expression must yield.
type fieldKind int

const (
	kindString fieldKind = iota
	kindBool
	kindList
)

// actionFields are the action's expression fields, in evaluation order.
var actionFields = []struct {
	key  string
	kind fieldKind
	get  func(*actionSpec) *string
}{
	{"id", kindString, func(a *actionSpec) *string { return a.ID }},
	{"subject", kindString, func(a *actionSpec) *string { return a.Subject }},
	{"vault_id", kindString, func(a *actionSpec) *string { return a.VaultID }},
	{"resources", kindList, func(a *actionSpec) *string { return a.Resources }},
	{"name", kindString, func(a *actionSpec) *string { return a.Name }},
	{"description", kindString, func(a *actionSpec) *string { return a.Description }},
	{"incremental", kindBool, func(a *actionSpec) *string { return a.Incremental }},
	{"wait", kindBool, func(a *actionSpec) *string { return a.Wait }},
	{"gate", kindBool, func(a *actionSpec) *string { return a.Gate }},
	{"reason", kindString, func(a *actionSpec) *string { return a.Reason }},
}

// allowed lists the action fields each type takes; required, the ones it needs.
var (
	allowed = map[string][]string{
		TypeDeployPre:           {"id", "subject", "vault_id", "resources", "name", "description", "incremental", "wait", "gate"},
		TypeServerTagged:        {"id", "subject", "vault_id", "resources", "wait"},
		TypeCheckpointRequested: {"id", "subject", "vault_id", "resources", "name", "description", "incremental", "wait", "gate"},
		TypeIgnore:              {"id", "subject", "reason"},
	}
	required = map[string][]string{
		TypeServerTagged:        {"resources"},
		TypeCheckpointRequested: {"vault_id"},
		TypeIgnore:              {"reason"},
	}
)

// Parse compiles a rules file; name is used in errors. Every expression is
// parsed and type-checked against the variables headers, attributes and
// data: match must yield a bool; id, subject, vault_id, name, description
// and reason a string; incremental, wait and gate a bool; resources a list
// (expressions over data, which is dyn, are checked when evaluated).
// Unknown keys, missing fields, fields the action type does not take and
// duplicate names are errors too. All problems are reported at once, in a
// *LoadError.
func Parse(name string, src []byte, opts ...Option) (*Set, error) {
	o := options{costLimit: DefaultCostLimit}
	for _, opt := range opts {
		opt(&o)
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("rules: CEL environment: %w", err)
	}
	return parse(env, name, src, o)
}

// parse is Parse in a given environment.
func parse(env *cel.Env, name string, src []byte, o options) (*Set, error) {
	var probs []*problem
	if len(src) > MaxFileSize {
		probs = append(probs, &problem{Message: "larger than 1 MiB"})
		return nil, loadError(name, probs)
	}

	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		probs = append(probs, yamlError(err.Error(), nil))
		return nil, loadError(name, probs)
	}
	starts := ruleLines(&root)
	var spec fileSpec
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	broken := map[int]bool{} // rules with YAML errors: no "required" checks
	if err := dec.Decode(&spec); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			probs = append(probs, yamlError(err.Error(), nil))
			return nil, loadError(name, probs)
		}
		for _, msg := range te.Errors {
			e := yamlError(msg, starts)
			probs = append(probs, e)
			if i := ruleAt(starts, e.Line); i >= 0 {
				broken[i] = true
			}
		}
	}
	for _, e := range probs {
		if i := ruleAt(starts, e.Line); e.Rule != "" && i >= 0 && i < len(spec.Rules) {
			if n := spec.Rules[i].Name; n != nil && *n != "" && len(*n) <= maxNameLen {
				e.Rule = *n
			}
		}
	}
	if len(spec.Rules) == 0 && len(probs) == 0 {
		probs = append(probs, &problem{Field: "rules", Message: "required, a list of at least one rule"})
	}

	set := &Set{costLimit: o.costLimit, logger: o.logger}
	if set.logger == nil {
		set.logger = slog.Default()
	}
	costs := newBudget(env)
	seen := map[string]int{}
	for i := range spec.Rules {
		rs := &spec.Rules[i]
		line := 0
		if i < len(starts) {
			line = starts[i]
		}
		r, problems := compileRule(env, costs, rs, i, line, o, broken[i])
		if rs.Name != nil && *rs.Name != "" {
			if j, dup := seen[*rs.Name]; dup {
				problems = append(problems, &problem{Rule: r.name, Field: "name", Line: line,
					Message: fmt.Sprintf("duplicate: rules[%d] has the same name", j)})
			} else {
				seen[*rs.Name] = i
			}
		}
		probs = append(probs, problems...)
		set.rules = append(set.rules, r)
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, loadError(name, probs)
	}
	return set, nil
}

// loadError returns the problems of file name as a *LoadError.
func loadError(name string, probs []*problem) *LoadError {
	le := &LoadError{File: name, Errors: make([]*failure.FieldError, len(probs))}
	for i, p := range probs {
		le.Errors[i] = p.fieldError()
	}
	return le
}

// newEnv returns the CEL environment of rule expressions.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("attributes", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("data", cel.DynType),
	)
}

// maxNameLen bounds a rule's name, which appears in errors and results.
const maxNameLen = 128

func compileRule(env *cel.Env, costs *budget, rs *ruleSpec, i, line int, o options, broken bool) (*rule, []*problem) {
	r := &rule{index: i, name: "rules[" + strconv.Itoa(i) + "]"}
	var problems []*problem
	add := func(field, msg string) {
		problems = append(problems, &problem{Rule: r.name, Field: field, Line: line, Message: msg})
	}
	switch {
	case rs.Name == nil || strings.TrimSpace(*rs.Name) == "":
		if !broken {
			add("name", "required, a non-blank string")
		}
	case len(*rs.Name) > maxNameLen || strings.ContainsAny(*rs.Name, "\x00\r\n\t"):
		add("name", "must be one line of at most 128 bytes")
	default:
		r.name = *rs.Name
	}

	compile := func(key, src string, kind fieldKind) cel.Program {
		if strings.TrimSpace(src) == "" {
			if !broken { // yaml.v3 leaves "" behind a type error
				add(key, "must be a CEL expression, not empty")
			}
			return nil
		}
		ast, iss := env.Compile(src)
		if iss != nil && iss.Err() != nil {
			add(key, iss.Err().Error())
			return nil
		}
		if msg := checkOutput(ast.OutputType(), kind); msg != "" {
			add(key, msg)
			return nil
		}
		prg, err := env.Program(ast,
			cel.CostTracking(costs),
			cel.CostLimit(o.costLimit),
			cel.InterruptCheckFrequency(100),
			cel.EvalOptions(cel.OptOptimize),
		)
		if err != nil {
			add(key, err.Error())
			return nil
		}
		return prg
	}

	if rs.Match == nil {
		if !broken {
			add("match", "required, a CEL expression yielding a bool")
		}
	} else {
		r.match = compile("match", *rs.Match, kindBool)
	}

	a := &rs.Action
	if a.Type == nil {
		if !broken {
			add("action.type", "required, one of deploy.pre, server.tagged, checkpoint.requested, ignore")
		}
		return r, problems
	}
	r.typ = strings.TrimSpace(*a.Type)
	keys, ok := allowed[r.typ]
	if !ok {
		add("action.type", fmt.Sprintf("%q is not one of deploy.pre, server.tagged, checkpoint.requested, ignore", *a.Type))
		return r, problems
	}
	for _, f := range actionFields {
		src := f.get(a)
		if src == nil {
			continue
		}
		if !contains(keys, f.key) {
			add("action."+f.key, fmt.Sprintf("not taken by type %s (it takes %s)", r.typ, strings.Join(keys, ", ")))
			continue
		}
		if prg := compile("action."+f.key, *src, f.kind); prg != nil {
			r.fields = append(r.fields, field{key: f.key, prog: prg})
		}
	}
	if !broken {
		for _, key := range required[r.typ] {
			if actionFields[fieldIndex(key)].get(a) == nil {
				add("action."+key, "required for type "+r.typ)
			}
		}
	}
	return r, problems
}

// checkOutput returns what is wrong with an expression's static type, or "".
func checkOutput(t *cel.Type, kind fieldKind) string {
	if t == nil || t.Kind() == types.DynKind || t.Kind() == types.AnyKind {
		return ""
	}
	switch kind {
	case kindString:
		if t.Kind() != types.StringKind {
			return fmt.Sprintf("must yield a string, not %s (convert with string(...))", t)
		}
	case kindBool:
		if t.Kind() != types.BoolKind {
			return fmt.Sprintf("must yield a bool, not %s", t)
		}
	case kindList:
		if t.Kind() != types.ListKind {
			return fmt.Sprintf("must yield a list of ids or {id, type, name} maps, not %s", t)
		}
	}
	return ""
}

func fieldIndex(key string) int {
	for i, f := range actionFields {
		if f.key == key {
			return i
		}
	}
	panic("rules: unknown field " + key)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ruleLines returns the line of each rule in the document's rules list.
func ruleLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "rules" && m.Content[i+1].Kind == yaml.SequenceNode {
			var lines []int
			for _, item := range m.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
			return lines
		}
	}
	return nil
}

// ruleAt returns the index of the rule that holds line, or -1.
func ruleAt(starts []int, line int) int {
	at := -1
	for i, l := range starts {
		if l <= line {
			at = i
		}
	}
	return at
}

// yamlTypeNames turns yaml.v3's Go type names into the file's words.
var yamlTypeNames = strings.NewReplacer(
	"in type rules.actionSpec", "in action (fields: type, id, subject, vault_id, resources, name, description, incremental, wait, gate, reason)",
	"in type rules.ruleSpec", "in rule (fields: name, match, action)",
	"in type rules.fileSpec", "at the top (field: rules)",
	"into rules.actionSpec", "into action (a mapping)",
	"into rules.ruleSpec", "into a rule (a mapping)",
	"into rules.fileSpec", "into the file (a mapping with rules)",
	"into []rules.ruleSpec", "into rules (a list)",
	"into string", "into a CEL expression (a string)",
)

// yamlError makes a problem of one of yaml.v3's messages, naming the rule
// that holds its line.
func yamlError(msg string, starts []int) *problem {
	e := &problem{}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				e.Line, msg = n, text
				if i := ruleAt(starts, n); i >= 0 {
					e.Rule = "rules[" + strconv.Itoa(i) + "]"
				}
			}
		}
	}
	e.Message = yamlTypeNames.Replace(msg)
	return e
}
