// Request tracking: every request gets an id and exactly one outcome — the
// server's reply, or an Error whose .code is the server's error code,
// 'timeout' or 'closed'. Requests made while no connection is up wait for
// the next one; requests in flight when it drops are sent again after the
// reconnect. A publish is an outbox entry: it keeps its msgid and is sent
// again — after a reconnect, a request timeout or an `unavailable` reply —
// until it is acknowledged or publishTimeout passes; the server stores a
// msgid once.

import {backoffDelay, httpOps} from './transport.js';

/** An Error with a protocol error code. */
export function fail(code, message) { const e = new Error(message || code); e.code = code; return e; }

/** Replies that an outbox entry (a retried publish) answers by trying
 *  again: the service is briefly unavailable (a stream changing leader). */
const RETRYABLE = new Set(['unavailable']);

/**
 * Requests(link, opts)
 *   link: {kind: 'websocket'|'sse'|null, ready() → bool, sendFrame(msg) → bool,
 *          http(msg) → Promise<reply|null>}   (a Transport)
 *   opts: {timeout, publishTimeout, retry: {min, max}}
 */
export class Requests {
  constructor(link, opts) {
    this.link = link;
    this.opts = opts;
    this.pending = new Map();  // id → record
    this.nextId = 1;
    this.closed = null;        // the error every request gets once closed
  }

  get size() { return this.pending.size; }

  /** Send msg (its id is assigned here). retry: an outbox entry (see the
   *  top of this file). onReply(reply) runs synchronously when the
   *  successful reply arrives, before later objects of the same frame are
   *  handled — a subscribe reply must reset seq state before its replay. */
  request(msg, {retry = false, onReply} = {}) {
    msg.id = this.nextId++;
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const r = {msg, resolve, reject, retry, onReply, sent: false, inflight: false, sentAt: 0, timer: null, deadline: null, attempts: 0};
      this.pending.set(msg.id, r);
      if (msg.op === 'publish') r.deadline = setTimeout(() => this.finish(r, fail('timeout', 'publish not acknowledged')), this.opts.publishTimeout);
      this.send(r);
    });
  }

  /** Settle r once: the first outcome wins. */
  finish(r, err, value) {
    if (this.pending.get(r.msg.id) !== r) return;
    this.pending.delete(r.msg.id);
    clearTimeout(r.timer); clearTimeout(r.deadline);
    if (err) r.reject(err); else r.resolve(value);
  }

  send(r) {
    if (this.link.kind === 'sse') { if (this.link.ready()) this.sendHTTP(r); return; }  // else sent when the stream opens
    if (!this.link.sendFrame(r.msg)) return;  // sent on (re)connect
    r.sent = true;
    r.sentAt = Date.now();
    clearTimeout(r.timer);
    r.timer = setTimeout(() => {
      if (this.pending.get(r.msg.id) !== r) return;
      if (r.retry) { this.send(r); return; }  // same msgid: stored once
      this.finish(r, fail('timeout', r.msg.op + ' timed out'));
    }, this.opts.timeout);
  }

  sendHTTP(r) {
    const {op, id} = r.msg;
    if (!httpOps.has(op)) { this.finish(r, fail('unavailable', op + ' is not available over the SSE fallback')); return; }
    if (r.inflight) return;
    r.inflight = true; r.sent = true; r.sentAt = Date.now();
    clearTimeout(r.timer);
    this.link.http(r.msg).then((reply) => {
      r.inflight = false;
      if (this.pending.get(id) !== r) return;
      if (reply) { this.reply({...reply, id}); return; }
      r.sent = false;
      if (!r.retry) { this.finish(r, fail('timeout', op + ' failed')); return; }
      // Same msgid again, after a pause: the server stores it once.
      this.later(r, Math.min(this.opts.timeout, 1000));
    });
  }

  later(r, ms) {
    clearTimeout(r.timer);
    r.timer = setTimeout(() => { if (this.pending.get(r.msg.id) === r) this.send(r); }, ms);
  }

  /** A reply from the server; false if no request has its id. */
  reply(m) {
    const r = this.pending.get(m.id);
    if (!r) return false;
    const code = m.ok ? null : (m.error && m.error.code) || 'error';
    if (r.retry && RETRYABLE.has(code)) {
      r.sent = false;
      this.later(r, backoffDelay(r.attempts++, this.opts.retry));
      return true;
    }
    if (m.ok) {
      if (r.onReply) try { r.onReply(m); } catch (e) { setTimeout(() => { throw e; }); }
      this.finish(r, null, r.msg.op === 'ping' ? Date.now() - r.sentAt : m);
    } else {
      const e = fail(code, m.error && m.error.message); e.reply = m;
      this.finish(r, e);
    }
    return true;
  }

  /** Every request still waiting, oldest first. */
  all() { return [...this.pending.values()]; }

  /** Send these again (those still waiting): a connection came up. */
  resend(list) { for (const r of list) if (this.pending.get(r.msg.id) === r) this.send(r); }

  /** The connection dropped: nothing is in flight any more. Subscriptions
   *  are renewed by their owner, so a pending subscribe is dropped; an
   *  unsubscribe is moot. */
  disconnected() {
    for (const r of this.all()) {
      clearTimeout(r.timer); r.sent = false;
      if (r.msg.op === 'subscribe') this.pending.delete(r.msg.id);
      if (r.msg.op === 'unsubscribe') this.finish(r, null, {id: r.msg.id, ok: true});
    }
  }

  /** Reject everything, now and from now on: the socket is closed for good. */
  rejectAll(err) { this.closed = err; for (const r of this.all()) this.finish(r, err); }
}
