// Package cbrtest provides an in-process emulator of the Open Telekom Cloud
// Cloud Backup and Recovery (CBR) v3 API (restore points, backups, vaults)
// and of the IAM token API, for tests, demos and the "restorepoint-dev
// emulator" command; it is never linked into the deployed binary.
//
// An [Emulator] is an [http.Handler] with the semantics of the real APIs:
//
//   - POST /v3/{project_id}/checkpoints creates a restore point in a vault of
//     the [Fixture], validating the body like the real API and skipping
//     resources that are not in the vault or are still being backed up; a
//     full vault answers 400 BackupService.6114;
//   - GET /v3/{project_id}/checkpoints/{checkpoint_id} reads it back. Each of
//     its backups is "protecting" for [Options.AvailableAfter], then
//     "available", or "error" for a resource made to fail
//     ([Emulator.FailResource], [FixtureResource].Fail); each resource's
//     protect_status is the status of its backup, and the checkpoint is
//     "protecting" while any backup is, then "error" if any failed, else
//     "available";
//   - GET /v3/{project_id}/backups lists the backups: one per resource of
//     each checkpoint, carrying the checkpoint's name and description and
//     the status above, with the filters checkpoint_id, name (a substring),
//     vault_id, resource_id, resource_type and status, sorted by
//     created_at:desc (the default) or created_at:asc, paged by limit,
//     offset and marker; one request costs one pass over the backups, so
//     thousands list quickly ([Emulator.SeedCheckpoints] makes them);
//   - GET /v3/{project_id}/backups/{backup_id} reads one backup, and DELETE
//     deletes it: 204 without a body, and it is gone at once;
//   - GET /v3/{project_id}/vaults/{vault_id} answers the vault with its
//     resources (id, type, name, protect_status) and billing (allocated,
//     used, status and object_type, the vault's type: server, disk or turbo);
//     an unknown vault answers 404 BackupService.6105;
//   - POST /v3/{project_id}/vaults/{vault_id}/addresources associates 1 to 256
//     resources of the cloud (in a vault or in [Fixture].Unassociated) with
//     the vault and answers {"add_resource_ids":[...]}. A type the vault does
//     not hold answers 400 BackupService.6124; a resource the cloud does not
//     have, 404 BackupService.7100 (server), 7000 (volume) or 6302 (SFS
//     Turbo); a full vault ([Emulator.FillVault]), 400 BackupService.6114;
//   - POST /v3/auth/tokens issues IAM password tokens for [DemoUser] that the
//     CBR endpoints accept, like the static [DefaultToken];
//   - instead of a token, the CBR endpoints accept requests signed with the
//     AK/SK algorithm SDK-HMAC-SHA256 by [DemoAccessKey] / [DemoSecretKey], or
//     by the temporary [DemoTemporaryAccessKey] / [DemoTemporarySecretKey]
//     with [DemoSecurityToken]. The signature is recomputed over what arrived
//     with the canonicalisation of package iam (held there to the published
//     vectors); a wrong signature, an unknown access key, X-Sdk-Date or
//     X-Security-Token sent but not signed, or X-Sdk-Date more than
//     [MaxClockSkew] off [Options.Now] answer 401 in the Keystone shape.
//
// Where the API's behaviour is not documented the emulator decides, as follows:
//
//   - Resources asked for (by id in resources, or in resource_details) that
//     are not in the vault are listed in skipped_resources with code
//     BackupService.6135; their name and type are those of the request ("" for
//     bare ids). If none of them is in the vault the answer is 400
//     BackupService.0001. No resources asked for means every resource of the
//     vault. A resource_details type that differs from the vault's is ignored.
//   - A resource whose newest backup is still "protecting" is skipped with
//     code BackupService.0002 ("Resources are being backed up. Try again
//     later."). When every resource is skipped so, the answer is still 200,
//     with an empty resources list and a new checkpoint, which has no backups
//     and is "protecting" for AvailableAfter, then "available". A backup in
//     "error" does not hold its resource back.
//   - A failed backup carries nothing but its status: platform-facts documents
//     no field that explains a failure. In the vault, a resource's
//     protect_status is that of its newest backup while it is "protecting" or
//     once it is "error", else "available".
//   - An unknown checkpoint id answers 404 BackupService.6300, an unknown or
//     deleted backup id 404 BackupService.6301; a missing, unknown, expired or
//     revoked token 401 in the Keystone shape; a path project other than the
//     token's 403 BackupService.8600; an unknown path 404 and a wrong method
//     405, both in the Keystone shape.
//   - project_id in the answer is the project of the path; created_at is UTC
//     with milliseconds ("2019-05-10T07:59:12.733+00:00"); the name defaults
//     to "manualbk_" and four hex digits; resource_size is a JSON number and
//     protect_status "available" in the create answer, as in the page's
//     example (GET reports the backup's status).
//   - A deleted backup is gone at once (no transient "deleting"). A
//     checkpoint lists only the resources whose backups remain; once they are
//     all deleted it is gone: GET answers 404 BackupService.6300. A backup
//     can be deleted in any status. One locked with [Emulator.SetBackupLocked]
//     answers 400 BackupService.6150 (the real code is not documented).
//   - A list marker must be a backup the same query lists: an unknown, deleted
//     or filtered-out one answers 400 BackupService.9900. Backups with equal
//     created_at are listed in creation order (reversed for desc).
//   - A vault's type (server, disk or turbo) is in the fixture; a vault
//     without one holds every type and reports no object_type. Its used
//     capacity is the fixture's, set by FillVault or SetVaultUsed: backups do
//     not add to it. The vault is full when it reaches the size.
//   - addresources: a resource already in the vault is no error and is listed
//     in add_resource_ids again (a repeated call answers the same); one in
//     another vault answers 400 BackupService.6137; duplicates are listed
//     once; the resource keeps the cloud's name, not the request's;
//     extra_info.exclude_volumes is accepted and ignored; the list is
//     associated all or nothing, in request order. Only resources of the
//     fixture exist: a test that tags a server outside any vault lists it in
//     [Fixture].Unassociated.
//
// Any path prefix before /v3 is accepted, so one emulator URL serves as both
// the CBR and the IAM endpoint, with or without a path. Faults (error answers,
// latency, dropped connections, truncated answers) are injected with
// [Emulator.Inject]; every request is recorded for assertions
// ([Emulator.Requests]).
//
// Like net/http/httptest, [NewServer] starts the emulator on a loopback port:
//
//	srv := cbrtest.NewServer(cbrtest.Options{})
//	defer srv.Close()
//	// point the client at srv.URL with token cbrtest.DefaultToken
package cbrtest

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

