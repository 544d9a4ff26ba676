package githubapp

// Accessors only tests use (package githubapp and githubapp_test; not tests
// elsewhere).

// APIURL returns the API base URL the client talks to, without a trailing slash.
func (c *Client) APIURL() string { return c.api.String() }
