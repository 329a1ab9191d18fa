package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// bench holds one run's shared state. Counters are atomics written by every
// connection's reader goroutine.
type bench struct {
	o   *options
	ep  *endpoint
	srv serverProc
	log io.Writer

	open      atomic.Int64  // connections whose reader runs
	delivered atomic.Uint64 // stamped messages/ticks received by subscribers
	other     atomic.Uint64 // any other line received by subscribers
	lat       Hist
	ackLat    Hist // broadcast: publish → the server's reply (stored and acknowledged)

	closing   atomic.Bool // set before tickbench closes its connections
	dropMu    sync.Mutex
	dropCodes map[int]int
	dropped   atomic.Uint64
}

// connectAll opens n connections (subscribed to channel if set) with at most
// -c dials in flight, starting a reader per connection that calls fn.
func (b *bench) connectAll(ctx context.Context, n int, channel string, fn func(now int64, line []byte)) (conns []*conn, failed int, firstErr string, took time.Duration) {
	start := time.Now()
	conns = make([]*conn, n)
	var next atomic.Int64
	var nfail atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	stopProgress := b.progress(func(el time.Duration) string {
		return fmt.Sprintf("connecting %d/%d (failed %d)", b.open.Load(), n, nfail.Load())
	})
	for range min(b.o.conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := b.ep.connect(channel)
				if err != nil {
					nfail.Add(1)
					errOnce.Do(func() { firstErr = err.Error() })
					continue
				}
				conns[i] = c
				b.startReader(c, fn)
			}
		}()
	}
	wg.Wait()
	stopProgress()
	took = time.Since(start)
	conns = slices.DeleteFunc(conns, func(c *conn) bool { return c == nil })
	return conns, int(nfail.Load()), firstErr, took
}

func (b *bench) startReader(c *conn, fn func(now int64, line []byte)) {
	b.open.Add(1)
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		err := c.loop(fn)
		b.open.Add(-1)
		if !b.closing.Load() {
			b.dropped.Add(1)
			b.dropMu.Lock()
			if b.dropCodes == nil {
				b.dropCodes = map[int]int{}
			}
			b.dropCodes[closeCode(err)]++
			b.dropMu.Unlock()
		}
	}()
}

// closeAll closes every connection and waits for the readers.
func (b *bench) closeAll(conns []*conn) {
	b.closing.Store(true)
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		sem <- struct{}{}
		go func() { defer func() { <-sem }(); c.close() }()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	deadline := time.After(10 * time.Second)
	for _, c := range conns {
		if c.done == nil {
			continue
		}
		select {
		case <-c.done:
		case <-deadline:
			return
		}
	}
}

// progress prints line(elapsed) to stderr every second until stopped.
func (b *bench) progress(line func(el time.Duration) string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		cpu0, t0 := b.srv.cpu(), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				cpu := b.srv.cpu()
				srv := ""
				if b.srv.pid != 0 {
					srv = fmt.Sprintf(" | server cpu %3.0f%% rss %.0f MiB", 100*(cpu-cpu0)/now.Sub(t0).Seconds(), float64(b.srv.rss())/1024)
				}
				cpu0, t0 = cpu, now
				el := time.Since(start).Truncate(time.Second)
				fmt.Fprintf(b.log, "[%4s] %s%s\n", el, line(el), srv)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (b *bench) result() *Result {
	r := &Result{Scenario: b.o.scenario, Target: b.o.target, URL: b.ep.wsURL, N: b.o.n, PID: b.o.pid, SrcIPs: len(b.ep.d.srcs)}
	r.Channel = b.o.channel
	return r
}

func (b *bench) setConnect(r *Result, conns []*conn, failed int, firstErr string, took time.Duration) {
	r.Connected, r.ConnectFailed, r.ConnectError = len(conns), failed, firstErr
	r.ConnectSec = round(took.Seconds(), 3)
	if took > 0 {
		r.ConnectPerSec = round(float64(len(conns))/took.Seconds(), 0)
	}
}

func (b *bench) setDrops(r *Result) {
	r.Dropped = b.dropped.Load()
	b.dropMu.Lock()
	defer b.dropMu.Unlock()
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(b.dropCodes)) {
		name := strconv.Itoa(code)
		if code == 0 {
			name = "none"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, b.dropCodes[code]))
	}
	r.DropCodes = strings.Join(parts, ",")
}

