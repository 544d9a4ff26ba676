package handler

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// ReadRequest reads an HTTP/1.1 request as it goes over the wire, as in a
// file for `restorepoint explain --request`: the request line, the headers,
// a blank line and the body. Lines may end in CRLF or LF. The body is
// Content-Length bytes when that header is given (fewer is an error), else
// everything after the blank line, byte for byte (signatures are over the
// exact body). req.Body reads the same bytes as body.
func ReadRequest(r io.Reader) (req *http.Request, body []byte, err error) {
	all, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	head, rest, ok := cutHead(all)
	if !ok {
		return nil, nil, errors.New("request: no blank line after the headers")
	}
	req, err = http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return nil, nil, fmt.Errorf("request: %w", err)
	}
	if len(req.TransferEncoding) > 0 || req.Header.Get("Transfer-Encoding") != "" {
		return nil, nil, errors.New("request: Transfer-Encoding is not supported; give the body as it is")
	}
	body = rest
	if cl := req.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return nil, nil, errors.New("request: Content-Length must be a number")
		}
		if n > len(rest) {
			return nil, nil, fmt.Errorf("request: Content-Length is %d but the body has %d bytes", n, len(rest))
		}
		body = rest[:n]
	}
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(bytes.NewReader(body))
	return req, body, nil
}

// cutHead splits a request at the first blank line: head ends with the
// blank line (normalised to CRLF CRLF for http.ReadRequest), rest is what follows.
func cutHead(b []byte) (head, rest []byte, ok bool) {
	crlf := bytes.Index(b, []byte("\r\n\r\n"))
	lf := bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return b[:crlf+4], b[crlf+4:], true
	case lf >= 0:
		h := bytes.ReplaceAll(b[:lf+1], []byte("\r\n"), []byte("\n"))
		h = bytes.ReplaceAll(h, []byte("\n"), []byte("\r\n"))
		return append(h, '\r', '\n'), b[lf+2:], true
	}
	return nil, nil, false
}
