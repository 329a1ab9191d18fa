// The connection to a gateway: a WebSocket at /ws, or — where WebSockets
// are blocked — the Server-Sent Events fallback (an EventSource on /sse for
// the downlink, HTTP requests for the uplink), with a probe that moves back
// to a WebSocket when one opens again. It reconnects with backoff and owns
// the connection status. It knows nothing of ids, replies or channels: the
// owner (tickroom.js's Socket) gets every server object through hooks and
// supplies the channel set an SSE stream opens with.

export const SUBPROTOCOL = 'tickroom.v1';

/** Split one server frame into its JSON objects. Bad lines go to onError. */
export function splitFrame(text, onError) {
  const out = [];
  for (const line of String(text).split('\n')) {
    if (!line.trim()) continue;
    try { out.push(JSON.parse(line)); } catch (e) { if (onError) onError(e, line); }
  }
  return out;
}

/** Reconnect delay for the n-th failed attempt (0-based): full jitter over
 *  [min, min(max, min·2^(n+1))]. */
export function backoffDelay(attempt, {min = 250, max = 10000} = {}, rand = Math.random) {
  const cap = Math.min(max, min * 2 ** Math.min(attempt + 1, 30));
  return Math.round(min + rand() * (cap - min));
}

/** Which transport the next connection attempt uses: 'websocket' or 'sse'.
 *  forced: opts.transport; wsFailures: WebSocket attempts in a row that
 *  failed without opening; everOpen: a WebSocket has opened before. */
export function chooseTransport({forced, hasWebSocket = true, hasEventSource = true, wsFailures = 0, everOpen = false, fallbackAfter = 3} = {}) {
  if (forced === 'websocket') return 'websocket';
  if (!hasEventSource) return 'websocket';
  if (forced === 'sse' || !hasWebSocket) return 'sse';
  return !everOpen && wsFailures >= fallbackAfter ? 'sse' : 'websocket';
}

function defaultURL() {
  const l = globalThis.location;
  if (!l) throw new Error('tickroom: connect() needs a url outside a browser');
  return (l.protocol === 'https:' ? 'wss://' : 'ws://') + l.host + '/ws';
}

/** The WebSocket URL for connect(url): default ws(s)://<this host>/ws; a
 *  path is resolved against the page. */
export function resolveURL(url) {
  if (!url) return defaultURL();
  if (url.startsWith('/') && globalThis.location) return defaultURL().replace(/\/ws$/, '') + url;
  return url;
}

function quietClose(x, code) { if (x) try { x.close(code); } catch (e) { /* already closed */ } }

/**
 * Transport(url, opts, hooks)
 *   opts: the connect() options (token, timeout, backoff, transport,
 *         fallbackAfter, probeInterval, sseURL, WebSocket, EventSource, fetch)
 *   hooks: {
 *     status(s)        'connecting'|'connected'|'reconnecting'|'offline'
 *     kind(k)          'websocket'|'sse' when the transport in use changes
 *     open()           a connection is up: renew subscriptions, resend requests
 *     object(m)        one server object (a reply, an event, an SSE subscribe outcome)
 *     badFrame(e, line)
 *     down()           the connection is gone; requests in flight wait for the next
 *     authError({code, reason})   close 1008: no reconnect until reconnect()
 *     streamChannels() → [{channel, since}]   what an SSE stream subscribes to
 *   }
 * Single-threaded like everything in a page: hooks run synchronously from
 * socket callbacks; `generation` changes with every connection, so a late
 * callback (a heartbeat that timed out) can tell it is about an old one.
 */
export class Transport {
  constructor(url, opts, hooks) {
    this.url = url;
    this.opts = opts;
    this.hooks = hooks;
    this.WS = opts.WebSocket || globalThis.WebSocket;
    this.ES = opts.EventSource || globalThis.EventSource;
    this.fetch = opts.fetch || (globalThis.fetch && globalThis.fetch.bind(globalThis));
    this.kind = null;          // 'websocket' | 'sse' once chosen
    this.status = 'offline';
    this.wsFailures = 0;       // WebSocket attempts in a row that never opened
    this.everOpen = false;     // a WebSocket has opened
    this.sseEverOpen = false;
    this.ws = null;
    this.es = null;            // the EventSource while on SSE
    this.probe = null;         // a WebSocket being tried while on SSE
    this.probeTimer = null;
    this.sseRestart = null;
    this.attempt = 0;
    this.timer = null;
    this.openedAt = 0;
    this.closed = false;
    this.generation = 0;
    this.onOnline = () => { if (this.status === 'reconnecting' || this.status === 'offline') this.reconnect(); };
  }

  start() {
    if (globalThis.addEventListener) globalThis.addEventListener('online', this.onOnline);
    this.open();
  }

