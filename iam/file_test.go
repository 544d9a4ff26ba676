package iam_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

// writeFile writes content to path and sets its modification time.
func writeFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content *string // nil: no file
		wantErr string  // %s is the path
		wantIs  error
	}{
		{"missing", nil, "iam: token file %s: no such file", fs.ErrNotExist},
		{"empty", ptr(""), "iam: token file %s is empty", iam.ErrNoToken},
		{"only whitespace", ptr(" \n\t\n"), "iam: token file %s is empty", iam.ErrNoToken},
		{"two lines", ptr("line-one\nline-two\n"), "iam: token file %s contains control characters (more than one line?)", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "token"+string(rune('a'+i)))
			if tt.content != nil {
				writeFile(t, path, *tt.content, time.Now())
			}
			got, err := iam.NewFile(path).Token(context.Background())
			want := strings.ReplaceAll(tt.wantErr, "%s", path)
			if err == nil || err.Error() != want {
				t.Fatalf("Token() = %q, %v; want error %q", got, err, want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), "line-") {
				t.Errorf("error %q shows the file's content", err)
			}
		})
	}
}

func TestFileIsADirectory(t *testing.T) {
	_, err := iam.NewFile(t.TempDir()).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("Token() on a directory: error = %v", err)
	}
}

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := context.Background()

	tests := []struct {
		name   string
		change func(t *testing.T)
		want   string
	}{
		{"first read trims whitespace", func(t *testing.T) { writeFile(t, path, "  tok-A \n", t0) }, "tok-A"},
		{"unchanged file is cached", func(t *testing.T) {}, "tok-A"},
		{"new content, new size", func(t *testing.T) { writeFile(t, path, "tok-BB\n", t0) }, "tok-BB"},
		{"new content, same size, new mtime", func(t *testing.T) { writeFile(t, path, "tok-CC\n", t0.Add(time.Second)) }, "tok-CC"},
		{"new file renamed over, same size and mtime", func(t *testing.T) {
			tmp := filepath.Join(dir, "token.new")
			writeFile(t, tmp, "tok-DD\n", t0.Add(time.Second))
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, "tok-DD"},
		{"symlink swapped (Kubernetes secret volume)", func(t *testing.T) {
			data := filepath.Join(dir, "data-1")
			writeFile(t, data, "tok-EE\n", t0.Add(time.Second))
			link := filepath.Join(dir, "link.tmp")
			if err := os.Symlink(data, link); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(link, path); err != nil {
				t.Fatal(err)
			}
		}, "tok-EE"},
	}
	src := iam.NewFile(path)
	for _, tt := range tests {
		tt.change(t)
		got, err := src.Token(ctx)
		if err != nil || got != tt.want {
			t.Fatalf("%s: Token() = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, err := src.Token(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after removal: Token() = %q, %v; want a no-such-file error", got, err)
	}
}

func TestFileInvalidateRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	writeFile(t, path, "tok-1", t0)
	src := iam.NewFile(path)
	ctx := context.Background()
	if got, _ := src.Token(ctx); got != "tok-1" {
		t.Fatalf("Token() = %q, want tok-1", got)
	}

	// Same size, same mtime, same inode: undetectable without a re-read.
	writeFile(t, path, "tok-2", t0)
	if got, _ := src.Token(ctx); got != "tok-1" {
		t.Fatalf("Token() before Invalidate = %q, want the cached tok-1", got)
	}
	src.Invalidate("tok-1")
	if got, err := src.Token(ctx); err != nil || got != "tok-2" {
		t.Fatalf("Token() after Invalidate = %q, %v; want tok-2", got, err)
	}
}

func TestFileConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "tok", time.Now())
	src := iam.NewFile(path)
	done := make(chan struct{})
	for range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			src.Invalidate("tok")
			if got, err := src.Token(context.Background()); err != nil || got != "tok" {
				t.Errorf("Token() = %q, %v", got, err)
			}
		}()
	}
	for range 20 {
		<-done
	}
}

func ptr[T any](v T) *T { return &v }
