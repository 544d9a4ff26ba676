package iam

// Refreshing reports whether an IAM request of p is under way.
func Refreshing(p *Password) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight != nil
}
