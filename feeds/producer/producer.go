// Package producer is a tiny client for publishing your own data to
// tickroom over NATS: ticks that appear on the dashboard as tickers, and any
// JSON object on feed.<name> subjects.
//
//	p, err := producer.Connect("nats://127.0.0.1:4222")
//	if err != nil { … }
//	defer p.Close()
//	err = p.Tick(ctx, producer.Tick{Symbol: "DEMO", Price: 42.5, Size: 10})
//	err = p.Publish("feed.news", "headline", map[string]string{"title": "…"})
//
// It checks the same rules the gateway enforces (PROTOCOL section 1), so a
// message the gateway would drop fails here with an error instead.
package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"

	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/feeds"
)

// Tick is the payload of market.<SYMBOL>; see feeds.Tick.
type Tick = feeds.Tick

// EventHeader is the NATS header that names the event a browser sees.
const EventHeader = "Tickroom-Event"

// MaxPayload is the largest payload Publish sends (the gateway's default
// limit for producer messages).
const MaxPayload = 64 << 10

// Producer publishes to tickroom. It is safe for concurrent use.
type Producer struct {
	nc    *nats.Conn
	owned bool
}

// Connect connects to the NATS server at url (e.g. nats://127.0.0.1:4222)
// and reconnects forever if the connection drops. opts are passed to
// nats.Connect after the defaults.
func Connect(url string, opts ...nats.Option) (*Producer, error) {
	all := append([]nats.Option{nats.Name("tickroom-producer"), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		return nil, fmt.Errorf("producer: connect %s: %w", url, err)
	}
	return &Producer{nc: nc, owned: true}, nil
}

// New returns a Producer over an existing connection, which Close leaves
// open.
func New(nc *nats.Conn) *Producer { return &Producer{nc: nc} }

// Conn returns the underlying connection.
func (p *Producer) Conn() *nats.Conn { return p.nc }

// Tick publishes t on market.<t.Symbol>. A zero t.Time is stamped with the
// current time. It fails without publishing if t breaks the schema
// (symbol not [A-Za-z0-9_-], price not finite and > 0, negative bid, ask,
// size or volume) or ctx is done. Like every NATS publish it returns once
// the message is buffered; use Flush to wait for the server.
func (p *Producer) Tick(ctx context.Context, t Tick) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	if t.Time.IsZero() {
		t.Time = feeds.Time{Time: time.Now()}
	}
	return p.Publish(feeds.Subject(feeds.KindMarket, t.Symbol), "", t)
}

// Publish marshals v as JSON (a json.RawMessage or []byte is sent as it
// is, if it is valid JSON) and publishes it on subject, with the header
// Tickroom-Event: event when event is not empty. The payload must be a JSON
// object of at most MaxPayload bytes, and subject a NATS subject without
// wildcards whose tokens are [A-Za-z0-9_-].
func (p *Producer) Publish(subject, event string, v any) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	var data []byte
	switch raw := v.(type) {
	case json.RawMessage:
		data = raw
	case []byte:
		data = raw
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			return fmt.Errorf("producer: %s: %w", subject, err)
		}
	}
	if !json.Valid(data) || !strings.HasPrefix(strings.TrimSpace(string(data)), "{") {
		return fmt.Errorf("producer: %s: payload must be a JSON object", subject)
	}
	if len(data) > MaxPayload {
		return fmt.Errorf("producer: %s: payload of %d bytes is over %d", subject, len(data), MaxPayload)
	}
	msg := &nats.Msg{Subject: subject, Data: data}
	if event != "" {
		if !protocol.ValidToken(event) {
			return fmt.Errorf("producer: event %q must be 1-64 characters of [A-Za-z0-9_-]", event)
		}
		msg.Header = nats.Header{EventHeader: []string{event}}
	}
	if err := p.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("producer: publish %s: %w", subject, err)
	}
	return nil
}

// Flush waits until the server has received everything published so far,
// or ctx is done.
func (p *Producer) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	return p.nc.FlushWithContext(ctx)
}

// Close flushes and closes the connection if Connect opened it (a Producer
// from New leaves its connection open).
func (p *Producer) Close() error {
	if !p.owned {
		return nil
	}
	err := p.nc.FlushTimeout(5 * time.Second)
	p.nc.Close()
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil
	}
	return err
}

func checkSubject(s string) error {
	if len(s) > 255 {
		return fmt.Errorf("producer: subject longer than 255 bytes")
	}
	tokens := strings.Split(s, ".")
	if len(tokens) < 2 || len(tokens) > 16 {
		return fmt.Errorf("producer: subject %q must have 2 to 16 tokens (kind.name…)", s)
	}
	for _, t := range tokens {
		if !protocol.ValidToken(t) {
			return fmt.Errorf("producer: subject %q: tokens must be [A-Za-z0-9_-] (no wildcards)", s)
		}
	}
	return nil
}
