package cbrtest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure the emulator plays instead of, or on top of, its normal
// answer. Inject it with Emulator.Inject.
//
// A fault with Status, Code, Message or KeystoneShape set answers with an
// error and the request has no effect. One with only Delay and/or RetryAfter
// delays the normal answer and adds the header. Drop answers nothing.
// ResetMidResponse cuts the answer short.
//
// Drop and ResetMidResponse hijack the connection; where the ResponseWriter
// cannot be hijacked (HTTP/2, httptest.ResponseRecorder) the handler panics
// with http.ErrAbortHandler instead, which net/http turns into an aborted
// answer. Note that Go's http.Transport silently retries a GET (not a POST)
// once when a reused connection breaks, so dropping a GET takes Times: 2.
type Fault struct {
	// Method and Path select the requests the fault applies to. Method is
	// matched exactly (without case), Path as a substring of the request path:
	// "checkpoints" matches both create and get, "/v3/auth/tokens" the IAM
	// token requests. Empty matches any.
	Method, Path string
	// Times is how many matching requests get the fault: 0 means 1, a
	// negative number means every matching request until ClearFaults or Reset.
	Times int
	// After is how many matching requests the fault lets pass before it
	// applies: After 1 with Method POST fails the second create.
	After int
	// Status of the error answer; 0 means 500 when Code, Message or
	// KeystoneShape asks for an error answer.
	Status int
	// Code and Message fill the CBR error body
	// {"error_code":Code,"error_msg":Message}. Without Code, a code fitting the
	// status is used (429: APIGW.0308, 5xx: BackupService.9910, 401:
	// BackupService.9998, 403: BackupService.8600, 404: BackupService.6105,
	// other: BackupService.9900); without Message, the status text.
	Code, Message string
	// RetryAfter is the value of a Retry-After header added to the answer.
	RetryAfter string
	// Delay is real-time latency before the answer. If the request's context
	// ends first (the client gave up) nothing is answered.
	Delay time.Duration
	// Drop closes the connection without answering; the request has no effect.
	Drop bool
	// ResetMidResponse sends the status line, the headers and half the body,
	// then closes the connection. Without an error answer the request is
	// processed normally first, so a checkpoint is created although its answer
	// is lost, as when a network breaks after the server acted.
	ResetMidResponse bool
	// KeystoneShape answers the error in the IAM/API gateway shape
	// {"error":{"code":Status,"message":Message,"title":<status text>}}.
	KeystoneShape bool
}

// Inject adds f to the faults. For each request the first matching fault
// applies, in the order they were injected, and uses up one of its Times.
func (e *Emulator) Inject(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &f)
}

// ClearFaults removes every fault not yet used up.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// matches reports whether f applies to r.
func (f *Fault) matches(r *http.Request) bool {
	return (f.Method == "" || strings.EqualFold(f.Method, r.Method)) && strings.Contains(r.URL.Path, f.Path)
}

// answersError reports whether f replaces the answer with an error.
func (f *Fault) answersError() bool {
	return f.Status != 0 || f.Code != "" || f.Message != "" || f.KeystoneShape
}

// takeFault returns the first fault matching r, using up one of its Times,
// or nil. The caller holds e.mu.
func (e *Emulator) takeFault(r *http.Request) *Fault {
	for i, f := range e.faults {
		if !f.matches(r) {
			continue
		}
		if f.After > 0 {
			f.After--
			continue
		}
		taken := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				e.faults = slices.Delete(e.faults, i, i+1)
			}
		}
		return &taken
	}
	return nil
}

// applyFault plays f and reports whether the request has been dealt with;
// false means it goes on to the normal handler.
func (e *Emulator) applyFault(w *responseWriter, r *http.Request, f *Fault, rt route, body []byte) bool {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if !sleep(r, f.Delay) {
		return true
	}
	switch {
	case f.Drop:
		drop(w)
	case f.ResetMidResponse:
		answer := httptest.NewRecorder()
		if f.answersError() {
			writeFaultError(answer, f)
		} else {
			e.dispatch(answer, r, rt, body)
		}
		cut(w, answer)
	case f.answersError():
		writeFaultError(w, f)
	default:
		return false
	}
	return true
}

// writeFaultError answers the error f describes.
func writeFaultError(w http.ResponseWriter, f *Fault) {
	status := cmp.Or(f.Status, http.StatusInternalServerError)
	msg := cmp.Or(f.Message, http.StatusText(status))
	if f.KeystoneShape {
		writeKeystoneError(w, status, msg)
		return
	}
	writeError(w, status, cmp.Or(f.Code, defaultCode(status)), msg)
}

// drop closes the connection without answering.
func drop(w *responseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// cut sends the status and headers of answer with half its body, announcing
// the full length, and closes the connection.
func cut(w *responseWriter, answer *httptest.ResponseRecorder) {
	header := w.Header()
	for k, v := range answer.Header() {
		header[k] = v
	}
	full := answer.Body.Bytes()
	part := full[:len(full)/2]
	header.Set("Content-Length", strconv.Itoa(max(len(full), 1)))

	rc := http.NewResponseController(w)
	conn, buf, err := rc.Hijack()
	if err != nil {
		w.WriteHeader(answer.Code)
		_, _ = w.Write(part)
		_ = rc.Flush()
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	w.setStatus(answer.Code)
	fmt.Fprintf(buf, "HTTP/1.1 %03d %s\r\n", answer.Code, http.StatusText(answer.Code))
	_ = header.Write(buf)
	_, _ = buf.WriteString("\r\n")
	_, _ = buf.Write(part)
	_ = buf.Flush()
}
