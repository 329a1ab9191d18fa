package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ---- reconnect storm ----
//
// N clients connect the way the dashboard page does (welcome, market.*,
// one candle.<SYM> replay with since:0, chat.lobby resumed with since),
// are all closed at once, and then all reconnect at once. A client whose
// attempt fails (the gateway may refuse a replay under load with close
// 1013) retries with tickroom.js's backoff (-retry). The report is the
// time from the storm's start until the last client has resumed — its
// three replies and the replays it asked for have arrived — and, with a
// reachable -nats, how many JetStream API requests ($JS.API.>) the server
// made meanwhile.

// stormSeed is what the storm's clients resume against.
type stormSeed struct {
	symbols  []string
	barStart []string // per symbol, the "start" of its last seeded bar ("" when not seeded)
	since    uint64   // chat.lobby seq the clients resume after
	lastSeq  uint64   // the last seeded chat.lobby seq
}

// seedStorm publishes a last value and o.bars candles per symbol (via NATS,
// when reachable) and o.backlog chat messages (via the gateway).
func (b *bench) seedStorm(nc *nats.Conn) (*stormSeed, error) {
	o := b.o
	s := &stormSeed{}
	for i := range o.symbols {
		s.symbols = append(s.symbols, fmt.Sprintf("TB%03d", i))
	}
	s.barStart = make([]string, len(s.symbols))
	if nc != nil {
		base := time.Now().UTC().Truncate(time.Minute).Add(-time.Duration(o.bars) * time.Minute)
		var buf []byte
		for i, sym := range s.symbols {
			buf = tick(buf, sym, uint64(i), time.Now().UnixNano())
			if err := nc.Publish("market."+sym, buf); err != nil {
				return nil, err
			}
			for k := range o.bars {
				start := base.Add(time.Duration(k) * time.Minute).Format(time.RFC3339)
				bar := fmt.Sprintf(`{"symbol":%q,"interval":"1m","start":%q,"open":100,"high":101,"low":99,"close":100.5,"volume":%d}`, sym, start, 1000+k)
				if err := nc.Publish("candle."+sym, []byte(bar)); err != nil {
					return nil, err
				}
				s.barStart[i] = start
			}
		}
		if err := nc.Flush(); err != nil {
			return nil, err
		}
	}
	if o.backlog > 0 {
		c, err := b.ep.connect("")
		if err != nil {
			return nil, fmt.Errorf("chat seeder: %w", err)
		}
		defer c.close()
		for k := 1; k <= o.backlog; k++ {
			req := fmt.Sprintf(`{"op":"publish","id":%d,"channel":"chat.lobby","data":{"text":"storm backlog %d"},"msgid":"tb-storm-%s-%d"}`, k, k, runID(), k)
			if err := c.write([]byte(req)); err != nil {
				return nil, err
			}
			seq, err := awaitSeq(c, uint64(k))
			if err != nil {
				return nil, fmt.Errorf("chat seeder: %w", err)
			}
			if k == 1 {
				s.since = seq // the clients ask for everything after the first
			}
			s.lastSeq = seq
		}
	}
	time.Sleep(500 * time.Millisecond) // candles and last values reach their streams
	return s, nil
}

// awaitSeq reads until the reply to id and returns its seq.
func awaitSeq(c *conn, id uint64) (uint64, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.ws.SetReadDeadline(time.Time{}) }()
	for {
		f, err := c.read()
		if err != nil {
			return 0, err
		}
		var seq uint64
		var bad []byte
		var done bool
		forEachLine(f, func(line []byte) {
			if got, ok := replyID(line); ok && got == id {
				done = true
				if _, good := isReply(line); !good {
					bad = append([]byte(nil), line...)
					return
				}
				if i := bytes.Index(line, []byte(`"seq":`)); i >= 0 {
					seq, _, _ = parseUint(line[i+len(`"seq":`):])
				}
			}
		})
		if bad != nil {
			return 0, fmt.Errorf("publish refused: %s", bad)
		}
		if done {
			return seq, nil
		}
	}
}