// Credentials and defaults the emulator accepts unless configured otherwise.
const (
	// DefaultToken is the static X-Auth-Token accepted by the CBR endpoints.
	DefaultToken = "demo-token"
	// DefaultProjectID is the project of the emulated account (the one in the
	// page's example request).
	DefaultProjectID = "f841e01fd2b14e7fa41b6ae7aa6b0594"
	// DefaultProjectName is the name of the project, as IAM reports it; a token
	// request may scope the token by this name instead of the id.
	DefaultProjectName = "eu-de"
	// DemoUser is the IAM user name accepted by POST /v3/auth/tokens.
	DemoUser = "demo"
	// DemoPassword is the password of DemoUser.
	DemoPassword = "demo-password"
	// DemoDomain is the IAM domain (account) name of DemoUser.
	DemoDomain = "demo-domain"

	// DefaultAvailableAfter is how long a new checkpoint and its backups stay
	// "protecting" when Options.AvailableAfter is zero.
	DefaultAvailableAfter = 2 * time.Second
	// DefaultTokenTTL is the lifetime of IAM tokens when Options.TokenTTL is zero.
	DefaultTokenTTL = 24 * time.Hour
	// MaxBodyBytes is the largest request body accepted; larger bodies get 413.
	MaxBodyBytes = 1 << 20
	// MaxRecordedRequests is how many requests Requests remembers; older ones
	// are forgotten, so that a long-running emulator stays small.
	MaxRecordedRequests = 10000
)

// Ids of the emulated IAM user and domain, as reported in token bodies.
const (
	DemoUserID   = "0b2c5f4ad3e64d8ba1b7c9e0f1a2b3c4"
	DemoDomainID = "9d8e7f6a5b4c4d3e8f1a2b3c4d5e6f70"
)

