package rules

// Options only tests use (package rules and rules_test; not tests
// elsewhere).

// WithCostLimit sets the budget of each expression's evaluation, in cost
// units (default DefaultCostLimit): a match over it counts as no match, an
// action field over it fails with a *failure.FieldError.
func WithCostLimit(limit uint64) Option { return func(o *options) { o.costLimit = limit } }