// resume runs one client's page-load sequence on a connected c: three
// pipelined subscribes, then reads until every reply and the replays it
// asked for arrived. It returns nil when resumed.
func (s *stormSeed) resume(c *conn, i int, timeout time.Duration) error {
	sym := s.symbols[i%len(s.symbols)]
	bar := s.barStart[i%len(s.symbols)]
	reqs := []string{
		`{"op":"subscribe","id":1,"channel":"market.*"}`,
		`{"op":"subscribe","id":2,"channel":"candle.` + sym + `","since":0}`,
		`{"op":"subscribe","id":3,"channel":"chat.lobby","since":` + strconv.FormatUint(s.since, 10) + `}`,
	}
	for _, r := range reqs {
		if err := c.write([]byte(r)); err != nil {
			return err
		}
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.ws.SetReadDeadline(time.Time{}) }()
	var replies [4]bool
	gotBar := bar == ""
	gotChat := s.lastSeq <= s.since // nothing to replay
	candleCh := []byte(`"channel":"candle.` + sym + `"`)
	barMark := []byte(`"start":"` + bar + `"`)
	lobby := []byte(`"channel":"chat.lobby"`)
	for {
		f, err := c.read()
		if err != nil {
			missing := []string{}
			for id := 1; id <= 3; id++ {
				if !replies[id] {
					missing = append(missing, "reply "+strconv.Itoa(id))
				}
			}
			if !gotBar {
				missing = append(missing, "last candle")
			}
			if !gotChat {
				missing = append(missing, "chat replay")
			}
			return fmt.Errorf("%v (missing %s)", err, strings.Join(missing, ", "))
		}
		var refused []byte
		forEachLine(f, func(line []byte) {
			if id, ok := replyID(line); ok && id >= 1 && id <= 3 {
				replies[id] = true
				if _, good := isReply(line); !good && refused == nil {
					refused = append([]byte(nil), line...)
				}
				return
			}
			if !gotBar && bytes.Contains(line, candleCh) && bytes.Contains(line, barMark) {
				gotBar = true
			}
			if !gotChat && bytes.Contains(line, lobby) {
				if j := bytes.Index(line, []byte(`"seq":`)); j >= 0 {
					if v, _, ok := parseUint(line[j+len(`"seq":`):]); ok && v >= s.lastSeq {
						gotChat = true
					}
				}
			}
		})
		if refused != nil {
			return fmt.Errorf("subscribe refused: %s", refused)
		}
		if replies[1] && replies[2] && replies[3] && gotBar && gotChat {
			return nil
		}
	}
}

// backoffDelay is tickroom.js's reconnect delay for the n-th failed attempt
// (0-based): full jitter over [min, min(max, min·2^(n+1))].
func backoffDelay(attempt int, lo, hi time.Duration) time.Duration {
	top := hi
	if attempt < 30 {
		top = min(hi, lo<<(attempt+1))
	}
	return lo + time.Duration(mrand.Int64N(int64(top-lo)+1))
}

// jsCounter counts JetStream API requests by kind ($JS.API.<A>.<B>…).
type jsCounter struct {
	mu     sync.Mutex
	on     bool
	n      uint64
	byKind map[string]uint64
}

func (j *jsCounter) msg(m *nats.Msg) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.on {
		return
	}
	j.n++
	kind := strings.TrimPrefix(m.Subject, "$JS.API.")
	if parts := strings.SplitN(kind, ".", 3); len(parts) >= 2 && parts[0] != "INFO" {
		kind = parts[0] + "." + parts[1]
	} else {
		kind = parts[0]
	}
	j.byKind[kind]++
}

func (j *jsCounter) set(on bool) (n uint64, kinds string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.on = on
	if on {
		j.n, j.byKind = 0, map[string]uint64{}
		return 0, ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(j.byKind)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, j.byKind[k]))
	}
	return j.n, strings.Join(parts, ",")
}

