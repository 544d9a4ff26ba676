package handlertest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// FunctionGraphRuntime stands in for FunctionGraph's custom runtime API, as
// documented (there is no official emulator): a function's bootstrap, given
// its address as RUNTIME_API_ADDR, takes events with
//
//	GET  /v1/runtime/invocation/request
//
// (the event as the body; the headers X-Cff-Request-Id, X-CFF-Invoke-Type
// and, when the invocation has them, X-CFF-Auth-Token, X-CFF-Access-Key,
// X-CFF-Secret-Key, X-CFF-Security-Token), which waits until there is one,
// and answers each with
//
//	POST /v1/runtime/invocation/response/{request id}
//	POST /v1/runtime/invocation/error/{request id}
//
// Invoke queues an event and waits for its answer. Anything else (another
// method or path, an answer for a request that is not outstanding, a second
// answer) is refused with a 4xx and counted in Refused, so that a test sees
// a runtime that strays from the API. The answers' status is 200 with an
// empty JSON object (the documentation gives none). It is safe for
// concurrent use.
type FunctionGraphRuntime struct {
	queue     chan *pending
	stop      chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex
	outstanding map[string]*pending
	polling     int
	refused     []string
}

// FunctionGraphInvocation is one event for the runtime.
type FunctionGraphInvocation struct {
	// RequestID is sent as X-Cff-Request-Id; invoking twice with the same ID
	// (one after the other) is a redelivery.
	RequestID string
	// InvokeType is sent as X-CFF-Invoke-Type ("async" when empty).
	InvokeType string
	// Body is the event.
	Body []byte
	// The agency's credentials, each sent as its header when not empty.
	AuthToken, AccessKey, SecretKey, SecurityToken string
}

// FunctionGraphAnswer is how the runtime answered an invocation.
type FunctionGraphAnswer struct {
	// Endpoint is "response" or "error".
	Endpoint string
	// Body is what was posted.
	Body []byte
}

type pending struct {
	inv    FunctionGraphInvocation
	answer chan FunctionGraphAnswer
}

// NewFunctionGraphRuntime returns an idle runtime API.
func NewFunctionGraphRuntime() *FunctionGraphRuntime {
	return &FunctionGraphRuntime{queue: make(chan *pending), stop: make(chan struct{}), outstanding: make(map[string]*pending)}
}

// Stop ends every waiting GET .../request without an invocation (the
// runtime then sees a broken connection or an empty answer), so that a
// server can close.
func (f *FunctionGraphRuntime) Stop() { f.closeOnce.Do(func() { close(f.stop) }) }

// Invoke hands inv to the next GET .../request and returns the answer posted
// for it, or ctx's error.
func (f *FunctionGraphRuntime) Invoke(ctx context.Context, inv FunctionGraphInvocation) (FunctionGraphAnswer, error) {
	if inv.RequestID == "" {
		return FunctionGraphAnswer{}, errors.New("handlertest: invocation without a request ID")
	}
	p := &pending{inv: inv, answer: make(chan FunctionGraphAnswer, 1)}
	select {
	case f.queue <- p:
	case <-ctx.Done():
		return FunctionGraphAnswer{}, ctx.Err()
	}
	select {
	case a := <-p.answer:
		return a, nil
	case <-ctx.Done():
		return FunctionGraphAnswer{}, ctx.Err()
	}
}

// Polling returns how many GET .../request are waiting for an invocation:
// 1 when a runtime is idle between invocations.
func (f *FunctionGraphRuntime) Polling() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.polling
}

// Refused returns the requests refused as not following the API.
func (f *FunctionGraphRuntime) Refused() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.refused...)
}

const invocationPath = "/v1/runtime/invocation/"

// ServeHTTP implements the runtime API.
func (f *FunctionGraphRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, invocationPath)
	switch {
	case ok && rest == "request" && r.Method == http.MethodGet:
		f.next(w, r)
		return
	case ok && r.Method == http.MethodPost:
		endpoint, id, _ := strings.Cut(rest, "/")
		if (endpoint == "response" || endpoint == "error") && id != "" && !strings.Contains(id, "/") {
			f.answer(w, r, endpoint, id)
			return
		}
	}
	f.refuse(w, r, http.StatusNotFound, "no such runtime API endpoint")
}

func (f *FunctionGraphRuntime) next(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.polling++
	f.mu.Unlock()
	var p *pending
	select {
	case p = <-f.queue:
	case <-r.Context().Done():
	case <-f.stop:
	}
	f.mu.Lock()
	f.polling--
	if p != nil {
		f.outstanding[p.inv.RequestID] = p
	}
	f.mu.Unlock()
	if p == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Cff-Request-Id", p.inv.RequestID)
	h.Set("X-CFF-Invoke-Type", cmp.Or(p.inv.InvokeType, "async"))
	for name, v := range map[string]string{
		"X-CFF-Auth-Token": p.inv.AuthToken, "X-CFF-Access-Key": p.inv.AccessKey,
		"X-CFF-Secret-Key": p.inv.SecretKey, "X-CFF-Security-Token": p.inv.SecurityToken,
	} {
		if v != "" {
			h.Set(name, v)
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(p.inv.Body)
}

func (f *FunctionGraphRuntime) answer(w http.ResponseWriter, r *http.Request, endpoint, id string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.refuse(w, r, http.StatusBadRequest, "reading the answer: "+err.Error())
		return
	}
	f.mu.Lock()
	p := f.outstanding[id]
	delete(f.outstanding, id)
	f.mu.Unlock()
	if p == nil {
		f.refuse(w, r, http.StatusNotFound, "no outstanding invocation "+id)
		return
	}
	p.answer <- FunctionGraphAnswer{Endpoint: endpoint, Body: body}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

func (f *FunctionGraphRuntime) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	f.mu.Lock()
	f.refused = append(f.refused, r.Method+" "+r.URL.Path+": "+msg)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// FunctionGraphRuntimeServer is a FunctionGraphRuntime listening on a
// loopback port; Addr is its RUNTIME_API_ADDR. Close it when done.
type FunctionGraphRuntimeServer struct {
	*httptest.Server
	*FunctionGraphRuntime
	// Addr is host:port, the value of RUNTIME_API_ADDR.
	Addr string
}

// NewFunctionGraphRuntimeServer starts a FunctionGraphRuntime on a loopback
// port.
func NewFunctionGraphRuntimeServer() *FunctionGraphRuntimeServer {
	rt := NewFunctionGraphRuntime()
	srv := httptest.NewServer(rt)
	return &FunctionGraphRuntimeServer{Server: srv, FunctionGraphRuntime: rt, Addr: strings.TrimPrefix(srv.URL, "http://")}
}

// Close stops the waiting requests and shuts the server down.
func (s *FunctionGraphRuntimeServer) Close() {
	s.Stop()
	s.Server.Close()
}
