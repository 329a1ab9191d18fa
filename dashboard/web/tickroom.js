/**
 * tickroom.js — browser client for the tickroom WebSocket protocol v1.
 * Plain ES module, no dependencies, no build step. Served by the gateway at
 * /tickroom.js, with the modules it is made of under /client/:
 *   client/transport.js      WebSocket, SSE fallback + HTTP uplink, the probe, reconnect
 *   client/requests.js       ids, timeouts, replies, the publish outbox
 *   client/subscriptions.js  channels, last seq per channel, epochs, resume and gaps
 *   client/events.js         on/off/once
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
 *          retry?: {min: 250, max: 2000}    delay bounds (ms) before a publish
 *                                           answered `unavailable` is sent again
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
 *   .emit(channel, data, ack?)    Socket.IO-style publish: data may be a
 *                                 string (sent as {text}); ack(err, reply)
 *                                 once acknowledged or failed. Returns the
 *                                 socket. Without ack a failure is reported
 *                                 on 'server_error'.
 *   .emitWithAck(channel, data)   → Promise<reply>, like Socket.IO's
 *   .history(channel, {before, limit, interval}?) → Promise<reply with .messages>
 *     (interval and a time-valued before apply to candle channels)
 *   .presence(channel)            → Promise<reply with .users>
 *   .ping()                       → Promise<rtt ms>
 *   .read(channel, seq) .rooms() .edit(channel, seq, data) .remove(channel, seq)
 *   .mute(channel, user, seconds) .unmute(channel, user)
 *   .alertSet({symbol, above|below, note}) .alertList() .alertDelete(id)
 *                                 the chat operations of PROTOCOL §4 → Promise<reply>
 *   .on(event, fn) / .off(event, fn) / .once(event, fn)
 *       server events by name: fn(data, msg), msg = {channel,event,seq,time,data}
 *       'welcome'     fn(data, msg)     after every (re)connect
 *       'status'      fn(status)        'connecting'|'connected'|'reconnecting'|'offline'
 *       'rtt'         fn(ms)            after each heartbeat ping
 *       'auth_error'  fn({code,reason}) close 1008: no automatic reconnect;
 *                                       sign in again, then call reconnect()
 *       'server_error' fn(error)        a reply without id ({ok:false,error}),
 *                                       a bad frame, a failed emit without ack
 *       'gap'         fn({channel, since, recovered, epoch, previousEpoch, reason})
 *                                       a resume could not deliver everything
 *                                       after `since`: reason 'retention' (the
 *                                       reply said recovered:false) or 'epoch'
 *                                       (the stream was recreated; seq state of
 *                                       the channel is reset). Reload history.
 *       'transport'   fn('websocket'|'sse')   when the transport changes
 *       '*'           fn(data, msg)     every server event
 *   .reconnect()  drop the connection (if any) and connect now, e.g. after
 *                 signing in under another name
 *   .close()      close for good; pending requests reject with 'closed'
 *   .status, .user, .clientId, .lastSeq(channel), .epoch(channel), .transport
 *
 * Behaviour
 * - Requests carry an id; each gets exactly one reply or rejects with an
 *   Error whose .code is the server's error code, 'timeout' or 'closed'.
 *   Requests made while not connected are queued and sent on connect.
 *   Requests in flight when the connection drops are sent again after the
 *   reconnect (reads are idempotent; publish keeps its msgid).
 * - publish() stamps msgid '<clientId>-<counter>' and re-sends an unacked
 *   publish with the SAME msgid after a reconnect, a timeout or an
 *   `unavailable` reply, until the ack or publishTimeout; the server stores
 *   a msgid once.
 * - Server frames may hold several JSON objects separated by '\n'.
 * - Reconnect: exponential backoff with full jitter between backoff.min and
 *   backoff.max. Every subscription is renewed; persisted channels
 *   (chat.*, alert.*, candle.*, user.*) resume with since = the last seq
 *   seen, and any event whose seq is <= the last seen on its channel is
 *   dropped, so a handler never sees a duplicate. For a wildcard
 *   subscription the resume point is the highest seq seen on any channel it
 *   matched (seq is assumed to be the stream's sequence, shared by the
 *   channels of a kind). A subscribe reply's `epoch` is remembered per
 *   channel; see 'gap'.
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

import {Emitter} from './client/events.js';
import {Transport, resolveURL} from './client/transport.js';
import {Requests, fail} from './client/requests.js';
import {Subscriptions, isWildcard} from './client/subscriptions.js';

export {SUBPROTOCOL, splitFrame, backoffDelay, chooseTransport} from './client/transport.js';
export {isPersisted, matchChannel, SeqTracker} from './client/subscriptions.js';

function rid() {
  const a = new Uint8Array(4);
  (globalThis.crypto || {getRandomValues: (x) => x.map(() => Math.random() * 256)}).getRandomValues(a);
  return 'c' + Array.from(a, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 7);
}

/** The client: wires a Transport, Requests and Subscriptions together and
 *  turns server objects into events for the page. */
