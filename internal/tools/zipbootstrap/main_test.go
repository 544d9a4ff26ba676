package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestZipKeepsExecutableMode(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "restorepoint")
	content := []byte("#!/bin/sh\necho restorepoint\n")
	if err := os.WriteFile(src, content, 0o700); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "dist", "function.zip")
	if err := zipFile(out, src); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 {
		t.Fatalf("archive has %d entries, want 1", len(zr.File))
	}
	f := zr.File[0]
	if f.Name != "bootstrap" || f.Mode() != 0o755 {
		t.Fatalf("entry %q mode %v, want bootstrap -rwxr-xr-x", f.Name, f.Mode())
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("content %q, want %q", got.Bytes(), content)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "dist", ".zipbootstrap-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestZipIsReproducible(t *testing.T) {
	var a, b bytes.Buffer
	if err := writeZip(&a, bytes.NewReader([]byte("binary"))); err != nil {
		t.Fatal(err)
	}
	if err := writeZip(&b, bytes.NewReader([]byte("binary"))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two archives of the same input differ")
	}
}

func TestZipMissingInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.zip")
	if err := zipFile(out, filepath.Join(dir, "missing")); err == nil {
		t.Fatal("no error for a missing executable")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("archive written despite the error: %v", err)
	}
}
