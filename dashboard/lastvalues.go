package dashboard

import (
	"context"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/natsbus"
)

// sendLastValues sends the last valid value of every channel matching
// pattern through out.
func (s *Server) sendLastValues(ctx context.Context, pattern string, out *hub.Replay) error {
	return s.bus.LastValues(ctx, pattern, func(m natsbus.Msg) error {
		ev, err := s.lastValid(ctx, m)
		if err != nil || ev == nil {
			return nil // nothing valid stored for this channel
		}
		return out.Send(ev)
	})
}
