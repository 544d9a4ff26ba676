package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs tracks every child process the harness starts, so that all of them
// are stopped however the harness ends: normally, on an error, or on an
// interrupt (and, on Linux, when the harness itself is killed: see
// setProcAttr).
type procs struct {
	dir  string // where the children's logs go
	mu   sync.Mutex
	live map[*proc]bool
	seq  int
}

func newProcs(dir string) *procs { return &procs{dir: dir, live: make(map[*proc]bool)} }

// proc is one child process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // its exit error, once done is closed
}

// start starts path with args and exactly the environment env (nothing is
// inherited, so that a stray RESULT_SINK or AWS_LAMBDA_RUNTIME_API in the
// caller's environment cannot change what is measured). Its stderr, and its
// stdout unless stdout is given, go to a log file in the harness's directory.
func (ps *procs) start(name string, env []string, stdout io.Writer, path string, args ...string) (*proc, error) {
	ps.mu.Lock()
	ps.seq++
	logPath := filepath.Join(ps.dir, fmt.Sprintf("%03d-%s.log", ps.seq, name))
	ps.mu.Unlock()
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stderr = logFile
	cmd.Stdout = logFile
	if stdout != nil {
		cmd.Stdout = stdout
	}
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	ps.mu.Lock()
	ps.live[p] = true
	ps.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		ps.mu.Lock()
		delete(ps.live, p)
		ps.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// stopAll stops every process still running.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	var all []*proc
	for p := range ps.live {
		all = append(all, p)
	}
	ps.mu.Unlock()
	for _, p := range all {
		p.stop()
	}
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process and its group (the function the Lambda
// emulator started, say), waits up to five seconds, then kills them.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	signalGroup(p.cmd.Process, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	signalGroup(p.cmd.Process, syscall.SIGKILL)
	<-p.done
}

// logTail returns the end of the process's log, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// failure describes err together with the process's state and log.
func (p *proc) failure(err error) error {
	state := "running"
	if p.exited() {
		state = fmt.Sprintf("exited: %v", p.err)
	}
	return fmt.Errorf("%s (%s): %w\n--- log %s ---\n%s", p.name, state, err, p.logPath, p.logTail())
}

// procStatus reads a "Name:   value kB" field of /proc/<pid>/status, in bytes.
func (p *proc) procStatus(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, err
	}
	return parseStatusField(b, field)
}

// parseStatusField finds "field: N kB" in the text of /proc/<pid>/status and
// returns N in bytes.
func parseStatusField(status []byte, field string) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte(field+":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc status %s: unexpected %q", field, strings.TrimSpace(string(line)))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status %s: %w", field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc status: no %s", field)
}

// cpuTime returns the user plus system CPU time the process has used, from
// /proc/<pid>/stat (in clock ticks of 10 ms on Linux).
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU returns utime+stime of a /proc/<pid>/stat line, assuming 100
// clock ticks per second (USER_HZ, fixed at 100 on Linux).
func parseStatCPU(stat []byte) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitConnect polls addr until a TCP connection succeeds, the process exits,
// or timeout passes.
func waitConnect(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case p.exited():
			return p.failure(errors.New("exited before listening"))
		case time.Now().After(deadline):
			return p.failure(fmt.Errorf("not listening on %s after %v", addr, timeout))
		}
		time.Sleep(250 * time.Microsecond)
	}
}

// urlWriter passes a child's stdout on to w and sends the first URL that
// follows "listening on " to found.
type urlWriter struct {
	w     io.Writer
	mu    sync.Mutex
	buf   []byte
	found chan string
	sent  bool
}

func (u *urlWriter) Write(b []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.sent {
		u.buf = append(u.buf, b...)
		if _, rest, ok := bytes.Cut(u.buf, []byte("listening on ")); ok {
			if url, _, ok := bytes.Cut(rest, []byte("\n")); ok {
				u.found <- strings.TrimSpace(string(url))
				u.sent = true
				u.buf = nil
			}
		}
	}
	return u.w.Write(b)
}
