package dashboard

import (
	"context"

	"github.com/tickroom/tickroom/internal/natsbus"
)

// Bus is what the gateway needs from NATS. *natsbus.Bus implements it; the
// interface is declared here, where it is used, so the gateway's surface on
// NATS stays visible in one place.
type Bus interface {
	Ready() bool
	OnStatus(fn func(ready bool))
	PublishDurable(ctx context.Context, subject string, data []byte, msgID string) (seq uint64, dup bool, err error)
	SubscribeLive(pattern string, fn func(natsbus.Msg)) (natsbus.Subscription, error)
	Replay(ctx context.Context, pattern string, after uint64, fn func(natsbus.Msg) error) (uint64, error)
	ResumeInfo(ctx context.Context, pattern string, since uint64) (recovered bool, epoch string, err error)
	History(ctx context.Context, subject string, before uint64, limit int) ([]natsbus.Msg, error)
	LastValues(ctx context.Context, pattern string, fn func(natsbus.Msg) error) error
	PutPresence(ctx context.Context, node string, snapshot map[string][]string) error
	DeletePresence(ctx context.Context, node string) error
	Presence(ctx context.Context, channel string) ([]string, error)
	PublishPresenceEvent(channel string, data []byte) error
	SubscribePresenceEvents(fn func(natsbus.Msg)) (natsbus.Subscription, error)
}

var _ Bus = (*natsbus.Bus)(nil)
