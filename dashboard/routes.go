package dashboard

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/tickroom/tickroom/dashboard/web"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/protocol"
)

// contentSecurityPolicy forbids inline script and framing: user text can
// never become code, and the page cannot be clickjacked.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

func (s *Server) routes() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "tickroom",
		DisableStartupMessage: true,
		ReduceMemoryUsage:     true, // idle sockets keep no 4 KB read buffer
		BodyLimit:             64 << 10,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           s.cfg.HTTPGuard.IdleTimeout,
		ErrorHandler:          s.errorHandler,
	})
	// The WebSocket reader closes its socket itself (ws.go), so the hijack
	// handler can return at once and fasthttp free the request it read.
	app.Server().KeepHijackedConns = true
	// Every request gets an id (X-Request-ID, echoed back, or generated)
	// that the gateway's log lines about it carry.
	app.Use(requestid.New(), s.recoverer, securityHeaders, s.guestSession)

	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok\n") })
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metricsHandler)
	app.Post("/api/session", s.signIn)
	app.Get("/admin/api/state", s.adminAuth, s.adminState)
	app.Get("/admin", func(c *fiber.Ctx) error { // the page itself holds no data
		return filesystem.SendFile(c, http.FS(web.Files()), "admin.html")
	})
	app.Get("/api/channels/:channel/history", s.httpHistory)
	app.Get("/sse", s.handleSSE)            // Server-Sent Events fallback (sse.go)
	app.Post("/api/publish", s.httpPublish) // its uplink

	app.Get("/ws", s.checkUpgrade, fws.New(s.handleWS, wsConfig())) // upgrade.go, ws.go

	app.Use("/", filesystem.New(filesystem.Config{
		Root:         http.FS(web.Files()),
		Index:        "index.html",
		MaxAge:       0,
		NotFoundFile: "",
	}))
	return app
}

func securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentSecurityPolicy, contentSecurityPolicy)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	return c.Next()
}

// recoverer turns a handler panic into a 500 that reveals nothing (Fiber's
// default would send the panic text), and logs it.
func (s *Server) recoverer(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in HTTP handler", "path", c.Path(), "request", requestID(c), "panic", r)
			err = fiber.NewError(fiber.StatusInternalServerError, "internal error")
		}
	}()
	return c.Next()
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	}
	msg := "internal error"
	if code < 500 || code == fiber.StatusServiceUnavailable {
		msg = err.Error()
	} else {
		s.log.Error("HTTP request failed", "path", c.Path(), "request", requestID(c), "err", err)
	}
	return c.Status(code).JSON(fiber.Map{"ok": false, "error": fiber.Map{"code": httpCode(code), "message": msg}})
}

// httpStatuses pairs HTTP statuses with the protocol's error codes, for
// the HTTP endpoints, in both directions; a code's first row is its status.
var httpStatuses = []struct {
	status int
	code   string
}{
	{fiber.StatusBadRequest, protocol.CodeBadRequest},
	{fiber.StatusUpgradeRequired, protocol.CodeBadRequest},
	{fiber.StatusForbidden, protocol.CodeForbidden},
	{fiber.StatusUnauthorized, protocol.CodeForbidden},
	{fiber.StatusNotFound, protocol.CodeNotFound},
	{fiber.StatusRequestEntityTooLarge, protocol.CodeTooLarge},
	{fiber.StatusTooManyRequests, protocol.CodeRateLimited},
	{fiber.StatusServiceUnavailable, protocol.CodeUnavailable},
}

// httpCode is the protocol error code for an HTTP status.
func httpCode(status int) string {
	for _, p := range httpStatuses {
		if p.status == status {
			return p.code
		}
	}
	return protocol.CodeInternal
}

// httpStatus is the HTTP status for a protocol error code.
func httpStatus(code string) int {
	for _, p := range httpStatuses {
		if p.code == code {
			return p.status
		}
	}
	return fiber.StatusInternalServerError
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.closing.Load() {
		return c.Status(fiber.StatusServiceUnavailable).SendString("shutting down\n")
	}
	if !s.bus.Ready() {
		return c.Status(fiber.StatusServiceUnavailable).SendString("nats not ready\n")
	}
	return c.SendString("ok\n")
}

func (s *Server) metricsHandler(c *fiber.Ctx) error {
	var buf bytes.Buffer
	s.metrics.write(&buf, s.gauges())
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	return c.Send(buf.Bytes())
}

// signIn: dev mode takes {"name"}; with an identity provider the body
// carries the provider's JWT as {"token"}. Either way the reply sets the
// session cookie and returns the token for non-browser clients.
func (s *Server) signIn(c *fiber.Ctx) error {
	var body struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	if err := c.BodyParser(&body); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "body must be JSON: {\"name\": \"…\"}")
	}
	now := time.Now()
	var (
		token string
		id    auth.Identity
		err   error
	)
	switch {
	case body.Token != "" && s.ids.Provider != nil:
		id, err = s.ids.Provider.Verify(body.Token, now)
		if err != nil {
			return fiber.NewError(fiber.StatusUnauthorized, "token refused: "+err.Error())
		}
		token = body.Token
		if s.ids.Sessions != nil {
			token, id, err = s.ids.Sessions.IssueIdentity(id, now)
		}
	case !s.cfg.Dev:
		return fiber.NewError(fiber.StatusUnauthorized, "sign in with your identity provider's token: {\"token\": \"…\"}")
	case body.Name == "":
		token, id, err = s.ids.Sessions.IssueGuest(nil, now)
	default:
		token, id, err = s.ids.Sessions.Issue(body.Name, now)
		if errors.Is(err, auth.ErrInvalidName) {
			return fiber.NewError(fiber.StatusBadRequest, err.Error())
		}
	}
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name: sessionCookie, Value: token, Path: "/",
		Expires: id.Expires, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: s.cfg.SecureCookies,
	})
	return c.JSON(fiber.Map{"user": id.User, "token": token, "guest": id.Guest})
}

func (s *Server) httpHistory(c *fiber.Ctx) error {
	id, err := s.identify(c.Cookies(sessionCookie), c.Query("token"))
	if err != nil {
		return fiber.NewError(fiber.StatusUnauthorized, err.Error())
	}
	channel, err := url.PathUnescape(c.Params("channel"))
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "channel is not URL-encoded properly")
	}
	if protocol.Kind(channel) == protocol.KindCandle {
		return s.httpCandleHistory(c, id, channel) // candles.go
	}
	req := protocol.Request{Op: protocol.OpHistory, Channel: channel}
	if v := c.Query("before"); v != "" {
		if req.Before, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "before must be a sequence number")
		}
	}
	if v := c.Query("limit"); v != "" {
		if req.Limit, err = strconv.Atoi(v); err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "limit must be a number")
		}
	}
	if perr := protocol.ValidateRequest(&req); perr != nil {
		return fiber.NewError(fiber.StatusBadRequest, perr.Message)
	}
	if perr := s.mayRead(id, req.Channel); perr != nil {
		return fiber.NewError(fiber.StatusForbidden, perr.Message)
	}
	raw, err := s.historyJSON(c.UserContext(), req.Channel, req.Before, req.Limit)
	if err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "history is unavailable; retry later")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(protocol.AppendOKField(nil, nil, "messages", raw))
}

// requestID is the id the requestid middleware gave this request.
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals("requestid").(string)
	return id
}
