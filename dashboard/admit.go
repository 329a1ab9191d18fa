package dashboard

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Admission: the checks every transport makes before a connection becomes
// a Session, in one place so WebSocket and SSE cannot drift apart.

// gate refuses a stopping server (503) and a foreign Origin (403).
func (s *Server) gate(c *fiber.Ctx) error {
	if s.closing.Load() {
		s.metrics.refused.Add(1)
		return fiber.NewError(fiber.StatusServiceUnavailable, "server shutting down")
	}
	if !s.originAllowed(c) {
		s.metrics.refused.Add(1)
		return fiber.NewError(fiber.StatusForbidden, "origin not allowed")
	}
	return nil
}

// reserveSlot reserves a connection slot for the request's client IP (the
// one resolver, clientIP) or refuses with 503 and Retry-After. The caller
// hands the IP to openSession, whose Session releases the slot; on any
// path where no Session takes it, the caller releases it.
func (s *Server) reserveSlot(c *fiber.Ctx) (ip string, err error) {
	ip = s.clientIP(c)
	if ok, reason := s.limits.acquire(ip); !ok {
		s.metrics.refused.Add(1)
		c.Set(fiber.HeaderRetryAfter, "5")
		return "", fiber.NewError(fiber.StatusServiceUnavailable, reason)
	}
	return ip, nil
}

// clientIP is the address the per-IP limit counts, for every transport:
// the TCP peer, or, when the peer is a trusted proxy, the right-most
// address in the proxy header that is not itself a trusted proxy (a client
// can prepend anything to X-Forwarded-For, but not what the proxies
// appended after it). The result is a fresh string, safe to keep after the
// request.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return strings.Clone(c.IP())
	}
	return resolveClientIP(s.limits.proxies, peer, c.Get(s.cfg.ProxyHeader))
}

// resolveClientIP is clientIP's rule on plain values.
func resolveClientIP(proxies []netip.Prefix, peer netip.Addr, header string) string {
	peer = peer.Unmap()
	if len(proxies) == 0 || !trusted(proxies, peer) {
		return peer.String()
	}
	hops := strings.Split(header, ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last address we could trust
		}
		if a = a.Unmap(); !trusted(proxies, a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}
