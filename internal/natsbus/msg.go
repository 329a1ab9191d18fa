package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EventHeader is the NATS header that overrides a message's event name.
const EventHeader = "Tickroom-Event"

// Msg is a NATS message as the rest of tickroom sees it.
type Msg struct {
	Subject string
	Seq     uint64    // stream sequence; 0 for non-persisted live ticks
	Time    time.Time // stream timestamp for stored msgs; zero for core msgs
	Event   string    // value of header "Tickroom-Event", "" if absent
	Stamp   string    // value of header "Tickroom-Stamp" (a gateway's MAC), "" if absent
	Data    []byte    // payload (owned by receiver; do not reuse buffers)
}

var (
	// ErrUnavailable wraps every failure caused by NATS being unreachable
	// or not answering in time; callers map it to the "unavailable" code.
	ErrUnavailable = errors.New("natsbus: nats unavailable")
	// ErrNotStored is returned for subjects whose kind has no stream.
	ErrNotStored = errors.New("natsbus: subject kind is not stored")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("natsbus: bus closed")
)

// fromCore converts a core NATS message. nats.go allocates a fresh payload
// per message, so Data is handed over without a copy.
func fromCore(m *nats.Msg) Msg {
	return Msg{Subject: m.Subject, Event: m.Header.Get(EventHeader), Stamp: m.Header.Get(StampHeader), Data: m.Data}
}

// fromJS converts a message delivered by a JetStream consumer.
func fromJS(m jetstream.Msg) (Msg, *jetstream.MsgMetadata, error) {
	meta, err := m.Metadata()
	if err != nil {
		return Msg{}, nil, fmt.Errorf("natsbus: message metadata: %w", err)
	}
	return Msg{
		Subject: m.Subject(),
		Seq:     meta.Sequence.Stream,
		Time:    meta.Timestamp,
		Event:   m.Headers().Get(EventHeader),
		Stamp:   m.Headers().Get(StampHeader),
		Data:    m.Data(),
	}, meta, nil
}

// unavailableErrs are the errors meaning "NATS did not answer", as opposed
// to "NATS answered no".
var unavailableErrs = []error{
	context.DeadlineExceeded,
	nats.ErrTimeout,
	nats.ErrNoResponders,
	nats.ErrConnectionClosed,
	nats.ErrConnectionReconnecting,
	nats.ErrDisconnected,
	nats.ErrReconnectBufExceeded,
	nats.ErrConnectionDraining,
	jetstream.ErrNoStreamResponse,
	jetstream.ErrJetStreamNotEnabled,
	jetstream.ErrJetStreamNotEnabledForAccount,
	jetstream.ErrConsumerNotFound, // ephemeral read consumer lost to a server restart
}

// wrapErr gives err the operation's name, and ErrUnavailable when NATS was
// the cause, so callers can branch with errors.Is.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed) {
		return err
	}
	for _, u := range unavailableErrs {
		if errors.Is(err, u) {
			return fmt.Errorf("natsbus: %s: %w: %w", op, ErrUnavailable, err)
		}
	}
	return fmt.Errorf("natsbus: %s: %w", op, err)
}