class Socket extends Emitter {
  constructor(url, opts = {}) {
    super();
    this.url = resolveURL(url);
    this.opts = {timeout: 10000, publishTimeout: 120000, fallbackAfter: 3, probeInterval: 45000, transport: 'auto',
      ...opts, backoff: {min: 250, max: 10000, ...(opts.backoff || {})}, retry: {min: 250, max: 2000, ...(opts.retry || {})}};
    this.clientId = rid();
    this.user = null;
    this.welcome = null;
    this.msgCounter = 0;
    this.hbTimer = null;
    this.subs = new Subscriptions();
    this.conn = new Transport(this.url, this.opts, {
      status: (s) => this.dispatch('status', s),
      kind: (k) => this.dispatch('transport', k),
      open: () => this.onOpen(),
      object: (m) => this.onObject(m),
      badFrame: (e, line) => this.dispatch('server_error', {code: 'bad_frame', message: e.message, line}),
      down: () => this.onDown(),
      authError: (e) => this.dispatch('auth_error', e),
      streamChannels: () => this.subs.streamChannels(),
    });
    this.requests = new Requests(this.conn, this.opts);
    this.conn.start();
  }

  /** 'connecting'|'connected'|'reconnecting'|'offline' */
  get status() { return this.conn.status; }
  /** 'websocket'|'sse' (null before the first attempt) */
  get transport() { return this.conn.kind; }
  lastSeq(channel) { return this.subs.lastSeq(channel); }
  /** The stream epoch the last subscribe reply on channel carried. */
  epoch(channel) { return this.subs.epoch(channel); }

  // ---- connection ----

  onOpen() {
    const waiting = this.requests.all();
    if (this.conn.kind === 'websocket') for (const sub of this.subs.values()) this.sendSubscribe(sub);
    this.requests.resend(waiting);
    this.startHeartbeat(this.opts.heartbeat || (this.welcome && this.welcome.heartbeat_ms) || 20000);
  }

  onDown() {
    clearInterval(this.hbTimer);
    this.requests.disconnected();
  }

  reconnect() { this.conn.reconnect(); }

  close() {
    clearInterval(this.hbTimer);
    this.conn.close();
    const err = fail('closed', 'socket closed');
    this.requests.rejectAll(err);
    this.subs.closeAll(err);
  }

  startHeartbeat(ms) {
    clearInterval(this.hbTimer);
    this.hbTimer = setInterval(() => {
      const gen = this.conn.generation;
      this.ping().then((rtt) => this.dispatch('rtt', rtt), (e) => {
        if (e.code === 'timeout' && this.conn.generation === gen) this.conn.drop(4001, 'heartbeat timeout');
      });
    }, ms);
  }

  // ---- inbound ----

  /** One server object, from a WebSocket frame or an SSE message. */
  onObject(m) {
    if (m === null || typeof m !== 'object') return;
    if (m.op === 'subscribe' && m.id === undefined && typeof m.ok === 'boolean') { this.onStreamSubscribe(m); return; }
    if (m.id !== undefined && m.ok !== undefined) { this.requests.reply(m); return; }
    if (m.ok === false) { this.dispatch('server_error', m.error || m); return; }
    if (!m.event) return;
    if (m.event === 'welcome') {
      const d = m.data || {};
      this.user = d.user || null; this.welcome = d;
      if (!this.opts.heartbeat && d.heartbeat_ms > 0) this.startHeartbeat(d.heartbeat_ms);
      this.dispatch('welcome', d, m);
      return;
    }
    if (!this.subs.accept(m)) return;
    this.dispatch(m.event, m.data, m);
    this.dispatch('*', m.data, m);
  }

  /** An SSE stream's outcome for one of its channels. */
  onStreamSubscribe(m) {
    const sub = this.subs.get(m.channel);
    if (!sub) return;
    if (m.ok) { this.subscribed(sub, m, sub.asked); return; }
    const e = fail((m.error && m.error.code) || 'error', m.error && m.error.message); e.reply = m;
    if (e.code !== 'unavailable') this.subs.remove(sub.channel, e);
    else this.subs.settle(sub, e);
  }

  subscribed(sub, reply, since) {
    const gap = this.subs.replied(sub, reply, since);
    if (gap) this.dispatch('gap', gap);
  }

  // ---- requests ----

  subscribe(channel, {since} = {}) {
    const {sub, created} = this.subs.add(channel, since);
    const p = this.subs.wait(sub);
    if (created || typeof since === 'number') {
      if (this.conn.kind === 'websocket' && this.conn.ready()) this.sendSubscribe(sub);
      else this.conn.channelsChanged();
    }
    return p;
  }

