// Command zipbootstrap packs an executable into a zip archive as the single
// entry "bootstrap", with the file mode 0755 kept, as AWS Lambda
// (provided.al2023) and FunctionGraph expect their deployment packages. It
// is used by the Makefile, so that packaging needs no zip program.
//
//	go run ./internal/tools/zipbootstrap -o dist/restorepoint-lambda.zip dist/lambda/bootstrap
//
// The archive is reproducible: the entry's time is fixed.
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// entryName is the name of the executable inside the archive.
const entryName = "bootstrap"

// entryTime is the fixed modification time of the entry (the earliest a zip
// header can hold), so that the same binary always gives the same archive.
var entryTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("o", "", "archive to write")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: zipbootstrap -o ARCHIVE.zip EXECUTABLE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := zipFile(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "zipbootstrap:", err)
		os.Exit(1)
	}
}

// zipFile writes the archive out holding the executable src as "bootstrap".
func zipFile(out, src string) (err error) {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".zipbootstrap-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := writeZip(tmp, f); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// writeZip writes a zip archive to w with r's content as the entry
// "bootstrap", mode 0755.
func writeZip(w io.Writer, r io.Reader) error {
	zw := zip.NewWriter(w)
	h := &zip.FileHeader{Name: entryName, Method: zip.Deflate, Modified: entryTime}
	h.SetMode(0o755)
	ew, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(ew, r); err != nil {
		return err
	}
	return zw.Close()
}
