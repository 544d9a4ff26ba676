package events

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/otc"
)

// CTSSource is the Ref.Source of a trigger decoded from a FunctionGraph CTS
// trigger payload: "cts/" followed by the record's service_type ("cts/ECS",
// "cts/TMS"), or "cts" alone when the record names no service. Together with
// Ref.ID, the record's trace_id, it is the trigger's idempotency key.
const CTSSource = "cts"

// CTSTypePrefix prefixes the trace_name in the Ref.Type of a CTS trigger:
// "cts:createResourceTag".
const CTSTypePrefix = "cts:"

// Trace names (lower case) of tag creations and tag deletions, as traced by
// ECS and TMS.
var (
	ctsTagCreations = map[string]bool{
		"createresourcetag":       true,
		"batchcreateresourcetags": true,
		"createservertags":        true,
		"batchcreateservertags":   true,
	}
	ctsTagDeletions = map[string]bool{
		"deleteresourcetag":       true,
		"batchdeleteresourcetags": true,
		"deleteservertags":        true,
		"batchdeleteservertags":   true,
	}
)

// maxEpochMillis is 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write.
const maxEpochMillis = 253402300799999

// ctsRecord is the part of a Cloud Trace Service record the decoder uses,
// with the type drift between sources already settled.
type ctsRecord struct {
	o            object // the record, for paths and the request
	traceID      string
	traceName    string
	serviceType  string
	resourceType string
	resourceName string
	resourceID   string
	time         time.Time // "time", else "record_time"
	code         int       // 0 when the record has none
}

// decodeCTS decodes a FunctionGraph CTS trigger payload {"cts":{...}},
// parsed into o, as Decode describes.
func decodeCTS(o object) (Trigger, error) {
	if o.raw("cts") == nil {
		return Trigger{}, fieldErr(o.at("cts"), "required, an object")
	}
	rec, err := decodeCTSRecord(o.value("cts"), o.at("cts"))
	if err != nil {
		return Trigger{}, err
	}
	t := Trigger{
		Ref: Ref{
			ID:      rec.traceID,
			Source:  CTSSource,
			Type:    CTSTypePrefix + rec.traceName,
			Subject: rec.resourceID,
			Sender:  SenderCTS,
		},
		Time: rec.time,
	}
	if rec.serviceType != "" {
		t.Ref.Source += "/" + rec.serviceType
	}
	if err := rec.apply(&t); err != nil {
		return Trigger{}, err
	}
	return t, nil
}

// decodeCTSRecord decodes the trace record raw at path.
func decodeCTSRecord(raw []byte, path string) (ctsRecord, error) {
	o, err := parseObject(raw, path)
	if err != nil {
		return ctsRecord{}, err
	}
	rec := ctsRecord{o: o}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"trace_id", &rec.traceID},
		{"trace_name", &rec.traceName},
		{"service_type", &rec.serviceType},
		{"resource_type", &rec.resourceType},
		{"resource_name", &rec.resourceName},
		{"resource_id", &rec.resourceID},
	} {
		if *f.dst, err = lenientString(o, f.key); err != nil {
			return ctsRecord{}, err
		}
	}
	if rec.traceID == "" {
		return ctsRecord{}, fieldErr(o.at("trace_id"), "required")
	}
	if rec.traceName == "" {
		return ctsRecord{}, fieldErr(o.at("trace_name"), "required")
	}
	if rec.time, err = flexTime(o, "time"); err != nil {
		return ctsRecord{}, err
	}
	if rec.time.IsZero() {
		if rec.time, err = flexTime(o, "record_time"); err != nil {
			return ctsRecord{}, err
		}
	}
	if rec.code, err = ctsCode(o, "code"); err != nil {
		return ctsRecord{}, err
	}
	return rec, nil
}

