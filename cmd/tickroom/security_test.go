package main

// Security end-to-end tests (issue 5): identity-provider JWTs at connect,
// at sign-in and mid-session; per-room read/write rules; connection,
// subscription and rate limits; TLS with secure cookies. The harness is in
// testnode_test.go; a foreign Origin and the chat flood are covered in
// e2e_test.go (TestE2EWelcomeAndUpgradeChecks, TestE2EChatRateLimit).

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tickroom/tickroom/internal/config"
	"github.com/tickroom/tickroom/internal/protocol"
)

const testJWTSecret = "0123456789abcdef0123456789abcdef-test-only"

// mintHS256 signs claims as a compact HS256 JWT with secret.
func mintHS256(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + enc(claims)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// jwtConfig is a node with an HS256 identity provider, no dev mode, and no
// clock skew, so expiry is exact.
func jwtConfig(t *testing.T) config.Config {
	cfg := testConfig(t)
	cfg.Dev = false
	cfg.JWT.HS256Secret = testJWTSecret
	cfg.JWT.Skew = 0
	return cfg
}

// closeReason waits for the end of c and returns the close frame's code
// and text (-1 without a close frame).
func (c *wsClient) closeReason() (int, string) {
	c.t.Helper()
	code := c.closeCode()
	var ce *websocket.CloseError
	if errors.As(c.readErr, &ce) {
		return code, ce.Text
	}
	return code, ""
}

func TestSecurityJWT(t *testing.T) {
	n := startNode(t, jwtConfig(t))
	now := time.Now()

	t.Run("valid token connects", func(t *testing.T) {
		tok := mintHS256(t, testJWTSecret, map[string]any{"sub": "u-1", "name": "ana", "exp": now.Add(time.Hour).Unix()})
		c := dial(t, n, "ana", dialOpts{token: tok})
		if u := c.welcome().User; u != "ana" {
			t.Fatalf("welcome user %q, want ana (the name claim)", u)
		}
		c.ping()
	})

	refused := map[string]string{
		"no token":      "",
		"expired token": mintHS256(t, testJWTSecret, map[string]any{"sub": "ana", "exp": now.Add(-time.Hour).Unix()}),
		"forged token":  mintHS256(t, "another-secret-another-secret-another", map[string]any{"sub": "ana", "exp": now.Add(time.Hour).Unix()}),
		"alg none":      forgeAlgNone(map[string]any{"sub": "ana", "exp": now.Add(time.Hour).Unix()}),
		"garbage":       "not.a.jwt",
	}
	for name, tok := range refused {
		t.Run(name+" is closed with 1008", func(t *testing.T) {
			c := dial(t, n, name, dialOpts{token: tok})
			code, reason := c.closeReason()
			if code != protocol.ClosePolicy {
				t.Fatalf("close %d (%q), want %d", code, reason, protocol.ClosePolicy)
			}
			t.Logf("close %d %q", code, reason)
		})
	}
	// Tampered claims under a valid signature.
	t.Run("tampered claims are closed with 1008", func(t *testing.T) {
		tok := mintHS256(t, testJWTSecret, map[string]any{"sub": "bob", "exp": now.Add(time.Hour).Unix()})
		parts := strings.Split(tok, ".")
		claims, _ := json.Marshal(map[string]any{"sub": "admin", "exp": now.Add(time.Hour).Unix()})
		parts[1] = base64.RawURLEncoding.EncodeToString(claims)
		c := dial(t, n, "tampered", dialOpts{token: strings.Join(parts, ".")})
		if code := c.closeCode(); code != protocol.ClosePolicy {
			t.Fatalf("close %d, want %d", code, protocol.ClosePolicy)
		}
	})

	t.Run("expiry mid-session closes with 1008", func(t *testing.T) {
		exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second) // 1-2s from now
		tok := mintHS256(t, testJWTSecret, map[string]any{"sub": "carol", "exp": exp.Unix()})
		c := dial(t, n, "carol", dialOpts{token: tok})
		c.welcome()
		c.subscribe("chat.lobby")
		code, reason := c.closeReason()
		if code != protocol.ClosePolicy || !strings.Contains(reason, "expired") {
			t.Fatalf("close %d %q, want %d session expired", code, reason, protocol.ClosePolicy)
		}
		if time.Now().Before(exp) {
			t.Fatalf("closed before the token expired")
		}
		eventually(t, "expired session gone from the hub", func() error {
			if v := metricValue(t, n, `tickroom_closes_total{code="1008"}`); v < 1 {
				return fmt.Errorf("closes_total{1008} = %d", v)
			}
			return nil
		})
	})

	t.Run("sign-in with the provider's token", func(t *testing.T) {
		jwt := mintHS256(t, testJWTSecret, map[string]any{"sub": "u-7", "name": "dora", "exp": now.Add(time.Hour).Unix()})
		status, body, cookies := postJSON(t, httpClient, n.URL()+"/api/session", map[string]string{"token": jwt})
		if status != http.StatusOK {
			t.Fatalf("POST /api/session {token}: %d %s", status, body)
		}
		var out struct{ User, Token string }
		_ = json.Unmarshal(body, &out)
		cookie := findCookie(cookies, "tickroom_session")
		if out.User != "dora" || out.Token == "" || cookie == nil || !cookie.HttpOnly {
			t.Fatalf("sign-in reply %s, cookie %+v", body, cookie)
		}
		c := dial(t, n, "dora-cookie", dialOpts{header: http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}})
		if u := c.welcome().User; u != "dora" {
			t.Fatalf("cookie session user %q", u)
		}
		for name, body := range map[string]any{
			"forged token":                   map[string]string{"token": refused["forged token"]},
			"expired token":                  map[string]string{"token": refused["expired token"]},
			"name without an identity token": map[string]string{"name": "mallory"},
		} {
			if status, raw, _ := postJSON(t, httpClient, n.URL()+"/api/session", body); status != http.StatusUnauthorized {
				t.Errorf("sign-in with %s: %d %s, want 401", name, status, raw)
			}
		}
	})
}

