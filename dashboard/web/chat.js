// Chat side-panel: one room at a time (chat.lobby or chat.<SYMBOL>).
// Opening a room loads the last 50 messages with `history`, then subscribes
// with since = the last seq of that history (resume, no gap, no duplicate).
// Scrolling to the top loads older history, up to the room's bound. Own
// messages show as pending until the publish ack. Alerts (alert.*) appear
// as system messages: all of them in the lobby, a symbol's own in its room.
//
// The messages live in data (a ChatLog: stored messages keyed by seq,
// pending ones by msgid, bounded to the newest 500) and the list is
// rendered from it; the DOM is never read back as data. When the socket
// reports a gap (the server no longer holds what a resume asked for, or
// the room's stream was recreated) the room reloads its history and marks
// the gap. All text goes in as text.
import {fmtTime, fmtPrice, parseTime, el} from './format.js';
import {ChatLog, LIMIT} from './chatlog.js';

const PAGE = 50;
const MENTION = /\$([A-Z][A-Z0-9_-]{0,11})\b/g;
const MAX_ALERTS = 200;
const MAX_NOTES = 20;
const EDIT_WINDOW = 15 * 60 * 1000;
const AT = /(^|[^\p{L}\p{N}_])@([\p{L}\p{N}_.-]{1,64})/gu;
const ROOMS_EVERY = 15000;
export const GAP_TEXT = 'earlier messages are no longer available';