  setStatus(s) { if (this.status !== s) { this.status = s; this.hooks.status(s); } }
  setKind(k) { if (this.kind !== k) { this.kind = k; this.hooks.kind(k); } }

  token() { return typeof this.opts.token === 'function' ? this.opts.token() : this.opts.token; }

  wsURL() {
    const tok = this.token();
    return tok ? this.url + (this.url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(tok) : this.url;
  }

  /** http(s)://host of the gateway, for the SSE stream and HTTP requests. */
  httpBase() { return new URL(this.url.replace(/^ws(s?):/, 'http$1:')).origin; }

  /** Whether a request can go out now: a frame on an open WebSocket, or an
   *  HTTP request while an SSE stream exists. */
  ready() { return this.kind === 'sse' ? !!this.es : !!this.ws && this.ws.readyState === 1; }

  /** Send one request as a WebSocket frame; false if it could not go. */
  sendFrame(msg) {
    const ws = this.ws;
    if (this.kind !== 'websocket' || !ws || ws.readyState !== 1) return false;
    try { ws.send(JSON.stringify(msg)); } catch (e) { return false; }
    return true;
  }

  // ---- connecting ----

  open() {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.setStatus(this.attempt === 0 && !this.everOpen && !this.sseEverOpen ? 'connecting' : 'reconnecting');
    const mode = chooseTransport({
      forced: this.opts.transport, hasWebSocket: typeof this.WS === 'function', hasEventSource: typeof this.ES === 'function',
      wsFailures: this.wsFailures, everOpen: this.everOpen, fallbackAfter: this.opts.fallbackAfter,
    });
    this.setKind(mode);
    if (mode === 'sse') { this.openSSE(); return; }
    let ws;
    try { ws = new this.WS(this.wsURL(), SUBPROTOCOL); } catch (e) { this.wsFailures++; this.scheduleReconnect(); return; }
    this.attachWS(ws);
  }

  attachWS(ws) {
    let opened = ws.readyState === 1;
    this.ws = ws;
    this.generation++;
    ws.onopen = () => { if (this.ws === ws) { opened = true; this.wsFailures = 0; this.up(); } };
    ws.onmessage = (e) => { if (this.ws === ws) this.frame(e.data); };
    ws.onclose = (e) => { if (this.ws === ws) { if (!opened) this.wsFailures++; this.lost(e.code, e.reason); } };
    ws.onerror = () => {};  // onclose follows
  }

  up() {
    this.everOpen = true;
    this.openedAt = Date.now();
    this.setStatus('connected');
    this.hooks.open();
  }

  frame(data) {
    for (const m of splitFrame(data, (e, line) => this.hooks.badFrame(e, line))) this.hooks.object(m);
  }

  /** Forget the dead connection; the owner's requests wait for the next. */
  teardown() {
    this.ws = null;
    this.closeSSE();
    this.hooks.down();
  }

  lost(code, reason) {
    this.teardown();
    if (this.closed) return;
    if (code === 1008) {
      this.setStatus('offline');
      this.hooks.authError({code, reason});
      return;
    }
    // A connection that lived a while starts the backoff afresh.
    if (this.openedAt && Date.now() - this.openedAt > 5000) this.attempt = 0;
    this.openedAt = 0;
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    const offline = globalThis.navigator && globalThis.navigator.onLine === false;
    this.setStatus(offline ? 'offline' : 'reconnecting');
    const d = backoffDelay(this.attempt++, this.opts.backoff);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), d);
  }

  /** Treat the connection as dead now (a heartbeat went unanswered): the
   *  browser's own close event may take minutes. */
  drop(code, reason) {
    if (!this.ws && !this.es) return;
    const ws = this.ws;
    if (ws) try { ws.close(code, reason); } catch (x) { /* ignore */ }
    this.lost(code, reason);
  }

  reconnect() {
    if (this.closed) return;
    const ws = this.ws;
    this.attempt = 0;
    this.teardown();
    quietClose(ws, 1000);
    this.open();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (globalThis.removeEventListener) globalThis.removeEventListener('online', this.onOnline);
    const ws = this.ws; this.ws = null;
    quietClose(ws, 1000);
    this.closeSSE();
    this.stopProbe();
    this.setStatus('offline');
  }

  // ---- SSE fallback ----

  sseURL() {
    const q = new URLSearchParams();
    const resume = [];
    for (const {channel, since} of this.hooks.streamChannels()) {
      q.append('channel', channel);
      if (since !== undefined) resume.push(channel + '=' + since);
    }
    if (resume.length) q.set('lastEventId', resume.join(','));
    const tok = this.token();
    if (tok) q.set('token', tok);
    return (this.opts.sseURL || this.httpBase() + '/sse') + '?' + q;
  }

  openSSE() {
    let es;
    try { es = new this.ES(this.sseURL()); } catch (e) { this.scheduleReconnect(); return; }
    this.es = es;
    this.generation++;
    es.onopen = () => { if (this.es === es) this.sseUp(); };
    es.onmessage = (e) => { if (this.es === es) this.sseMessage(e.data); };
    es.addEventListener('close', (e) => {  // the server ended the stream and said why
      if (this.es !== es) return;
      let d = {};
      try { d = JSON.parse(e.data) || {}; } catch (x) { /* keep defaults */ }
      this.lost(d.code || 1000, d.reason || '');
    });
    es.onerror = () => {
      if (this.es !== es) return;
      // CLOSED: refused (an HTTP error); we retry with backoff. Otherwise
      // the browser reconnects by itself, sending Last-Event-ID.
      if (es.readyState === 2) this.lost(1006, 'stream refused');
      else this.setStatus('reconnecting');
    };
    this.startProbe();
  }

  sseUp() {
    this.sseEverOpen = true;
    this.openedAt = Date.now();
    this.setStatus('connected');
    this.hooks.open();
  }

  /** One SSE message holds exactly one JSON object. */
  sseMessage(data) {
    let m;
    try { m = JSON.parse(data); } catch (e) { this.hooks.badFrame(e, data); return; }
    this.hooks.object(m);
  }

  closeSSE() {
    clearTimeout(this.sseRestart);
    const es = this.es; this.es = null;
    if (es) try { es.close(); } catch (e) { /* ignore */ }
  }

  /** The channel set changed: on SSE, reopen the stream (coalescing a
   *  burst); on a WebSocket nothing to do, the owner sends requests. */
  channelsChanged() {
    if (this.kind !== 'sse' || !this.es) return;  // the next open takes the channels as they are then
    clearTimeout(this.sseRestart);
    this.sseRestart = setTimeout(() => {
      if (!this.es || this.closed) return;
      const es = this.es; this.es = null;
      try { es.close(); } catch (e) { /* ignore */ }
      this.openSSE();
    }, 20);
  }

  startProbe() {
    if (this.probeTimer || this.opts.transport === 'sse' || typeof this.WS !== 'function') return;
    this.probeTimer = setInterval(() => this.probeWS(), this.opts.probeInterval);
  }

  stopProbe() {
    clearInterval(this.probeTimer); this.probeTimer = null;
    const p = this.probe; this.probe = null;
    quietClose(p, 1000);
  }

  /** While on SSE: try a WebSocket; if it opens, switch back to it. */
  probeWS() {
    if (this.closed || this.kind !== 'sse' || this.probe) return;
    let ws;
    try { ws = new this.WS(this.wsURL(), SUBPROTOCOL); } catch (e) { return; }
    this.probe = ws;
    ws.onopen = () => {
      if (this.probe !== ws) return;
      this.probe = null;
      if (this.closed || this.kind !== 'sse') { quietClose(ws, 1000); return; }
      this.stopProbe();
      this.closeSSE();
      this.wsFailures = 0;
      this.setKind('websocket');
      this.attachWS(ws);
      this.up();  // the owner renews every subscription with since: no gap, and its seq dedupe drops overlaps
    };
    ws.onclose = () => { if (this.probe === ws) this.probe = null; };
    ws.onerror = () => {};
  }

  /** A request over HTTP (SSE mode): resolves to a reply object, or null
   *  when no reply came (network error, timeout, not JSON). Only publish,
   *  history and ping have HTTP forms (see httpOps). */
  async http(msg) {
    const f = this.fetch, base = this.httpBase(), tok = this.token();
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    const t = ctl && setTimeout(() => ctl.abort(), this.opts.timeout);
    const init = {credentials: 'same-origin', cache: 'no-store', signal: ctl && ctl.signal};
    try {
      let res;
      if (msg.op === 'publish') {
        res = await f(base + '/api/publish' + (tok ? '?token=' + encodeURIComponent(tok) : ''), {
          ...init, method: 'POST', headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({channel: msg.channel, data: msg.data, msgid: msg.msgid}),
        });
      } else if (msg.op === 'history') {
        const q = new URLSearchParams();
        if (msg.before !== undefined) q.set('before', msg.before);
        if (msg.interval !== undefined) q.set('interval', msg.interval);
        if (msg.limit !== undefined) q.set('limit', msg.limit);
        if (tok) q.set('token', tok);
        res = await f(base + '/api/channels/' + encodeURIComponent(msg.channel) + '/history?' + q, init);
      } else {  // ping
        res = await f(base + '/healthz', init);
        return res.ok ? {ok: true} : null;
      }
      let body = null;
      try { body = await res.json(); } catch (e) { /* a proxy's page */ }
      return body && typeof body.ok === 'boolean' ? body : null;
    } catch (e) {
      return null;
    } finally { clearTimeout(t); }
  }
}

/** The requests the SSE fallback can carry over HTTP. */
export const httpOps = new Set(['publish', 'history', 'ping']);