// apply decides what the record asks for and sets t's kind and payload.
func (rec ctsRecord) apply(t *Trigger) error {
	op := rec.traceName
	switch name := strings.ToLower(op); {
	case ctsTagDeletions[name]:
		return ignore(t, fmt.Sprintf("operation %s is a tag deletion, not a tag creation", op))
	case !ctsTagCreations[name]:
		return ignore(t, fmt.Sprintf("operation %s is not a tag creation", op))
	}
	if rec.code >= 400 {
		return ignore(t, fmt.Sprintf("operation %s failed with code %d", op, rec.code))
	}
	if s := strings.ToUpper(rec.serviceType); s != "" && s != "ECS" && s != "TMS" {
		return ignore(t, fmt.Sprintf("service %s is not ECS or TMS", rec.serviceType))
	}
	if classifyResourceType(rec.resourceType) == otherResource {
		return ignore(t, fmt.Sprintf("resource type %s is not a server", rec.resourceType))
	}

	req, err := rec.request()
	if err != nil {
		return err
	}
	st := &ServerTagged{ServerID: rec.resourceID, ServerName: rec.resourceName}
	idPath := rec.o.at("resource_id")
	if st.ServerID == "" && req.raw("resources") != nil {
		found, reason, err := firstServer(req)
		if err != nil {
			return err
		}
		if found == nil {
			return ignore(t, reason)
		}
		st.ServerID, idPath = found.id, found.path
		if found.name != "" {
			st.ServerName = found.name
		}
	}
	if st.ServerID == "" {
		return fieldErr(idPath, "required, the tagged server (or a server in request.resources)")
	}
	if !otc.IsUUID(st.ServerID) {
		return fieldErr(idPath, "must be a UUID")
	}
	if st.Tags, err = requestTags(req); err != nil {
		return err
	}
	t.Kind, t.ServerTagged, t.Ref.Subject = KindServerTagged, st, st.ServerID
	return nil
}

func ignore(t *Trigger, reason string) error {
	t.Kind, t.IgnoreReason = KindIgnored, reason
	return nil
}

// request returns the record's request as an object, decoding it first when
// it came as a JSON-encoded string. An absent request is an empty object.
func (rec ctsRecord) request() (object, error) {
	path := rec.o.at("request")
	raw := rec.o.raw("request")
	if raw == nil {
		return object{path: path}, nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return object{}, fieldErr(path, "must be a JSON object or a JSON-encoded object")
		}
		if strings.TrimSpace(s) == "" {
			return object{path: path}, nil
		}
		raw = []byte(s)
	}
	req, err := parseObject(raw, path)
	if err != nil {
		return object{}, fieldErr(path, "must be a JSON object or a JSON-encoded object")
	}
	return req, nil
}

// requestTags returns the tags a request creates, in any of the shapes
// {"tags":[{"key","value"}]}, {"tags":{"k":"v"}} and {"tag":{"key","value"}}.
func requestTags(req object) (map[string]string, error) {
	if raw := req.raw("tags"); raw != nil {
		return decodeTags(raw, req.at("tags"))
	}
	if raw := req.raw("tag"); raw != nil {
		k, v, err := decodeTag(raw, req.at("tag"))
		if err != nil {
			return nil, err
		}
		return map[string]string{k: v}, nil
	}
	return nil, nil
}

// taggedServer is a server named in a request's "resources".
type taggedServer struct{ id, name, path string }

// firstServer returns the first server among the request's "resources"
// ({"resource_id","resource_type"} objects), or nil and why not.
func firstServer(req object) (*taggedServer, string, error) {
	path := req.at("resources")
	var list []json.RawMessage
	if raw := req.raw("resources"); raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, "", fieldErr(path, "must be a list")
	}
	var types []string
	for i, item := range list {
		r, err := parseObject(item, index(path, i))
		if err != nil {
			return nil, "", err
		}
		typ, err := lenientString(r, "resource_type")
		if err != nil {
			return nil, "", err
		}
		if classifyResourceType(typ) != serverResource {
			types = append(types, typ)
			continue
		}
		s := &taggedServer{path: r.at("resource_id")}
		if s.id, err = lenientString(r, "resource_id"); err != nil {
			return nil, "", err
		}
		if s.name, err = lenientString(r, "resource_name"); err != nil {
			return nil, "", err
		}
		return s, "", nil
	}
	return nil, fmt.Sprintf("no server among the tagged resources (types: %s)", strings.Join(types, ", ")), nil
}

