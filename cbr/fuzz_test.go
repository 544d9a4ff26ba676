package cbr

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
)

func addFixtures(f *testing.F, names ...string) {
	for _, name := range names {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeCheckpointResponse(f *testing.F) {
	addFixtures(f, "example_response.json")
	f.Add([]byte(`{"checkpoint":{"id":"c","created_at":"2020-02-05T10:38:34.209782","vault":{"resources":[{"id":"r","type":"OS::Cinder::Volume","resource_size":"40","backup_size":1.5e3,"backup_count":null,"extra_info":{"a":1}}],"skipped_resources":[{"id":"x","code":"BackupService.6135"}]}}}`))
	f.Add([]byte(`{"checkpoint":{"id":"c","created_at":null,"extra_info":null}}`))
	f.Add([]byte(`{"checkpoint":{"id":"c","created_at":""}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"checkpoint":{"id":"a","status":"x"},"Checkpoint":{"id":"b"}}`))
	f.Add([]byte(` { "other" : [1,{"checkpoint":2},"}"] , "CHECKPOINT" : {"id":"c","vault":{"name":"\"}"}} , "n":-1.5e3 } `))
	f.Add([]byte(`{"checkpoint":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := decodeCheckpointResponse(data)
		// The long way: CheckpointCreate.UnmarshalJSON decodes the
		// checkpoint's bytes again and keeps them.
		var want CheckpointResponse
		wantErr := json.Unmarshal(data, &want)
		if wantErr == nil && want.Checkpoint.ID == "" {
			wantErr = errors.New("no id")
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decode of %q: error %v, the long way %v", data, err, wantErr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(*resp, want) {
			t.Fatalf("decode of %q:\n%+v\nthe long way:\n%+v", data, *resp, want)
		}
		enc, err := json.Marshal(resp)
		if err != nil {
			t.Fatalf("re-encode of decoded %q: %v", data, err)
		}
		again, err := decodeCheckpointResponse(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", enc, err)
		}
		enc2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeBackupList(f *testing.F) {
	f.Add([]byte(`{"backups":[{"id":"b","name":"n","description":"d [rp:k]","checkpoint_id":"c","resource_id":"r","resource_type":"OS::Nova::Server","vault_id":"v","status":"protecting","created_at":"2020-02-05T10:38:34.209782","resource_size":40}],"count":1}`))
	f.Add([]byte(`{"backups":[],"count":0}`))
	f.Add([]byte(`{"backups":[{"created_at":"2019-05-10T07:59:12.733+00:00"}]}`))
	f.Add([]byte(`{"count":-1,"backups":[]}`))
	f.Add([]byte(`{"backups":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := decodeBackupList(data)
		if err != nil {
			return
		}
		if list.Count < 0 {
			t.Fatalf("negative count from %q", data)
		}
		enc, err := json.Marshal(list)
		if err != nil {
			t.Fatalf("re-encode of decoded %q: %v", data, err)
		}
		again, err := decodeBackupList(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", enc, err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeVault(f *testing.F) {
	f.Add([]byte(`{"vault":{"id":"v","name":"n","project_id":"p","resources":[{"id":"r","type":"OS::Nova::Server","name":"web","protect_status":"available"}],"billing":{"allocated":200,"used":"12","status":"available","object_type":"server"}}}`))
	f.Add([]byte(`{"vault":{"id":"v","resources":null,"billing":{"allocated":null}}}`))
	f.Add([]byte(`{"vault":{"id":""}}`))
	f.Add([]byte(`{"vault":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeVault(data)
		if err != nil {
			return
		}
		if v.ID == "" {
			t.Fatalf("vault without id from %q", data)
		}
		enc, err := json.Marshal(struct {
			Vault *Vault `json:"vault"`
		}{v})
		if err != nil {
			t.Fatalf("re-encode of decoded %q: %v", data, err)
		}
		again, err := decodeVault(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", enc, err)
		}
		if enc2, _ := json.Marshal(struct {
			Vault *Vault `json:"vault"`
		}{again}); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeAddResources(f *testing.F) {
	f.Add([]byte(`{"add_resource_ids":["a","b"]}`))
	f.Add([]byte(`{"add_resource_ids":[]}`))
	f.Add([]byte(`{"add_resource_ids":null}`))
	f.Add([]byte(`{"add_resource_ids":[1]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := decodeAddResources(data)
		if err != nil {
			return
		}
		if ids == nil {
			t.Fatalf("nil ids without an error from %q", data)
		}
		enc, _ := json.Marshal(map[string][]string{"add_resource_ids": ids})
		again, err := decodeAddResources(enc)
		if err != nil || !slices.Equal(ids, again) {
			t.Fatalf("round trip of %s: %v, %v", enc, again, err)
		}
	})
}

// FuzzQuantity holds Quantity's reading of a bare JSON value to encoding/json's
// into a json.Number: the same values accepted, with the same text.
func FuzzQuantity(f *testing.F) {
	for _, s := range []string{"40", "-1.5e3", "0", "01", "-", "1.", " 7 ", "true", "[1]", `"40"`, "null", "1 2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := bytes.TrimSpace(b)
		if len(v) > 0 && v[0] == '"' || bytes.Equal(v, []byte("null")) {
			return // strings and null: not numbers
		}
		var q Quantity
		err := q.UnmarshalJSON(b)
		var n json.Number
		wantErr := json.Unmarshal(v, &n)
		if (err == nil) != (wantErr == nil) || err == nil && q.String() != n.String() {
			t.Fatalf("Quantity of %q: %q, %v; json.Number: %q, %v", b, q.String(), err, n.String(), wantErr)
		}
	})
}
