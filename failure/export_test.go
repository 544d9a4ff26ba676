package failure

// Classes lists every class, in the order of their declaration.
func Classes() []Class { return []Class{Invalid, Rejected, Unauthorized, Throttled, Unavailable} }