  sendSubscribe(sub, noSince) {
    const msg = {op: 'subscribe', channel: sub.channel};
    const since = noSince ? undefined : this.subs.resumeSince(sub);
    if (since !== undefined) msg.since = since;
    // onReply runs before the rest of the reply's frame (the replay).
    this.requests.request(msg, {onReply: (reply) => { if (this.subs.current(sub)) this.subscribed(sub, reply, since); }}).catch((err) => {
      if (!this.subs.current(sub)) return;
      // A server that refuses `since` on a wildcard: subscribe live instead.
      if (err.code === 'bad_request' && since !== undefined && isWildcard(sub.channel)) { this.sendSubscribe(sub, true); return; }
      if (err.code !== 'timeout' && err.code !== 'unavailable') this.subs.remove(sub.channel, err);
      else this.subs.settle(sub, err);
    });
  }

  unsubscribe(channel) {
    this.subs.remove(channel, fail('unsubscribed', 'unsubscribed'));
    this.conn.channelsChanged();
    if (this.conn.kind !== 'websocket' || !this.conn.ready()) return Promise.resolve({ok: true});
    return this.requests.request({op: 'unsubscribe', channel});
  }

  publish(channel, data, {msgid} = {}) {
    if (!msgid) msgid = this.nextMsgid();
    const p = this.requests.request({op: 'publish', channel, data, msgid}, {retry: true});
    p.msgid = msgid;
    return p;
  }

  /** Socket.IO's emit: publish data (a string becomes {text}) on channel.
   *  ack(err, reply), if given, gets the outcome. */
  emit(channel, data, ack) {
    const p = this.emitWithAck(channel, data);
    p.then((reply) => { if (typeof ack === 'function') ack(null, reply); }, (err) => {
      if (typeof ack === 'function') ack(err);
      else this.dispatch('server_error', {code: err.code, message: err.message, channel, msgid: p.msgid});
    });
    return this;
  }

  /** Socket.IO's emitWithAck: publish and resolve with the ack. */
  emitWithAck(channel, data) {
    return this.publish(channel, typeof data === 'string' ? {text: data} : data);
  }

  /** Generate the msgid the next publish() would use (to render a pending
   *  message before calling publish(channel, data, {msgid})). */
  nextMsgid() { return this.clientId + '-' + String(++this.msgCounter).padStart(6, '0'); }

  history(channel, {before, limit, interval} = {}) {
    const msg = {op: 'history', channel};
    if (before !== undefined) msg.before = before;
    if (limit !== undefined) msg.limit = limit;
    if (interval !== undefined) msg.interval = interval;
    return this.requests.request(msg);
  }

  presence(channel) { return this.requests.request({op: 'presence', channel}); }

  // ---- chat additions (PROTOCOL §4) ----
  /** Store the read position in a chat room → reply {read, unread}. */
  read(channel, seq) { return this.requests.request({op: 'read', channel, seq}); }
  /** Every readable room with last_seq, read, unread, mentions → reply.rooms. */
  rooms() { return this.requests.request({op: 'rooms'}); }
  /** Edit an own message (within 15 minutes) → reply {seq}. */
  edit(channel, seq, data) { return this.requests.request({op: 'edit', channel, seq, data: typeof data === 'string' ? {text: data} : data}); }
  /** Delete an own message (or any, as a moderator) → reply {seq}. */
  remove(channel, seq) { return this.requests.request({op: 'delete', channel, seq}); }
  mute(channel, user, seconds) { return this.requests.request({op: 'mute', channel, user, seconds}); }
  unmute(channel, user) { return this.requests.request({op: 'unmute', channel, user}); }
  /** {symbol, above | below, note?} → reply.alert */
  alertSet(alert) { return this.requests.request({op: 'alert_set', ...alert}); }
  alertList() { return this.requests.request({op: 'alert_list'}); }
  alertDelete(id) { return this.requests.request({op: 'alert_delete', alert: id}); }

  /** Round trip in ms, measured from when the ping was actually sent. */
  ping() { return this.requests.request({op: 'ping'}); }
}

/** The private channel of user (user.<name>), encoded as the server does:
 *  [A-Za-z0-9-] as is, every other UTF-8 byte as _XX. */
export function userChannel(user) {
  if (!user) return '';
  let out = 'user.';
  for (const b of new TextEncoder().encode(user)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9-]/.test(c) ? c : '_' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Open a socket; see the API at the top of this file. */
export function connect(url, opts) {
  if (url && typeof url === 'object') { opts = url; url = undefined; }
  return new Socket(url, opts);
}

export {Socket};
globalThis.tickroom = Object.assign(globalThis.tickroom || {}, {connect});
