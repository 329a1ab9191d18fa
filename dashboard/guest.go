package dashboard

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// guestPaths are where a visitor without a session becomes a guest: the
// page and the two live transports. Static assets are left alone (the page
// has set the cookie by the time they load).
var guestPaths = map[string]bool{"/": true, "/index.html": true, "/ws": true, "/sse": true}

// guestSession gives a dev-mode visitor who has no valid session (and no
// ?token) a signed guest session cookie, and makes the current request
// carry it. Every later connection and reload from that browser is then
// the same guest, so an outbox retry of a msgid over a new connection is
// deduplicated like a signed-in user's. The cookie is set on the page and
// on the WebSocket's 101 and SSE responses alike.
func (s *Server) guestSession(c *fiber.Ctx) error {
	if !s.cfg.Dev || s.ids.Sessions == nil || c.Method() != fiber.MethodGet || !guestPaths[c.Path()] || c.Query("token") != "" {
		return c.Next()
	}
	now := time.Now()
	if tok := c.Cookies(sessionCookie); tok != "" {
		if _, err := s.verify(tok, now); err == nil {
			return c.Next()
		}
	}
	tok, id, err := s.ids.Sessions.IssueGuest(nil, now)
	if err != nil {
		return c.Next() // identify still makes a one-connection guest
	}
	c.Request().Header.SetCookie(sessionCookie, tok)
	c.Cookie(&fiber.Cookie{
		Name: sessionCookie, Value: tok, Path: "/",
		Expires: id.Expires, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: s.cfg.SecureCookies,
	})
	return c.Next()
}
