package natsbus

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartServerErrors(t *testing.T) {
	if _, err := StartServer(ServerConfig{}); err == nil {
		t.Fatal("no error without DataDir")
	}
	if _, err := StartServer(ServerConfig{DataDir: t.TempDir(), Listen: "nonsense"}); err == nil {
		t.Fatal("no error for a bad Listen")
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	_, err = StartServer(ServerConfig{DataDir: t.TempDir(), Listen: l.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("port in use: err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("port in use detected after %s", d)
	}
}

func TestServerListen(t *testing.T) {
	s := startTestServer(t, t.TempDir(), "")
	if s.ClientURL() != "" {
		t.Fatalf("ClientURL = %q without a listener", s.ClientURL())
	}
	s.Shutdown()
	s.Shutdown() // idempotent

	s = startTestServer(t, t.TempDir(), "127.0.0.1:0")
	if !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") || strings.HasSuffix(s.ClientURL(), ":-1") {
		t.Fatalf("ClientURL = %q", s.ClientURL())
	}
	b := connectTest(t, Config{URLs: []string{s.ClientURL()}})
	if !b.Ready() {
		t.Fatalf("not ready over TCP: %s", b.Status())
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	_, b := newEmbedded(t)
	if _, err := b.SubscribeLive("chat.lobby", func(Msg) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SubscribeLive("market.*", func(Msg) {}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b.Close()
	if b.Ready() || b.Status() != "closed" {
		t.Fatalf("after Close: ready=%v status=%s", b.Ready(), b.Status())
	}
	if _, _, err := b.PublishDurable(context.Background(), "chat.lobby", nil, ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
	if _, err := b.SubscribeLive("chat.lobby", func(Msg) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after Close: %v", err)
	}
}

func TestConnectNeedsATarget(t *testing.T) {
	if _, err := Connect(context.Background(), Config{}); err == nil {
		t.Fatal("Connect without URLs or Server succeeded")
	}
}
