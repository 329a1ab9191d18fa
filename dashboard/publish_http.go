package dashboard

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickroom/tickroom/internal/protocol"
)

// httpPublish is POST /api/publish, the uplink of the SSE transport.
func (s *Server) httpPublish(c *fiber.Ctx) error {
	if !s.originAllowed(c) {
		return s.publishFail(c, fiber.StatusForbidden, protocol.NewError(protocol.CodeForbidden, "origin not allowed"))
	}
	id, err := s.identify(c.Cookies(sessionCookie), c.Query("token"))
	if err != nil {
		return s.publishFail(c, fiber.StatusUnauthorized, protocol.NewError(protocol.CodeForbidden, "authentication failed: "+err.Error()))
	}
	var body struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
		MsgID   string          `json:"msgid"`
	}
	if err := json.Unmarshal(c.Body(), &body); err != nil {
		return s.publishFail(c, fiber.StatusBadRequest, protocol.NewError(protocol.CodeBadRequest,
			`body must be JSON: {"channel":"chat.lobby","data":{"text":"…"},"msgid":"…"}`))
	}
	req := protocol.Request{Op: protocol.OpPublish, Channel: body.Channel, Data: body.Data, MsgID: body.MsgID}
	if perr := protocol.ValidateRequest(&req); perr != nil {
		return s.publishFail(c, fiber.StatusBadRequest, perr)
	}
	// The same dispatch as a WebSocket publish, through a one-request
	// session that holds the user's shared chat bucket.
	ss := &Session{s: s, id: id, chat: s.chatRate.acquire(id.User)}
	s.releaseChatRateLater(id.User)
	ok, perr := ss.serve(&req)
	if perr != nil {
		if perr.Code == protocol.CodeRateLimited {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(1/max(s.cfg.ChatRate, 0.01)))))
		}
		return s.publishFail(c, httpStatus(perr.Code), perr)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(ok)
}

// releaseChatRateLater keeps the user's bucket for as long as it takes to
// refill: a user who publishes only over HTTP (no connection holding the
// bucket) must not get a fresh, full bucket with every request.
func (s *Server) releaseChatRateLater(user string) {
	refill := time.Minute
	if s.cfg.ChatRate > 0 {
		refill = min(refill, time.Duration(float64(s.cfg.ChatBurst)/s.cfg.ChatRate*float64(time.Second))+time.Second)
	}
	time.AfterFunc(refill, func() { s.chatRate.release(user) })
}

func (s *Server) publishFail(c *fiber.Ctx, status int, perr *protocol.Error) error {
	s.metrics.errors.inc(perr.Code)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).Send(protocol.AppendError(nil, nil, perr))
}
