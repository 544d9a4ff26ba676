package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ceclient "github.com/cloudevents/sdk-go/v2/client"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
)

// Distinctive secrets: the suite searches every log line, reply and sink
// event for them. The IAM password is the emulator's (it accepts only that).
const (
	secretToken    = "tok-SECRET-7f3a9c1e5b2d"
	secretWebhook  = "whk-SECRET-2d8e4b6f0a1c"
	secretPassword = cbrtest.DemoPassword
	// secretKey is the secret key of accessKey, which the emulator takes
	// instead of its demo pair in worlds with aksk.
	secretKey     = "sk-SECRET-9b4e1d7c3a5f"
	accessKey     = "E2EACCESSKEY00000001"
	secretMetrics = "met-SECRET-4c6e8a0b2d1f"
)

// searchedSecrets are searched for in every world, besides the tokens the
// emulator saw: the temporary keys' secret key and security token are what
// FunctionGraph's headers carry.
var searchedSecrets = []string{secretToken, secretWebhook, secretPassword, secretKey, secretMetrics,
	cbrtest.DemoTemporarySecretKey, cbrtest.DemoSecurityToken}

// binPath is the restorepoint binary TestMain builds, in binDir.
var binPath, binDir string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "restorepoint-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	binPath = filepath.Join(dir, "restorepoint")
	if err := buildBinary(binPath); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// buildBinary builds cmd/restorepoint into out as it is deployed (with the
// Makefile's build tags, see deployedTags) and with the build tags given,
// with -race when the suite runs with it.
func buildBinary(out string, tags ...string) error {
	deployed, err := deployedTags()
	if err != nil {
		return err
	}
	tags = append(deployed, tags...)
	args := []string{"build", "-o", out, "-tags", strings.Join(tags, ",")}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/restorepoint/restorepoint/cmd/restorepoint")
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	start := time.Now()
	cmd := exec.Command(gotool, args...)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built %s (race=%v, tags=%v) in %v\n", out, raceEnabled, tags, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// deployedTags are the build tags every deployed binary carries: the
// Makefile's TAGS without RULES or OTLP (make print-tags), so that the suite
// runs the binary that is deployed.
func deployedTags() ([]string, error) {
	cmd := exec.Command("make", "-s", "--no-print-directory", "print-tags", "RULES=", "OTLP=")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("make print-tags: %w", err)
	}
	tags := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(tags) == 0 || tags[0] == "" {
		return nil, fmt.Errorf("make print-tags printed no tags")
	}
	return tags, nil
}

// rulesBin is the binary built with the rules engine (build tag rules),
// built once, by the first test that asks for it (rulesBinary).
var rulesBin struct {
	once sync.Once
	path string
	err  error
}

// rulesBinary returns the path of a restorepoint binary built with the
// build tag rules, for a world with a RULES_FILE (options.bin). Only the
// tests that need it pay for its build.
func rulesBinary(t *testing.T) string {
	t.Helper()
	rulesBin.once.Do(func() {
		rulesBin.path = filepath.Join(binDir, "restorepoint-rules")
		rulesBin.err = buildBinary(rulesBin.path, "rules")
	})
	if rulesBin.err != nil {
		t.Fatal(rulesBin.err)
	}
	return rulesBin.path
}

// ---------------------------------------------------------------------------
// The world of one test: emulator, sink, child process, transcript.

// options configure a world.
type options struct {
	// password selects IAM password auth against the emulator's IAM instead
	// of the static token.
	password bool
	// aksk signs with accessKey and secretKey (from a file) instead.
	aksk bool
	// noCredentials configures none (for CBR_AUTH=functiongraph).
	noCredentials bool
	// noWebhook leaves WEBHOOK_SECRET unset.
	noWebhook bool
	// emulator options; Token is always secretToken.
	emu cbrtest.Options
	// env overrides or adds variables of the child.
	env map[string]string
	// bin is the binary to run; "" is binPath (rulesBinary: one with rules).
	bin string
}

// world is everything one test runs against.
type world struct {
	t    *testing.T
	emu  *cbrtest.Server
	sink *sink
	proc *child
	opts options
	env  map[string]string // the child's environment
	// procs are every child of the world, proc first (see startMore).
	procs []*child

	mu         sync.Mutex
	transcript [][]byte // every reply received, headers and body
	client     ceclient.Client
}