// cpuMeter measures server and tickbench CPU over a phase.
type cpuMeter struct {
	b          *bench
	srv0, cli0 float64
	t0         time.Time
}

func (b *bench) startCPU() cpuMeter {
	return cpuMeter{b: b, srv0: b.srv.cpu(), cli0: selfCPU(), t0: time.Now()}
}

func (m cpuMeter) finish(r *Result) {
	wall := time.Since(m.t0).Seconds()
	r.ServerCPUSec = round(m.b.srv.cpu()-m.srv0, 2)
	if wall > 0 {
		r.ServerCPUPct = round(100*r.ServerCPUSec/wall, 1)
		r.ClientCPUPct = round(100*(selfCPU()-m.cli0)/wall, 1)
	}
	if r.ServerCPUSec > 0 && r.Delivered > 0 {
		r.PerCPUSec = round(float64(r.Delivered)/r.ServerCPUSec, 0)
	}
}

// ---- idle ----

func (b *bench) idle(ctx context.Context) (*Result, error) {
	r := b.result()
	r.RSSBeforeKB = b.srv.rss()
	cpu := b.startCPU()
	// Subscribed the way the page connects when -channel is given (a
	// comma list subscribes to each, e.g. chat.lobby,market.*).
	conns, failed, firstErr, took := b.connectAll(ctx, b.o.n, b.o.channel, func(int64, []byte) { b.other.Add(1) })
	b.setConnect(r, conns, failed, firstErr, took)
	if len(conns) == 0 {
		return nil, fmt.Errorf("no connection: %s", firstErr)
	}
	// Hold the connections idle; the reader answers heartbeats.
	stop := b.progress(func(el time.Duration) string {
		return fmt.Sprintf("holding %d idle connections", b.open.Load())
	})
	select {
	case <-ctx.Done():
	case <-time.After(b.o.duration):
	}
	stop()
	r.DurationSec = b.o.duration.Seconds()
	r.RSSAfterKB = b.srv.rss()
	if r.RSSAfterKB > 0 {
		r.RSSPerConnKB = round(float64(r.RSSAfterKB-r.RSSBeforeKB)/float64(len(conns)), 2)
	}
	cpu.finish(r)
	b.setDrops(r)
	b.closeAll(conns)
	return r, nil
}

// ---- broadcast ----

func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// message builds one publish frame: a tickroom publish request, a
// Centrifugo publish command or a Socket.IO event, whose data object {"text":"tb|seq|ns|xxx…"} is size bytes.
func message(dst []byte, target, channel, run string, seq uint64, ns int64, size int) []byte {
	dst = dst[:0]
	switch target {
	case "socketio":
		dst = append(dst, `42["chat message","`...)
	case "centrifugo":
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendUint(dst, seq, 10)
		dst = append(dst, `,"publish":{"channel":"`...)
		dst = append(dst, channel...)
		dst = append(dst, `","data":{"text":"`...)
	default:
		dst = append(dst, `{"op":"publish","id":`...)
		dst = strconv.AppendUint(dst, seq, 10)
		dst = append(dst, `,"channel":"`...)
		dst = append(dst, channel...)
		dst = append(dst, `","data":{"text":"`...)
	}
	start := len(dst)
	dst = append(dst, benchMarker...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, ns, 10)
	dst = append(dst, '|')
	for pad := size - len(`{"text":""}`) - (len(dst) - start); pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	switch target {
	case "socketio":
		return append(dst, `"]`...)
	case "centrifugo":
		return append(dst, `"}}}`...)
	}
	dst = append(dst, `"},"msgid":"tb-`...)
	dst = append(dst, run...)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, `"}`...)
}

// pace calls send rate times per second for d (or until ctx ends), catching
// up in bursts when it falls behind, and returns how many it sent.
func pace(ctx context.Context, rate float64, d time.Duration, send func()) uint64 {
	start := time.Now()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	var sent uint64
	for {
		select {
		case <-ctx.Done():
			return sent
		case <-t.C:
		}
		el := time.Since(start)
		if el >= d {
			el = d
		}
		for due := uint64(rate * el.Seconds()); sent < due; sent++ {
			send()
		}
		if el >= d {
			return sent
		}
	}
}

