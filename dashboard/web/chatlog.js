// The messages of one chat room, as data: stored messages keyed by seq,
// own messages not yet acknowledged keyed by msgid, and gap marks. chat.js
// renders from it; nothing here touches the DOM, so node tests it.
//
// Bounded: at most `limit` stored messages (the newest); trim() drops the
// oldest. Ordering: stored messages by seq (the server's order), a gap mark
// just after the seq it follows, pending messages last in the order sent.

export const LIMIT = 500;

export class ChatLog {
  constructor(limit = LIMIT) {
    this.limit = limit;
    this.msgs = new Map();     // seq → {key, kind: 'msg', seq, user, text, ts, msgid, provisional?}
    this.pending = new Map();  // msgid → {key, kind: 'pending', msgid, user, text, state: 'sending'|'failed', why, retryable, order}
    this.gaps = new Map();     // after → {key, kind: 'gap', after}
    this.amends = new Map();   // seq → {text} | {deleted: true}: edits and deletes of messages not held (yet)
    this.sent = 0;
    this.version = 0;          // changes with every change: render when it moved
  }

  get size() { return this.msgs.size; }
  get full() { return this.msgs.size >= this.limit; }

  /** Lowest / highest stored seq, or null. */
  get oldest() { let o = null; for (const s of this.msgs.keys()) if (o === null || s < o) o = s; return o; }
  get newest() { let n = null; for (const s of this.msgs.keys()) if (n === null || s > n) n = s; return n; }

  has(seq) { return this.msgs.has(seq) && !this.msgs.get(seq).provisional; }

  /** A stored message (an event or a history entry): {seq, user, text, ts,
   *  msgid}. False if it is held already. It replaces the pending copy
   *  with the same msgid, and a provisional entry (made from an ack). */
  add({seq, user, text, ts, msgid, bot = false, edited = false, deleted = false, ref = null}) {
    if (typeof seq !== 'number') return false;
    const prev = this.msgs.get(seq);
    if (prev && !prev.provisional) return false;
    if (msgid) this.pending.delete(msgid);
    const m = {key: 'm' + seq, kind: 'msg', seq, user, text: String(text ?? ''), ts, msgid, bot: !!bot, edited: !!edited, deleted: !!deleted, ref};
    const a = this.amends.get(seq);
    if (a) { this.amends.delete(seq); Object.assign(m, a.deleted ? {deleted: true, text: '', ref: null} : {edited: true, text: a.text}); }
    if (m.deleted) { m.text = ''; m.ref = null; }
    this.msgs.set(seq, m);
    this.version++;
    return true;
  }

  /** An edit event: message seq now reads text. */
  edit(seq, text) { this.amend(seq, {edited: true, text: String(text ?? '')}); }

  /** A delete event: message seq is gone (its text with it). */
  remove(seq) { this.amend(seq, {deleted: true, text: '', ref: null}); }

  amend(seq, change) {
    if (typeof seq !== 'number') return;
    const m = this.msgs.get(seq);
    if (!m) {
      if (!this.amends.has(seq) || change.deleted) this.amends.set(seq, change);
      if (this.amends.size > this.limit) this.amends.delete(this.amends.keys().next().value);
      return;
    }
    if (m.deleted) return;
    this.msgs.set(seq, {...m, ...change, key: 'm' + seq});  // a new object: the renderer rebuilds it
    this.version++;
  }

  /** An own message on its way: shown last until acknowledged. */
  send(msgid, user, text) {
    this.pending.set(msgid, {key: 'p' + msgid, kind: 'pending', msgid, user, text, state: 'sending', why: '', retryable: false, order: ++this.sent});
    this.version++;
  }

  /** The ack for msgid: it is stored as seq. Until the event itself
   *  arrives the entry is provisional, timed now. */
  acked(msgid, seq, now = Date.now()) {
    const p = this.pending.get(msgid);
    if (!p) return;
    this.pending.delete(msgid);
    if (!this.msgs.has(seq)) this.msgs.set(seq, {key: 'm' + seq, kind: 'msg', seq, user: p.user, text: p.text, ts: now, msgid, provisional: true});
    this.version++;
  }

  /** Publishing msgid failed; retryable: the user may try again. */
  failed(msgid, why, retryable) {
    const p = this.pending.get(msgid);
    if (!p) return;
    this.pending.set(msgid, {...p, state: 'failed', why, retryable});
    this.version++;
  }

  /** A failed message is being sent again (with the same msgid). */
  retrying(msgid) {
    const p = this.pending.get(msgid);
    if (!p) return null;
    this.pending.set(msgid, {...p, state: 'sending', why: '', retryable: false});
    this.version++;
    return p;
  }

  /** Mark that messages after seq `after` (0: before everything held)
   *  are missing: the server no longer has them. */
  gap(after) {
    if (this.gaps.has(after)) return;
    this.gaps.set(after, {key: 'g' + after, kind: 'gap', after});
    this.version++;
  }

  /** Forget every stored message and mark (pending ones stay). */
  clear() { this.msgs.clear(); this.gaps.clear(); this.amends.clear(); this.version++; }

  /** Keep the newest `limit` stored messages; returns how many went. Gap
   *  marks before what is left go too (the list then starts after them). */
  trim() {
    const over = this.msgs.size - this.limit;
    if (over <= 0) return 0;
    const seqs = [...this.msgs.keys()].sort((a, b) => a - b);
    for (let i = 0; i < over; i++) this.msgs.delete(seqs[i]);
    const first = seqs[over];
    for (const after of [...this.gaps.keys()]) if (after < first) this.gaps.delete(after);
    this.version++;
    return over;
  }

  /** Every entry in display order. */
  entries() {
    const stored = [...this.msgs.values(), ...this.gaps.values()];
    const at = (e) => e.kind === 'gap' ? e.after + 0.5 : e.seq;
    stored.sort((a, b) => at(a) - at(b));
    const pend = [...this.pending.values()].sort((a, b) => a.order - b.order);
    return stored.concat(pend);
  }
}