// Options configure an Emulator. The zero value is ready to use.
type Options struct {
	// Token is the static X-Auth-Token the CBR endpoints accept besides IAM
	// tokens. "" means DefaultToken.
	Token string
	// ProjectID is the project of the emulated account. "" means DefaultProjectID.
	ProjectID string
	// Fixture holds the vaults, their resources and the resources in no
	// vault. nil means DefaultFixture(). The emulator keeps its own copy.
	Fixture *Fixture
	// AvailableAfter is how long the backups of a new checkpoint stay
	// "protecting" before they read as "available" (or "error" for a
	// failing resource), and the checkpoint with them. Zero means
	// DefaultAvailableAfter; a negative value means the end state from the
	// first read after the creation (the create answer itself always says
	// "protecting").
	AvailableAfter time.Duration
	// TokenTTL is the lifetime of IAM tokens. Zero means DefaultTokenTTL.
	TokenTTL time.Duration
	// Now is the clock for timestamps, checkpoint status, token expiry and
	// the X-Sdk-Date check of signed requests.
	// nil means time.Now. Delays and latency always use real time.
	Now func() time.Time
}

// Emulator is an in-process CBR v3 and IAM API. It is an http.Handler and is
// safe for concurrent use. Create it with New or NewServer.
type Emulator struct {
	// Fixed at creation.
	projectID      string
	initialToken   string
	availableAfter time.Duration
	tokenTTL       time.Duration
	now            func() time.Time
	fixture        Fixture // what Reset restores

	mu          sync.Mutex
	staticToken string                 // "" once revoked
	accessKey   string                 // the permanent AK accepted; "" for none
	secretKey   string                 // its SK
	tokens      map[string]issuedToken // IAM tokens by value
	vaults      map[string]*vault
	resources   map[string]*resource // every resource of the cloud, by id
	checkpoints map[string]*checkpoint
	order       []string           // checkpoint ids in creation order
	backups     []*backup          // not deleted, in creation order
	backupByID  map[string]*backup // not deleted
	nextSeq     int                // creation number of the next backup
	faults      []*Fault
	latency     time.Duration
	iamDown     bool
	requests    []*Request
	creates     int
	iamRequests int
}

// New returns an Emulator configured by opts. It panics when opts.Fixture is
// invalid (see Fixture.Validate), as that is a programming error.
func New(opts Options) *Emulator {
	fixture := DefaultFixture()
	if opts.Fixture != nil {
		fixture = opts.Fixture.clone()
	}
	if err := fixture.Validate(); err != nil {
		panic("cbrtest: " + err.Error())
	}
	e := &Emulator{
		projectID:      cmp.Or(opts.ProjectID, DefaultProjectID),
		initialToken:   cmp.Or(opts.Token, DefaultToken),
		availableAfter: opts.AvailableAfter,
		tokenTTL:       opts.TokenTTL,
		now:            opts.Now,
		fixture:        fixture,
	}
	if e.availableAfter == 0 {
		e.availableAfter = DefaultAvailableAfter
	}
	if e.tokenTTL <= 0 {
		e.tokenTTL = DefaultTokenTTL
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.Reset()
	return e
}

// Reset forgets all checkpoints and backups, issued tokens, faults, latency,
// recorded requests and counters, restores the static token and the demo
// access key, brings IAM back up, and sets the vaults (their resources and
// used capacity) and the failing resources back to the fixture's.
// The options are kept.
func (e *Emulator) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.staticToken = e.initialToken
	e.accessKey, e.secretKey = DemoAccessKey, DemoSecretKey
	e.tokens = make(map[string]issuedToken)
	e.resetCloud()
	e.checkpoints = make(map[string]*checkpoint)
	e.order = nil
	e.backups = nil
	e.backupByID = make(map[string]*backup)
	e.nextSeq = 0
	e.faults = nil
	e.latency = 0
	e.iamDown = false
	e.requests = nil
	e.creates = 0
	e.iamRequests = 0
}

// ProjectID returns the project id of the emulated account.
func (e *Emulator) ProjectID() string { return e.projectID }

// SetLatency adds d of real-time latency before every answer (0 removes it).
// A request whose context ends while it waits gets no answer.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
}

// SetIAMDown makes POST /v3/auth/tokens answer 503 (true) or work again (false).
func (e *Emulator) SetIAMDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.iamDown = down
}