// newWorld starts an emulator, a sink and `restorepoint serve` wired to them.
// Its cleanup kills the child and searches everything recorded for secrets.
func newWorld(t *testing.T, opts options) *world {
	t.Helper()
	opts.emu.Token = secretToken
	if opts.emu.AvailableAfter == 0 {
		// Checkpoints are available at once, so that a resource backed up
		// twice is not skipped with BackupService.0002 (unless a test asks).
		opts.emu.AvailableAfter = -1
	}
	w := &world{t: t, opts: opts}
	w.emu = cbrtest.NewServer(opts.emu)
	t.Cleanup(w.emu.Close)
	w.sink = newSink(t)
	t.Cleanup(w.sink.Close)
	t.Cleanup(w.checkSecrets) // runs after the child is dead (cleanups are LIFO)

	env := map[string]string{
		"CBR_ENDPOINT":     w.emu.URL,
		"CBR_PROJECT_ID":   cbrtest.DefaultProjectID,
		"RESULT_SINK":      w.sink.URL(),
		"CBR_TIMEOUT":      "10s", // the default; short ones only where a test is about them
		"CBR_MAX_ATTEMPTS": "4",
		"LOG_LEVEL":        "debug",
		"PORT":             "0",
		"METRICS_TOKEN":    secretMetrics,
		// Following restore points to their end sends more events to the
		// sink; the tests of it turn it on.
		"FOLLOW": "off",
	}
	if !opts.noWebhook {
		env["WEBHOOK_SECRET"] = secretWebhook
	}
	switch {
	case opts.noCredentials:
	case opts.aksk:
		w.emu.SetAccessKey(accessKey, secretKey)
		file := filepath.Join(t.TempDir(), "secret-key")
		if err := os.WriteFile(file, []byte(secretKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env["CBR_ACCESS_KEY"] = accessKey
		env["CBR_SECRET_KEY_FILE"] = file
	case opts.password:
		env["IAM_ENDPOINT"] = w.emu.URL + "/v3"
		env["IAM_USERNAME"] = cbrtest.DemoUser
		env["IAM_PASSWORD"] = secretPassword
		env["IAM_DOMAIN_NAME"] = cbrtest.DemoDomain
	default:
		env["CBR_TOKEN"] = secretToken
	}
	for k, v := range opts.env {
		env[k] = v
	}
	w.env = env
	w.proc = startChild(t, opts.bin, env)
	w.procs = []*child{w.proc}
	t.Cleanup(w.scrapeMetrics) // runs while the child still lives

	p, err := cehttp.New(cehttp.WithTarget(w.proc.url), cehttp.WithClient(http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if !opts.noWebhook {
		if err := cehttp.WithHeader("Authorization", "Bearer "+secretWebhook)(p); err != nil {
			t.Fatal(err)
		}
	}
	if w.client, err = ceclient.New(p); err != nil {
		t.Fatal(err)
	}
	return w
}

// record keeps a reply for the secret search.
func (w *world) record(header http.Header, body []byte) {
	var b bytes.Buffer
	_ = header.Write(&b)
	b.Write(body)
	w.mu.Lock()
	w.transcript = append(w.transcript, b.Bytes())
	w.mu.Unlock()
}

// send delivers e with the sdk-go client, as an event bus would, and returns
// the reply event (nil when the reply is not an event) and the HTTP status.
// err is set only when nothing was delivered.
func (w *world) send(ctx context.Context, e event.Event) (*event.Event, int, error) {
	reply, res := w.client.Request(ctx, e)
	if protocol.IsUndelivered(res) {
		return nil, 0, res
	}
	var hr *cehttp.Result
	if !errors.As(res, &hr) {
		return nil, 0, fmt.Errorf("no HTTP result in %v", res)
	}
	if reply != nil {
		raw, _ := json.Marshal(reply)
		w.record(http.Header{}, raw)
	}
	return reply, hr.StatusCode, nil
}

// mustSend is send that fails the test when nothing was delivered.
func (w *world) mustSend(e event.Event) (*event.Event, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply, status, err := w.send(ctx, e)
	if err != nil {
		w.t.Fatalf("send %s: %v", e.ID(), err)
	}
	return reply, status
}

// reply is a raw HTTP answer of the child.
type reply struct {
	status int
	header http.Header
	body   []byte
	event  *event.Event // the reply in binary mode, if it is a CloudEvent
}

// message returns what the reply says went wrong: error.message of a
// failed event, or the "error" of a JSON error body.
func (r reply) message() string {
	if r.event != nil {
		var d struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(r.event.Data(), &d)
		return d.Error.Message
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

// post sends a raw request to the child's front door: hostile bodies and
// headers the sdk-go client would not send. The webhook secret is added
// unless header sets Authorization or X-Hub-Signature-256 (an empty
// Authorization value means: no credentials).
func (w *world) post(header http.Header, body []byte) reply {
	w.t.Helper()
	r, err := w.tryPost(header, body)
	if err != nil {
		w.t.Fatalf("POST: %v", err)
	}
	return r
}

func (w *world) tryPost(header http.Header, body []byte) (reply, error) {
	return w.tryPostTo(w.proc, header, body)
}

// startMore starts n more children with the first one's environment, on
// the same emulator and sink (instances of one deployment).
func (w *world) startMore(n int) {
	w.t.Helper()
	for range n {
		w.procs = append(w.procs, startChild(w.t, w.opts.bin, w.env))
	}
}

// postEventTo sends e in binary mode to child c, as post does.
func (w *world) postEventTo(c *child, e event.Event) (reply, error) {
	req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), c.url, e)
	if err != nil {
		return reply{}, err
	}
	body, _ := io.ReadAll(req.Body)
	return w.tryPostTo(c, req.Header, body)
}

// tryPostTo is tryPost to child c.
func (w *world) tryPostTo(c *child, header http.Header, body []byte) (reply, error) {
	req, err := http.NewRequest(http.MethodPost, c.url+"/", bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	_, hasAuth := header["Authorization"]
	_, hasSig := header["X-Hub-Signature-256"]
	switch {
	case hasAuth && header.Get("Authorization") == "":
		req.Header.Del("Authorization")
	case !hasAuth && !hasSig && !w.opts.noWebhook:
		req.Header.Set("Authorization", "Bearer "+secretWebhook)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return reply{}, err
	}
	w.record(resp.Header, data)
	r := reply{status: resp.StatusCode, header: resp.Header, body: data}
	if resp.Header.Get("Ce-Specversion") != "" {
		resp.Body = io.NopCloser(bytes.NewReader(data))
		if e, err := cehttp.NewEventFromHTTPResponse(resp); err == nil {
			r.event = e
		}
	}
	return r, nil
}

// postEvent sends e in binary mode through post, to see the reply's headers.
func (w *world) postEvent(e event.Event) reply {
	w.t.Helper()
	req, err := cehttp.NewHTTPRequestFromEvent(context.Background(), w.proc.url, e)
	if err != nil {
		w.t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	return w.post(req.Header, body)
}

// get fetches path from the child.
func (w *world) get(path string) (int, []byte) {
	w.t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(w.proc.url + path)
	if err != nil {
		w.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	w.record(resp.Header, data)
	return resp.StatusCode, data
}

// scrapeMetrics reads GET /metrics of a child that is still running, with
// METRICS_TOKEN, and records it for the secret search: no label may carry a
// secret. A world that set METRICS=off or its own token is skipped.
func (w *world) scrapeMetrics() {
	if !w.proc.alive() || w.opts.env["METRICS"] == "off" || w.opts.env["METRICS_TOKEN"] != "" {
		return
	}
	req, err := http.NewRequest(http.MethodGet, w.proc.url+"/metrics", nil)
	if err != nil {
		w.t.Error(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+secretMetrics)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return // the test may have stopped the child's listener
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		w.t.Errorf("GET /metrics: %d: %.300s", resp.StatusCode, data)
	}
	w.record(resp.Header, data)
}

// checkSecrets searches the child's logs, every reply and everything the
// sink received for the token, the IAM password, the webhook secret, the
// secret keys and security token, and every IAM token the emulator saw.
func (w *world) checkSecrets() {
	t := w.t
	secrets := slices.Clone(searchedSecrets)
	for _, r := range w.emu.Requests() {
		if r.Token != "" && !contains(secrets, r.Token) {
			secrets = append(secrets, r.Token)
		}
	}
	type place struct {
		name string
		data []byte
	}
	var places []place
	for i, c := range w.procs {
		places = append(places, place{fmt.Sprintf("child %d logs", i), c.logs.Bytes()})
	}
	w.mu.Lock()
	for i, r := range w.transcript {
		places = append(places, place{fmt.Sprintf("reply %d", i), r})
	}
	w.mu.Unlock()
	for i, b := range w.sink.Bodies() {
		places = append(places, place{fmt.Sprintf("sink request %d", i), b})
	}
	for _, p := range places {
		for _, s := range secrets {
			if i := bytes.Index(p.data, []byte(s)); i >= 0 {
				from, to := max(0, i-200), min(len(p.data), i+len(s)+50)
				t.Errorf("secret %.6s... found in %s: ...%s...", s, p.name, p.data[from:to])
			}
		}
	}
	for _, c := range w.procs {
		if bytes.Contains(c.logs.Bytes(), []byte("WARNING: DATA RACE")) {
			t.Errorf("data race in the child:\n%s", c.logs.Bytes())
		}
	}
	if t.Failed() {
		for i, c := range w.procs[1:] {
			t.Logf("child %d logs:\n%s", i+1, tail(c.logs.Bytes(), 4000))
		}
		t.Logf("child logs:\n%s", tail(w.proc.logs.Bytes(), 12000))
		if dir := os.Getenv("E2E_LOG_DIR"); dir != "" { // the whole log, for a closer look
			name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".log")
			if err := os.WriteFile(name, w.proc.logs.Bytes(), 0o644); err == nil {
				t.Logf("child logs written to %s", name)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append([]byte("...\n"), b[len(b)-n:]...)
}

// ---------------------------------------------------------------------------
// The child process.

// child is `restorepoint serve` running as a child process.
type child struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	port string
	logs *syncBuffer

	done    chan struct{} // closed when the process has exited
	waitErr error         // its exit, once done is closed
	exiting bool          // the test asked it to exit
	mu      sync.Mutex
}

var servingAddr = regexp.MustCompile(`"msg":"serving".*?"addr":"[^"]*:(\d+)"`)

// startChild runs `restorepoint serve` of binary bin ("": binPath) with
// exactly env (plus PATH) and waits until it listens. Cleanup kills it.
func startChild(t *testing.T, bin string, env map[string]string) *child {
	t.Helper()
	if bin == "" {
		bin = binPath
	}
	c := &child{t: t, logs: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, "serve")
	// A race-enabled child sleeps a second at exit unless told not to.
	c.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0"}
	for k, v := range env {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	c.cmd.Stdout = c.logs
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	port := make(chan string, 1)
	go func() {
		rd := bufio.NewReaderSize(stderr, 64<<10)
		for {
			line, err := rd.ReadBytes('\n')
			c.logs.Write(line)
			if m := servingAddr.FindSubmatch(line); m != nil {
				select {
				case port <- string(m[1]):
				default:
				}
			}
			if err != nil {
				break
			}
		}
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(c.stop)
	select {
	case p := <-port:
		c.port = p
		c.url = "http://127.0.0.1:" + p
	case <-c.done:
		t.Fatalf("restorepoint serve exited at start: %v\n%s", c.waitErr, c.logs.Bytes())
	case <-time.After(20 * time.Second):
		t.Fatalf("restorepoint serve did not start listening:\n%s", c.logs.Bytes())
	}
	return c
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// signal sends sig and notes that the test expects the process to exit.
func (c *child) signal(sig os.Signal) {
	c.mu.Lock()
	c.exiting = true
	c.mu.Unlock()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to d for the process to exit and returns its exit error.
func (c *child) wait(d time.Duration) error {
	select {
	case <-c.done:
		return c.waitErr
	case <-time.After(d):
		c.t.Fatalf("restorepoint did not exit within %v", d)
		return nil
	}
}

// alive reports whether the process is still running.
func (c *child) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// stop kills the process if it still runs; an exit the test did not ask for
// is an error.
func (c *child) stop() {
	c.mu.Lock()
	exiting := c.exiting
	c.mu.Unlock()
	if !c.alive() && !exiting {
		c.t.Errorf("restorepoint exited unexpectedly: %v", c.waitErr)
	}
	if c.alive() {
		_ = c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Errorf("restorepoint (pid %d) did not die", c.pid())
	}
}

// memory returns VmRSS and VmHWM of the child, in bytes, from /proc.
func (c *child) memory() (rss, hwm int64) {
	c.t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(c.pid()) + "/status")
	if err != nil {
		c.t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch key {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

// logLines returns the child's JSON log lines whose msg is msg.
func (c *child) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range bytes.Split(c.logs.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// ---------------------------------------------------------------------------
// The recording result sink.

// sink is a CloudEvents receiver that records the result events it
// acknowledges. It can answer 503 (SetFailing) or be down altogether
// (Down: connection refused) and come back on the same address (Up).
type sink struct {
	t    *testing.T
	addr string

	mu       sync.Mutex
	srv      *http.Server
	failing  bool
	events   []event.Event // acknowledged
	attempts int           // every POST, acknowledged or not
	bodies   [][]byte      // every POST's headers and body
}

func newSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{t: t, addr: ln.Addr().String()}
	s.serve(ln)
	return s
}

func (s *sink) URL() string { return "http://" + s.addr + "/" }

func (s *sink) serve(ln net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var b bytes.Buffer
	_ = r.Header.Write(&b)
	b.Write(body)
	r.Body = io.NopCloser(bytes.NewReader(body))

	s.mu.Lock()
	s.attempts++
	s.bodies = append(s.bodies, b.Bytes())
	failing := s.failing
	s.mu.Unlock()
	if failing {
		http.Error(w, "sink unavailable", http.StatusServiceUnavailable)
		return
	}
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, *e)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// SetFailing makes the sink answer 503 (true) or accept events (false).
func (s *sink) SetFailing(failing bool) {
	s.mu.Lock()
	s.failing = failing
	s.mu.Unlock()
}

// Down closes the sink's listener and connections: connection refused.
func (s *sink) Down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same address.
func (s *sink) Up() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("sink up again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

func (s *sink) Close() { s.Down() }

// Events returns the acknowledged events.
func (s *sink) Events() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.events...)
}

// Attempts returns how many POSTs the sink received.
func (s *sink) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Bodies returns every POST the sink received, headers and body.
func (s *sink) Bodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// ---------------------------------------------------------------------------
// Events and results.

// taggedEvent is a server.tagged trigger asking for a backup of server into vault.
func taggedEvent(id, server, vault string) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/e2e/tagger")
	e.SetType(events.TypeServerTagged)
	e.SetSubject(server)
	_ = e.SetData(event.ApplicationJSON, map[string]any{
		"server_id":   server,
		"server_name": "e2e-server",
		"tags":        map[string]string{"backup": "daily"},
		"vault_id":    vault,
	})
	return e
}

// exampleEvent is a tagged trigger for the emulator's example server.
func exampleEvent(id string) event.Event {
	return taggedEvent(id, cbrtest.ExampleServerID, cbrtest.ExampleVaultID)
}

// resultData is the data of a result event, created or failed.
type resultData struct {
	Trigger struct {
		ID, Source, Type string
	} `json:"trigger"`
	VaultID     string `json:"vault_id"`
	Checkpoints []struct {
		ID string `json:"id"`
	} `json:"checkpoints"`
	SkippedResources []struct {
		ID, Code string
	} `json:"skipped_resources"`
	Duplicate bool `json:"duplicate"`
	Error     *struct {
		Class     failure.Class `json:"class"`
		Status    int           `json:"status"`
		Code      string        `json:"code"`
		Message   string        `json:"message"`
		Retryable bool          `json:"retryable"`
	} `json:"error"`
}

func dataOf(t *testing.T, e *event.Event) resultData {
	t.Helper()
	if e == nil {
		t.Fatal("no result event")
	}
	var d resultData
	if err := json.Unmarshal(e.Data(), &d); err != nil {
		t.Fatalf("result data %s: %v", e.Data(), err)
	}
	return d
}

// expectCreated checks that reply is a created result with one checkpoint
// for trigger id, and returns its data.
func expectCreated(t *testing.T, reply *event.Event, status int, id string) resultData {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200; reply %v", status, reply)
	}
	if reply == nil || reply.Type() != events.TypeCheckpointCreated {
		t.Fatalf("reply %v, want a %s event", reply, events.TypeCheckpointCreated)
	}
	d := dataOf(t, reply)
	if d.Trigger.ID != id {
		t.Errorf("result for trigger %q, want %q", d.Trigger.ID, id)
	}
	if len(d.Checkpoints) != 1 || d.Checkpoints[0].ID == "" {
		t.Errorf("checkpoints %+v, want one", d.Checkpoints)
	}
	return d
}

// expectFailed checks that reply is a failed result of class with status.
func expectFailed(t *testing.T, reply *event.Event, status, wantStatus int, class failure.Class) resultData {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d; reply %v", status, wantStatus, reply)
	}
	if reply == nil || reply.Type() != events.TypeCheckpointFailed {
		t.Fatalf("reply %v, want a %s event", reply, events.TypeCheckpointFailed)
	}
	d := dataOf(t, reply)
	if d.Error == nil || d.Error.Class != class {
		t.Fatalf("error %+v, want class %q", d.Error, class)
	}
	return d
}

// creates returns the emulator's create-checkpoint requests and their statuses.
func creates(emu *cbrtest.Server) []int {
	var out []int
	for _, r := range emu.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/checkpoints") {
			out = append(out, r.Status)
		}
	}
	return out
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isConnRefused reports whether err is a refused connection.
func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
