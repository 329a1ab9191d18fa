package dashboard

import (
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// connLimits counts open connections, in total and per client IP.
type connLimits struct {
	max, perIP int
	proxies    []netip.Prefix // trusted reverse proxies, for clientIP

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

// acquire reserves a slot for ip, or reports which limit refused it.
func (l *connLimits) acquire(ip string) (ok bool, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return false, "connection limit reached"
	}
	if l.byIP[ip] >= l.perIP {
		return false, "too many connections from this address"
	}
	l.total++
	l.byIP[ip]++
	return true, ""
}

func (l *connLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// userRates holds one token bucket per user name, shared by all of the
// user's connections on this gateway, so opening more tabs buys no more
// messages.
type userRates struct {
	rate  float64
	burst int

	mu      sync.Mutex
	buckets map[string]*bucketRef
}

type bucketRef struct {
	lim  *rate.Limiter
	refs int
}

func (u *userRates) acquire(user string) *rate.Limiter {
	u.mu.Lock()
	defer u.mu.Unlock()
	b := u.buckets[user]
	if b == nil {
		b = &bucketRef{lim: rate.NewLimiter(rate.Limit(u.rate), u.burst)}
		u.buckets[user] = b
	}
	b.refs++
	return b.lim
}

func (u *userRates) release(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if b := u.buckets[user]; b != nil {
		if b.refs--; b.refs <= 0 {
			delete(u.buckets, user)
		}
	}
}

func newLimiter(perSecond float64, burst int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

func trusted(proxies []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