// forgeAlgNone is an unsigned token claiming "alg":"none".
func forgeAlgNone(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func postJSON(t *testing.T, hc *http.Client, u string, body any) (int, []byte, []*http.Cookie) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := hc.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Cookies()
}

func findCookie(cookies []*http.Cookie, name string) *http.Cookie {
	for _, c := range cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Per-room rules: reads (subscribe, wildcard subscribe, history over
// WebSocket and HTTP, presence) and writes, by name and by JWT role.
func TestSecurityRoomPermissions(t *testing.T) {
	cfg := jwtConfig(t)
	cfg.RoomRead = []string{"chat.desk=ana,@trader"}
	cfg.RoomWrite = []string{"chat.desk=ana", "chat.news="}
	n := startNode(t, cfg)
	exp := time.Now().Add(time.Hour).Unix()
	tokAna := mintHS256(t, testJWTSecret, map[string]any{"sub": "ana", "exp": exp})
	tokBob := mintHS256(t, testJWTSecret, map[string]any{"sub": "bob", "exp": exp})
	tokTim := mintHS256(t, testJWTSecret, map[string]any{"sub": "tim", "roles": []string{"trader"}, "exp": exp})

	ana := dial(t, n, "ana", dialOpts{token: tokAna})
	bob := dial(t, n, "bob", dialOpts{token: tokBob})
	tim := dial(t, n, "tim", dialOpts{token: tokTim})
	for _, c := range []*wsClient{ana, bob, tim} {
		c.welcome()
	}
	ana.subscribe("chat.desk")
	seq := ana.publish("chat.desk", "desk only", "a-1")

	forbidden := func(c *wsClient, req map[string]any) {
		t.Helper()
		r := c.request(req)
		if r.OK == nil || *r.OK || r.errCode() != protocol.CodeForbidden {
			t.Errorf("%s %v: %s, want forbidden", c.name, req, r.Raw)
		}
	}
	forbidden(bob, map[string]any{"op": "subscribe", "channel": "chat.desk"})
	forbidden(bob, map[string]any{"op": "subscribe", "channel": "chat.*"}) // would include chat.desk
	forbidden(bob, map[string]any{"op": "subscribe", "channel": "chat.>"})
	forbidden(bob, map[string]any{"op": "history", "channel": "chat.desk"})
	forbidden(bob, map[string]any{"op": "presence", "channel": "chat.desk"})
	forbidden(bob, map[string]any{"op": "publish", "channel": "chat.desk", "msgid": "b-1", "data": map[string]any{"text": "let me in"}})
	forbidden(tim, map[string]any{"op": "publish", "channel": "chat.desk", "msgid": "t-1", "data": map[string]any{"text": "read-only"}})
	forbidden(ana, map[string]any{"op": "publish", "channel": "chat.news", "msgid": "a-2", "data": map[string]any{"text": "nobody writes here"}})

	// HTTP history obeys the same read rule.
	hist := func(tok string) int {
		status, _ := httpGet(t, n.URL()+"/api/channels/chat.desk/history?token="+url.QueryEscape(tok))
		return status
	}
	if s := hist(tokBob); s != http.StatusForbidden {
		t.Errorf("bob GET history of chat.desk: %d, want 403", s)
	}
	if s := hist(tokAna); s != http.StatusOK {
		t.Errorf("ana GET history of chat.desk: %d, want 200", s)
	}

	// Allowed by role: tim reads the desk (history and live).
	tim.subscribe("chat.desk")
	r := tim.mustOK(tim.request(map[string]any{"op": "history", "channel": "chat.desk"}))
	if len(r.Messages) != 1 || !strings.Contains(string(r.Messages[0]), `"desk only"`) {
		t.Errorf("tim's history of chat.desk: %s", r.Raw)
	}
	tim.mustOK(tim.request(map[string]any{"op": "presence", "channel": "chat.desk"}))
	seq2 := ana.publish("chat.desk", "hello traders", "a-3")
	if ev := tim.waitEvent("chat on the desk", func(m msg) bool { return m.Event == "chat" }); ev.Seq != seq2 || seq2 <= seq {
		t.Errorf("tim got %s, want seq %d", ev.Raw, seq2)
	}

	// Unrestricted rooms stay open to everyone; bob was never subscribed.
	bob.subscribe("chat.lobby")
	bob.subscribe("chat.news") // read is open, write closed
	bob.publish("chat.lobby", "hi", "b-2")
	bob.ping()
}

// Limits refuse with the contract's codes: connections per IP and in total
// with HTTP 503 before the upgrade, subscriptions per connection with
// forbidden, subscribe floods with rate_limited.
func TestSecurityLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxConnections = 3
	cfg.Limits.MaxConnectionsPerIP = 2
	cfg.Limits.MaxSubscriptions = 3
	cfg.Limits.SubscribeBurst = 5
	cfg.Limits.SubscribeRate = 0.01 // no refill within the test
	n := startNode(t, cfg)

	a := dial(t, n, "a", dialOpts{})
	b := dial(t, n, "b", dialOpts{})
	a.welcome()
	b.welcome()
	refusedBefore := metricValue(t, n, "tickroom_connections_refused_total")
	_, resp, err := tryDial(t, n, "c", dialOpts{})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection from one IP (limit 2): err %v, status %v; want HTTP 503 before the upgrade", err, statusOf(resp))
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if after := metricValue(t, n, "tickroom_connections_refused_total"); after != refusedBefore+1 {
		t.Errorf("connections_refused_total %d → %d, want +1", refusedBefore, after)
	}
	// The refused attempt leaked no slot: closing one frees one.
	b.close()
	eventually(t, "a slot frees when a connection closes", func() error {
		c, resp, err := tryDial(t, n, "c", dialOpts{})
		if err != nil {
			return fmt.Errorf("dial: %v (HTTP %v)", err, statusOf(resp))
		}
		c.welcome()
		return nil
	})

	// Subscriptions per connection.
	for _, ch := range []string{"chat.a", "chat.b", "market.AAPL"} {
		a.subscribe(ch)
	}
	if r := a.request(map[string]any{"op": "subscribe", "channel": "chat.d"}); *r.OK || r.errCode() != protocol.CodeForbidden {
		t.Errorf("4th subscription (limit 3): %s, want forbidden", r.Raw)
	}
	a.mustOK(a.request(map[string]any{"op": "unsubscribe", "channel": "chat.a"}))
	// Subscribe rate: 4 subscribes spent of a burst of 5; the 5th passes,
	// the 6th is limited.
	a.subscribe("chat.e")
	if r := a.request(map[string]any{"op": "subscribe", "channel": "chat.f"}); *r.OK || r.errCode() != protocol.CodeRateLimited {
		t.Errorf("subscribe over the burst: %s, want rate_limited", r.Raw)
	}
	a.ping()
}

// TLS: -tls-cert/-tls-key serve HTTPS and WSS; the session cookie is
// Secure, HttpOnly and SameSite=Lax.
func TestSecurityTLS(t *testing.T) {
	cfg := testConfig(t)
	pool := x509.NewCertPool()
	cfg.TLSCert, cfg.TLSKey = selfSignedCert(t, pool)
	n := startNode(t, cfg)
	if !strings.HasPrefix(n.URL(), "https://") {
		t.Fatalf("node URL %s, want https", n.URL())
	}
	tlsConf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}, Timeout: waitFor}

	status, body, cookies := postJSON(t, hc, n.URL()+"/api/session", map[string]string{"name": "ana"})
	if status != http.StatusOK {
		t.Fatalf("sign-in over TLS: %d %s", status, body)
	}
	c := findCookie(cookies, "tickroom_session")
	if c == nil {
		t.Fatalf("no session cookie")
	}
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie Secure=%v HttpOnly=%v SameSite=%v, want true true Lax", c.Secure, c.HttpOnly, c.SameSite)
	}

	// Plain HTTP on the TLS port is not served.
	if resp, err := httpClient.Get("http" + strings.TrimPrefix(n.URL(), "https") + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP answered 200 on the TLS port")
		}
	}

	d := websocket.Dialer{TLSClientConfig: tlsConf, Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: waitFor}
	ws, resp, err := d.Dial(wsURL(n), http.Header{"Cookie": {c.Name + "=" + c.Value}, "Origin": {n.URL()}})
	if err != nil {
		t.Fatalf("wss dial: %v (HTTP %v)", err, statusOf(resp))
	}
	resp.Body.Close()
	wc := &wsClient{t: t, name: "wss", ws: ws, resp: resp, in: make(chan msg, 4096), done: make(chan struct{})}
	go wc.readLoop()
	t.Cleanup(wc.close)
	if u := wc.welcome().User; u != "ana" {
		t.Errorf("wss user %q, want ana", u)
	}
	wc.subscribe("chat.lobby")
	wc.publish("chat.lobby", "over TLS", "tls-1")
	wc.waitEvent("own chat", func(m msg) bool { return m.Event == "chat" })
}

