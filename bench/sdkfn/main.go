// Command sdkfn is the third contender of the benchmark harness (go run
// ./bench): the plain function a user would write with the official SDKs, the
// Huawei Cloud Go SDK (its CBR client, services/cbr/v1) and CloudEvents
// sdk-go (its HTTP receiver). It decodes a structured
// io.restorepoint.server.tagged CloudEvent, creates a checkpoint with the SDK's
// CreateCheckpoint, signed with AK/SK, and answers 200 with an empty body; it
// answers 400 to an event it cannot use and 502 when CBR does not create the
// checkpoint. Like the floor (bench/floor) it keeps no records, sends no
// result event and logs nothing per event.
//
// It is a module of its own so that restorepoint's module never depends on the
// Huawei SDK; the harness builds it from this directory.
//
//	CBR_ENDPOINT=http://127.0.0.1:8090 CBR_PROJECT_ID=... CBR_ACCESS_KEY=... CBR_SECRET_KEY=... PORT=8082 sdkfn
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	cbr "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cbr/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cbr/v1/model"
)

// serverTagged is the event type the function handles.
const serverTagged = "io.restorepoint.server.tagged"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sdkfn:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	fn, err := newFunction(os.Getenv("CBR_ENDPOINT"), os.Getenv("CBR_PROJECT_ID"),
		os.Getenv("CBR_ACCESS_KEY"), os.Getenv("CBR_SECRET_KEY"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", os.Getenv("PORT")))
	if err != nil {
		return err
	}
	c, err := cloudevents.NewClientHTTP(cehttp.WithListener(ln))
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "sdkfn: serving on", ln.Addr())
	return c.StartReceiver(ctx, fn.receive)
}

// function creates a checkpoint for each event it receives.
type function struct {
	client *cbr.CbrClient
}

// newFunction builds the SDK's CBR client for endpoint and project, signing
// with the key pair accessKey/secretKey.
func newFunction(endpoint, project, accessKey, secretKey string) (*function, error) {
	if endpoint == "" || project == "" || accessKey == "" || secretKey == "" {
		return nil, fmt.Errorf("CBR_ENDPOINT, CBR_PROJECT_ID, CBR_ACCESS_KEY and CBR_SECRET_KEY are required")
	}
	cred, err := basic.NewCredentialsBuilder().WithAk(accessKey).WithSk(secretKey).WithProjectId(project).SafeBuild()
	if err != nil {
		return nil, err
	}
	// The SDK's default transport keeps two idle connections per host; give
	// it a pool for every sender, as the floor has, so that the comparison
	// is not one of connection churn.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	hc, err := cbr.CbrClientBuilder().
		WithEndpoints([]string{endpoint}).
		WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithHttpTransport(tr)).
		SafeBuild()
	if err != nil {
		return nil, err
	}
	return &function{client: cbr.NewCbrClient(hc)}, nil
}

// taggedServer is the data of an io.restorepoint.server.tagged event.
type taggedServer struct {
	ServerID   string            `json:"server_id"`
	ServerName string            `json:"server_name"`
	Tags       map[string]string `json:"tags"`
	VaultID    string            `json:"vault_id"`
}

// receive is the sdk-go receiver: nil answers 200, a cehttp result its status.
func (f *function) receive(ctx context.Context, e cloudevents.Event) cloudevents.Result {
	if e.Type() != serverTagged {
		return cehttp.NewResult(http.StatusBadRequest, "type %q: want %s", e.Type(), serverTagged)
	}
	var d taggedServer
	if err := e.DataAs(&d); err != nil {
		return cehttp.NewResult(http.StatusBadRequest, "data: %v", err)
	}
	if d.ServerID == "" || d.VaultID == "" {
		return cehttp.NewResult(http.StatusBadRequest, "data: server_id and vault_id are required")
	}
	if err := f.createCheckpoint(checkpointRequest(e, &d)); err != nil {
		return cehttp.NewResult(http.StatusBadGateway, "create checkpoint: %v", err)
	}
	return nil
}

// checkpointRequest is the create-checkpoint request for a tagged server:
// the body restorepoint and the floor send (a test of the harness holds the
// two to JSON equality), in the SDK's types.
func checkpointRequest(e cloudevents.Event, d *taggedServer) *model.CreateCheckpointRequest {
	keys := make([]string, 0, len(d.Tags))
	for k := range d.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	tags := make([]string, len(keys))
	for i, k := range keys {
		tags[i] = k + "=" + d.Tags[k]
	}
	// The name ends in a digest of the event's key (no sender, then the
	// length-prefixed source, then the id), and the
	// description in its marker, as restorepoint's do.
	sum := sha256.Sum256([]byte("0:" + strconv.Itoa(len(e.Source())) + ":" + e.Source() + e.ID()))
	digest := hex.EncodeToString(sum[:])
	name := "tagged-" + d.ServerName + "-" + e.Time().UTC().Format("20060102T150405Z") + "-" + digest[:10]
	description := "Backup of server " + d.ServerName + ", tagged " + strings.Join(tags, ",") +
		", by " + e.Type() + " event " + e.ID() + " from " + e.Source() + " [rp:" + digest[:24] + "]"
	incremental := true
	serverName := d.ServerName
	return &model.CreateCheckpointRequest{Body: &model.VaultBackupReq{Checkpoint: &model.VaultBackup{
		VaultId: d.VaultID,
		Parameters: &model.CheckpointParam{
			Description:     &description,
			Incremental:     &incremental,
			Name:            &name,
			ResourceDetails: &[]model.Resource{{Id: d.ServerID, Name: &serverName, Type: "OS::Nova::Server"}},
		},
	}}}
}

// createdCheckpoint is the part of the create-checkpoint answer the function
// reads, in place of the SDK's model.CreateCheckpointResponse.
//
// The allowance: the SDK types checkpoint.vault.resources[].resource_size as a
// string, as the API page's table does, but the API answers a JSON number, as
// the page's own example does ("resource_size": 40), and then
// CbrClient.CreateCheckpoint returns an error for a checkpoint it has created
// (jsoniter: "ReadString: expects \" or n"). The least a user can change is
// the answer type: the request goes out through the SDK's own definition of
// the call (GenReqDefForCreateCheckpoint: method, path, body, signing, error
// handling), whose response is replaced by this type, which does not decode
// resource_size.
type createdCheckpoint struct {
	Checkpoint struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"checkpoint"`
	HttpStatusCode int `json:"-"` // set by the SDK, which requires the field
}

// createCheckpoint is CbrClient.CreateCheckpoint with the answer decoded into
// createdCheckpoint.
func (f *function) createCheckpoint(req *model.CreateCheckpointRequest) error {
	def := cbr.GenReqDefForCreateCheckpoint()
	def.Response = new(createdCheckpoint)
	out, err := f.client.HcClient.Sync(req, def)
	if err != nil {
		return err
	}
	if created := out.(*createdCheckpoint); created.Checkpoint.ID == "" {
		return fmt.Errorf("answer %d without a checkpoint id", created.HttpStatusCode)
	}
	return nil
}