export class Chat {
  /** @param o {socket, list, form, input, room (select), presence (ul), presenceCount,
   *            title?, price(sym) → number|undefined, decimals(sym) → int|undefined, onSymbol(sym),
   *            onRef(ref)?, doc? (document: its title shows the unread total), limit? (500)} */
  constructor(o) {
    Object.assign(this, o);
    this.limit = o.limit || LIMIT;
    this.channel = null;
    this.gen = 0;
    this.log = new ChatLog(this.limit);  // the current room's messages
    this.alerts = [];          // recent alert entries (every room), newest last
    this.notes = [];           // system notes of the current room
    this.status = null;        // top-of-list state: 'loading' | {error} | null
    this.atStart = false;      // older history ran out: the room's first message is held
    this.trimmed = false;      // older messages were dropped to keep the bound
    this.users = new Set();
    this.loadingOlder = false;
    this.noMore = false;
    this.noteId = 0;
    // Render cache (not data): entry key → {entry, li, chips: [[sym, span]]}.
    this.nodes = new Map();
    this.chips = new Map();    // sym → Set<span> (live price chips)
    this.queued = false;
    this.refs = new Map();     // sym → Set<{span, price}> (ref cards' change since)
    this.editing = null;       // seq of the own message the composer edits
    this.unread = new Map();   // room → {unread, mentions} from `rooms`
    this.readSent = new Map(); // room → highest seq we told the server we read
    this.alertSyms = new Set(); // symbols whose alert history the lobby loaded
    this.doc = o.doc || globalThis.document;
    this.baseTitle = this.doc?.title || 'tickroom';

    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
      else if (e.key === 'Escape' && this.editing !== null) { e.preventDefault(); this.cancelEdit(); }
    });
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.send(); });
    this.list.addEventListener('scroll', () => { if (this.list.scrollTop < 40) this.loadOlder(); }, {passive: true});
    this.list.addEventListener('click', (e) => {
      const chip = e.target.closest('[data-sym]');
      if (chip) { this.onSymbol?.(chip.dataset.sym); return; }
      const retry = e.target.closest('button.retry');
      if (retry) { this.retry(retry.closest('li')?.dataset.msgid); return; }
      const card = e.target.closest('[data-ref-sym]');
      if (card) { this.onRef?.({symbol: card.dataset.refSym, time: card.dataset.refTime, price: Number(card.dataset.refPrice) || undefined, interval: card.dataset.refInterval || undefined}); return; }
      const act = e.target.closest('button.act');
      const seq = Number(act?.closest('li')?.dataset.seq);
      if (act && Number.isFinite(seq)) this.act(act.dataset.act, seq);
    });
    this.room.addEventListener('change', () => this.open(this.room.value));

    const s = this.socket;
    s.on('chat', (d, m) => { if (m.channel === this.channel) this.onMessage(m); });
    for (const ev of ['edit', 'delete', 'mute']) s.on(ev, (d, m) => { if (m.channel === this.channel && this.store(m)) this.update(); });
    s.on('join', (d, m) => { if (m.channel === this.channel && d?.user) { this.users.add(d.user); this.renderPresence(); } });
    s.on('leave', (d, m) => { if (m.channel === this.channel && d?.user) { this.users.delete(d.user); this.renderPresence(); } });
    s.on('alert', (d, m) => this.onAlert(m));
    s.on('gap', (g) => { if (g.channel === this.channel) this.onGap(g); });
    s.on('welcome', () => { if (this.channel) this.refreshPresence(); this.refreshRooms(); });
    this.presenceTimer = setInterval(() => { if (this.channel && s.status === 'connected') this.refreshPresence(); }, 30000);
    this.roomsTimer = setInterval(() => { if (s.status === 'connected') this.refreshRooms(); }, ROOMS_EVERY);
    this.doc?.addEventListener?.('visibilitychange', () => this.markRead());
  }

  /** Stop the panel's timers (the page never needs to; tests do). */
  close() { clearInterval(this.presenceTimer); clearInterval(this.roomsTimer); }

  /** Add a room option for a symbol (kept sorted after the lobby). */
  addRoom(sym) {
    const v = 'chat.' + sym;
    if (this.channel === 'chat.lobby') this.loadSymbolAlerts(sym);
    if ([...this.room.options].some((o) => o.value === v)) return;
    const opt = el('option', '', '$' + sym, {value: v});
    const after = [...this.room.options].find((o) => o.value !== 'chat.lobby' && o.value > v);
    this.room.insertBefore(opt, after || null);
    this.renderUnread();
  }

  /** The lobby shows recent alerts of every symbol, also after a reload:
   *  the last few of each symbol the board knows, once. */
  async loadSymbolAlerts(sym) {
    if (this.alertSyms.has(sym)) return;
    this.alertSyms.add(sym);
    try {
      const h = await this.socket.history('alert.' + sym, {limit: 5});
      let any = false;
      for (const m of h.messages || []) any = this.rememberAlert(m) || any;
      if (any) this.update();
    } catch (e) { this.alertSyms.delete(sym); }
  }

  // ---- unread ----
  /** Ask the server for every room's unread count (and mentions). */
  async refreshRooms() {
    try {
      const r = await this.socket.rooms();
      const seen = new Map();
      for (const x of r.rooms || []) {
        seen.set(x.channel, {unread: x.unread || 0, mentions: x.mentions || 0});
        if (x.channel !== 'chat.lobby' && /^chat\.[A-Za-z0-9_-]+$/.test(x.channel)) this.addRoom(x.channel.slice(5));
      }
      this.unread = seen;
      this.renderUnread();
    } catch (e) { /* keep the last counts */ }
  }

  /** Room list labels "$AAPL (3)" and the page title "(5) tickroom". */
  renderUnread() {
    let total = 0;
    for (const o of this.room.options || []) {
      const u = this.unread.get(o.value);
      const n = u && o.value !== this.channel ? u.unread : 0;
      total += n;
      const label = roomName(o.value) + (n ? ' (' + n + ')' : '') + (u && u.mentions && o.value !== this.channel ? ' @' : '');
      if (o.textContent !== label) o.textContent = label;
      o.dataset.unread = String(n);
    }
    if (this.doc) this.doc.title = total ? '(' + total + ') ' + this.baseTitle : this.baseTitle;
  }

  /** Tell the server what the reader has seen: the newest message, when
   *  the page is visible and the list at the bottom. */
  markRead() {
    const ch = this.channel, newest = this.log.newest;
    if (!ch || newest === null || this.doc?.hidden) return;
    if (!this.atBottom()) return;
    if ((this.readSent.get(ch) || 0) >= newest) return;
    this.readSent.set(ch, newest);
    this.socket.read(ch, newest).then((r) => {
      this.unread.set(ch, {unread: r.unread || 0, mentions: 0});
      this.renderUnread();
    }, () => this.readSent.delete(ch));
  }

  async open(channel) {
    if (channel === this.channel) return;
    const s = this.socket, old = this.channel, gen = ++this.gen;
    if (old) s.unsubscribe(old).catch(() => {});
    this.channel = channel;
    if (channel.startsWith('chat.') && channel !== 'chat.lobby') this.addRoom(channel.slice(5));
    this.room.value = channel;
    if (this.title) this.title.textContent = roomName(channel);
    this.input.placeholder = 'Message ' + roomName(channel) + ' — Enter to send, Shift+Enter for a new line';
    this.log = new ChatLog(this.limit);
    this.notes = [];
    this.status = 'loading';
    this.atStart = false; this.trimmed = false; this.noMore = false;
    this.users = new Set(); this.renderPresence();
    this.reset();
    let last = 0;
    try {
      const h = await s.history(channel, {limit: PAGE});
      if (gen !== this.gen) return;
      const msgs = h.messages || [];
      for (const m of msgs) this.store(m);
      this.noMore = msgs.length < PAGE;
      this.status = null;
      for (const m of msgs) if (typeof m.seq === 'number' && m.seq > last) last = m.seq;
    } catch (e) {
      if (gen !== this.gen) return;
      this.status = {error: 'History unavailable: ' + (e.message || e.code)};
    }
    this.update({end: true});
    this.loadAlertHistory(channel, gen);
    this.unread.set(channel, {unread: 0, mentions: 0});
    this.renderUnread();
    if (channel === 'chat.lobby') for (const o of this.room.options || []) if (o.value !== 'chat.lobby') this.loadSymbolAlerts(o.value.slice(5));
    s.subscribe(channel, {since: last}).then(() => {
      // Presence counts live subscriptions: ask once ours is in place.
      if (gen === this.gen) this.refreshPresence();
    }, (e) => {
      if (gen === this.gen && e.code !== 'unsubscribed' && e.code !== 'closed') this.note('Could not join ' + roomName(channel) + ': ' + (e.message || e.code));
    });
  }

  async loadAlertHistory(channel, gen) {
    if (channel === 'chat.lobby') return;
    try {
      const h = await this.socket.history('alert.' + channel.slice(5), {limit: 20});
      if (gen !== this.gen) return;
      let any = false;
      for (const m of h.messages || []) any = this.rememberAlert(m) || any;
      if (any) this.update();
    } catch (e) { /* no alert history for this room */ }
  }

  async loadOlder() {
    const log = this.log;
    if (this.loadingOlder || this.noMore || log.oldest === null || !this.channel) return;
    if (log.full) { this.trimmed = true; this.update(); return; }  // the bound: say so at the top
    this.loadingOlder = true;
    const gen = this.gen, ch = this.channel;
    try {
      const h = await this.socket.history(ch, {before: log.oldest, limit: PAGE});
      if (gen !== this.gen) return;
      const msgs = h.messages || [];
      this.noMore = msgs.length < PAGE;
      // Oldest first: keep the newest of them that fit in the bound.
      const room = this.limit - log.size;
      const fit = room > 0 ? msgs.slice(Math.max(0, msgs.length - room)) : [];
      for (const m of fit) this.store(m);
      if (fit.length < msgs.length) { this.trimmed = true; this.noMore = false; }
      this.atStart = this.noMore;
      this.update();
    } catch (e) { /* try again on the next scroll */ } finally { this.loadingOlder = false; }
  }

  /** A stored chat message (event or history entry) into the log. */
  store(m) {
    const d = m.data || {};
    if (m.event === 'edit') { this.log.edit(d.ref_seq, d.text); return true; }
    if (m.event === 'delete') { this.log.remove(d.ref_seq); return true; }
    if (m.event === 'mute') {
      if (this.muteSeen === undefined) this.muteSeen = new Set();
      if (this.muteSeen.has(m.seq)) return false;
      this.muteSeen.add(m.seq);
      this.note(d.unmuted ? d.user + ' was unmuted by ' + d.by : d.user + ' was muted by ' + d.by + ' until ' + fmtTime(parseTime(d.until)));
      return true;
    }
    return this.log.add({seq: m.seq, user: d.user, text: d.text, ts: parseTime(m.time ?? d.time), msgid: d.msgid,
      bot: d.bot === true, edited: d.edited === true, deleted: d.deleted === true, ref: d.ref && typeof d.ref === 'object' ? d.ref : null});
  }

  onMessage(m) {
    if (!this.store(m)) return;
    this.update({end: (m.data || {}).user === this.socket.user});
  }

  /** The resume behind this room could not deliver everything: mark the
   *  gap, then reload the newest history (the marks and the log merge by
   *  seq, so nothing shows twice). On a new epoch the old messages' seq
   *  values mean nothing: they go, and the mark heads the list. */
  async onGap(g) {
    const log = this.log, gen = this.gen, ch = this.channel;
    if (g.reason === 'epoch') { log.clear(); log.gap(0); this.atStart = false; this.noMore = false; } else log.gap(g.since ?? log.newest ?? 0);
    this.update();
    try {
      const h = await this.socket.history(ch, {limit: PAGE});
      if (gen !== this.gen || log !== this.log) return;
      for (const m of h.messages || []) this.store(m);
      this.update();
    } catch (e) { /* the mark stays; live messages continue */ }
  }

  send() {
    const text = this.input.value.trim();  // no stray blank lines at either end
    if (!text || !this.channel) return;
    if (this.editing !== null) { this.saveEdit(text); return; }
    const s = this.socket, msgid = s.nextMsgid();
    this.log.send(msgid, s.user || 'you', text);
    this.input.value = '';
    this.update({end: true});
    this.publish(this.channel, text, msgid);
  }

  publish(ch, text, msgid) {
    const log = this.log;
    this.socket.publish(ch, {text}, {msgid}).then((ack) => {
      if (log !== this.log) return;
      log.acked(msgid, ack.seq);
      this.update();
    }, (err) => {
      if (log !== this.log) return;
      const why = {too_large: 'too long', rate_limited: 'too fast, slow down', forbidden: 'not allowed', timeout: 'no answer'}[err.code] || err.message || err.code;
      log.failed(msgid, why, err.code !== 'too_large' && err.code !== 'forbidden');
      this.update();
    });
  }

  /** Share a moment of the data: a message carrying ref. */
  share(ref, text) {
    if (!this.channel) return Promise.reject(new Error('no room'));
    const body = text || ('$' + ref.symbol + ' at ' + fmtTime(parseTime(ref.time)) + (ref.price ? ' — ' + fmtPrice(ref.price) : ''));
    return this.socket.publish(this.channel, {text: body, ref}).catch((err) => { this.note('Could not share: ' + (err.message || err.code)); });
  }

  // ---- edit and delete ----
  act(what, seq) {
    const m = this.log.msgs.get(seq);
    if (!m) return;
    if (what === 'edit') {
      this.editing = seq;
      this.input.value = m.text;
      this.input.placeholder = 'Edit your message — Enter to save, Escape to cancel';
      this.input.focus?.();
    } else if (what === 'delete') {
      this.socket.remove(this.channel, seq).catch((err) => this.note('Could not delete: ' + (err.message || err.code)));
    } else if (what === 'mute') {
      this.socket.mute(this.channel, m.user, 600).catch((err) => this.note('Could not mute: ' + (err.message || err.code)));
    }
  }

  saveEdit(text) {
    const seq = this.editing, ch = this.channel;
    this.cancelEdit();
    this.socket.edit(ch, seq, {text}).catch((err) => this.note('Could not edit: ' + (err.message || err.code)));
  }

  cancelEdit() {
    this.editing = null;
    this.input.value = '';
    this.input.placeholder = 'Message ' + roomName(this.channel || 'chat.lobby') + ' — Enter to send, Shift+Enter for a new line';
  }

  retry(msgid) {
    if (!msgid) return;
    const p = this.log.retrying(msgid);
    if (!p) return;
    this.update();
    this.publish(this.channel, p.text, msgid);  // same msgid: stored once
  }

  // ---- alerts ----
  rememberAlert(m) {
    const k = 'a' + m.channel + ':' + m.seq;
    if (this.alerts.some((a) => a.key === k)) return false;
    const d = m.data || {};
    const ts = parseTime(m.time ?? d.time);
    this.alerts.push({key: k, kind: 'alert', m, ts: Number.isFinite(ts) ? ts : Date.now()});
    if (this.alerts.length > MAX_ALERTS) this.alerts.shift();
    return this.wantsAlert(m);
  }

  wantsAlert(m) {
    if (!this.channel) return false;
    if (this.channel === 'chat.lobby') return true;
    return m.channel === 'alert.' + this.channel.slice(5);
  }

  onAlert(m) { if (this.rememberAlert(m)) this.update(); }

  // ---- what the list shows, in order ----

  /** Top-of-list state, then the log's messages with the room's alerts and
   *  notes merged in by time, pending messages last. */
  entries() {
    const out = [];
    const head = this.headText();
    if (head) {
      if (!this.headEntry || this.headEntry.text !== head) this.headEntry = {key: 'h' + head, kind: 'note', text: head};
      out.push(this.headEntry);
    }
    const timed = this.alerts.filter((a) => this.wantsAlert(a.m)).concat(this.notes).sort((a, b) => a.ts - b.ts);
    let j = 0;
    for (const e of this.log.entries()) {
      if (e.kind === 'pending') { while (j < timed.length) out.push(timed[j++]); }
      else if (e.kind === 'msg' && Number.isFinite(e.ts)) { while (j < timed.length && timed[j].ts < e.ts) out.push(timed[j++]); }
      out.push(e);
    }
    while (j < timed.length) out.push(timed[j++]);
    return out;
  }

  headText() {
    const name = this.channel ? roomName(this.channel) : '';
    if (this.status === 'loading') return 'Loading ' + name + '…';
    if (this.status && this.status.error) return this.status.error;
    if (this.trimmed) return 'Showing the latest ' + this.limit + ' messages of ' + name;
    if (this.atStart) return 'Start of ' + name;
    return '';
  }

  build(e) {
    const chips = [];
    let li;
    if (e.kind === 'msg' || e.kind === 'pending') li = this.messageItem(e, chips);
    else if (e.kind === 'alert') li = this.alertItem(e.m, e.ts);
    else if (e.kind === 'gap') li = el('li', 'system note gap', GAP_TEXT);
    else li = el('li', 'system note', e.text);
    for (const [sym, span] of chips) {
      if (!this.chips.has(sym)) this.chips.set(sym, new Set());
      this.chips.get(sym).add(span);
    }
    return {entry: e, li, chips};
  }

  forget(n) {
    for (const [sym, span] of n.chips) {
      const set = this.chips.get(sym);
      if (set) { set.delete(span); if (!set.size) this.chips.delete(sym); }
    }
  }

  /** Empty the list (a room change). */
  reset() {
    for (const n of this.nodes.values()) this.forget(n);
    this.nodes.clear();
    this.list.replaceChildren();
    this.update({end: true});
  }

  /** Render soon (once per burst: a frame of events, a history page).
   *  end: scroll to the newest message afterwards. Otherwise a reader at
   *  the bottom stays there, and one scrolled up keeps the message they
   *  see in place while older ones are added or trimmed above it. */
  update({end = false} = {}) {
    if (end) this.forceEnd = true;
    if (this.queued) return;
    this.queued = true;
    this.stick = this.atBottom();
    this.anchor = this.stick ? null : this.firstVisible();
    this.anchorTop = this.anchor ? this.anchor.getBoundingClientRect().top : 0;
    queueMicrotask(() => this.render());
  }

  render() {
    this.queued = false;
    if (this.log.trim()) this.trimmed = true;
    const list = this.list, keep = new Set();
    let ref = list.firstChild;
    for (const e of this.entries()) {
      keep.add(e.key);
      let n = this.nodes.get(e.key);
      if (n && n.entry !== e) {  // changed: build it again in place
        const old = n.li;
        this.forget(n);
        n = this.build(e);
        if (old.parentNode === list) list.replaceChild(n.li, old);
        if (ref === old) ref = n.li;
        this.nodes.set(e.key, n);
      } else if (!n) {
        n = this.build(e);
        this.nodes.set(e.key, n);
      }
      if (n.li === ref) ref = ref.nextSibling;
      else list.insertBefore(n.li, ref);
    }
    for (const [k, n] of this.nodes) if (!keep.has(k)) { n.li.remove(); this.forget(n); this.nodes.delete(k); }
    if (this.forceEnd || this.stick) this.scrollToEnd();
    else if (this.anchor && this.anchor.isConnected) list.scrollTop += this.anchor.getBoundingClientRect().top - this.anchorTop;
    this.forceEnd = false; this.anchor = null;
    this.markRead();
  }

  firstVisible() {
    const top = this.list.getBoundingClientRect().top;
    for (const li of this.list.children) if (li.getBoundingClientRect().bottom > top) return li;
    return null;
  }

  messageItem(e, chips) {
    const pending = e.kind === 'pending';
    const li = el('li', 'msg');
    if (Number.isFinite(e.ts)) li.dataset.ts = String(e.ts);
    if (typeof e.seq === 'number') li.dataset.seq = String(e.seq);
    if (e.msgid) li.dataset.msgid = e.msgid;
    if (pending || (e.user && e.user === this.socket.user)) li.classList.add('mine');
    if (pending) li.classList.add(e.state === 'failed' ? 'failed' : 'pending');
    const meta = el('div', 'meta');
    meta.append(el('span', 'user', e.user || '?'));
    if (e.bot) { li.classList.add('bot'); meta.append(' ', el('span', 'badge bot-badge', 'bot', {title: 'Posted by a program on NATS, not through a gateway: the name is not verified'})); }
    const t = el('time', '', fmtTime(e.ts));
    if (Number.isFinite(e.ts)) t.dateTime = new Date(e.ts).toISOString();
    const state = el('span', 'state', pending ? (e.state === 'failed' ? 'not sent (' + e.why + ') ' : 'sending…') : '');
    if (pending && e.state === 'failed' && e.retryable) state.append(el('button', 'retry', 'Retry', {type: 'button'}));
    meta.append(' ', t, state);
    if (e.edited && !e.deleted) meta.append(' ', el('span', 'edited', '(edited)'));
    if (e.deleted) {
      li.classList.add('deleted');
      li.append(meta, el('div', 'text removed', 'message removed'));
      return li;
    }
    const stored = !pending && typeof e.seq === 'number' && !e.provisional;
    const mine = stored && !e.bot && e.user && e.user === this.socket.user;
    const mod = stored && this.socket.welcome?.moderator === true;
    if (mine && Date.now() - e.ts < EDIT_WINDOW) meta.append(' ', el('button', 'act', 'Edit', {type: 'button', 'data-act': 'edit', title: 'Edit (within 15 minutes)'}));
    if (mine || mod) meta.append(' ', el('button', 'act', 'Delete', {type: 'button', 'data-act': 'delete'}));
    if (mod && !mine && e.user) meta.append(' ', el('button', 'act', 'Mute 10 min', {type: 'button', 'data-act': 'mute', title: 'Mute ' + e.user + ' in this room for 10 minutes'}));
    li.append(meta);
    if (e.ref) li.append(this.refCard(e.ref));
    li.append(this.textWithChips(e.text, chips));
    if (this.socket.user && [...(e.text || '').matchAll(AT)].some((m) => m[2].replace(/\.+$/, '') === this.socket.user)) li.classList.add('mentions-me');
    return li;
  }

  /** A message's ref as a card: symbol, time, the price then, the change
   *  since (live). Clicking it opens the chart at that moment. */
  refCard(ref) {
    const sym = String(ref.symbol || '');
    const ts = parseTime(ref.time);
    const attrs = {type: 'button', 'data-ref-sym': sym, 'data-ref-time': String(ref.time ?? ''), title: 'Open the chart of ' + sym + ' at this moment'};
    if (Number.isFinite(ref.price)) attrs['data-ref-price'] = String(ref.price);
    if (ref.interval) attrs['data-ref-interval'] = String(ref.interval);
    const card = el('button', 'ref-card', null, attrs);
    card.append(el('span', 'ref-sym', sym), ' ', el('time', 'ref-time', Number.isFinite(ts) ? fmtTime(ts) : String(ref.time ?? '')));
    if (Number.isFinite(ref.price)) {
      card.append(' ', el('span', 'ref-price', fmtPrice(ref.price, this.decimals?.(sym))));
      const since = el('span', 'ref-change', changeText(ref.price, this.price?.(sym)));
      card.append(' ', since);
      if (!this.refs.has(sym)) this.refs.set(sym, new Set());
      this.refs.get(sym).add({span: since, price: ref.price});
    }
    return card;
  }

  textWithChips(text, chips) {
    const div = el('div', 'text');
    let at = 0;
    for (const m of text.matchAll(MENTION)) {
      if (m.index > at) this.appendMentions(div, text.slice(at, m.index));
      const sym = m[1];
      const chip = el('button', 'chip', '$' + sym, {type: 'button', 'data-sym': sym, title: 'Show ' + sym});
      const price = el('span', 'chip-price', fmtPrice(this.price?.(sym), this.decimals?.(sym)));
      chip.append(' ', price);
      chips.push([sym, price]);
      div.append(chip);
      at = m.index + m[0].length;
    }
    if (at < text.length) this.appendMentions(div, text.slice(at));
    return div;
  }

  /** Plain text with each @name as a span; the reader's own name stands out. */
  appendMentions(div, text) {
    let at = 0;
    for (const m of text.matchAll(AT)) {
      const start = m.index + m[1].length, name = m[2].replace(/\.+$/, '');
      if (start > at) div.append(text.slice(at, start));
      const me = this.socket.user && name === this.socket.user;
      div.append(el('span', me ? 'mention me' : 'mention', '@' + name));
      at = start + 1 + name.length;
    }
    if (at < text.length) div.append(text.slice(at));
  }

  /** Called once per frame with the symbols whose price changed. */
  updateChips(syms) {
    for (const sym of syms) {
      for (const r of this.refs.get(sym) || []) {
        if (!r.span.isConnected) { this.refs.get(sym).delete(r); continue; }
        const text = changeText(r.price, this.price?.(sym));
        if (r.span.textContent !== text) r.span.textContent = text;
      }
      const set = this.chips.get(sym);
      if (!set) continue;
      const text = fmtPrice(this.price?.(sym), this.decimals?.(sym));
      for (const span of set) if (span.textContent !== text) span.textContent = text;
    }
  }

  alertItem(m, ts) {
    const d = m.data || {};
    const sym = d.symbol || (m.channel || '').split('.')[1] || '';
    const level = ['info', 'warn', 'critical'].includes(d.level) ? d.level : 'info';
    const li = el('li', 'alert system level-' + level);
    li.dataset.ts = String(ts);
    const meta = el('div', 'meta');
    meta.append(el('span', 'badge', level === 'info' ? 'Alert' : level === 'warn' ? 'Warning' : 'Critical'), ' ');
    if (sym) meta.append(el('button', 'chip', sym, {type: 'button', 'data-sym': sym, title: 'Show ' + sym}), ' ');
    const t = el('time', '', fmtTime(ts));
    if (Number.isFinite(ts)) t.dateTime = new Date(ts).toISOString();
    meta.append(t);
    li.append(meta, el('div', 'text', d.text ?? ''));
    return li;
  }

  // ---- presence ----
  async refreshPresence() {
    const ch = this.channel;
    try {
      const r = await this.socket.presence(ch);
      if (ch !== this.channel) return;
      this.users = new Set(r.users || []);
      this.renderPresence();
    } catch (e) { /* keep what join/leave told us */ }
  }

  renderPresence() {
    const users = [...this.users].sort((a, b) => a.localeCompare(b));
    this.presenceCount.textContent = String(users.length);
    this.presence.replaceChildren(...users.map((u) => el('li', u === this.socket.user ? 'me' : '', u)));
  }

  // ---- helpers ----
  note(text) {
    this.notes.push({key: 'n' + (++this.noteId), kind: 'note', text, ts: Date.now()});
    if (this.notes.length > MAX_NOTES) this.notes.shift();
    this.update({end: true});
  }

  atBottom() { const l = this.list; return l.scrollHeight - l.scrollTop - l.clientHeight < 60; }
  scrollToEnd() { this.list.scrollTop = this.list.scrollHeight; }
}

/** "+1.23% since" from the price then to the price now. */
export function changeText(then, now) {
  if (!Number.isFinite(then) || !Number.isFinite(now) || then <= 0) return '';
  const pct = (now / then - 1) * 100;
  return (pct >= 0 ? '+' : '') + pct.toFixed(2) + '% since';
}

export function roomName(channel) {
  return channel === 'chat.lobby' ? '#lobby' : '$' + channel.replace(/^chat\./, '');
}
