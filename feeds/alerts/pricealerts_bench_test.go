package alerts

// The issue 14 speed measurement (docs/benchmarks.md, "Price alerts"):
// 100,000 armed alerts over 1,000 symbols, 1,000 ticks/s, trigger delay
// from tick publish to the price_alert event on user.<name>.
//
// Two processes: a server child (this test binary re-run as
// TestPriceAlertBenchServer: embedded nats-server with JetStream, the
// streams as natsbus declares them, one PriceAlerts evaluator), pinned to
// CPU 0 with taskset and GOMAXPROCS=1, and the driver (this test), which
// loads the alerts, publishes the ticks, subscribes to user.> and re-arms
// every fired alert so that 100,000 stay armed. It never asserts speed.
//
//	TICKROOM_ALERT_BENCH=1 taskset -c 1 go test -count=1 -run '^TestPriceAlertBench$' -v ./feeds/alerts/
//
// Knobs: TICKROOM_ALERT_BENCH_SECONDS (measured time, default 30),
// TICKROOM_ALERT_BENCH_STEP (largest price move per tick, default 0.004:
// about 100 alerts fire per second).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

const (
	benchSymbols        = 1000
	benchAlertsPerSym   = 100
	benchUsers          = 2000 // 50 alerts each, protocol.MaxAlertsPerUser
	benchTicksPerSec    = 1000
	benchLow, benchHigh = 99.0, 101.0 // levels and prices stay in this band
)

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

// TestPriceAlertBenchServer is the server child; it runs only when the
// driver starts it.
func TestPriceAlertBenchServer(t *testing.T) {
	if os.Getenv("TICKROOM_ALERT_BENCH_CHILD") != "1" {
		t.Skip("the server side of TestPriceAlertBench; started by it")
	}
	srv, err := natsbus.StartServer(natsbus.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", MaxMemory: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus, err := natsbus.Connect(ctx, natsbus.Config{Server: srv, Name: "alertbench"})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	for !bus.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	// The evaluator on its own TCP connection, as the alerts feed has.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = (&PriceAlerts{NC: nc}).Run(ctx)
	}()
	fmt.Printf("URL %s\n", srv.ClientURL())
	_, _ = io.Copy(io.Discard, os.Stdin) // the driver closes stdin to stop us
	cancel()
	<-done
}

