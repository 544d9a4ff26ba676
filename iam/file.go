package iam

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
)

// maxFileSize bounds what a token or password file may hold; real tokens are
// a few kilobytes.
const maxFileSize = 64 << 10

// File is a token kept in a file, typically a mounted secret. The file is
// read again whenever it changes (another inode, size or modification time,
// which also covers the symlink swap of Kubernetes secret volumes), and
// after [File.Invalidate]. Surrounding whitespace is trimmed.
type File struct {
	path string
	what string // "token", "password", "secret key" or "security token", for messages

	mu      sync.Mutex
	info    fs.FileInfo // of the file the cached value was read from
	value   Secret
	invalid bool // the next Token call must re-read
}

// NewFile returns a source that reads the token from the file at path.
func NewFile(path string) *File { return newFile(path, "token") }

func newFile(path, what string) *File { return &File{path: path, what: what} }

// Token returns the file's content, trimmed. It stats the file on every
// call and reads it only if it changed. Errors name the file but never show
// its content: a missing file gives
// "iam: token file /x: no such file" (wrapping [fs.ErrNotExist]), an empty
// one "iam: token file /x is empty" (wrapping [ErrNoToken]).
func (f *File) Token(context.Context) (string, error) {
	v, err := f.secret()
	return v.Reveal(), err
}

// secret is Token with the value kept as a Secret, for Password.
func (f *File) secret() (Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()

	info, err := os.Stat(f.path)
	if err != nil {
		return "", f.fileError(err)
	}
	if !f.invalid && f.info != nil && sameContent(f.info, info) {
		return f.value, nil
	}
	if !info.Mode().IsRegular() {
		return "", f.errorf("is not a regular file", nil)
	}
	if info.Size() > maxFileSize {
		return "", f.errorf(fmt.Sprintf("is too large (%d bytes, at most %d)", info.Size(), maxFileSize), nil)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return "", f.fileError(err)
	}
	value := strings.TrimSpace(string(data))
	switch {
	case value == "":
		return "", f.errorf("is empty", ErrNoToken)
	case strings.ContainsFunc(value, isControl):
		// A second line or a stray control character would make an
		// invalid header; the content itself is never shown.
		return "", f.errorf("contains control characters (more than one line?)", nil)
	}
	f.info, f.value, f.invalid = info, Secret(value), false
	return f.value, nil
}

// Invalidate makes the next Token call read the file again, whatever token
// was refused.
func (f *File) Invalidate(string) {
	f.mu.Lock()
	f.invalid = true
	f.mu.Unlock()
}

// Format prints the source with its path but without its content.
func (f *File) Format(s fmt.State, _ rune) { _, _ = fmt.Fprintf(s, "iam.File{path: %q}", f.path) }

// errorf returns "iam: <what> file <path> <msg>", unwrapping to err.
func (f *File) errorf(msg string, err error) error {
	return &wrapError{msg: fmt.Sprintf("iam: %s file %s %s", f.what, f.path, msg), err: err}
}

// fileError turns an os error into "iam: <what> file <path>: <reason>"
// without repeating the path, keeping errors.Is(err, fs.ErrNotExist) true.
func (f *File) fileError(err error) error {
	reason := err.Error()
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		reason = "no such file"
	case errors.Is(err, fs.ErrPermission):
		reason = "permission denied"
	case errors.As(err, &pathErr):
		reason = pathErr.Err.Error()
	}
	return &wrapError{msg: fmt.Sprintf("iam: %s file %s: %s", f.what, f.path, reason), err: err}
}

// sameContent reports whether a and b describe the same file version.
func sameContent(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// isControl reports ASCII control characters, which no header value may hold.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// compile-time checks
var (
	_ TokenSource      = (*File)(nil)
	_ TokenInvalidator = (*File)(nil)
)
