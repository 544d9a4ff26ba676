package iam_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

func TestNewAccessKeysProblems(t *testing.T) {
	_, err := iam.NewAccessKeys(iam.AccessKeysConfig{
		AccessKey:         "not/an-ak",
		SecurityToken:     "tok-value",
		SecurityTokenFile: "/t",
	})
	if err == nil {
		t.Fatal("NewAccessKeys accepted a bad config")
	}
	for _, want := range []string{
		"iam: invalid access key config: ",
		"the access key is malformed",
		"no secret key (give the secret key or a secret key file)",
		"both a security token and a security token file",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "not/an-ak") || strings.Contains(err.Error(), "tok-value") {
		t.Errorf("error shows a value: %v", err)
	}
	if !errors.Is(err, iam.ErrInvalidKeys) {
		t.Errorf("error does not wrap ErrInvalidKeys")
	}
	_, err = iam.NewAccessKeys(iam.AccessKeysConfig{AccessKey: "AK", SecretKey: "sk-value", SecretKeyFile: "/sk"})
	if err == nil || !strings.Contains(err.Error(), "both a secret key and a secret key file") {
		t.Errorf("NewAccessKeys(value and file) = %v", err)
	}
}

func TestAccessKeysStatic(t *testing.T) {
	src, err := iam.NewAccessKeys(iam.AccessKeysConfig{AccessKey: "AK", SecretKey: "sk-value", SecurityToken: "tok-value"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := src.Keys(context.Background())
	if err != nil || k.AccessKey != "AK" || k.SecretKey != "sk-value" || k.SecurityToken != "tok-value" {
		t.Fatalf("Keys() = %v, %v", k, err)
	}
	out := fmt.Sprintf("%v %+v %#v %s", src, src, src, src)
	if strings.Contains(out, "sk-value") || strings.Contains(out, "tok-value") {
		t.Errorf("the source prints a secret: %s", out)
	}
}

func TestAccessKeysFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skPath, tokPath := filepath.Join(dir, "secret_key"), filepath.Join(dir, "security_token")
	mtime := time.Now().Add(-time.Hour)
	writeFile(t, skPath, "sk-one\n", mtime)
	writeFile(t, tokPath, "tok-one", mtime)
	src, err := iam.NewAccessKeys(iam.AccessKeysConfig{AccessKey: "AK", SecretKeyFile: skPath, SecurityTokenFile: tokPath})
	if err != nil {
		t.Fatal(err)
	}
	k, err := src.Keys(ctx)
	if err != nil || k.SecretKey != "sk-one" || k.SecurityToken != "tok-one" {
		t.Fatalf("Keys() = %v (%q, %q), %v", k, k.SecretKey.Reveal(), k.SecurityToken.Reveal(), err)
	}

	// A rotation (new content, new modification time) is read on the next call.
	writeFile(t, skPath, "sk-two", mtime.Add(time.Minute))
	writeFile(t, tokPath, "tok-two", mtime.Add(time.Minute))
	if k, err = src.Keys(ctx); err != nil || k.SecretKey != "sk-two" || k.SecurityToken != "tok-two" {
		t.Fatalf("after rotation Keys() = %q, %q, %v", k.SecretKey.Reveal(), k.SecurityToken.Reveal(), err)
	}

	// Same size and time: only InvalidateKeys makes it read again.
	writeFile(t, skPath, "sk-333", mtime.Add(time.Minute))
	if k, _ = src.Keys(ctx); k.SecretKey != "sk-two" {
		t.Fatalf("re-read an unchanged file")
	}
	src.InvalidateKeys("AK")
	if k, _ = src.Keys(ctx); k.SecretKey != "sk-333" {
		t.Fatalf("InvalidateKeys did not re-read: %q", k.SecretKey.Reveal())
	}

	out := fmt.Sprintf("%v", src)
	if !strings.Contains(out, skPath) || strings.Contains(out, "sk-") || strings.Contains(out, "tok-") {
		t.Errorf("Format = %s", out)
	}

	// Missing and empty files: errors name both files, never a content.
	if err := os.Remove(skPath); err != nil {
		t.Fatal(err)
	}
	writeFile(t, tokPath, "\n", mtime.Add(2*time.Minute))
	_, err = src.Keys(ctx)
	if err == nil {
		t.Fatal("Keys() succeeded without files")
	}
	for _, want := range []string{"iam: secret key file " + skPath + ": no such file", "iam: security token file " + tokPath + " is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error does not wrap fs.ErrNotExist")
	}
}

// A pair kept in two files (a mounted Kubernetes Secret) is rotated as a
// pair: both halves are read again, and a malformed access key in its file
// is refused without showing it.
func TestAccessKeysPairInFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	akPath, skPath := filepath.Join(dir, "access-key"), filepath.Join(dir, "secret-key")
	mtime := time.Now().Add(-time.Hour)
	writeFile(t, akPath, "AKOLD0000000000000001\n", mtime)
	writeFile(t, skPath, "sk-old", mtime)
	src, err := iam.NewAccessKeys(iam.AccessKeysConfig{AccessKeyFile: akPath, SecretKeyFile: skPath})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := src.Keys(ctx); err != nil || k.AccessKey != "AKOLD0000000000000001" || k.SecretKey != "sk-old" {
		t.Fatalf("Keys() = %q, %q, %v", k.AccessKey, k.SecretKey.Reveal(), err)
	}
	writeFile(t, akPath, "AKNEW0000000000000002", mtime.Add(time.Minute))
	writeFile(t, skPath, "sk-new", mtime.Add(time.Minute))
	if k, err := src.Keys(ctx); err != nil || k.AccessKey != "AKNEW0000000000000002" || k.SecretKey != "sk-new" {
		t.Fatalf("after rotation Keys() = %q, %q, %v", k.AccessKey, k.SecretKey.Reveal(), err)
	}
	if out := fmt.Sprintf("%v", src); !strings.Contains(out, akPath) || strings.Contains(out, "sk-") {
		t.Errorf("Format = %s", out)
	}
	writeFile(t, akPath, "not/an=access-key-SECRET", mtime.Add(2*time.Minute))
	_, err = src.Keys(ctx)
	if err == nil || !strings.Contains(err.Error(), akPath) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("malformed access key file: %v", err)
	}
	if _, err := iam.NewAccessKeys(iam.AccessKeysConfig{AccessKey: "AK1", AccessKeyFile: akPath, SecretKey: "s"}); err == nil {
		t.Fatal("an access key and an access key file were both accepted")
	}
}
