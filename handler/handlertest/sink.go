// Package handlertest provides a result sink that records the CloudEvents it
// receives, for tests and the demo: an http.Handler, like net/http/httptest.
package handlertest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Sink receives CloudEvents (binary or structured mode) and keeps them. It can
// be made to fail, as a sink that is down does. It is safe for concurrent use.
type Sink struct {
	mu       sync.Mutex
	events   []event.Event
	failing  bool
	attempts int
}

// ServeHTTP records the event in r and answers 202, or 503 while failing, or
// 400 when r carries no CloudEvent.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.failing {
		http.Error(w, "sink down", http.StatusServiceUnavailable)
		return
	}
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.events = append(s.events, *e)
	w.WriteHeader(http.StatusAccepted)
}

// SetFailing makes the sink answer 503 (true) or take events again (false).
func (s *Sink) SetFailing(failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = failing
}

// Events returns the events received so far, oldest first.
func (s *Sink) Events() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Types returns the types of the events received so far, sorted.
func (s *Sink) Types() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	types := make([]string, len(s.events))
	for i, e := range s.events {
		types[i] = e.Type()
	}
	slices.Sort(types)
	return types
}

// Attempts returns how many requests reached the sink, failed ones included.
func (s *Sink) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Server is a Sink listening on a loopback port. Close it when done.
type Server struct {
	*httptest.Server
	*Sink
}

// NewServer starts a Sink on a loopback port.
func NewServer() *Server {
	s := &Sink{}
	return &Server{Server: httptest.NewServer(s), Sink: s}
}
