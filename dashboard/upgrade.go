package dashboard

import (
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Cookie carrying the session token.
const sessionCookie = "tickroom_session"

// unusedWriteBuffers is the library's write-buffer pool; *sync.Pool is a
// websocket.BufferPool.
var unusedWriteBuffers sync.Pool

// wsReadBuffer is the library's read buffer, which nothing reads through:
// wsframe reads the client's frames (readWS), with a buffer of its own.
// The library allocates one for every connection all the same, of at least
// a control frame (125 bytes) whatever is asked, so ask for the least.
const wsReadBuffer = 1

// wsConfig is the WebSocket handshake (gofiber/contrib/websocket) that
// follows checkUpgrade. Its handler, handleWS, returns as soon as the
// session runs: contrib's Conn (five maps copied from the request) and
// fasthttp's RequestCtx are released then, and the connection keeps only
// the *websocket.Conn inside it, which stays valid (upgraded).
func wsConfig() fws.Config {
	return fws.Config{
		Subprotocols:   []string{protocol.Subprotocol},
		Origins:        []string{"*"}, // checkUpgrade answered a foreign origin with 403
		ReadBufferSize: wsReadBuffer,
		// The library writes no frame either (wsTransport does): a pool it
		// never draws from keeps it from giving each connection a buffer.
		WriteBufferPool: &unusedWriteBuffers,
	}
}

// checkUpgrade runs before the WebSocket upgrade and refuses with a plain
// HTTP status what must not become a connection: a foreign Origin (403), a
// client offering only protocol versions we do not speak (400), a full
// server (503). Authentication failures are reported after the upgrade with
// close 1008, because a browser cannot read the status of a failed upgrade.
func (s *Server) checkUpgrade(c *fiber.Ctx) error {
	if !websocket.FastHTTPIsWebSocketUpgrade(c.Context()) {
		return fiber.NewError(fiber.StatusUpgradeRequired, "WebSocket upgrade required")
	}
	if err := checkHandshakeHeaders(c); err != nil {
		s.metrics.refused.Add(1)
		return err
	}
	if err := s.gate(c); err != nil {
		return err
	}
	if offered := c.Get(fiber.HeaderSecWebSocketProtocol); offered != "" && !offersV1(offered) {
		s.metrics.refused.Add(1)
		return fiber.NewError(fiber.StatusBadRequest, "unsupported protocol version; this server speaks "+protocol.Subprotocol)
	}
	ip, err := s.reserveSlot(c)
	if err != nil {
		return err
	}
	// From here the slot is ours: released below unless the connection
	// handler (upgraded) took it over.
	// Cloned: fiber's strings point into the request buffer, which the
	// next request on this server reuses, and an identity outlives it.
	id, err := s.identify(strings.Clone(c.Cookies(sessionCookie)), strings.Clone(c.Query("token")))
	authErr := ""
	if err != nil {
		authErr = err.Error()
	}
	// fasthttp runs the hijack handler after this returns: count it
	// before the upgrade, so Shutdown cannot miss it; the connection
	// leaves when it ends.
	if !s.tracked.enter() {
		s.limits.release(ip)
		s.metrics.refused.Add(1)
		return fiber.NewError(fiber.StatusServiceUnavailable, "server shutting down")
	}
	// The handler keeps only what the session needs (ip, identity): no
	// reference to the request or to fiber's or fasthttp's contexts, which
	// are reused as soon as the handshake response is out.
	c.Locals(localUpgrade, &upgradeInfo{ip: ip, id: id, authErr: authErr})
	if err := c.Next(); err != nil { // the upgrade failed: no handler will run
		s.tracked.leave()
		s.limits.release(ip)
		return err
	}
	return nil
}

// localUpgrade carries checkUpgrade's result to handleWS.
const localUpgrade = "tickroom.upgrade"

type upgradeInfo struct {
	ip      string
	id      auth.Identity
	authErr string
}

func offersV1(header string) bool {
	for _, p := range strings.Split(header, ",") {
		if strings.TrimSpace(p) == protocol.Subprotocol {
			return true
		}
	}
	return false
}

// originAllowed: no Origin (a non-browser client) is allowed; otherwise the
// origin must be in the allow-list, or be this server's own origin when the
// list is empty.
func (s *Server) originAllowed(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return true
	}
	if len(s.cfg.AllowedOrigins) == 0 {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, string(c.Request().Host()))
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// identify resolves the caller from a session cookie or a token; with
// neither, dev mode makes a guest.
func (s *Server) identify(cookie, token string) (auth.Identity, error) {
	now := time.Now()
	if token == "" && cookie != "" {
		id, err := s.verify(cookie, now)
		if err == nil || !s.cfg.Dev {
			return id, err
		}
		// A stale cookie (expired, or from a key since rotated) in dev mode
		// falls back to a guest rather than locking the page out.
		return auth.Identity{User: auth.GuestName(nil), Guest: true}, nil
	}
	if token == "" {
		if !s.cfg.Dev {
			return auth.Identity{}, errAuthRequired
		}
		return auth.Identity{User: auth.GuestName(nil), Guest: true}, nil
	}
	return s.verify(token, now)
}

// verify checks a token with dev sessions, then the identity provider.
func (s *Server) verify(token string, now time.Time) (auth.Identity, error) {
	var firstErr error
	if s.ids.Sessions != nil {
		id, err := s.ids.Sessions.Verify(token, now)
		if err == nil {
			return id, nil
		}
		firstErr = err
	}
	if s.ids.Provider != nil {
		id, err := s.ids.Provider.Verify(token, now)
		if err == nil {
			return id, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return auth.Identity{}, firstErr
}

type authError string

func (e authError) Error() string { return string(e) }

const errAuthRequired = authError("authentication required")
