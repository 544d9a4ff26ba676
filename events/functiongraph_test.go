package events

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/failure"
)

const fgFixtureDir = "../testdata/functiongraph"

func readFG(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fgFixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTimer(t *testing.T) {
	tr, err := Decode(readFG(t, "timer-checkpoint-requested.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Kind != KindCheckpointRequested || tr.Ref.Source != TimerSourcePrefix+"nightly-restore-point" ||
		tr.Ref.ID != "2024-05-01T02:00:00+02:00" || tr.Ref.Type != TypeCheckpointRequested || tr.Time.IsZero() {
		t.Fatalf("trigger %+v", tr)
	}
	tr, err = DecodeTimer(readFG(t, "timer-cloudevent.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Kind != KindDeployPre || tr.Ref.Source != TimerSourcePrefix+"weekly-deploy-guard" ||
		tr.Ref.ID != "2024-05-06T06:00:00+02:00" || tr.Ref.Type != TypeDeployPre || tr.DeployPre == nil {
		t.Fatalf("trigger %+v", tr)
	}

	for _, tc := range []struct{ payload, field string }{
		{`{"trigger_type":"TIMER","trigger_name":"t","time":"2024-05-01T02:00:00Z","user_event":"User Event"}`, "user_event"},
		{`{"trigger_type":"TIMER","trigger_name":"t","time":"2024-05-01T02:00:00Z"}`, "user_event"},
		{`{"trigger_type":"CRON","trigger_name":"t","time":"2024-05-01T02:00:00Z","user_event":"{}"}`, "trigger_type"},
		{`{"trigger_type":"TIMER","time":"2024-05-01T02:00:00Z","user_event":"{}"}`, "trigger_name"},
		{`{"trigger_type":"TIMER","trigger_name":"t","user_event":"{}"}`, "time"},
		{`{"trigger_type":"TIMER","trigger_name":"t","time":"2024-05-01T02:00:00Z","user_event":"{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"io.restorepoint.deploy.pre\",\"data\":{}}"}`, "user_event.data.service"},
		{`{"trigger_type":"TIMER","trigger_name":"t","time":"2024-05-01T02:00:00Z","user_event":"{\"checkpoint\":\"x\"}"}`, "user_event.checkpoint"},
	} {
		_, err := Decode([]byte(tc.payload))
		var fe *failure.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || errors.Is(err, ErrUnrecognized) {
			t.Errorf("%s: error %v, want a field error on %s", tc.payload, err, tc.field)
		}
	}
}

func TestDecodeSMN(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Ref
		kind Kind
	}{
		{"smn-cloudevent.json", Ref{ID: "2f6d1c9e-8a7b-4c5d-9e0f-1a2b3c4d5e6f", Source: "/ops/tagger", Type: TypeServerTagged,
			Subject: "94eba8b2-acc9-4d82-badc-127144cc5526"}, KindServerTagged},
		{"smn-checkpoint-requested.json", Ref{ID: "b62782a88e5b48a0bdc1a3f3e6d2a094",
			Source: "urn:smn:eu-de:0162c0f220284698b77a3d264376343a:restorepoint-triggers", Type: TypeCheckpointRequested,
			Subject: "restore point", Sender: SenderSMN}, KindCheckpointRequested},
	} {
		payload := readFG(t, tc.file)
		if !IsSMN(payload) {
			t.Fatalf("%s: not SMN", tc.file)
		}
		ev, err := DecodeSMN(payload)
		if err != nil || len(ev.Record) != 1 || ev.Record[0].EventSource != "smn" || ev.RequestID == "" {
			t.Fatalf("%s: %+v %v", tc.file, ev, err)
		}
		tr, err := DecodeSMNMessage(ev.Record[0].SMN)
		if err != nil || tr.Ref != tc.want || tr.Kind != tc.kind {
			t.Fatalf("%s: %+v %v", tc.file, tr, err)
		}
	}
	ev, err := DecodeSMN(readFG(t, "smn-unknown-message.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeSMNMessage(ev.Record[0].SMN)
	if err == nil || !strings.Contains(err.Error(), "smn.message: must be a structured CloudEvent") {
		t.Fatalf("unknown message: %v", err)
	}
	for _, tc := range []struct{ payload, field string }{
		{`{"record":[]}`, "record"},
		{`{"record":{}}`, "record"},
		{`{"record":[{"event_source":"obs","smn":{"message":"{}"}}]}`, "record[0].event_source"},
		{`{"record":[{"event_source":"smn","smn":{"message":""}}]}`, "record[0].smn.message"},
		{`{"record":[{"event_source":"smn","smn":"x"}]}`, "record[0].smn"},
	} {
		_, err := DecodeSMN([]byte(tc.payload))
		var fe *failure.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: error %v, want a field error on %s", tc.payload, err, tc.field)
		}
	}
}

func fgSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fgFixtureDir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeTimer(f *testing.F) {
	fgSeeds(f)
	f.Add([]byte(`{"trigger_type":"TIMER","trigger_name":"t","time":"1","user_event":"{\"checkpoint\":{}}"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		tr, err := DecodeTimer(payload)
		checkResult(t, tr, err)
		if err == nil && (!strings.HasPrefix(tr.Ref.Source, TimerSourcePrefix) || tr.Ref.ID == "") {
			t.Fatalf("timer trigger without its identity: %+v", tr.Ref)
		}
	})
}

func FuzzDecodeSMN(f *testing.F) {
	fgSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := DecodeSMN(payload)
		if err != nil {
			checkResult(t, Trigger{}, err)
			return
		}
		if len(ev.Record) == 0 {
			t.Fatal("no records and no error")
		}
		for _, r := range ev.Record {
			tr, err := DecodeSMNMessage(r.SMN)
			checkResult(t, tr, err)
		}
	})
}
