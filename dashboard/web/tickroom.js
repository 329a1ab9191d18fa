/**
 * tickroom.js — browser client for the tickroom WebSocket protocol v1.
 * Plain ES module, no dependencies. Served by the gateway at /tickroom.js.
 *
 *   import {connect} from '/tickroom.js';   // or, after loading it as a
 *   const socket = connect();                // module: globalThis.tickroom.connect()
 *
 * connect(url?, opts?) → Socket
 *   url   default ws(s)://<this host>/ws; a path like '/ws' is resolved
 *         against the page. Subprotocol 'tickroom.v1' is always offered.
 *   opts  {token?: string | () => string   appended as ?token= (non-browser
 *                                          clients; browsers use the cookie)
 *          timeout?: 10000                  ms before a sent request fails
 *          publishTimeout?: 120000          ms before an unacked publish fails
 *          backoff?: {min: 250, max: 10000} reconnect delay bounds (ms)
 *          heartbeat?: ms                   client ping interval; default the
 *                                           welcome's heartbeat_ms (20 s)
 *          transport?: 'auto'|'websocket'|'sse'   'sse' forces the fallback
 *          fallbackAfter?: 3                WebSocket attempts that fail before
 *                                           any has opened → fall back to SSE
 *          probeInterval?: 45000            ms between WebSocket retries while
 *                                           on SSE
 *          WebSocket?, EventSource?: class, fetch?: function   for tests}
 *
 * Socket
 *   .subscribe(channel, {since}?) → Promise<reply>   wildcards * and > allowed
 *   .unsubscribe(channel)         → Promise<reply>
 *   .publish(channel, data, {msgid}?) → Promise<{id, ok, seq}>   (chat.* only)
 *   .history(channel, {before, limit}?) → Promise<reply with .messages>
 *   .presence(channel)            → Promise<reply with .users>
 *   .ping()                       → Promise<rtt ms>
 *   .on(event, fn) / .off(event, fn) / .once(event, fn)
 *       server events by name: fn(data, msg), msg = {channel,event,seq,time,data}
 *       'welcome'     fn(data, msg)     after every (re)connect
 *       'status'      fn(status)        'connecting'|'connected'|'reconnecting'|'offline'
 *       'rtt'         fn(ms)            after each heartbeat ping
 *       'auth_error'  fn({code,reason}) close 1008: no automatic reconnect;
 *                                       sign in again, then call reconnect()
 *       'server_error' fn(error)        a reply without id ({ok:false,error})
 *       '*'           fn(data, msg)     every server event
 *   .reconnect()  drop the connection (if any) and connect now, e.g. after
 *                 signing in under another name
 *   .close()      close for good; pending requests reject with 'closed'
 *       'transport'   fn('websocket'|'sse')   when the transport changes
 *   .status, .user, .clientId, .lastSeq(channel), .transport
 *
 * Behaviour
 * - Requests carry an id; each gets exactly one reply or rejects with an
 *   Error whose .code is the server's error code, 'timeout' or 'closed'.
 *   Requests made while not connected are queued and sent on connect.
 *   Requests in flight when the connection drops are sent again after the
 *   reconnect (reads are idempotent; publish keeps its msgid).
 * - publish() stamps msgid '<clientId>-<counter>' and re-sends an unacked
 *   publish with the SAME msgid after a reconnect or a timeout, until the
 *   ack or publishTimeout; the server stores a msgid once.
 * - Server frames may hold several JSON objects separated by '\n'.
 * - Reconnect: exponential backoff with full jitter between backoff.min and
 *   backoff.max. Every subscription is renewed; persisted channels
 *   (chat.*, alert.*, candle.*) resume with since = the last seq seen, and
 *   any event whose seq is <= the last seen on its channel is dropped, so
 *   a handler never sees a duplicate. For a wildcard subscription the resume
 *   point is the highest seq seen on any channel it matched (seq is
 *   assumed to be the stream's sequence, shared by the channels of a kind).
 * - Close 1008 (auth/origin) stops reconnecting and emits 'auth_error';
 *   any other close (1001 going away, 1013 try later, 4000 slow consumer,
 *   a dropped network) reconnects and resumes. A heartbeat ping that gets no
 *   reply within `timeout` treats the connection as dead.
 * - SSE fallback (chooseTransport): when `fallbackAfter` WebSocket attempts
 *   in a row fail without ever opening (a network or proxy that breaks
 *   WebSockets), when WebSocket does not exist, or with transport: 'sse',
 *   the socket reads from an EventSource on /sse (every subscription, and
 *   lastEventId = the resume point of each persisted one) and writes over
 *   HTTP: publish is POST /api/publish (same msgid, retried on network
 *   errors until the ack or publishTimeout), history is GET
 *   /api/channels/{channel}/history, ping is GET /healthz; presence rejects
 *   with 'unavailable'. A subscribe or unsubscribe reopens the stream with
 *   the new channel set, resuming persisted channels by seq. The API and
 *   the events are the same. Every `probeInterval` a WebSocket is tried
 *   again; when one opens, the socket switches back, resuming with since;
 *   the seq dedupe keeps handlers from seeing a duplicate.
 */

