// Package failure is the one failure taxonomy of restorepoint: every error
// that ends a trigger is classified once, where it happens, into a [Class],
// and the front doors map classes to their answers (HTTP status, Lambda
// error, SQS batch failure) in one table at the edge.
//
// An error states its class by implementing [Classifier] anywhere in its
// chain; [ClassOf] finds it with errors.As. Errors that state no class (network
// failures, timeouts, cancellations, malformed answers) are [Unavailable]:
// asking again later may succeed.
//
// A problem with one field of an input is a [*FieldError]; several found at
// once are [FieldErrors]. Both are [Invalid].
//
// The package imports only the standard library, so every other package can
// use it.
package failure

import "errors"

// Class says what a caller can do about a failure. Its value is the "class"
// of a checkpoint.failed result event.
type Class string

// The failure classes.
const (
	// Invalid: the trigger or the request is wrong (it broke a rule, names no
	// vault, ...); nothing was sent, and sending it again will not help.
	Invalid Class = "invalid"
	// Rejected: the API refused the request (4xx other than 401 and 429);
	// sending it again will not help.
	Rejected Class = "rejected"
	// Unauthorized: the credentials were refused (the API answered 401 even
	// after a fresh token, IAM refused the password) or there were none.
	Unauthorized Class = "unauthorized"
	// Throttled: the API asked to slow down (429); retry later.
	Throttled Class = "throttled"
	// Unavailable: the API or the network failed (5xx, timeouts, resets,
	// cancellation, malformed answers), or the error stated no class; retry
	// later.
	Unavailable Class = "unavailable"
)

// Classes lists every class, in the order above.
func Classes() []Class { return []Class{Invalid, Rejected, Unauthorized, Throttled, Unavailable} }

// OfStatus classes an HTTP API's failed answer by its status: 401 is
// [Unauthorized], 429 [Throttled], 5xx [Unavailable], and every other
// status (4xx, a redirect) [Rejected].
func OfStatus(status int) Class {
	switch {
	case status == 401:
		return Unauthorized
	case status == 429:
		return Throttled
	case status >= 500:
		return Unavailable
	default:
		return Rejected
	}
}

// Retryable reports whether a failure of class c is worth retrying later:
// Throttled and Unavailable are.
func (c Class) Retryable() bool { return c == Throttled || c == Unavailable }

// Classifier is implemented by errors that know their class. [ClassOf] asks
// the first error in the chain (errors.As) that implements it; an error that
// wraps another one can implement it to override the class of its cause.
type Classifier interface {
	// FailureClass returns the class of the error.
	FailureClass() Class
}

// ClassOf returns the class of err: the FailureClass of the first error in
// its chain that is a [Classifier], else [Unavailable]. A nil err has no
// class: "".
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var c Classifier
	if errors.As(err, &c) {
		return c.FailureClass()
	}
	return Unavailable
}

// Retryable reports whether err is worth retrying later: whether its class
// is Retryable. A nil err is not.
func Retryable(err error) bool { return err != nil && ClassOf(err).Retryable() }

// New returns an error with message msg and class c.
func New(c Class, msg string) error { return &classed{class: c, msg: msg} }

// Wrap returns err with class c: its message, and err in its chain.
func Wrap(c Class, err error) error { return &classed{class: c, msg: err.Error(), err: err} }

// classed is the error New and Wrap return.
type classed struct {
	class Class
	msg   string
	err   error
}

func (e *classed) Error() string       { return e.msg }
func (e *classed) Unwrap() error       { return e.err }
func (e *classed) FailureClass() Class { return e.class }