// SetToken sets the static token the CBR endpoints accept, for example to
// re-enable it after RevokeTokens. "" disables the static token.
func (e *Emulator) SetToken(token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.staticToken = token
}

// RevokeTokens invalidates every IAM token issued so far and the static token,
// as a password change does on the real platform. Tokens issued by IAM
// afterwards work; the static token works again only after SetToken.
func (e *Emulator) RevokeTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.staticToken = ""
	clear(e.tokens)
}

// Request is one request the emulator received, as returned by Requests.
type Request struct {
	// Method and Path of the request; Query is the raw query string.
	Method, Path, Query string
	// Header is a copy of the request headers, X-Auth-Token included.
	Header http.Header
	// HasToken reports whether an X-Auth-Token header was sent; Token is its value.
	HasToken bool
	Token    string
	// AccessKey is the Access= part of an SDK-HMAC-SHA256 Authorization
	// header, "" when the request was not signed so.
	AccessKey string
	// Body is the request body (at most MaxBodyBytes+1 bytes). In IAM token
	// requests the password is replaced by "[redacted]".
	Body []byte
	// Status is the HTTP status answered, or 0 when no status line was sent
	// (connection dropped, request context ended during a delay).
	Status int
	// RequestID is the X-Request-Id header of the answer.
	RequestID string
	// Time is when the request arrived, by the emulator's clock.
	Time time.Time
}

// Requests returns a copy of every request received so far (the last
// MaxRecordedRequests of them), oldest first.
// A request is recorded before its answer is sent, so a client that has its
// answer finds the request here.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Request, len(e.requests))
	for i, r := range e.requests {
		out[i] = *r
		out[i].Header = r.Header.Clone()
		out[i].Body = slices.Clone(r.Body)
	}
	return out
}

// CountCreates returns the number of create-checkpoint requests answered 200
// (including those whose answer a ResetMidResponse fault cut off).
func (e *Emulator) CountCreates() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.creates
}

// IAMTokenRequests returns the number of POST /v3/auth/tokens requests
// received, whatever their answer.
func (e *Emulator) IAMTokenRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.iamRequests
}

// ServeHTTP answers a CBR or IAM API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return // the client went away
	}
	rt := parseRoute(r.URL.Path)
	requestID := newUUID()
	w.Header().Set("X-Request-Id", requestID)

	rec := &Request{
		Method:    r.Method,
		Path:      r.URL.Path,
		Query:     r.URL.RawQuery,
		Header:    r.Header.Clone(),
		Token:     r.Header.Get("X-Auth-Token"),
		Body:      body,
		RequestID: requestID,
		Time:      e.now(),
	}
	_, rec.HasToken = r.Header["X-Auth-Token"]
	if isSigned(r) {
		if auth, err := iam.ParseAuthorization(r.Header.Get("Authorization")); err == nil {
			rec.AccessKey = auth.AccessKey
		}
	}
	isTokenRequest := rt.kind == routeTokens && r.Method == http.MethodPost
	if isTokenRequest {
		rec.Body = redactPassword(body)
	}

	e.mu.Lock()
	e.requests = append(e.requests, rec)
	if n := len(e.requests) - MaxRecordedRequests; n > 0 {
		e.requests = slices.Delete(e.requests, 0, n)
	}
	if isTokenRequest {
		e.iamRequests++
	}
	fault := e.takeFault(r)
	latency := e.latency
	e.mu.Unlock()

	rw := &responseWriter{ResponseWriter: w, e: e, rec: rec}
	if !sleep(r, latency) {
		return
	}
	if fault != nil && e.applyFault(rw, r, fault, rt, body) {
		return
	}
	e.dispatch(rw, r, rt, body)
}

