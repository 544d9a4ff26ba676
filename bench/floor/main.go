// Command floor is the baseline restorepoint is measured against by the
// benchmark harness (go run ./bench): the least a program can do to turn a
// structured io.restorepoint.server.tagged CloudEvent into the same CBR
// create-checkpoint POST. It decodes the event with encoding/json, builds the
// same request body restorepoint builds, POSTs it to $CBR_ENDPOINT and
// answers 200 with an empty body. It does no validation, no idempotency and
// no result event, and logs nothing. It uses only the standard library.
//
// With AWS_LAMBDA_RUNTIME_API set it is instead a Lambda custom runtime that
// does the same for each invocation, the floor of the Lambda cold start; with
// RUNTIME_API_ADDR set, a FunctionGraph custom runtime (GET
// /v1/runtime/invocation/request, POST .../response/{id} or .../error/{id}),
// the floor of the FunctionGraph cold start.
//
//	CBR_ENDPOINT=http://127.0.0.1:8090 CBR_PROJECT_ID=... CBR_TOKEN=... PORT=8081 floor
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	srv, err := newServer(os.Getenv("CBR_ENDPOINT"), os.Getenv("CBR_PROJECT_ID"), os.Getenv("CBR_TOKEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(2)
	}
	if api := os.Getenv("RUNTIME_API_ADDR"); api != "" {
		err := srv.runFunctionGraph(api)
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" {
		err := srv.runLambda(api)
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", os.Getenv("PORT")))
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "floor: serving on", ln.Addr())
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	if err := hs.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// server forwards events to the create-checkpoint endpoint.
type server struct {
	url, token string
	client     *http.Client
}

func newServer(endpoint, project, token string) (*server, error) {
	if endpoint == "" || project == "" || token == "" {
		return nil, fmt.Errorf("CBR_ENDPOINT, CBR_PROJECT_ID and CBR_TOKEN are required")
	}
	// A transport that keeps enough idle connections for every sender, so
	// the floor pays for no connection churn.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	return &server{
		url:    strings.TrimRight(endpoint, "/") + "/v3/" + project + "/checkpoints",
		token:  token,
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}, nil
}

// cloudEvent is the part of a structured CloudEvent the floor reads.
type cloudEvent struct {
	ID     string    `json:"id"`
	Source string    `json:"source"`
	Type   string    `json:"type"`
	Time   time.Time `json:"time"`
	Data   struct {
		ServerID   string            `json:"server_id"`
		ServerName string            `json:"server_name"`
		Tags       map[string]string `json:"tags"`
		VaultID    string            `json:"vault_id"`
	} `json:"data"`
}

// The create-checkpoint body, in the field order restorepoint sends.
type (
	createRequest struct {
		Checkpoint vaultBackup `json:"checkpoint"`
	}
	vaultBackup struct {
		Parameters parameters `json:"parameters"`
		VaultID    string     `json:"vault_id"`
	}
	parameters struct {
		Description     string     `json:"description"`
		Incremental     bool       `json:"incremental"`
		Name            string     `json:"name"`
		ResourceDetails []resource `json:"resource_details"`
	}
	resource struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
	}
)

// body builds the request restorepoint builds for a tagged server.
func body(e *cloudEvent) ([]byte, error) {
	d := &e.Data
	keys := make([]string, 0, len(d.Tags))
	for k := range d.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	tags := make([]string, len(keys))
	for i, k := range keys {
		tags[i] = k + "=" + d.Tags[k]
	}
	// The name ends in a digest of the trigger's key (no sender, then the
	// length-prefixed source, then the id), and the
	// description in its marker, as restorepoint's do (names CBR can find).
	sum := sha256.Sum256([]byte("0:" + strconv.Itoa(len(e.Source)) + ":" + e.Source + e.ID))
	digest := hex.EncodeToString(sum[:])
	return json.Marshal(createRequest{Checkpoint: vaultBackup{
		VaultID: d.VaultID,
		Parameters: parameters{
			Name: "tagged-" + d.ServerName + "-" + e.Time.UTC().Format("20060102T150405Z") + "-" + digest[:10],
			Description: "Backup of server " + d.ServerName + ", tagged " + strings.Join(tags, ",") +
				", by " + e.Type + " event " + e.ID + " from " + e.Source + " [rp:" + digest[:24] + "]",
			Incremental:     true,
			ResourceDetails: []resource{{ID: d.ServerID, Name: d.ServerName, Type: "OS::Nova::Server"}},
		},
	}})
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if status, err := s.handle(r.Context(), in); err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handle decodes one event and posts its create-checkpoint request. On
// failure it returns the HTTP status that says why.
func (s *server) handle(ctx context.Context, in []byte) (int, error) {
	var e cloudEvent
	if err := json.Unmarshal(in, &e); err != nil {
		return http.StatusBadRequest, err
	}
	out, err := body(&e)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(out))
	if err != nil {
		return http.StatusInternalServerError, err
	}
	req.Header.Set("X-Auth-Token", s.token)
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return http.StatusBadGateway, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return http.StatusBadGateway, errors.New("CBR answered " + resp.Status)
	}
	return http.StatusOK, nil
}

// runLambda is the floor as a Lambda custom runtime: it takes invocations
// from the Runtime API at api, handles each payload like an HTTP request
// body, and answers {"ok":true} or an error. It returns when the Runtime API
// fails, as a runtime must.
func (s *server) runLambda(api string) error {
	base := "http://" + api + "/2018-06-01/runtime/invocation/"
	return s.runRuntime(base+"next", "Lambda-Runtime-Aws-Request-Id",
		func(id string) string { return base + id + "/response" }, func(id string) string { return base + id + "/error" })
}

// runFunctionGraph serves FunctionGraph's custom runtime API at api.
func (s *server) runFunctionGraph(api string) error {
	base := "http://" + api + "/v1/runtime/invocation/"
	return s.runRuntime(base+"request", "X-Cff-Request-Id",
		func(id string) string { return base + "response/" + id }, func(id string) string { return base + "error/" + id })
}

// runRuntime is the invocation loop of a runtime API: GET next, handle,
// POST the answer to the response or the error URL of the request ID.
func (s *server) runRuntime(next, idHeader string, response, failed func(id string) string) error {
	rt := &http.Client{} // no timeout: the next invocation may be long in coming
	for {
		resp, err := rt.Get(next)
		if err != nil {
			return err
		}
		in, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		id := resp.Header.Get(idHeader)
		answer, path := []byte(`{"ok":true}`), response(id)
		if _, err := s.handle(context.Background(), in); err != nil {
			answer, _ = json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "FloorError"})
			path = failed(id)
		}
		resp, err = rt.Post(path, "application/json", bytes.NewReader(answer))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