// selfSignedCert writes a P-256 certificate for 127.0.0.1 and localhost,
// adds it to pool, and returns the PEM file paths.
func selfSignedCert(t *testing.T, pool *x509.CertPool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tickroom test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Behind a trusted reverse proxy the per-IP limit counts the client named
// by the proxy (the right-most untrusted X-Forwarded-For hop), not the
// proxy itself, and a client cannot dodge it by prepending addresses.
func TestSecurityPerIPBehindProxy(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxConnectionsPerIP = 1
	cfg.TrustedProxies = []string{"127.0.0.0/8"}
	n := startNode(t, cfg)
	xff := func(v string) dialOpts { return dialOpts{header: http.Header{"X-Forwarded-For": {v}}} }

	dial(t, n, "client-5", xff("203.0.113.5")).welcome()
	dial(t, n, "client-6", xff("198.51.100.1, 203.0.113.6")).welcome() // spoofed hop ignored
	for _, v := range []string{"203.0.113.5", "10.9.9.9, 203.0.113.5", "203.0.113.6, 127.0.0.1"} {
		if _, resp, err := tryDial(t, n, "again", xff(v)); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("X-Forwarded-For %q: a second connection of one client got err %v status %v, want HTTP 503", v, err, statusOf(resp))
		}
	}
}