// dispatch routes a request to its handler.
func (e *Emulator) dispatch(w http.ResponseWriter, r *http.Request, rt route, body []byte) {
	if rt.kind == routeTokens {
		if allow(w, r, http.MethodPost) {
			e.issueToken(w, r, body)
		}
		return
	}
	methods, ok := routeMethods[rt.kind]
	if !ok {
		writeKeystoneError(w, http.StatusNotFound, "The resource could not be found.")
		return
	}
	if !allow(w, r, methods...) || !e.authorize(w, r, rt.project, body) {
		return
	}
	switch rt.kind {
	case routeCheckpoints:
		e.createCheckpoint(w, rt.project, body)
	case routeCheckpoint:
		e.showCheckpoint(w, rt.project, rt.id)
	case routeBackups:
		e.listBackups(w, rt.project, r.URL.Query())
	case routeBackup:
		if r.Method == http.MethodDelete {
			e.deleteBackup(w, rt.project, rt.id)
		} else {
			e.showBackup(w, rt.project, rt.id)
		}
	case routeVault:
		e.showVault(w, rt.project, rt.id)
	case routeAddResources:
		e.addResources(w, rt.id, body)
	}
}

// routeMethods lists the methods each CBR route answers.
var routeMethods = map[routeKind][]string{
	routeCheckpoints:  {http.MethodPost},
	routeCheckpoint:   {http.MethodGet},
	routeBackups:      {http.MethodGet},
	routeBackup:       {http.MethodGet, http.MethodDelete},
	routeVault:        {http.MethodGet},
	routeAddResources: {http.MethodPost},
}

// allow answers 405 and reports false unless r uses one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeKeystoneError(w, http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
	return false
}

// routeKind says which API a path addresses.
type routeKind int

const (
	routeUnknown      routeKind = iota
	routeTokens                 // /v3/auth/tokens
	routeCheckpoints            // /v3/{project_id}/checkpoints
	routeCheckpoint             // /v3/{project_id}/checkpoints/{checkpoint_id}
	routeBackups                // /v3/{project_id}/backups
	routeBackup                 // /v3/{project_id}/backups/{backup_id}
	routeVault                  // /v3/{project_id}/vaults/{vault_id}
	routeAddResources           // /v3/{project_id}/vaults/{vault_id}/addresources
)

// route is a parsed request path.
type route struct {
	kind        routeKind
	project, id string
}

// parseRoute parses path, ignoring anything before its first "v3" segment.
func parseRoute(path string) route {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	i := slices.Index(segs, "v3")
	if i < 0 {
		return route{}
	}
	rest := segs[i+1:]
	if len(rest) == 2 && rest[0] == "auth" && rest[1] == "tokens" {
		return route{kind: routeTokens}
	}
	if len(rest) < 2 || slices.Contains(rest, "") {
		return route{}
	}
	project := rest[0]
	switch path := rest[1:]; {
	case len(path) == 1 && path[0] == "checkpoints":
		return route{kind: routeCheckpoints, project: project}
	case len(path) == 1 && path[0] == "backups":
		return route{kind: routeBackups, project: project}
	case len(path) == 2 && path[0] == "checkpoints":
		return route{kind: routeCheckpoint, project: project, id: path[1]}
	case len(path) == 2 && path[0] == "backups":
		return route{kind: routeBackup, project: project, id: path[1]}
	case len(path) == 2 && path[0] == "vaults":
		return route{kind: routeVault, project: project, id: path[1]}
	case len(path) == 3 && path[0] == "vaults" && path[2] == "addresources":
		return route{kind: routeAddResources, project: project, id: path[1]}
	}
	return route{}
}

// responseWriter records the answered status in the request log before the
// status line goes out, and lets http.ResponseController reach the original.
type responseWriter struct {
	http.ResponseWriter
	e           *Emulator
	rec         *Request
	wroteHeader bool
}

// WriteHeader records status, then sends it.
func (w *responseWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.setStatus(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write sends b, with status 200 unless WriteHeader came first.
func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// setStatus records status in the request log.
func (w *responseWriter) setStatus(status int) {
	w.e.mu.Lock()
	w.rec.Status = status
	w.e.mu.Unlock()
}

// Unwrap returns the original ResponseWriter, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sleep waits d of real time; it reports false when r's context ended first.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails; see crypto/rand.Read
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Server is an Emulator listening on a loopback port, like httptest.Server.
// Its URL is both the CBR endpoint and the IAM endpoint. Close it when done.
type Server struct {
	*httptest.Server
	*Emulator
}

// NewServer starts an Emulator configured by opts on a loopback port.
func NewServer(opts Options) *Server {
	e := New(opts)
	return &Server{Server: httptest.NewServer(e), Emulator: e}
}