func (b *bench) broadcast(ctx context.Context) (*Result, error) {
	o := b.o
	r := b.result()
	r.Rate = o.rate
	// Messages stamped before from are the warm-up: delivered but not
	// counted, and not in the latency histogram.
	var from atomic.Int64
	from.Store(1<<63 - 1)
	onLine := func(now int64, line []byte) {
		if _, ns, ok := parseStamp(line); ok {
			if ns >= from.Load() {
				b.lat.Record(now - ns)
				b.delivered.Add(1)
			}
			return
		}
		b.other.Add(1)
	}
	conns, failed, firstErr, took := b.connectAll(ctx, o.n, o.channel, onLine)
	b.setConnect(r, conns, failed, firstErr, took)
	if len(conns) == 0 {
		return nil, fmt.Errorf("no subscriber connected: %s", firstErr)
	}
	defer b.closeAll(conns)
	subs := uint64(len(conns))

	// Settle: wait for the burst of join events (tickroom's presence: every
	// subscriber's join goes to every earlier subscriber) to end, that is
	// for three quiet seconds in a row; a busy server can pause a second.
	settleStart := time.Now()
	for last, quiet := b.other.Load(), 0; quiet < o.quietSecs && time.Since(settleStart) < o.settle && ctx.Err() == nil; {
		time.Sleep(time.Second)
		cur := b.other.Load()
		if cur == last {
			quiet++
			continue
		}
		quiet, last = 0, cur
		fmt.Fprintf(b.log, "settling: %d setup events received\n", cur)
	}
	r.SettleSec = round(time.Since(settleStart).Seconds(), 1)
	r.SetupLines = b.other.Load()

	// Publishers: their own connections, not subscribed (Socket.IO's
	// io.emit also echoes to them; they read and ignore it).
	np := o.publishers
	if np <= 0 {
		np = max(1, int(o.rate/100))
	}
	r.Publishers = np
	acks := o.target != "socketio" // tickroom and Centrifugo reply to every publish
	var acked, pubErrs atomic.Uint64
	var pubErr atomic.Value
	type publisher struct {
		c *conn
		// first is the first measured (post-warm-up) seq this publisher
		// sent, 0 until then: its seqs and stamps both grow, so a reply id
		// ≥ first answers a measured publish.
		first atomic.Uint64
		// sentAt: send time (unix ns) of each publish awaiting its reply.
		mu     sync.Mutex
		sentAt map[uint64]int64
	}
	pubs := make([]*publisher, np)
	pconns := make([]*conn, 0, np)
	defer func() { b.closeAll(pconns) }()
	for i := range pubs {
		c, err := b.ep.connect("")
		if err != nil {
			return nil, fmt.Errorf("publisher: %w", err)
		}
		p := &publisher{c: c, sentAt: map[uint64]int64{}}
		pubs[i] = p
		pconns = append(pconns, c)
		b.startReader(c, func(_ int64, line []byte) {
			if !acks {
				return
			}
			var reply, good bool
			if o.target == "centrifugo" {
				reply, good = isCfReply(line)
			} else {
				reply, good = isReply(line)
			}
			if !reply {
				return
			}
			id, _ := replyID(line)
			p.mu.Lock()
			at, ok := p.sentAt[id]
			delete(p.sentAt, id)
			p.mu.Unlock()
			if f := p.first.Load(); f == 0 || id < f {
				return // a warm-up publish
			}
			if ok {
				b.ackLat.Record(time.Now().UnixNano() - at)
			}
			if good {
				acked.Add(1)
			} else if pubErrs.Add(1) == 1 {
				pubErr.Store(string(line))
			}
		})
	}

	run := runID()
	var seq, sent, warmSent atomic.Uint64
	stop := b.progress(func(el time.Duration) string {
		s := b.lat.Snapshot()
		return fmt.Sprintf("sent %d (+%d warm-up) acked %d delivered %d (%.1f%%) p99 %.1fms max %.1fms conns %d",
			sent.Load(), warmSent.Load(), acked.Load(), b.delivered.Load(),
			pct(b.delivered.Load(), sent.Load()*subs), ms(s.Quantile(0.99)), ms(s.Max), b.open.Load())
	})
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	from.Store(measureFrom.UnixNano())
	var pwg sync.WaitGroup
	for _, p := range pubs {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			var buf []byte
			pace(ctx, o.rate/float64(np), o.warmup+o.duration, func() {
				k := seq.Add(1)
				ns := time.Now().UnixNano()
				buf = message(buf, o.target, o.channel, run, k, ns, o.msgSize)
				measured := ns >= from.Load()
				if measured && p.first.Load() == 0 {
					p.first.Store(k)
				}
				if acks {
					p.mu.Lock()
					p.sentAt[k] = ns
					p.mu.Unlock()
				}
				if p.c.write(buf) == nil {
					if measured {
						sent.Add(1)
					} else {
						warmSent.Add(1)
					}
				}
			})
		}()
	}
	if d := time.Until(measureFrom); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	cpu := b.startCPU()
	pwg.Wait()
	window := time.Since(measureFrom)
	inWindow := b.delivered.Load()

	// Drain: wait for acks, then for every expected delivery.
	drainStart := time.Now()
	expected := func() uint64 {
		if !acks {
			return sent.Load() * subs
		}
		return acked.Load() * subs
	}
	for time.Since(drainStart) < o.drain && ctx.Err() == nil {
		if (!acks || acked.Load()+pubErrs.Load() >= sent.Load()) && b.delivered.Load() >= expected() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	r.WarmupSec = o.warmup.Seconds()
	r.WarmupSent = warmSent.Load()
	r.DrainSec = round(time.Since(drainStart).Seconds(), 2)
	r.DurationSec = round(window.Seconds(), 2)
	r.Sent = sent.Load()
	r.SentPerSec = round(float64(r.Sent)/window.Seconds(), 1)
	if acks {
		r.Acked, r.PubErrors = acked.Load(), pubErrs.Load()
		if s, _ := pubErr.Load().(string); s != "" {
			r.PubError = s
		}
		if r.Acked+r.PubErrors < r.Sent {
			r.PendingAcks = r.Sent - r.Acked - r.PubErrors
		}
	}
	r.Expected = expected()
	r.Delivered = b.delivered.Load()
	r.InWindow = inWindow
	r.OfferedPS = round(o.rate*float64(subs), 0)
	r.DeliveredPS = round(float64(inWindow)/window.Seconds(), 0)
	r.InWindowPct = round(pct(inWindow, r.Expected), 2)
	r.DeliveredPct = round(pct(r.Delivered, r.Expected), 2)
	r.OfSentPct = round(pct(r.Delivered, r.Sent*subs), 2)
	if r.Expected > r.Delivered {
		r.LossPct = round(100-r.DeliveredPct, 2)
	}
	r.Latency = b.lat.Snapshot().Summary()
	if acks && b.ackLat.Count() > 0 {
		r.AckLatency = b.ackLat.Snapshot().Summary()
	}
	cpu.finish(r)
	b.setDrops(r)
	return r, nil
}

