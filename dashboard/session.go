package dashboard

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Session is one client's life on this gateway, whatever carries it:
// identity, its slot under the connection limits, its hub client (queue
// and subscriptions), the welcome, status notices, request dispatch,
// credential expiry, its place in the registry and pinger, metrics, and
// the close. A transport adapter (ws.go, sse.go) owns the connection and
// drives the session:
//
//	ss, err := s.openSession(id, ip, name) // after admit reserved ip's slot
//	ss.start(transport)                    // welcome queued, writer hooked
//	… ss.handleFrame(frame) per client frame (WebSocket) or ss.subscribe …
//	ss.end()                               // waits for the writer, releases all
//
// Concurrency: handleFrame and the request methods run one at a time for
// the adapter (requests are answered in order; the WebSocket reader runs
// each on a short-lived goroutine it waits for, ws.go); close may be
// called from anywhere. The writer runs in turns on the server's flush
// pool (writer.go, flushpool.go).
// end must be called exactly once, from the adapter, and the adapter must
// not touch its connection after end returned.
type Session struct {
	s      *Server
	id     auth.Identity
	ip     string
	client *hub.Client // nil for a one-request HTTP session
	// transport names the adapter ("websocket", "sse") for log lines,
	// which logger builds on demand: a logger kept per session cost every
	// idle connection a few hundred bytes for a line it rarely writes.
	transport string
	w         *writer

	chat      *rate.Limiter // shared by the user's sessions
	subscribe *rate.Limiter
	expiry    *time.Timer
}

// openSession registers a client for id. The caller has reserved ip's
// slot with admit; on error the slot is released here.
func (s *Server) openSession(id auth.Identity, ip, transport string) (*Session, error) {
	session := newSessionID()
	client, err := s.hub.Register(session, id.User)
	if err != nil { // shutting down
		s.limits.release(ip)
		return nil, err
	}
	s.metrics.connsTotal.Add(1)
	return &Session{
		s: s, id: id, ip: ip, client: client,
		transport: transport,
		chat:      s.chatRate.acquire(id.User),
		subscribe: newLimiter(s.cfg.SubscribeRate, s.cfg.SubscribeBurst),
	}, nil
}

// start queues the welcome (and a status notice when NATS is away), arms
// the expiry, and starts the writer on t. A transport that writes a
// preamble of its own does so before start.
func (ss *Session) start(t Transport) {
	s, client := ss.s, ss.client
	welcome, _ := json.Marshal(protocol.Welcome{
		User: ss.id.User, Session: client.ID, Node: s.cfg.Node,
		Protocol: protocol.Version, HeartbeatMS: s.cfg.Heartbeat.Milliseconds(),
		Moderator: s.isModerator(ss.id), // chat moderation (chatmod.go)
	})
	_ = client.Send(protocol.AppendEvent(nil, "", protocol.EventWelcome, 0, time.Time{}, welcome))
	if !s.bus.Ready() {
		_ = client.Send(statusFrame(false))
	}
	// A credential that expires ends the session with it: the timer closes
	// the client (the writer then says 1008), and costs no goroutine until
	// it fires.
	if !ss.id.Expires.IsZero() {
		ss.expiry = time.AfterFunc(time.Until(ss.id.Expires.Add(s.cfg.ExpiryGrace)), func() {
			client.Close(protocol.ClosePolicy, "session expired; sign in again")
		})
	}
	ss.w = newWriter(t, client, s.metrics, s.flushes)
	s.registry.add(client, ss.ip, ss.w.ping)
	ss.w.start()
}

// close ends the session with a reason; the first reason wins. The writer
// says it to the peer.
func (ss *Session) close(code int, reason string) { ss.client.Close(code, reason) }

// done is closed once the session is closing.
func (ss *Session) done() <-chan struct{} { return ss.client.Done() }

func (ss *Session) closing() bool { return ss.client.Closed() }

// end closes the session normally unless something closed it before,
// waits for the writer to have said so, and releases everything the
// session held.
func (ss *Session) end() {
	s, client := ss.s, ss.client
	client.Close(protocol.CloseNormal, "") // no-op if something closed it first
	if ss.w != nil {
		ss.w.stop()
	}
	if ss.expiry != nil {
		ss.expiry.Stop()
	}
	s.hub.Unregister(client)
	s.registry.remove(client)
	s.chatRate.release(ss.id.User)
	s.limits.release(ss.ip)
	if r := client.Reason(); r != nil {
		s.metrics.closes.inc(strconv.Itoa(r.Code))
		if r.Code != protocol.CloseNormal {
			ss.logger().Info("connection closed", "code", r.Code, "reason", r.Reason)
		}
	}
}

// logger is the server's logger with this session's attributes.
func (ss *Session) logger() *slog.Logger {
	id := ""
	if ss.client != nil {
		id = ss.client.ID
	}
	return ss.s.log.With("session", id, "user", ss.id.User, "transport", ss.transport)
}

// reply queues a frame for this client alone.
func (ss *Session) reply(frame []byte) { _ = ss.client.Send(frame) }
