package natsfeed

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tickroom/tickroom/feeds/internal/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPublishSubscribe(t *testing.T) {
	srv := natstest.RunServer(t)
	c := New(natstest.Connect(t, srv))
	got := make(chan string, 4)
	unsub, err := c.Subscribe("market.*", func(subject string, data []byte) { got <- subject + " " + string(data) })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = c.Publish("market.AAPL", []byte(`{"x":1}`))
	_ = c.Publish("analytics.AAPL", []byte(`{}`))
	select {
	case m := <-got:
		if m != `market.AAPL {"x":1}` {
			t.Errorf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	if err := unsub(); err != nil {
		t.Fatal(err)
	}
	_ = c.Publish("market.AAPL", []byte(`{}`))
	_ = c.nc.Flush()
	select {
	case m := <-got:
		t.Errorf("after unsubscribe: %q", m)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := c.Subscribe("bad subject with spaces", func(string, []byte) {}); err == nil {
		t.Error("bad subject accepted")
	}
}