func pct(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// ---- market ----

// tick builds a market tick for symbol carrying its send time in "ts".
func tick(dst []byte, symbol string, k uint64, ns int64) []byte {
	dst = append(dst[:0], `{"symbol":"`...)
	dst = append(dst, symbol...)
	dst = append(dst, `","price":`...)
	dst = strconv.AppendUint(dst, 100+k%50, 10)
	dst = append(dst, `.25,"size":100,"ts":`...)
	dst = strconv.AppendInt(dst, ns, 10)
	return append(dst, '}')
}

func (b *bench) market(ctx context.Context) (*Result, error) {
	o := b.o
	r := b.result()
	r.Symbols, r.TPS = o.symbols, o.tps
	nc, err := nats.Connect(o.natsURL, nats.Name("tickbench-producer"))
	if err != nil {
		return nil, fmt.Errorf("producer: NATS %s: %w", o.natsURL, err)
	}
	defer nc.Close()

	var from atomic.Int64 // ticks older than the run (last values) are not counted
	from.Store(1<<63 - 1)
	onLine := func(now int64, line []byte) {
		if ns, ok := parseTickStamp(line); ok && ns >= from.Load() {
			b.lat.Record(now - ns)
			b.delivered.Add(1)
			return
		}
		b.other.Add(1)
	}
	conns, failed, firstErr, took := b.connectAll(ctx, o.n, o.channel, onLine)
	b.setConnect(r, conns, failed, firstErr, took)
	if len(conns) == 0 {
		return nil, fmt.Errorf("no client connected: %s", firstErr)
	}
	defer b.closeAll(conns)
	time.Sleep(500 * time.Millisecond) // last values, if any, arrive and are skipped

	symbols := make([]string, o.symbols)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("TB%03d", i)
	}
	var published atomic.Uint64
	stop := b.progress(func(el time.Duration) string {
		s := b.lat.Snapshot()
		return fmt.Sprintf("published %d delivered %d age p50 %.1fms p99 %.1fms conns %d",
			published.Load(), b.delivered.Load(), ms(s.Quantile(0.5)), ms(s.Quantile(0.99)), b.open.Load())
	})
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	from.Store(measureFrom.UnixNano())
	var buf []byte
	var k uint64
	var pubErr error
	var cpu cpuMeter
	cpuStarted := false
	pace(ctx, float64(o.symbols)*o.tps, o.warmup+o.duration, func() {
		sym := symbols[k%uint64(len(symbols))]
		ns := time.Now().UnixNano()
		if ns >= measureFrom.UnixNano() && !cpuStarted {
			cpu, cpuStarted = b.startCPU(), true
		}
		buf = tick(buf, sym, k, ns)
		if err := nc.Publish("market."+sym, buf); err != nil && pubErr == nil {
			pubErr = err
		}
		k++
		if cpuStarted {
			published.Add(1)
		}
	})
	_ = nc.Flush()
	if !cpuStarted {
		cpu = b.startCPU()
	}
	window := time.Since(measureFrom)
	inWindow := b.delivered.Load()
	time.Sleep(min(o.drain, time.Second)) // ticks conflate; a short drain suffices
	stop()
	if pubErr != nil {
		return nil, fmt.Errorf("producer: %w", pubErr)
	}
	r.WarmupSec = o.warmup.Seconds()
	r.DurationSec = round(window.Seconds(), 2)
	r.Published = published.Load()
	r.OfferedPS = round(float64(o.symbols)*o.tps*float64(len(conns)), 0)
	r.Delivered = b.delivered.Load()
	r.InWindow = inWindow
	r.DeliveredPS = round(float64(inWindow)/window.Seconds(), 0)
	r.InWindowPct = round(pct(r.Delivered, r.Published*uint64(len(conns))), 2)
	r.TickAge = b.lat.Snapshot().Summary()
	cpu.finish(r)
	b.setDrops(r)
	return r, nil
}

