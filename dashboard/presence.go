package dashboard

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// presenceRefresh is how often a gateway rewrites its presence snapshot in
// NATS; the bucket's TTL is longer, so a gateway that dies drops out.
const presenceRefresh = 10 * time.Second

// presenceLoop publishes this gateway's presence: join/leave events at once
// (to every gateway, through NATS), the snapshot soon after every change and
// periodically.
type presenceLoop struct {
	s     *Server
	dirty chan struct{}
}

func newPresenceLoop(s *Server) *presenceLoop {
	return &presenceLoop{s: s, dirty: make(chan struct{}, 1)}
}

// maxRoomForEvents is the room size (users on this gateway) above which
// join and leave are no longer broadcast: each one goes to every member, so
// a room filling to N users would cost N²/2 deliveries (50 M for 10,000).
// Big rooms still answer the presence request; the snapshot stays exact.
const maxRoomForEvents = 200

// changed is the hub's OnPresence callback.
func (p *presenceLoop) changed(channel, user string, joined bool) {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
	if p.s.hub.RoomSize(channel) > maxRoomForEvents {
		return
	}
	event := protocol.EventLeave
	if joined {
		event = protocol.EventJoin
	}
	data, _ := json.Marshal(struct {
		User string `json:"user"`
	}{user})
	frame := protocol.AppendEvent(nil, channel, event, 0, time.Time{}, data)
	if err := p.s.bus.PublishPresenceEvent(channel, frame); err != nil {
		p.s.log.Debug("presence event not published", "channel", channel, "err", err)
	}
}

// presenceMinGap spaces the snapshot writes: changes within it share one.
// A snapshot is the whole of this gateway's presence and every gateway
// reads each one back, so writing one per change made n clients joining a
// room cost O(n²) bytes — most of what 10,000 clients connecting at once
// allocated.
const presenceMinGap = time.Second

func (p *presenceLoop) run() {
	defer p.remove() // leave at once rather than at the TTL
	tick := time.NewTicker(presenceRefresh)
	defer tick.Stop()
	for {
		select {
		case <-p.s.ctx.Done():
			return
		case <-p.dirty:
		case <-tick.C:
		}
		p.put(p.s.hub.Presence())
		select { // changes meanwhile share the next snapshot
		case <-p.s.ctx.Done():
			return
		case <-time.After(presenceMinGap):
		}
	}
}

func (p *presenceLoop) put(snapshot map[string][]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.s.bus.PutPresence(ctx, p.s.cfg.Node, snapshot); err != nil {
		p.s.log.Debug("presence snapshot not stored", "err", err)
	}
}

func (p *presenceLoop) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.s.bus.DeletePresence(ctx, p.s.cfg.Node); err != nil {
		p.s.log.Debug("presence snapshot not removed", "err", err)
	}
}

// onPresenceEvent routes a join/leave published by any gateway (this one
// included) to the local subscribers of its channel.
func (s *Server) onPresenceEvent(m natsbus.Msg) {
	if protocol.ValidateChannel(m.Subject, false) != nil || !json.Valid(m.Data) {
		return
	}
	s.hub.Broadcast(&hub.Event{Channel: m.Subject, Frame: m.Data})
}

// usersIn merges every gateway's stored presence with this gateway's live
// view, which is fresher than its own stored snapshot.
func (s *Server) usersIn(ctx context.Context, channel string) ([]string, error) {
	// The bus reads a watched copy of every gateway's snapshot: no
	// JetStream call per read, so nothing to retry.
	users, err := s.bus.Presence(ctx, channel)
	if err != nil {
		s.log.Warn("presence unavailable", "channel", channel, "err", err)
		return nil, err
	}
	local := s.hub.Presence()[channel]
	users = append(users, local...)
	slices.Sort(users)
	return slices.Compact(users), nil
}