type resourceClass int

const (
	unknownResource resourceClass = iota // empty, or the tag itself
	serverResource
	otherResource
)

// classifyResourceType tells, tolerantly, whether a CTS or TMS resource type
// names an ECS server: "server", "ecs", "ecs-server", "ecs:cloudservers",
// "cloudservers", "OS::Nova::Server"... Empty types and types that name the
// tag itself are unknown; anything else ("volume", "evs") is another resource.
func classifyResourceType(typ string) resourceClass {
	t := strings.ToLower(strings.TrimSpace(typ))
	switch {
	case t == "", strings.Contains(t, "tag"):
		return unknownResource
	case strings.HasPrefix(t, "ecs"), t == "os::nova::server",
		strings.TrimSuffix(t, "s") == "server",
		strings.TrimSuffix(t, "s") == "cloudserver",
		strings.TrimSuffix(t, "s") == "instance":
		return serverResource
	}
	return otherResource
}

// lenientString returns the member key as text: a string, or a number's
// text; absent, null, {} or [] is "".
func lenientString(o object, key string) (string, error) {
	raw := o.raw(key)
	if raw == nil {
		return "", nil
	}
	if s, ok := scalarText(raw); ok && raw[0] != 't' && raw[0] != 'f' {
		return s, nil
	}
	if isEmptyContainer(raw) { // FunctionGraph's own sample has "resource_id": {}
		return "", nil
	}
	return "", fieldErr(o.at(key), "must be a string")
}

// isEmptyContainer reports whether raw is {} or [].
func isEmptyContainer(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch v := v.(type) {
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

// flexTime returns the member key as a time: epoch milliseconds as a number
// or a numeric string, or an RFC 3339 timestamp. Absent, null or "" is zero.
func flexTime(o object, key string) (time.Time, error) {
	raw := o.raw(key)
	if raw == nil {
		return time.Time{}, nil
	}
	s, ok := scalarText(raw)
	if !ok || raw[0] == 't' || raw[0] == 'f' {
		return time.Time{}, fieldErr(o.at(key), "must be epoch milliseconds or an RFC 3339 timestamp")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseFloat(s, 64); err == nil {
		if ms != ms || ms < 0 || ms > maxEpochMillis {
			return time.Time{}, fieldErr(o.at(key), "must be epoch milliseconds between 1970 and 9999")
		}
		return time.UnixMilli(int64(ms)).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fieldErr(o.at(key), "must be epoch milliseconds or an RFC 3339 timestamp")
}

// ctsCode returns the member key, an HTTP status as a number or a numeric
// string. Absent, null or "" is 0.
func ctsCode(o object, key string) (int, error) {
	raw := o.raw(key)
	if raw == nil {
		return 0, nil
	}
	s, ok := scalarText(raw)
	if !ok || raw[0] == 't' || raw[0] == 'f' {
		return 0, fieldErr(o.at(key), "must be an HTTP status code")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f > 999 {
		return 0, fieldErr(o.at(key), "must be an HTTP status code")
	}
	return int(f), nil
}

// ctsData finds a CTS record in the data of a CloudEvent of a type this
// package does not own: {"cts":{...}} or the bare record (an object with
// trace_name or trace_id). It returns the record and its path.
func ctsData(data []byte) (raw json.RawMessage, path string, ok bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil || fields == nil {
		return nil, "", false
	}
	if cts := fields["cts"]; len(cts) > 0 && cts[0] == '{' {
		return cts, "data.cts", true
	}
	_, name := fields["trace_name"]
	_, id := fields["trace_id"]
	if name || id {
		return data, "data", true
	}
	return nil, "", false
}
