package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickroom/tickroom/dashboard"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/natsbus"
)

// startGateway runs a real gateway in-process: embedded NATS with JetStream
// (listening on loopback for the market producer), the bus, and the
// dashboard server on a loopback port. It returns the HTTP and NATS URLs.
func startGateway(t *testing.T) (httpURL, natsURL string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	ns, err := natsbus.StartServer(natsbus.ServerConfig{DataDir: dir, Listen: "127.0.0.1:0", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := natsbus.Connect(ctx, natsbus.Config{Server: ns, Name: "tickbench-test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	key, err := auth.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := dashboard.New(dashboard.Config{
		Dev: true, ChatRate: 1e6, ChatBurst: 1e6, MaxConnectionsPerIP: 1000, Logger: logger,
	}, bus, dashboard.Identities{Sessions: auth.NewDevSessions(key, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		<-served
	})
	return "http://" + ln.Addr().String(), ns.ClientURL()
}

// runJSON runs tickbench with -json and decodes its report.
func runJSON(t *testing.T, args ...string) *Result {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "-json", "-q", "-pid", strconv.Itoa(os.Getpid()))
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("tickbench %q: %v\n%s", args, err, errOut.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report %q: %v", out.String(), err)
	}
	t.Logf("%s", errOut.String())
	return &r
}

// TestAgainstGateway drives each scenario briefly against a real in-process
// gateway and checks behaviour (every message delivered, every client
// connected), never timings.
func TestAgainstGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS and a gateway")
	}
	httpURL, natsURL := startGateway(t)

	t.Run("broadcast", func(t *testing.T) {
		r := runJSON(t, "-url", httpURL, "-scenario", "broadcast", "-n", "20", "-rate", "50", "-duration", "1s", "-settle", "5s")
		if r.Connected != 20 || r.Sent == 0 || r.Acked != r.Sent || r.PubErrors != 0 {
			t.Fatalf("connected %d sent %d acked %d errors %d (%s)", r.Connected, r.Sent, r.Acked, r.PubErrors, r.PubError)
		}
		if r.Expected != r.Sent*20 || r.Delivered != r.Expected || r.Dropped != 0 {
			t.Fatalf("expected %d delivered %d dropped %d", r.Expected, r.Delivered, r.Dropped)
		}
		if r.Latency == nil || r.Latency.N != r.Delivered || r.ServerCPUSec <= 0 {
			t.Fatalf("latency %+v server cpu %v", r.Latency, r.ServerCPUSec)
		}
		if r.SetupLines == 0 {
			t.Errorf("no join events seen while 20 users subscribed to a chat room")
		}
	})
	t.Run("market", func(t *testing.T) {
		r := runJSON(t, "-url", httpURL, "-nats", natsURL, "-scenario", "market", "-n", "5", "-symbols", "3", "-tps", "20", "-duration", "1s")
		if r.Connected != 5 || r.Published < 30 || r.Delivered == 0 || r.Delivered > r.Published*5 {
			t.Fatalf("connected %d published %d delivered %d", r.Connected, r.Published, r.Delivered)
		}
		if r.TickAge == nil || r.TickAge.N != r.Delivered {
			t.Fatalf("tick age %+v", r.TickAge)
		}
	})
	t.Run("idle", func(t *testing.T) {
		r := runJSON(t, "-url", httpURL, "-scenario", "idle", "-n", "30", "-duration", "200ms", "-src-ips", "2")
		if r.Connected != 30 || r.RSSAfterKB == 0 || r.SrcIPs != 2 || r.Dropped != 0 {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("idle subscribes to each channel of a comma list", func(t *testing.T) {
		ep, err := newEndpoint(httpURL, "tickroom", newDialer(0), 1024)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ep.connect("chat.lobby,market.*")
		if err != nil {
			t.Fatal(err)
		}
		defer c.ws.Close()
		if got := gauge(t, httpURL, "tickroom_subscriptions"); got != 2 {
			t.Fatalf("tickroom_subscriptions %v, want 2", got)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		var out, errOut bytes.Buffer
		args := []string{"-url", httpURL, "-scenario", "broadcast", "-sweep", "-n", "10", "-rate", "20", "-sweep-max", "40",
			"-duration", "1s", "-warmup", "300ms", "-settle-quiet", "1", "-drain", "3s", "-json", "-q", "-pid", strconv.Itoa(os.Getpid())}
		if err := run(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("%v\n%s", err, errOut.String())
		}
		var sr SweepResult
		if err := json.Unmarshal(out.Bytes(), &sr); err != nil {
			t.Fatalf("report %q: %v", out.String(), err)
		}
		t.Logf("%s", errOut.String())
		// 20 and 40 msg/s to 10 subscribers are far below any capacity.
		if len(sr.Steps) != 2 || sr.Capacity == nil || sr.Capacity.Rate != 40 || sr.FailedAt != 0 {
			t.Fatalf("steps %d capacity %+v failed at %v", len(sr.Steps), sr.Capacity, sr.FailedAt)
		}
		for _, st := range sr.Steps {
			r := st.Result
			if !st.Pass || r.WarmupSent == 0 || r.Sent == 0 || r.Acked != r.Sent || r.Delivered != r.Sent*10 {
				t.Fatalf("step %v: pass %v (%s) warm-up %d sent %d acked %d delivered %d", st.Rate, st.Pass, st.Why, r.WarmupSent, r.Sent, r.Acked, r.Delivered)
			}
		}
	})
	t.Run("storm", func(t *testing.T) {
		r := runJSON(t, "-url", httpURL, "-nats", natsURL, "-scenario", "storm", "-n", "30", "-symbols", "3", "-bars", "4", "-backlog", "5")
		if r.Resumed != 30 || r.ResumeFailed != 0 || r.AllResumedSec <= 0 || r.ResumeLatency == nil || r.ResumeLatency.N != 30 {
			t.Fatalf("resumed %d failed %d (%s) after %vs", r.Resumed, r.ResumeFailed, r.ResumeError, r.AllResumedSec)
		}
		if r.JSAPICalls == nil {
			t.Fatalf("JetStream API calls not counted: %s", r.StormNote)
		}
	})
	t.Run("churn", func(t *testing.T) {
		r := runJSON(t, "-url", httpURL, "-scenario", "churn", "-rate", "40", "-n", "20", "-duration", "1s")
		if r.Churned < 30 || r.ChurnFailed != 0 {
			t.Fatalf("churned %d failed %d (%s)", r.Churned, r.ChurnFailed, r.ConnectError)
		}
	})
}

// gauge reads one unlabelled sample from the gateway's /metrics.
func gauge(t *testing.T, httpURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return f
		}
	}
	t.Fatalf("%s not in /metrics:\n%s", name, body)
	return 0
}
