package rules

import (
	"errors"
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/decls"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// The budget of one expression's evaluation is DefaultCostLimit (in tests,
// WithCostLimit's) cost units. Every operation costs what CEL's cost model
// says (1 for most, a tenth of the bytes compared or scanned for string
// comparisons, contains, startsWith, matches...). On top of that, what an
// expression builds is charged by its size, so that a rule cannot hold more
// than about a megabyte of memory whatever the payload:
const (
	// byteCost is the cost of each byte of a string or bytes value a call
	// yields: a concatenation, a conversion.
	byteCost = 1
	// slotCost is the cost of each element added to a list (by map, filter
	// or +), and of each entry of a list or map added as an element: the
	// element's slot and the interpreter's work to add it, about 64 bytes.
	slotCost = 64
)

// budget is the cost.ActualCostEstimator of rule expressions. CEL's own
// tracker charges a call of the standard library by the sizes of its
// arguments only when the type checker resolved its overload; a call on
// data (dyn) is dispatched at run time and would cost 1 whatever the sizes
// (data.t + data.t copies data.t twice for 1 unit). budget charges such a
// call as the overload it dispatches to, and charges the strings and lists
// every call builds by their size.
type budget struct {
	// dispatch holds, by function name, the overloads that CEL's model
	// charges by size, to resolve a call dispatched at run time.
	dispatch map[string][]*decls.OverloadDecl
	// standard are CEL's trackers of the standard overloads.
	standard map[string]cost.FunctionTracker
}

// newBudget returns the budget estimator of env's functions.
func newBudget(env *cel.Env) *budget {
	b := &budget{dispatch: map[string][]*decls.OverloadDecl{}, standard: cost.StandardOverloadTrackers()}
	for name, fn := range env.Functions() {
		for _, o := range fn.OverloadDecls() {
			if _, modelled := b.standard[o.ID()]; modelled {
				b.dispatch[name] = append(b.dispatch[name], o)
			}
		}
	}
	return b
}

// CallCost implements cost.ActualCostEstimator: nil leaves a call whose
// overload the checker resolved and that builds nothing to CEL's model.
func (b *budget) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	built := builtCost(function, args, result)
	if built == 0 && overloadID != "" {
		return nil
	}
	if overloadID == "" {
		overloadID = b.resolve(function, args)
	}
	c := uint64(1)
	if track, ok := b.standard[overloadID]; ok {
		if v := track(args, result); v != nil {
			c = *v
		}
	}
	c = cost.SafeAdd(c, built)
	return &c
}

// resolve returns the overload of function that a call with args
// dispatches to, among those CEL's model charges by size, or "".
func (b *budget) resolve(function string, args []ref.Val) string {
	for _, o := range b.dispatch[function] {
		params := o.ArgTypes()
		if len(params) != len(args) {
			continue
		}
		match := true
		for i, p := range params {
			if !p.IsAssignableRuntimeType(args[i]) {
				match = false
				break
			}
		}
		if match {
			return o.ID()
		}
	}
	return ""
}

// builtCost returns the cost of what a call built: the bytes of a string or
// bytes result, the slots of the elements a list concatenation adds. A call
// that selects one of its arguments (an index, dyn) builds nothing.
func builtCost(function string, args []ref.Val, result ref.Val) uint64 {
	switch function {
	case operators.Index, operators.OptIndex, "dyn":
		return 0
	}
	switch r := result.(type) {
	case types.String:
		return cost.SafeMultiply(uint64(len(r)), byteCost)
	case types.Bytes:
		return cost.SafeMultiply(uint64(len(r)), byteCost)
	case traits.Lister:
		if function == operators.Add && len(args) == 2 {
			return elementsCost(args[1])
		}
	}
	return 0
}

// elementsCost returns the cost of adding the elements of list to another:
// a slot for each, and one for each entry of an element that is a list or
// a map.
func elementsCost(list ref.Val) uint64 {
	l, ok := list.(traits.Lister)
	if !ok {
		return 0
	}
	slots := uint64(sizeOf(l))
	for it := l.Iterator(); it.HasNext() == types.True; {
		if s, ok := it.Next().(traits.Sizer); ok {
			switch s.(type) {
			case traits.Lister, traits.Mapper:
				slots = cost.SafeAdd(slots, uint64(sizeOf(s)))
			}
		}
	}
	return cost.SafeMultiply(slots, slotCost)
}

// sizeOf returns the size of a list or map, 0 if it has none.
func sizeOf(s traits.Sizer) int64 {
	if n, ok := s.Size().(types.Int); ok && n > 0 {
		return int64(n)
	}
	return 0
}

// overBudget reports whether err says an evaluation ran out of its budget.
func overBudget(err error) bool {
	var cancelled interpreter.EvalCancelledError
	return errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded
}

// overBudgetMessage is the message of an action field that ran out of its
// budget.
func overBudgetMessage(limit uint64) string {
	return fmt.Sprintf("evaluation stopped: over its budget of %d cost units "+
		"(a byte of a string it builds costs %d, an element of a list it builds %d)", limit, byteCost, slotCost)
}