// cpuTicks returns a process's user+system CPU time from /proc.
func cpuTicks(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil // USER_HZ 100
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

type benchAlert struct {
	user, sym string
	above     bool
	level     float64
}

func TestPriceAlertBench(t *testing.T) {
	if os.Getenv("TICKROOM_ALERT_BENCH") != "1" {
		t.Skip("set TICKROOM_ALERT_BENCH=1 to run the price alert benchmark")
	}
	seconds := envFloat("TICKROOM_ALERT_BENCH_SECONDS", 30)
	step := envFloat("TICKROOM_ALERT_BENCH_STEP", 0.004)

	// The server child, pinned to CPU 0 when taskset is there.
	args := []string{os.Args[0], "-test.run=^TestPriceAlertBenchServer$", "-test.count=1"}
	pinned := "not pinned (no taskset)"
	if ts, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{ts, "-c", "0"}, args...)
		pinned = "taskset -c 0"
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "TICKROOM_ALERT_BENCH_CHILD=1", "GOMAXPROCS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childDone := make(chan struct{})
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-childDone:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-childDone
		}
	})
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			url = u
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout); _ = cmd.Wait(); close(childDone) }()
	if url == "" {
		t.Fatal("server child printed no URL")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var kv jetstream.KeyValue
	for deadline := time.Now().Add(20 * time.Second); ; {
		if kv, err = js.KeyValue(ctx, protocol.PriceAlertBucket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the evaluator made no bucket: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	rng := rand.New(rand.NewSource(14))
	syms := make([]string, benchSymbols)
	prices := make([]float64, benchSymbols)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%04d", i)
		prices[i] = (benchLow + benchHigh) / 2
	}

	var (
		mu        sync.Mutex
		alerts    = map[string]benchAlert{} // id → armed alert
		sent      = map[string]time.Time{}  // symbol+tick time → publish time
		delays    []time.Duration           // measured window only
		seen      = map[string]bool{}       // fired ids
		dups      int
		unmatched int
		nextID    int
		measure   bool
		fireWait  = make(chan struct{}, 1) // the sentinel fired
	)
	// put stores an alert the way alert_set does (protocol.PriceAlert
	// JSON under its key), without waiting for the ack.
	put := func(a benchAlert) (jetstream.PubAckFuture, error) {
		nextID++
		id := fmt.Sprintf("a-%08x", nextID)
		pa := protocol.PriceAlert{ID: id, User: a.user, Symbol: a.sym, Created: time.Now().UTC().Format(protocol.TimeFormat)}
		lv := a.level
		if a.above {
			pa.Above = &lv
		} else {
			pa.Below = &lv
		}
		raw, _ := json.Marshal(pa)
		alerts[id] = a
		return js.PublishAsync("$KV."+protocol.PriceAlertBucket+"."+protocol.PriceAlertKey(a.user, id), raw)
	}

	sub, err := nc.Subscribe(protocol.KindUser+".>", func(m *nats.Msg) {
		now := time.Now()
		if m.Header.Get("Tickroom-Event") != protocol.EventPriceAlert {
			return
		}
		var ev struct {
			ID     string `json:"id"`
			Symbol string `json:"symbol"`
			Time   string `json:"time"`
		}
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[ev.ID] {
			dups++
			return
		}
		seen[ev.ID] = true
		if ev.Symbol == "SENTINEL" {
			delete(alerts, ev.ID)
			select {
			case fireWait <- struct{}{}:
			default:
			}
			return
		}
		at, ok := sent[ev.Symbol+" "+ev.Time]
		if measure && ok {
			delays = append(delays, now.Sub(at))
		} else if measure {
			unmatched++ // a tick this driver did not send: a bug
		}
		// Re-arm: the same level on the other side, so 100,000 stay
		// armed and the price keeps crossing levels.
		a, ok := alerts[ev.ID]
		if !ok {
			return
		}
		delete(alerts, ev.ID)
		a.above = !a.above
		_, _ = put(a)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	// Load: levels uniform in the band, above or below the start price.
	loadStart := time.Now()
	mu.Lock()
	for i := 0; i < benchSymbols*benchAlertsPerSym; i++ {
		sym := i % benchSymbols
		lv := benchLow + rng.Float64()*(benchHigh-benchLow)
		if _, err := put(benchAlert{user: fmt.Sprintf("u%04d", i%benchUsers), sym: syms[sym], above: lv > prices[sym], level: lv}); err != nil {
			mu.Unlock()
			t.Fatal(err)
		}
	}
	mu.Unlock()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		t.Fatal("loading the alerts timed out")
	}
	loaded := time.Since(loadStart)
	// The watch delivers in order: once an alert put after the 100,000
	// fires, the evaluator holds them all.
	mu.Lock()
	_, _ = put(benchAlert{user: "sentinel", sym: "SENTINEL", above: true, level: 1})
	mu.Unlock()
	armedBy := time.Now().Add(120 * time.Second)
	for armed := false; !armed; {
		b, _ := json.Marshal(map[string]any{"symbol": "SENTINEL", "price": 2.0})
		_ = nc.Publish("market.SENTINEL", b)
		select {
		case <-fireWait:
			armed = true
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(armedBy) {
				t.Fatal("the evaluator did not take in the alerts within 120 s")
			}
		}
	}
	armedIn := time.Since(loadStart)
	_, _ = kv.Status(ctx) // (connection check)

	// Ticks: 1,000/s in total, one per symbol per second, on schedule;
	// each a random step within the band (reflected at its edges).
	warm := 3 * time.Second
	window := time.Duration(seconds * float64(time.Second))
	start := time.Now()
	var pubCPU0, pubCPU1, childCPU0, childCPU1 time.Duration
	var wall0 time.Time
	load0 := loadAvg()
	var ticks, measuredTicks int
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * time.Second / benchTicksPerSec)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		el := time.Since(start)
		if el >= warm+window {
			break
		}
		if !measure && el >= warm {
			mu.Lock()
			measure = true
			mu.Unlock()
			wall0 = time.Now()
			childCPU0, _ = cpuTicks(cmd.Process.Pid)
			pubCPU0 = selfCPU()
		}
		i := n % benchSymbols
		p := prices[i] + (rng.Float64()*2-1)*step
		if p > benchHigh {
			p = 2*benchHigh - p
		} else if p < benchLow {
			p = 2*benchLow - p
		}
		prices[i] = p
		now := time.Now()
		ts := now.UTC().Format(protocol.TimeFormat)
		b, _ := json.Marshal(map[string]any{"symbol": syms[i], "price": p, "time": ts})
		mu.Lock()
		sent[syms[i]+" "+ts] = now
		mu.Unlock()
		if err := nc.Publish("market."+syms[i], b); err != nil {
			t.Fatal(err)
		}
		ticks++
		if measure {
			measuredTicks++
		}
	}
	wall := time.Since(wall0)
	childCPU1, _ = cpuTicks(cmd.Process.Pid)
	pubCPU1 = selfCPU()
	load1 := loadAvg()
	time.Sleep(2 * time.Second) // stragglers of the last ticks
	mu.Lock()
	measure = false
	ds := append([]time.Duration(nil), delays...)
	active := len(alerts)
	d, um := dups, unmatched
	mu.Unlock()
	if len(ds) == 0 {
		t.Fatal("no alert fired in the measured window")
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(f float64) time.Duration { return ds[min(len(ds)-1, int(f*float64(len(ds))))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	t.Logf("server child %s, GOMAXPROCS=1; driver in this process (not pinned by the test)", pinned)
	t.Logf("load: %d alerts in %s (stored), armed in the evaluator after %s", benchSymbols*benchAlertsPerSym, loaded.Round(time.Millisecond), armedIn.Round(time.Millisecond))
	t.Logf("ticks: %d in %s measured (%.0f/s), step ≤ %v", measuredTicks, wall.Round(time.Millisecond), float64(measuredTicks)/wall.Seconds(), step)
	t.Logf("fired in window: %d (%.1f/s), duplicates %d, unmatched %d, armed at end %d", len(ds), float64(len(ds))/wall.Seconds(), d, um, active)
	t.Logf("trigger delay: p50 %s, p90 %s, p99 %s, max %s", ms(q(0.50)), ms(q(0.90)), ms(q(0.99)), ms(ds[len(ds)-1]))
	t.Logf("CPU: server child (NATS + evaluator) %.0f%% of one core, driver %.0f%%; load average %s → %s",
		100*float64(childCPU1-childCPU0)/float64(wall), 100*float64(pubCPU1-pubCPU0)/float64(wall), load0, load1)
	fmt.Printf("ALERTBENCH p50_ms=%.2f p99_ms=%.2f max_ms=%.2f fired_per_s=%.1f child_cpu_pct=%.0f load=%q\n",
		float64(q(0.5).Microseconds())/1000, float64(q(0.99).Microseconds())/1000, float64(ds[len(ds)-1].Microseconds())/1000,
		float64(len(ds))/wall.Seconds(), 100*float64(childCPU1-childCPU0)/float64(wall), load0+" → "+load1)
	_ = ticks
	if d > 0 || um > 0 {
		t.Errorf("%d duplicate and %d unmatched price_alert events", d, um)
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
