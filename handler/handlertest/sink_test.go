package handlertest_test

import (
	"context"
	"net/http"
	"testing"

	ceclient "github.com/cloudevents/sdk-go/v2/client"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/restorepoint/restorepoint/handler/handlertest"
)

func TestSinkRecordsAndFails(t *testing.T) {
	srv := handlertest.NewServer()
	defer srv.Close()
	c, err := ceclient.NewHTTP(cehttp.WithTarget(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	send := func(id, typ string) protocol.Result {
		e := event.New()
		e.SetID(id)
		e.SetSource("/test")
		e.SetType(typ)
		return c.Send(context.Background(), e)
	}
	if res := send("1", "b.type"); !protocol.IsACK(res) {
		t.Fatalf("send: %v", res)
	}
	srv.SetFailing(true)
	var hr *cehttp.Result
	if res := send("2", "a.type"); protocol.IsACK(res) || !protocol.ResultAs(res, &hr) || hr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("send while failing: %v", res)
	}
	srv.SetFailing(false)
	if res := send("3", "a.type"); !protocol.IsACK(res) {
		t.Fatalf("send: %v", res)
	}
	if got := srv.Types(); len(got) != 2 || got[0] != "a.type" || got[1] != "b.type" {
		t.Fatalf("types = %v", got)
	}
	if ev := srv.Events(); ev[0].ID() != "1" || ev[1].ID() != "3" || srv.Attempts() != 3 {
		t.Fatalf("events %v, attempts %d", ev, srv.Attempts())
	}
}