func (b *bench) storm(ctx context.Context) (*Result, error) {
	o := b.o
	r := b.result()
	r.Channel = "market.*, candle.<SYM> since 0, chat.lobby since"
	var nc *nats.Conn
	if o.natsURL != "" {
		var err error
		nc, err = nats.Connect(o.natsURL, nats.Name("tickbench-storm"), nats.Timeout(3*time.Second))
		if err != nil {
			r.StormNote = fmt.Sprintf("NATS %s unreachable (%v): no candles or last values seeded, JetStream API calls not counted", o.natsURL, err)
			fmt.Fprintln(b.log, r.StormNote)
			nc = nil
		} else {
			defer nc.Close()
		}
	}
	seed, err := b.seedStorm(nc)
	if err != nil {
		return nil, err
	}
	js := &jsCounter{}
	if nc != nil {
		sub, err := nc.Subscribe("$JS.API.>", js.msg)
		if err != nil {
			return nil, err
		}
		defer func() { _ = sub.Unsubscribe() }()
		_ = nc.Flush()
	}

	// One pass: every client connects and resumes, all at once (at most
	// conc dials in flight); returns the connections and resume times.
	var retries atomic.Int64
	pass := func(name string, conc int) ([]*conn, *Hist, time.Duration, int, string) {
		var h Hist
		retries.Store(0)
		conns := make([]*conn, o.n)
		var next, failed, resumed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		stop := b.progress(func(el time.Duration) string {
			return fmt.Sprintf("%s: resumed %d/%d failed %d retries %d", name, resumed.Load(), o.n, failed.Load(), retries.Load())
		})
		start := time.Now()
		var last atomic.Int64
		for range min(conc, o.n) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					i := int(next.Add(1)) - 1
					if i >= o.n {
						return
					}
					// Like tickroom.js: a failed attempt (refused dial, close
					// 1013 "replay unavailable", a refused subscribe) is
					// retried after a full-jitter backoff, until the
					// storm timeout.
					var c *conn
					var err error
					for attempt := 0; ; attempt++ {
						c, err = b.ep.connect("")
						if err == nil {
							if err = seed.resume(c, i, o.stormTimeout); err != nil {
								c.close()
							}
						}
						if err == nil || !o.retry || ctx.Err() != nil {
							break
						}
						if firstErr.Load() == nil {
							firstErr.Store(err.Error())
						}
						d := backoffDelay(attempt, 250*time.Millisecond, 10*time.Second)
						if time.Since(start)+d > o.stormTimeout {
							break
						}
						retries.Add(1)
						time.Sleep(d)
					}
					if err != nil {
						if failed.Add(1) == 1 && firstErr.Load() == nil {
							firstErr.Store(err.Error())
						}
						continue
					}
					el := time.Since(start)
					h.Record(el.Nanoseconds())
					for {
						l := last.Load()
						if int64(el) <= l || last.CompareAndSwap(l, int64(el)) {
							break
						}
					}
					resumed.Add(1)
					conns[i] = c
					b.startReader(c, func(int64, []byte) {})
				}
			}()
		}
		wg.Wait()
		stop()
		e, _ := firstErr.Load().(string)
		return slices.DeleteFunc(conns, func(c *conn) bool { return c == nil }), &h, time.Duration(last.Load()), int(failed.Load()), e
	}

	// Before: the clients are connected (dialled -c at a time).
	conns, _, took, failed, firstErr := pass("connecting", o.conc)
	b.setConnect(r, conns, failed, firstErr, took)
	if len(conns) == 0 {
		return nil, fmt.Errorf("no client resumed: %s", firstErr)
	}
	// All drop at once; the server sees every close within a moment.
	b.closeAll(conns)
	time.Sleep(2 * time.Second)
	b.closing.Store(false)

	// The storm: every client reconnects at once.
	js.set(true)
	cpu := b.startCPU()
	conns, h, all, failed, firstErr := pass("storm", o.n)
	calls, kinds := js.set(false)
	r.Resumed, r.ResumeFailed, r.ResumeError = len(conns), failed, firstErr
	r.Retries = retries.Load()
	r.AllResumedSec = round(all.Seconds(), 3)
	r.DurationSec = r.AllResumedSec
	r.ResumeLatency = h.Snapshot().Summary()
	if nc != nil {
		r.JSAPICalls, r.JSAPIKinds = &calls, kinds
		r.JSAPIPerClient = round(float64(calls)/float64(o.n), 3)
	}
	cpu.finish(r)
	b.setDrops(r)
	b.closeAll(conns)
	return r, nil
}
