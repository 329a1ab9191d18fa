// Subscription state: the channels (and patterns) the page subscribed to,
// the last seq seen per channel (to resume with `since` and to drop
// duplicates), and the stream epoch each resume was made against. It sends
// nothing: the Socket asks it what to send and tells it what came back.
//
// Resume rules (docs/protocol.md §7): persisted kinds resume with since =
// the highest seq seen (for a wildcard, the highest on any channel it
// matched: seq is the stream's sequence, shared by the channels of a kind);
// an event whose seq is <= the last seen on its channel is a duplicate.
// A subscribe reply with `recovered: false` (the server no longer holds
// everything after since) or an `epoch` other than the one stored (the
// stream was recreated, old seq values mean nothing) is a gap.

const PERSISTED = /^(chat|alert|candle|user)\./;

/** Whether a channel (or pattern) is of a persisted kind that resumes by seq. */
export function isPersisted(channel) { return PERSISTED.test(channel); }

export function isWildcard(channel) { return /[*>]/.test(channel); }

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
    if (!isWildcard(pattern)) this.seen.set(pattern, Math.min(since, this.seen.get(pattern) ?? since));
  }
  forget(pattern) { for (const ch of [...this.seen.keys()]) if (matchChannel(pattern, ch)) this.seen.delete(ch); }
}

/**
 * One subscription: {channel, since, maxSeq, reply, epoch, waiters}.
 *   since   the explicit resume point asked for (subscribe(ch, {since}))
 *   maxSeq  the highest seq seen on a matching channel since then
 *   reply   the last successful subscribe reply
 *   epoch   the stream epoch of that reply, when the server sent one
 */
export class Subscriptions {
  constructor() {
    this.subs = new Map();    // channel/pattern → subscription
    this.seq = new SeqTracker();
    this.epochs = new Map();  // channel/pattern → epoch of the last reply that had one
  }

  get(channel) { return this.subs.get(channel); }
  values() { return this.subs.values(); }
  get size() { return this.subs.size; }
  lastSeq(channel) { return this.seq.get(channel); }
  epoch(channel) { return this.epochs.get(channel); }

  /** Add channel, or give an existing one a new explicit since. */
  add(channel, since) {
    const explicit = typeof since === 'number';
    if (explicit) this.seq.rewind(channel, since);
    let sub = this.subs.get(channel);
    if (sub) {
      if (explicit) { sub.since = since; sub.maxSeq = undefined; }
      return {sub, created: false};
    }
    sub = {channel, since: explicit ? since : undefined, maxSeq: undefined, reply: null, waiters: []};
    this.subs.set(channel, sub);
    return {sub, created: true};
  }

  /** A promise of sub's next reply (its current one if nobody waits). */
  wait(sub) {
    if (sub.reply && !sub.waiters.length) return Promise.resolve(sub.reply);
    return new Promise((res, rej) => sub.waiters.push({res, rej}));
  }

  settle(sub, err, reply) {
    const w = sub.waiters; sub.waiters = [];
    for (const {res, rej} of w) err ? rej(err) : res(reply);
  }

  /** Remove channel; its waiters reject with err. Seq state is forgotten
   *  unless another subscription overlaps it. */
  remove(channel, err) {
    const sub = this.subs.get(channel);
    this.subs.delete(channel);
    if (sub) this.settle(sub, err);
    if (![...this.subs.keys()].some((p) => matchChannel(p, channel) || matchChannel(channel, p))) this.seq.forget(channel);
    return sub;
  }

  /** Whether sub is still the live subscription of its channel. */
  current(sub) { return this.subs.get(sub.channel) === sub; }

  /** The since to (re)subscribe sub with, or undefined for none. */
  resumeSince(sub) {
    if (!isPersisted(sub.channel)) return undefined;
    const s = [sub.since, sub.maxSeq, isWildcard(sub.channel) ? undefined : this.seq.get(sub.channel)]
      .filter((x) => typeof x === 'number');
    return s.length ? Math.max(...s) : undefined;
  }

  /** What an SSE stream subscribes to: every channel and its resume point. */
  streamChannels() {
    return [...this.subs.values()].map((sub) => {
      const since = this.resumeSince(sub);
      sub.asked = since;
      return {channel: sub.channel, since};
    });
  }

  /** Whether event m is new (not a duplicate); advances resume points. */
  accept(m) {
    if (!m.channel || typeof m.seq !== 'number') return true;
    if (!this.seq.accept(m.channel, m.seq)) return false;
    for (const sub of this.subs.values()) if (matchChannel(sub.channel, m.channel) && !(sub.maxSeq >= m.seq)) sub.maxSeq = m.seq;
    return true;
  }

  /**
   * sub's subscribe succeeded with reply, asked with since (undefined: no
   * replay asked). Stores the epoch; returns the gap to report, or null:
   *   {channel, since, recovered, epoch, previousEpoch, reason: 'epoch'|'retention'}
   * On a new epoch the seq state of the channel is reset, so the new
   * stream's (smaller) seq values are not taken for duplicates, and the next
   * resume starts from 0 unless events of the new stream arrive first.
   * Waiters are settled after that, so a gap is known before they run.
   */
  replied(sub, reply, since) {
    sub.reply = reply;
    let gap = null;
    const epoch = reply.epoch;
    if (epoch !== undefined && epoch !== null && epoch !== '') {
      const prev = this.epochs.get(sub.channel);
      this.epochs.set(sub.channel, epoch);
      sub.epoch = epoch;
      if (prev !== undefined && prev !== epoch) {
        this.seq.forget(sub.channel);
        sub.maxSeq = undefined;
        sub.since = 0;
        gap = {channel: sub.channel, since, recovered: reply.recovered, epoch, previousEpoch: prev, reason: 'epoch'};
      }
    }
    // since 0 asks for "everything retained": less is no gap.
    if (!gap && reply.recovered === false && typeof since === 'number' && since > 0) {
      gap = {channel: sub.channel, since, recovered: false, epoch, previousEpoch: this.epochs.get(sub.channel), reason: 'retention'};
    }
    this.settle(sub, null, reply);
    return gap;
  }

  /** Reject every waiter: the socket is closed. */
  closeAll(err) { for (const sub of this.subs.values()) this.settle(sub, err); }
}
