// Chat side-panel: one room at a time (chat.lobby or chat.<SYMBOL>).
// Opening a room loads the last 50 messages with `history`, then subscribes
// with since = the last seq of that history (resume, no gap, no duplicate).
// Scrolling to the top loads older history. Own messages show as pending
// until the publish ack. Alerts (alert.*) appear as system messages: all of
// them in the lobby, a symbol's own in its room. All text goes in as text.
import {fmtTime, fmtPrice, parseTime, el} from './format.js';

const PAGE = 50;
const MENTION = /\$([A-Z][A-Z0-9_-]{0,11})\b/g;
const MAX_ALERTS = 200;

export class Chat {
  /** @param o {socket, list, form, input, room (select), presence (ul), presenceCount,
   *            title?, price(sym) → number|undefined, decimals(sym) → int|undefined, onSymbol(sym)} */
  constructor(o) {
    Object.assign(this, o);
    this.channel = null;
    this.gen = 0;
    this.bySeq = new Map();    // seq → li (current room)
    this.byMsgid = new Map();  // msgid → li (current room)
    this.chips = new Map();    // sym → Set<span> (live price chips)
    this.alerts = [];          // recent alert events, newest last
    this.users = new Set();
    this.oldest = null; this.noMore = false; this.loadingOlder = false;

    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    });
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.send(); });
    this.list.addEventListener('scroll', () => { if (this.list.scrollTop < 40) this.loadOlder(); }, {passive: true});
    this.list.addEventListener('click', (e) => {
      const chip = e.target.closest('[data-sym]');
      if (chip) { this.onSymbol?.(chip.dataset.sym); return; }
      const retry = e.target.closest('button.retry');
      if (retry) this.retry(retry.closest('li'));
    });
    this.room.addEventListener('change', () => this.open(this.room.value));

    const s = this.socket;
    s.on('chat', (d, m) => { if (m.channel === this.channel) this.onMessage(m); });
    s.on('join', (d, m) => { if (m.channel === this.channel && d?.user) { this.users.add(d.user); this.renderPresence(); } });
    s.on('leave', (d, m) => { if (m.channel === this.channel && d?.user) { this.users.delete(d.user); this.renderPresence(); } });
    s.on('alert', (d, m) => this.onAlert(m));
    s.on('welcome', () => { if (this.channel) this.refreshPresence(); });
    setInterval(() => { if (this.channel && s.status === 'connected') this.refreshPresence(); }, 30000);
  }

  /** Add a room option for a symbol (kept sorted after the lobby). */
  addRoom(sym) {
    const v = 'chat.' + sym;
    if ([...this.room.options].some((o) => o.value === v)) return;
    const opt = el('option', '', '$' + sym, {value: v});
    const after = [...this.room.options].find((o) => o.value !== 'chat.lobby' && o.value > v);
    this.room.insertBefore(opt, after || null);
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
    this.list.replaceChildren(el('li', 'system note', 'Loading ' + roomName(channel) + '…'));
    this.bySeq.clear(); this.byMsgid.clear(); this.chips.clear();
    this.users = new Set(); this.renderPresence();
    this.oldest = null; this.noMore = false;
    let last = 0;
    try {
      const h = await s.history(channel, {limit: PAGE});
      if (gen !== this.gen) return;
      const msgs = h.messages || [];
      this.list.replaceChildren();
      for (const m of msgs) this.onMessage(m, true);
      this.noMore = msgs.length < PAGE;
      for (const m of msgs) if (typeof m.seq === 'number' && m.seq > last) last = m.seq;
    } catch (e) {
      if (gen !== this.gen) return;
      this.list.replaceChildren(el('li', 'system note', 'History unavailable: ' + (e.message || e.code)));
    }
    for (const a of this.alerts) if (this.wantsAlert(a)) this.place(this.alertItem(a));
    this.loadAlertHistory(channel, gen);
    s.subscribe(channel, {since: last}).then(() => {
      // Presence counts live subscriptions: ask once ours is in place.
      if (gen === this.gen) this.refreshPresence();
    }, (e) => {
      if (gen === this.gen && e.code !== 'unsubscribed' && e.code !== 'closed') this.note('Could not join ' + roomName(channel) + ': ' + (e.message || e.code));
    });
    this.scrollToEnd();
  }

  async loadAlertHistory(channel, gen) {
    if (channel === 'chat.lobby') return;
    try {
      const h = await this.socket.history('alert.' + channel.slice(5), {limit: 20});
      if (gen !== this.gen) return;
      const stick = this.atBottom();
      for (const m of h.messages || []) this.rememberAlert(m) && this.place(this.alertItem(m));
      if (stick) this.scrollToEnd();
    } catch (e) { /* no alert history for this room */ }
  }

  async loadOlder() {
    if (this.loadingOlder || this.noMore || this.oldest === null || !this.channel) return;
    this.loadingOlder = true;
    const gen = this.gen, ch = this.channel;
    try {
      const h = await this.socket.history(ch, {before: this.oldest, limit: PAGE});
      if (gen !== this.gen) return;
      const msgs = h.messages || [];
      this.noMore = msgs.length < PAGE;
      const before = this.list.scrollHeight;
      for (const m of msgs) this.onMessage(m, true);
      this.list.scrollTop += this.list.scrollHeight - before;
      if (this.noMore) this.list.prepend(el('li', 'system note', 'Start of ' + roomName(ch)));
    } catch (e) { /* try again on the next scroll */ } finally { this.loadingOlder = false; }
  }

  onMessage(m, quiet) {
    const d = m.data || {};
    if (typeof m.seq === 'number') {
      if (this.bySeq.has(m.seq)) return;
      if (this.oldest === null || m.seq < this.oldest) this.oldest = m.seq;
    }
    const stick = !quiet && this.atBottom();
    let li = d.msgid && this.byMsgid.get(d.msgid);
    if (li && li.classList.contains('pending')) {
      li.remove();   // the stored copy replaces our pending one
      this.byMsgid.delete(d.msgid);
      li = null;
    }
    li = this.messageItem(d.user, d.text, parseTime(m.time ?? d.time), m.seq, d.msgid);
    this.place(li);
    if (stick || d.user === this.socket.user) this.scrollToEnd();
  }

  messageItem(user, text, ts, seq, msgid) {
    const li = el('li', 'msg');
    if (Number.isFinite(ts)) li.dataset.ts = String(ts);
    if (typeof seq === 'number') { li.dataset.seq = String(seq); this.bySeq.set(seq, li); }
    if (msgid) { li.dataset.msgid = msgid; this.byMsgid.set(msgid, li); }
    if (user && user === this.socket.user) li.classList.add('mine');
    const meta = el('div', 'meta');
    meta.append(el('span', 'user', user || '?'));
    const t = el('time', '', fmtTime(ts));
    if (Number.isFinite(ts)) t.dateTime = new Date(ts).toISOString();
    meta.append(' ', t, el('span', 'state'));
    li.append(meta, this.textWithChips(String(text ?? '')));
    return li;
  }

  textWithChips(text) {
    const div = el('div', 'text');
    let at = 0;
    for (const m of text.matchAll(MENTION)) {
      if (m.index > at) div.append(text.slice(at, m.index));
      const sym = m[1];
      const chip = el('button', 'chip', '$' + sym, {type: 'button', 'data-sym': sym, title: 'Show ' + sym});
      const price = el('span', 'chip-price', fmtPrice(this.price?.(sym), this.decimals?.(sym)));
      chip.append(' ', price);
      if (!this.chips.has(sym)) this.chips.set(sym, new Set());
      this.chips.get(sym).add(price);
      div.append(chip);
      at = m.index + m[0].length;
    }
    if (at < text.length) div.append(text.slice(at));
    return div;
  }

  /** Called once per frame with the symbols whose price changed. */
  updateChips(syms) {
    for (const sym of syms) {
      const set = this.chips.get(sym);
      if (!set) continue;
      const text = fmtPrice(this.price?.(sym), this.decimals?.(sym));
      for (const span of set) if (span.textContent !== text) span.textContent = text;
    }
  }

  /** Insert in order: chat by seq, alerts by time, pending at the end. */
  place(li) {
    const seq = li.dataset.seq ? +li.dataset.seq : null;
    const ts = li.classList.contains('pending') ? Infinity : +(li.dataset.ts || Date.now());
    let ref = null, n = this.list.lastElementChild;
    while (n) {
      const ns = n.dataset.seq ? +n.dataset.seq : null;
      const nts = n.classList.contains('pending') ? Infinity : n.dataset.ts ? +n.dataset.ts : -Infinity;
      const after = (seq !== null && ns !== null && !n.classList.contains('alert') && !li.classList.contains('alert')) ? ns > seq : nts > ts;
      if (!after) break;
      ref = n; n = n.previousElementSibling;
    }
    this.list.insertBefore(li, ref);
  }

  send() {
    const text = this.input.value.trim();  // no stray blank lines at either end
    if (!text.trim() || !this.channel) return;
    const s = this.socket, msgid = s.nextMsgid(), ch = this.channel;
    const li = this.messageItem(s.user || 'you', text, NaN, null, msgid);
    li.classList.add('pending', 'mine');
    li.querySelector('.state').textContent = 'sending…';
    this.place(li);
    this.input.value = '';
    this.scrollToEnd();
    this.publish(ch, text, msgid, li);
  }

  publish(ch, text, msgid, li) {
    li.dataset.text = text;
    this.socket.publish(ch, {text}, {msgid}).then((ack) => {
      if (ch !== this.channel || !li.isConnected) return;
      if (this.bySeq.has(ack.seq)) { li.remove(); return; }  // the event came first
      li.classList.remove('pending', 'failed');
      li.querySelector('.state').textContent = '';
      li.dataset.seq = String(ack.seq);
      li.dataset.ts = String(Date.now());
      li.querySelector('time').textContent = fmtTime(Date.now());
      this.bySeq.set(ack.seq, li);
      li.remove(); this.place(li);
    }, (err) => {
      if (!li.isConnected) return;
      li.classList.remove('pending');
      li.classList.add('failed');
      const state = li.querySelector('.state');
      const why = {too_large: 'too long', rate_limited: 'too fast, slow down', forbidden: 'not allowed', timeout: 'no answer'}[err.code] || err.message || err.code;
      state.textContent = 'not sent (' + why + ') ';
      if (err.code !== 'too_large' && err.code !== 'forbidden') state.append(el('button', 'retry', 'Retry', {type: 'button'}));
    });
  }

  retry(li) {
    if (!li || !li.dataset.msgid) return;
    li.classList.remove('failed'); li.classList.add('pending');
    li.querySelector('.state').textContent = 'sending…';
    this.publish(this.channel, li.dataset.text || '', li.dataset.msgid, li);  // same msgid: stored once
  }

  // ---- alerts ----
  rememberAlert(m) {
    const k = m.channel + ':' + m.seq;
    if (this.alerts.some((a) => a.channel + ':' + a.seq === k)) return false;
    this.alerts.push(m);
    if (this.alerts.length > MAX_ALERTS) this.alerts.shift();
    return this.wantsAlert(m);
  }

  wantsAlert(m) {
    if (!this.channel) return false;
    if (this.channel === 'chat.lobby') return true;
    return m.channel === 'alert.' + this.channel.slice(5);
  }

  onAlert(m) {
    if (!this.rememberAlert(m)) return;
    const stick = this.atBottom();
    this.place(this.alertItem(m));
    if (stick) this.scrollToEnd();
  }

  alertItem(m) {
    const d = m.data || {};
    const sym = d.symbol || (m.channel || '').split('.')[1] || '';
    const level = ['info', 'warn', 'critical'].includes(d.level) ? d.level : 'info';
    const ts = parseTime(m.time ?? d.time);
    const li = el('li', 'alert system level-' + level);
    li.dataset.ts = String(Number.isFinite(ts) ? ts : Date.now());
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
  note(text) { this.place(el('li', 'system note', text, {'data-ts': String(Date.now())})); this.scrollToEnd(); }
  atBottom() { const l = this.list; return l.scrollHeight - l.scrollTop - l.clientHeight < 60; }
  scrollToEnd() { this.list.scrollTop = this.list.scrollHeight; }
}

export function roomName(channel) {
  return channel === 'chat.lobby' ? '#lobby' : '$' + channel.replace(/^chat\./, '');
}