// ---- churn ----

func (b *bench) churn(ctx context.Context) (*Result, error) {
	o := b.o
	r := b.result()
	r.Rate = o.rate
	var ok, failed, skipped atomic.Uint64
	var inflight atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	stop := b.progress(func(el time.Duration) string {
		s := b.lat.Snapshot()
		return fmt.Sprintf("churned %d failed %d skipped %d in flight %d p99 %.1fms",
			ok.Load(), failed.Load(), skipped.Load(), inflight.Load(), ms(s.Quantile(0.99)))
	})
	cpu := b.startCPU()
	start := time.Now()
	pace(ctx, o.rate, o.duration, func() {
		if inflight.Load() >= int64(o.n) {
			skipped.Add(1)
			return
		}
		inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inflight.Add(-1)
			t0 := time.Now()
			c, err := b.ep.connect(o.channel)
			if err != nil {
				if failed.Add(1) == 1 {
					firstErr.Store(err.Error())
				}
				return
			}
			b.lat.Record(time.Since(t0).Nanoseconds())
			ok.Add(1)
			if o.hold > 0 {
				time.Sleep(o.hold)
			}
			c.close()
		}()
	})
	window := time.Since(start)
	wg.Wait()
	stop()
	r.DurationSec = round(window.Seconds(), 2)
	r.Churned, r.ChurnFailed, r.ChurnSkip = ok.Load(), failed.Load(), skipped.Load()
	r.Connected = int(r.Churned)
	r.ChurnPS = round(float64(r.Churned)/window.Seconds(), 1)
	if s, _ := firstErr.Load().(string); s != "" {
		r.ConnectError = s
		r.ConnectFailed = int(r.ChurnFailed)
	}
	r.Latency = b.lat.Snapshot().Summary()
	cpu.finish(r)
	return r, nil
}
