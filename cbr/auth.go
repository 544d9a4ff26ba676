package cbr

// AuthError is a failure of a client's authorizer (see [New]): no keys could
// be read, no token could be had, the request carried no credentials,
// signing failed. Its class is the one the authorizer's error states; an
// error that states no class is unavailable.
type AuthError struct{ Err error }

// Error returns "authorize: " and the authorizer's message.
func (e *AuthError) Error() string { return "authorize: " + e.Err.Error() }

// Unwrap returns the authorizer's error.
func (e *AuthError) Unwrap() error { return e.Err }