export const SUBPROTOCOL = 'tickroom.v1';
const PERSISTED = /^(chat|alert|candle)\./;

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

/** Whether a channel (or pattern) is of a persisted kind that resumes by seq. */
export function isPersisted(channel) { return PERSISTED.test(channel); }

/** NATS subject matching: '*' one token, '>' one or more trailing tokens. */
export function matchChannel(pattern, channel) {
  if (pattern === channel) return true;
  const p = pattern.split('.'), c = channel.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return c.length > i;
    if (i >= c.length || (p[i] !== '*' && p[i] !== c[i])) return false;
  }
  return p.length === c.length;
}

/** Last seq seen per channel; accept() says whether an event is new. */
export class SeqTracker {
  constructor() { this.seen = new Map(); }
  accept(channel, seq) {
    if (typeof seq !== 'number') return true;
    const last = this.seen.get(channel);
    if (last !== undefined && seq <= last) return false;
    this.seen.set(channel, seq);
    return true;
  }
  get(channel) { return this.seen.get(channel); }
  /** A new explicit `since` for a pattern: allow replays after it again. */
  rewind(pattern, since) {
    for (const [ch, s] of this.seen) if (matchChannel(pattern, ch) && s > since) this.seen.set(ch, since);
    if (!/[*>]/.test(pattern)) this.seen.set(pattern, Math.min(since, this.seen.get(pattern) ?? since));
  }
  forget(pattern) { for (const ch of [...this.seen.keys()]) if (matchChannel(pattern, ch)) this.seen.delete(ch); }
}

function rid() {
  const a = new Uint8Array(4);
  (globalThis.crypto || {getRandomValues: (x) => x.map(() => Math.random() * 256)}).getRandomValues(a);
  return 'c' + Array.from(a, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 7);
}

function defaultURL() {
  const l = globalThis.location;
  if (!l) throw new Error('tickroom: connect() needs a url outside a browser');
  return (l.protocol === 'https:' ? 'wss://' : 'ws://') + l.host + '/ws';
}

function fail(code, message) { const e = new Error(message || code); e.code = code; return e; }

class Socket {
  constructor(url, opts = {}) {
    this.url = url || defaultURL();
    if (this.url.startsWith('/') && globalThis.location) this.url = defaultURL().replace(/\/ws$/, '') + this.url;
    this.opts = {timeout: 10000, publishTimeout: 120000, fallbackAfter: 3, probeInterval: 45000, transport: 'auto',
      ...opts, backoff: {min: 250, max: 10000, ...(opts.backoff || {})}};
    this.WS = opts.WebSocket || globalThis.WebSocket;
    this.ES = opts.EventSource || globalThis.EventSource;
    this.fetch = opts.fetch || (globalThis.fetch && globalThis.fetch.bind(globalThis));
    this.transport = null;     // 'websocket' | 'sse' once chosen
    this.wsFailures = 0;       // WebSocket attempts in a row that never opened
    this.es = null;            // the EventSource while on SSE
    this.probe = null;         // a WebSocket being tried while on SSE
    this.clientId = rid();
    this.status = 'offline';
    this.user = null;
    this.handlers = new Map();
    this.subs = new Map();     // channel/pattern → {channel, since, maxSeq, waiters, reply}
    this.pending = new Map();  // id → request record
    this.seq = new SeqTracker();
    this.nextId = 1;
    this.msgCounter = 0;
    this.attempt = 0;
    this.ws = null;
    this.closed = false;
    this.timer = null;
    this.hbTimer = null;
    this.onOnline = () => { if (this.status === 'reconnecting' || this.status === 'offline') this.reconnect(); };
    if (globalThis.addEventListener) globalThis.addEventListener('online', this.onOnline);
    this.open();
  }

