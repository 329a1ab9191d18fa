// Command tickbench drives real WebSocket clients against a running tickroom
// gateway (or, for comparison, a Socket.IO 4 server) and reports delivery
// rates, latency percentiles, and the server's CPU and memory read from
// /proc.
//
//	tickbench -scenario idle      -n 10000 -pid PID
//	tickbench -scenario broadcast -n 1000 -rate 100 -duration 15s -pid PID
//	tickbench -scenario market    -n 1000 -symbols 100 -tps 10 -nats nats://127.0.0.1:4222 -pid PID
//	tickbench -scenario churn     -rate 200 -duration 15s -pid PID
//	tickbench -scenario storm     -n 10000 -nats nats://127.0.0.1:4222 -pid PID
//	tickbench -target socketio -url http://127.0.0.1:3000 -scenario broadcast …
//	tickbench -target centrifugo -url http://127.0.0.1:8000 -scenario broadcast …
//
// tickbench -summarize FILE prints medians [ranges] per cell of matrix.sh's
// JSON lines.
//
// With -sweep, broadcast and market find capacity instead of measuring one
// point: the highest -rate (broadcast) or -tps (market) with at least
// -min-delivered % delivered and p99 within -max-p99, each step a fresh
// measurement with -warmup; with -server, tickbench starts a fresh server
// (and data directory) for every step:
//
//	tickbench -sweep -scenario broadcast -n 1000 -rate 100 -duration 5s \
//	  -server 'taskset -c 0 ./tickroom run -addr 127.0.0.1:{port} -data {data} …'
//
// Every run is bounded by -n connections and -duration (plus bounded
// connect, settle and drain phases). It prints a progress line each second
// on stderr, then a table (stdout, or stderr with -json) and, with -json, one
// JSON object on stdout. Load goes only to loopback addresses unless
// -allow-remote is given. docs/benchmarks.md describes the method.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type options struct {
	url         string
	target      string
	scenario    string
	n           int
	duration    time.Duration
	rate        float64
	pid         int
	json        bool
	channel     string
	symbols     int
	tps         float64
	natsURL     string
	publishers  int
	conc        int
	srcIPs      int
	msgSize     int
	hold        time.Duration
	settle      time.Duration
	drain       time.Duration
	allowRemote bool
	label       string
	quiet       bool

	warmup       time.Duration
	quietSecs    int
	server       string
	ready        string
	sweep        bool
	sweepMax     float64
	sweepFactor  float64
	bisect       int
	downSteps    int
	minDelivered float64
	maxP99       time.Duration
	bars         int
	backlog      int
	stormTimeout time.Duration
	retry        bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "tickbench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("tickbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "server base URL (tickroom: /ws is added; socketio: /socket.io/?EIO=4&transport=websocket)")
	fs.StringVar(&o.target, "target", "tickroom", "server kind: tickroom, socketio or centrifugo (JSON protocol at /connection/websocket, client.insecure)")
	fs.StringVar(&o.scenario, "scenario", "broadcast", "idle, broadcast, market, churn or storm")
	fs.IntVar(&o.n, "n", 1000, "clients (churn: most connections in flight; storm: default 10000)")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "measured phase: publishing (broadcast, market), churning, or holding (idle)")
	fs.Float64Var(&o.rate, "rate", 100, "broadcast: messages/s published; churn: connections/s")
	fs.IntVar(&o.pid, "pid", 0, "server process id, for CPU (utime+stime) and RSS from /proc; 0 skips")
	fs.BoolVar(&o.json, "json", false, "print one JSON line on stdout (the table goes to stderr)")
	fs.StringVar(&o.channel, "channel", "", "channel (default chat.bench for broadcast, market.* for market, market.CHURN for churn; idle: none, or a comma list such as chat.lobby,market.*)")
	fs.IntVar(&o.symbols, "symbols", 100, "market: symbols the producer publishes (TB000…)")
	fs.Float64Var(&o.tps, "tps", 10, "market: ticks/s per symbol")
	fs.StringVar(&o.natsURL, "nats", "nats://127.0.0.1:4222", "market: NATS URL the producer publishes to")
	fs.IntVar(&o.publishers, "publishers", 0, "broadcast: publisher connections, each publishing -rate/publishers msg/s (0: one per 100 msg/s; tickroom answers one connection's requests in order, so one connection publishes at most 1/ack-latency)")
	fs.IntVar(&o.conc, "c", 200, "connections dialled in parallel while connecting")
	fs.IntVar(&o.srcIPs, "src-ips", -1, "loopback source addresses 127.0.0.2… to spread connections over (-1: one per 20,000 connections; 0: kernel's choice)")
	fs.IntVar(&o.msgSize, "size", 100, "broadcast: bytes of the published JSON data object")
	fs.DurationVar(&o.hold, "hold", 0, "churn: how long each connection stays open after subscribing")
	fs.DurationVar(&o.settle, "settle", 60*time.Second, "broadcast: longest wait for the subscribe/join burst to end before publishing")
	fs.DurationVar(&o.drain, "drain", 10*time.Second, "longest wait for deliveries after the last publish")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback -url / -nats (never needed on one machine)")
	fs.StringVar(&o.label, "label", "", "free text copied into the report (e.g. a run number)")
	fs.BoolVar(&o.quiet, "q", false, "no progress lines")
	fs.DurationVar(&o.warmup, "warmup", -1, "broadcast, market: publish this long before the measured -duration starts; not counted (-1: 0, or 2s with -sweep)")
	fs.IntVar(&o.quietSecs, "settle-quiet", 3, "broadcast: quiet seconds in a row that end the settle phase")
	fs.StringVar(&o.server, "server", "", "command line that starts a fresh server under test for every run or sweep step ({data}: a new empty directory, {port}: -url's port; split on spaces; tickbench stops it with SIGTERM)")
	fs.StringVar(&o.ready, "ready", "", "with -server: URL or path polled until 2xx (default /readyz for tickroom, /health for centrifugo, a TCP accept for socketio)")
	fs.BoolVar(&o.sweep, "sweep", false, "broadcast, market: find capacity by a sweep starting at -rate (broadcast) or -tps (market)")
	fs.Float64Var(&o.sweepMax, "sweep-max", 1e6, "sweep: highest rate to try")
	fs.Float64Var(&o.sweepFactor, "sweep-factor", 2, "sweep: rate multiplier while steps pass")
	fs.IntVar(&o.bisect, "bisect", 3, "sweep: bisection steps between the last pass and the first failure")
	fs.IntVar(&o.downSteps, "down-steps", 4, "sweep: steps down (÷ -sweep-factor) when the first step fails")
	fs.Float64Var(&o.minDelivered, "min-delivered", 99.9, "sweep: a step passes with at least this % delivered (broadcast: of sent × subscribers; market: of ticks × clients)")
	fs.DurationVar(&o.maxP99, "max-p99", 100*time.Millisecond, "sweep: a step passes with p99 latency (market: tick age) at most this")
	fs.IntVar(&o.bars, "bars", 10, "storm: one-minute candles seeded per symbol (via -nats) for the candle replay")
	fs.IntVar(&o.backlog, "backlog", 20, "storm: chat.lobby messages seeded; clients resume after the first")
	fs.DurationVar(&o.stormTimeout, "storm-timeout", 60*time.Second, "storm: longest a client waits for its replies and replays, retries included")
	fs.BoolVar(&o.retry, "retry", true, "storm: retry a failed attempt after tickroom.js's backoff (250 ms … 10 s, full jitter) until -storm-timeout")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.scenario == "storm" && !set["n"] {
		o.n = 10000
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch o.scenario {
	case "idle", "broadcast", "market", "churn", "storm":
	default:
		return nil, fmt.Errorf("-scenario %q: want idle, broadcast, market, churn or storm", o.scenario)
	}
	switch o.target {
	case "tickroom":
	case "socketio", "centrifugo":
		if o.scenario == "market" || o.scenario == "churn" || o.scenario == "storm" {
			return nil, fmt.Errorf("-target %s supports the idle and broadcast scenarios", o.target)
		}
	default:
		return nil, fmt.Errorf("-target %q: want tickroom, socketio or centrifugo", o.target)
	}
	if o.sweep && o.scenario != "broadcast" && o.scenario != "market" {
		return nil, errors.New("-sweep applies to the broadcast and market scenarios")
	}
	if o.warmup < 0 {
		o.warmup = 0
		if o.sweep {
			o.warmup = 2 * time.Second
		}
	}
	if o.quietSecs < 1 {
		return nil, errors.New("-settle-quiet must be at least 1")
	}
	if o.sweep {
		if err := (sweepPlan{Start: max(o.rate, o.tps), Max: o.sweepMax, Factor: o.sweepFactor, Bisect: o.bisect, DownSteps: o.downSteps}).validate(); err != nil {
			return nil, err
		}
		if o.minDelivered <= 0 || o.minDelivered > 100 || o.maxP99 <= 0 {
			return nil, errors.New("-min-delivered must be in (0, 100] and -max-p99 positive")
		}
	}
	if o.scenario == "storm" && (o.symbols <= 0 || o.symbols > 1000 || o.bars < 0 || o.bars > 1000 || o.backlog < 0 || o.backlog > 1000 || o.stormTimeout <= 0) {
		return nil, errors.New("storm: -symbols 1…1000, -bars and -backlog 0…1000, -storm-timeout positive")
	}
	if o.n <= 0 || o.duration <= 0 || o.conc <= 0 {
		return nil, errors.New("-n, -duration and -c must be positive")
	}
	if (o.scenario == "broadcast" || o.scenario == "churn") && o.rate <= 0 {
		return nil, errors.New("-rate must be positive")
	}
	if o.scenario == "market" && (o.symbols <= 0 || o.symbols > 1000 || o.tps <= 0) {
		return nil, errors.New("-symbols must be 1…1000 and -tps positive")
	}
	if o.msgSize < 40 || o.msgSize > 60000 {
		return nil, errors.New("-size must be 40…60000")
	}
	if strings.Contains(o.channel, ",") && (o.scenario != "idle" || o.target != "tickroom") {
		return nil, errors.New("-channel: a comma list applies to -scenario idle with -target tickroom")
	}
	if o.channel == "" {
		o.channel = map[string]string{"broadcast": "chat.bench", "market": "market.*", "churn": "market.CHURN"}[o.scenario]
	}
	if !o.allowRemote {
		check := []string{o.url}
		if o.scenario == "market" || o.scenario == "storm" {
			check = append(check, o.natsURL)
		}
		for _, raw := range check {
			u, err := url.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", raw, err)
			}
			if !isLoopbackHost(u.Hostname()) {
				return nil, fmt.Errorf("%q is not a loopback address; pass -allow-remote to load another host", raw)
			}
		}
	}
	if o.srcIPs < 0 {
		o.srcIPs = autoSources(o.n)
		switch o.scenario {
		case "churn":
			o.srcIPs = 8 // TIME_WAIT sockets pile up at a few hundred connections/s
		case "storm":
			o.srcIPs = autoSources(2 * o.n) // the first connections' ports sit in TIME_WAIT
		}
	}
	if o.srcIPs > 250 {
		return nil, errors.New("-src-ips at most 250")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "-summarize" {
		return summarize(args[1], stdout)
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	u, _ := url.Parse(o.url)
	src := o.srcIPs
	if !isLoopbackHost(u.Hostname()) {
		src = 0 // source addresses are loopback ones
	}
	rbuf := 16 << 10
	switch o.scenario {
	case "idle", "churn":
		rbuf = 1 << 10
	case "storm":
		rbuf = 4 << 10
	}
	ep, err := newEndpoint(o.url, o.target, newDialer(src), rbuf)
	if err != nil {
		return err
	}
	log := stderr
	if o.quiet {
		log = io.Discard
	}
	srv, err := newServerCmd(o, log)
	if err != nil {
		return err
	}
	table := stdout
	if o.json {
		table = stderr
	}
	if o.sweep {
		sr, err := sweep(ctx, o, ep, srv, log)
		if sr != nil {
			sr.writeTable(table)
			if o.json {
				line, _ := json.Marshal(sr)
				fmt.Fprintln(stdout, string(line))
			}
		}
		return err
	}
	if srv != nil {
		run, err := srv.start(ctx)
		if err != nil {
			return err
		}
		defer run.stop()
		o.pid = run.pid()
	}
	b := &bench{o: o, ep: ep, srv: serverProc{pid: o.pid}, log: log}
	var res *Result
	switch o.scenario {
	case "idle":
		res, err = b.idle(ctx)
	case "broadcast":
		res, err = b.broadcast(ctx)
	case "market":
		res, err = b.market(ctx)
	case "churn":
		res, err = b.churn(ctx)
	case "storm":
		res, err = b.storm(ctx)
	}
	if err != nil {
		return err
	}
	res.Label = o.label
	res.writeTable(table)
	if o.json {
		line, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(line))
	}
	return nil
}