  // ---- events ----
  on(ev, fn) { if (!this.handlers.has(ev)) this.handlers.set(ev, new Set()); this.handlers.get(ev).add(fn); return this; }
  off(ev, fn) { this.handlers.get(ev)?.delete(fn); return this; }
  once(ev, fn) { const w = (...a) => { this.off(ev, w); fn(...a); }; return this.on(ev, w); }
  emit(ev, ...args) {
    for (const fn of [...(this.handlers.get(ev) || [])]) {
      try { fn(...args); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }
  setStatus(s) { if (this.status !== s) { this.status = s; this.emit('status', s); } }
  lastSeq(channel) { return this.seq.get(channel); }

  // ---- connection ----
  open() {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.setStatus(this.attempt === 0 && !this.everOpen && !this.sseEverOpen ? 'connecting' : 'reconnecting');
    const mode = chooseTransport({
      forced: this.opts.transport, hasWebSocket: typeof this.WS === 'function', hasEventSource: typeof this.ES === 'function',
      wsFailures: this.wsFailures, everOpen: this.everOpen, fallbackAfter: this.opts.fallbackAfter,
    });
    this.setTransport(mode);
    if (mode === 'sse') { this.openSSE(); return; }
    let ws;
    try { ws = new this.WS(this.wsURL(), SUBPROTOCOL); } catch (e) { this.wsFailures++; this.scheduleReconnect(); return; }
    this.attachWS(ws);
  }

  token() { return typeof this.opts.token === 'function' ? this.opts.token() : this.opts.token; }

  wsURL() {
    const tok = this.token();
    return tok ? this.url + (this.url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(tok) : this.url;
  }

  /** http(s)://host of the gateway, for the SSE stream and HTTP requests. */
  httpBase() { return new URL(this.url.replace(/^ws(s?):/, 'http$1:')).origin; }

  setTransport(t) { if (this.transport !== t) { this.transport = t; this.emit('transport', t); } }

  attachWS(ws) {
    let opened = ws.readyState === 1;
    this.ws = ws;
    ws.onopen = () => { if (this.ws === ws) { opened = true; this.wsFailures = 0; this.onOpen(); } };
    ws.onmessage = (e) => { if (this.ws === ws) this.onFrame(e.data); };
    ws.onclose = (e) => { if (this.ws === ws) { if (!opened) this.wsFailures++; this.onClose(e.code, e.reason); } };
    ws.onerror = () => {};  // onclose follows
  }

  // ---- SSE fallback ----
  sseURL() {
    const q = new URLSearchParams();
    const resume = [];
    for (const sub of this.subs.values()) {
      q.append('channel', sub.channel);
      const since = this.resumeSince(sub);
      if (since !== undefined) resume.push(sub.channel + '=' + since);
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
    es.onopen = () => { if (this.es === es) this.onSSEOpen(); };
    es.onmessage = (e) => { if (this.es === es) this.onSSEMessage(e.data); };
    es.addEventListener('close', (e) => {  // the server ended the stream and said why
      if (this.es !== es) return;
      let d = {};
      try { d = JSON.parse(e.data) || {}; } catch (x) { /* keep defaults */ }
      this.onClose(d.code || 1000, d.reason || '');
    });
    es.onerror = () => {
      if (this.es !== es) return;
      // CLOSED: refused (an HTTP error); we retry with backoff. Otherwise
      // the browser reconnects by itself, sending Last-Event-ID.
      if (es.readyState === 2) this.onClose(1006, 'stream refused');
      else this.setStatus('reconnecting');
    };
    this.startProbe();
  }

  onSSEOpen() {
    this.sseEverOpen = true;
    this.openedAt = Date.now();
    this.setStatus('connected');
    for (const r of [...this.pending.values()]) this.send(r);
    this.startHeartbeat(this.opts.heartbeat || (this.welcome && this.welcome.heartbeat_ms) || 20000);
  }

  onSSEMessage(data) {
    let m;
    try { m = JSON.parse(data); } catch (e) { this.emit('server_error', {code: 'bad_frame', message: e.message, line: data}); return; }
    if (m && m.op === 'subscribe' && typeof m.ok === 'boolean') {
      const sub = this.subs.get(m.channel);
      if (!sub) return;
      if (m.ok) { sub.reply = m; this.settle(sub, null, m); return; }
      const e = fail((m.error && m.error.code) || 'error', m.error && m.error.message); e.reply = m;
      if (e.code !== 'unavailable') this.subs.delete(sub.channel);
      this.settle(sub, e);
      return;
    }
    this.onObject(m);
  }

  closeSSE() {
    clearTimeout(this.sseRestart);
    const es = this.es; this.es = null;
    if (es) try { es.close(); } catch (e) { /* ignore */ }
  }

  /** The channel set changed: reopen the stream (coalescing a burst). */
  restartSSE() {
    if (this.transport !== 'sse' || !this.es) return;  // the next open takes this.subs as they are
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
    if (p) try { p.close(1000); } catch (e) { /* ignore */ }
  }

  /** While on SSE: try a WebSocket; if it opens, switch back to it. */
  probeWS() {
    if (this.closed || this.transport !== 'sse' || this.probe) return;
    let ws;
    try { ws = new this.WS(this.wsURL(), SUBPROTOCOL); } catch (e) { return; }
    this.probe = ws;
    ws.onopen = () => {
      if (this.probe !== ws) return;
      this.probe = null;
      if (this.closed || this.transport !== 'sse') { try { ws.close(1000); } catch (e) { /* ignore */ } return; }
      this.stopProbe();
      this.closeSSE();
      this.wsFailures = 0;
      this.setTransport('websocket');
      this.attachWS(ws);
      this.onOpen();  // renews every subscription with since: no gap, and the seq dedupe drops overlaps
    };
    ws.onclose = () => { if (this.probe === ws) this.probe = null; };
    ws.onerror = () => {};
  }

  /** A request over HTTP (SSE mode): resolves to a reply object, or null
   *  when no reply came (network error, timeout, not JSON). */
  async httpRequest(msg) {
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

  sendHTTP(r) {
    const {op, id} = r.msg;
    if (op !== 'publish' && op !== 'history' && op !== 'ping') {
      this.pending.delete(id); clearTimeout(r.deadline);
      r.reject(fail('unavailable', op + ' is not available over the SSE fallback'));
      return;
    }
    if (r.inflight) return;
    r.inflight = true; r.sent = true; r.sentAt = Date.now();
    clearTimeout(r.timer);
    this.httpRequest(r.msg).then((reply) => {
      r.inflight = false;
      if (!this.pending.has(id)) return;
      if (reply) { this.onReply({...reply, id}); return; }
      r.sent = false;
      if (!r.retryOnTimeout) { this.pending.delete(id); clearTimeout(r.deadline); r.reject(fail('timeout', op + ' failed')); return; }
      // Same msgid again, after a pause: the server stores it once.
      r.timer = setTimeout(() => { if (this.pending.has(id)) this.send(r); }, Math.min(this.opts.timeout, 1000));
    });
  }

  onOpen() {
    this.everOpen = true;
    this.openedAt = Date.now();
    this.setStatus('connected');
    const waiting = [...this.pending.values()];
    for (const sub of this.subs.values()) this.sendSubscribe(sub);
    for (const r of waiting) this.send(r);
    this.startHeartbeat(this.opts.heartbeat || 20000);
  }

  /** Forget the dead connection; in-flight requests wait for the next one. */
  teardown() {
    this.ws = null;
    this.closeSSE();
    clearInterval(this.hbTimer);
    for (const r of [...this.pending.values()]) {
      clearTimeout(r.timer); r.sent = false;
      // Subscriptions are renewed from this.subs; an unsubscribe is moot.
      if (r.msg.op === 'subscribe') this.pending.delete(r.msg.id);
      if (r.msg.op === 'unsubscribe') { this.pending.delete(r.msg.id); r.resolve({id: r.msg.id, ok: true}); }
    }
  }

  onClose(code, reason) {
    this.teardown();
    if (this.closed) return;
    if (code === 1008) {
      this.setStatus('offline');
      this.emit('auth_error', {code, reason});
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

  reconnect() {
    if (this.closed) return;
    const ws = this.ws;
    this.attempt = 0;
    this.teardown();
    if (ws) try { ws.close(1000); } catch (e) { /* ignore */ }
    this.open();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.hbTimer);
    if (globalThis.removeEventListener) globalThis.removeEventListener('online', this.onOnline);
    const ws = this.ws; this.ws = null;
    if (ws) try { ws.close(1000); } catch (e) { /* ignore */ }
    this.closeSSE();
    this.stopProbe();
    for (const r of this.pending.values()) { clearTimeout(r.timer); clearTimeout(r.deadline); r.reject(fail('closed', 'socket closed')); }
    this.pending.clear();
    for (const sub of this.subs.values()) this.settle(sub, fail('closed', 'socket closed'));
    this.setStatus('offline');
  }

  startHeartbeat(ms) {
    clearInterval(this.hbTimer);
    this.hbTimer = setInterval(() => {
      const ws = this.ws, es = this.es;
      this.ping().then((rtt) => this.emit('rtt', rtt), (e) => {
        if (e.code !== 'timeout' || (!ws && !es) || this.ws !== ws || this.es !== es) return;
        if (ws) try { ws.close(4001, 'heartbeat'); } catch (x) { /* ignore */ }
        this.onClose(4001, 'heartbeat timeout');  // the browser's close event may take long
      });
    }, ms);
  }

  // ---- inbound ----
  onFrame(data) {
    for (const m of splitFrame(data, (e, line) => this.emit('server_error', {code: 'bad_frame', message: e.message, line}))) this.onObject(m);
  }

  /** One server object, from a WebSocket frame or an SSE message. */
  onObject(m) {
    if (m === null || typeof m !== 'object') return;
    if (m.id !== undefined && m.ok !== undefined) { this.onReply(m); return; }
    if (m.ok === false) { this.emit('server_error', m.error || m); return; }
    if (!m.event) return;
    if (m.event === 'welcome') {
      const d = m.data || {};
      this.user = d.user || null; this.welcome = d;
      if (!this.opts.heartbeat && d.heartbeat_ms > 0) this.startHeartbeat(d.heartbeat_ms);
      this.emit('welcome', d, m);
      return;
    }
    if (m.channel && typeof m.seq === 'number') {
      if (!this.seq.accept(m.channel, m.seq)) return;
      for (const sub of this.subs.values()) if (matchChannel(sub.channel, m.channel) && !(sub.maxSeq >= m.seq)) sub.maxSeq = m.seq;
    }
    this.emit(m.event, m.data, m);
    this.emit('*', m.data, m);
  }

  onReply(m) {
    const r = this.pending.get(m.id);
    if (!r) return;
    this.pending.delete(m.id);
    clearTimeout(r.timer); clearTimeout(r.deadline);
    if (m.ok) r.resolve(r.msg.op === 'ping' ? Date.now() - r.sentAt : m);
    else { const e = fail((m.error && m.error.code) || 'error', m.error && m.error.message); e.reply = m; r.reject(e); }
  }

  // ---- requests ----
  request(msg, {retryOnTimeout = false} = {}) {
    msg.id = this.nextId++;
    return new Promise((resolve, reject) => {
      const r = {msg, resolve, reject, retryOnTimeout, sent: false, timer: null, deadline: null};
      this.pending.set(msg.id, r);
      if (msg.op === 'publish') {
        r.deadline = setTimeout(() => { this.pending.delete(msg.id); clearTimeout(r.timer); reject(fail('timeout', 'publish not acknowledged')); }, this.opts.publishTimeout);
      }
      this.send(r);
    });
  }

  send(r) {
    if (this.transport === 'sse') { if (this.es) this.sendHTTP(r); return; }  // else sent when the stream opens
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return;  // sent on (re)connect
    try { ws.send(JSON.stringify(r.msg)); } catch (e) { return; }
    r.sent = true;
    r.sentAt = Date.now();
    clearTimeout(r.timer);
    r.timer = setTimeout(() => {
      if (!this.pending.has(r.msg.id)) return;
      if (r.retryOnTimeout) { this.send(r); return; }  // same msgid: stored once
      this.pending.delete(r.msg.id);
      clearTimeout(r.deadline);
      r.reject(fail('timeout', r.msg.op + ' timed out'));
    }, this.opts.timeout);
  }

  subscribe(channel, {since} = {}) {
    let sub = this.subs.get(channel);
    if (typeof since === 'number') this.seq.rewind(channel, since);
    if (sub) {
      if (typeof since === 'number') {
        sub.since = since; sub.maxSeq = undefined;
        if (this.ws) this.sendSubscribe(sub); else this.restartSSE();
      }
      return sub.reply && !sub.waiters.length ? Promise.resolve(sub.reply) : new Promise((res, rej) => sub.waiters.push({res, rej}));
    }
    sub = {channel, since: typeof since === 'number' ? since : undefined, maxSeq: undefined, waiters: [], reply: null};
    this.subs.set(channel, sub);
    const p = new Promise((res, rej) => sub.waiters.push({res, rej}));
    if (this.ws && this.ws.readyState === 1) this.sendSubscribe(sub);
    else this.restartSSE();
    return p;
  }

  resumeSince(sub) {
    if (!isPersisted(sub.channel)) return undefined;
    const s = [sub.since, sub.maxSeq, /[*>]/.test(sub.channel) ? undefined : this.seq.get(sub.channel)]
      .filter((x) => typeof x === 'number');
    return s.length ? Math.max(...s) : undefined;
  }

  sendSubscribe(sub, noSince) {
    const msg = {op: 'subscribe', channel: sub.channel};
    const since = noSince ? undefined : this.resumeSince(sub);
    if (since !== undefined) msg.since = since;
    this.request(msg).then((reply) => {
      if (this.subs.get(sub.channel) !== sub) return;
      sub.reply = reply;
      this.settle(sub, null, reply);
    }, (err) => {
      if (this.subs.get(sub.channel) !== sub) return;
      // A server that refuses `since` on a wildcard: subscribe live instead.
      if (err.code === 'bad_request' && since !== undefined && /[*>]/.test(sub.channel)) { this.sendSubscribe(sub, true); return; }
      if (err.code !== 'timeout' && err.code !== 'unavailable') this.subs.delete(sub.channel);
      this.settle(sub, err);
    });
  }

  settle(sub, err, reply) {
    const w = sub.waiters; sub.waiters = [];
    for (const {res, rej} of w) err ? rej(err) : res(reply);
  }

  unsubscribe(channel) {
    const sub = this.subs.get(channel);
    this.subs.delete(channel);
    if (sub) this.settle(sub, fail('unsubscribed', 'unsubscribed'));
    if (![...this.subs.keys()].some((p) => matchChannel(p, channel) || matchChannel(channel, p))) this.seq.forget(channel);
    this.restartSSE();
    if (!this.ws || this.ws.readyState !== 1) return Promise.resolve({ok: true});
    return this.request({op: 'unsubscribe', channel});
  }

  publish(channel, data, {msgid} = {}) {
    if (!msgid) msgid = this.nextMsgid();
    const p = this.request({op: 'publish', channel, data, msgid}, {retryOnTimeout: true});
    p.msgid = msgid;
    return p;
  }

  /** Generate the msgid the next publish() would use (to render a pending
   *  message before calling publish(channel, data, {msgid})). */
  nextMsgid() { return this.clientId + '-' + String(++this.msgCounter).padStart(6, '0'); }

  history(channel, {before, limit} = {}) {
    const msg = {op: 'history', channel};
    if (before !== undefined) msg.before = before;
    if (limit !== undefined) msg.limit = limit;
    return this.request(msg);
  }

  presence(channel) { return this.request({op: 'presence', channel}); }

  /** Round trip in ms, measured from when the ping was actually sent. */
  ping() { return this.request({op: 'ping'}); }
}

/** Open a socket; see the API at the top of this file. */
export function connect(url, opts) {
  if (url && typeof url === 'object') { opts = url; url = undefined; }
  return new Socket(url, opts);
}

export {Socket};
globalThis.tickroom = Object.assign(globalThis.tickroom || {}, {connect});
