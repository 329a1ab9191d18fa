// The user's own channel (user.<name>, PROTOCOL §4) in the page: mentions,
// price alerts firing and moderation notices as toasts (and, if the user
// opted in, desktop notifications while the page is hidden); the user's
// price alerts (set, list, delete). Everything reaches the DOM as text.
import {userChannel} from './tickroom.js';
import {el, fmtPrice, fmtTime, parseTime} from './format.js';

const TOAST_MS = 8000;
const MAX_TOASTS = 5;
const NOTIFY_KEY = 'tickroom.notify';

export class Inbox {
  /** @param o {socket, root (element the panel goes in), toasts? (element; default a new one on body),
   *            price(sym) → number|undefined, onSymbol(sym)?, afterMention(data)?, doc?} */
  constructor(o) {
    Object.assign(this, o);
    this.doc = o.doc || globalThis.document;
    this.channel = '';
    this.alerts = [];
    this.build();
    const s = this.socket;
    s.on('welcome', (d) => this.onWelcome(d));
    s.on('mention', (d, m) => { if (m.channel === this.channel) this.gotMention(d); });
    s.on('price_alert', (d, m) => { if (m.channel === this.channel) this.onPriceAlert(d); });
    s.on('notice', (d, m) => { if (m.channel === this.channel) this.toast('notice', d.action === 'mute' ? 'You were muted in ' + d.channel + ' by ' + d.by + ' until ' + fmtTime(parseTime(d.until)) : 'Moderation in ' + d.channel + ': ' + d.action + ' by ' + d.by); });
  }

  build() {
    const sec = el('section', 'inbox', null, {'aria-label': 'Price alerts and notifications'});
    const head = el('div', 'inbox-head');
    head.append(el('h3', '', 'My price alerts'));
    const lab = el('label', 'notify');
    this.notifyBox = el('input', '', null, {type: 'checkbox', id: 'notify-opt'});
    this.notifyBox.checked = this.opted();
    this.notifyBox.addEventListener('change', () => this.setNotify(this.notifyBox.checked));
    lab.append(this.notifyBox, ' desktop notifications');
    head.append(lab);
    this.list = el('ul', 'alert-list', null, {'aria-label': 'My price alerts'});
    this.list.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-alert]');
      if (b) this.remove(b.dataset.alert);
      const sym = e.target.closest('[data-sym]');
      if (sym && !b) this.onSymbol?.(sym.dataset.sym);
    });
    const form = el('form', 'alert-form', null, {'aria-label': 'New price alert'});
    this.symIn = el('input', '', null, {name: 'symbol', placeholder: 'Symbol', 'aria-label': 'Symbol', size: '7', spellcheck: 'false'});
    this.dirIn = el('select', '', null, {name: 'dir', 'aria-label': 'Direction'});
    this.dirIn.append(el('option', '', 'above', {value: 'above'}), el('option', '', 'below', {value: 'below'}));
    this.levelIn = el('input', '', null, {name: 'level', type: 'number', step: 'any', min: '0', placeholder: 'Price', 'aria-label': 'Price level', size: '8'});
    this.noteIn = el('input', '', null, {name: 'note', placeholder: 'Note (optional)', 'aria-label': 'Note', maxlength: '200'});
    this.formMsg = el('span', 'form-msg', '', {role: 'status'});
    form.append(this.symIn, this.dirIn, this.levelIn, this.noteIn, el('button', '', 'Set alert', {type: 'submit'}), this.formMsg);
    form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.form = form;
    sec.append(head, this.list, form);
    this.root.append(sec);
    if (!this.toasts) {
      this.toasts = el('ol', 'toasts', null, {'aria-live': 'polite', 'aria-label': 'Notifications'});
      this.doc?.body?.append(this.toasts);
    }
  }

  onWelcome(d) {
    const ch = userChannel(d.user);
    if (ch !== this.channel) {
      if (this.channel) this.socket.unsubscribe(this.channel).catch(() => {});
      this.channel = ch;
      // Live from here; what came while away is in its history (and the
      // room list's mention counts).
      if (ch) this.socket.subscribe(ch).catch(() => {});
    }
    this.refresh();
  }

  async refresh() {
    try {
      const r = await this.socket.alertList();
      this.alerts = r.alerts || [];
      this.render();
    } catch (e) { /* keep the list */ }
  }

  render() {
    this.list.replaceChildren(...this.alerts.map((a) => {
      const li = el('li', 'alert-item');
      const dir = a.above !== undefined ? '≥ ' + fmtPrice(a.above) : '≤ ' + fmtPrice(a.below);
      li.append(el('button', 'chip', a.symbol, {type: 'button', 'data-sym': a.symbol}), ' ', el('span', 'level', dir));
      if (a.note) li.append(' ', el('span', 'note', a.note));
      li.append(' ', el('button', 'del', 'Delete', {type: 'button', 'data-alert': a.id, 'aria-label': 'Delete alert ' + a.symbol + ' ' + dir}));
      return li;
    }));
    if (!this.alerts.length) this.list.append(el('li', 'muted', 'No price alerts. Right-click a ticker or use the chart to add one.'));
  }

  /** Open the form for sym, at price (a board row, the chart). */
  newAlert(sym, price) {
    this.symIn.value = sym || '';
    const now = this.price?.(sym);
    if (Number.isFinite(price)) this.levelIn.value = String(price);
    else if (Number.isFinite(now)) this.levelIn.value = String(now);
    if (Number.isFinite(now) && Number.isFinite(Number(this.levelIn.value))) this.dirIn.value = Number(this.levelIn.value) >= now ? 'above' : 'below';
    this.formMsg.textContent = '';
    this.levelIn.focus?.();
    this.form.scrollIntoView?.({block: 'nearest'});
  }

  async submit() {
    const symbol = this.symIn.value.trim().toUpperCase(), level = Number(this.levelIn.value);
    if (!symbol || !(level > 0)) { this.formMsg.textContent = 'a symbol and a price > 0'; return; }
    const req = {symbol, [this.dirIn.value]: level};
    const note = this.noteIn.value.trim();
    if (note) req.note = note;
    try {
      const r = await this.socket.alertSet(req);
      this.alerts.push(r.alert);
      this.render();
      this.formMsg.textContent = 'set';
      this.noteIn.value = '';
    } catch (e) {
      this.formMsg.textContent = {not_found: 'unknown symbol', too_large: 'too many alerts'}[e.code] || e.message || e.code;
    }
  }

  async remove(id) {
    try { await this.socket.alertDelete(id); } catch (e) { /* fired or gone: the refresh says */ }
    this.refresh();
  }

  gotMention(d) {
    const room = String(d.channel || '').replace(/^chat\./, '');
    this.toast('mention', (d.user || '?') + ' mentioned you in ' + (room === 'lobby' ? '#lobby' : '$' + room) + ': ' + (d.text || ''));
    this.afterMention?.(d);
  }

  onPriceAlert(d) {
    const dir = d.above !== undefined ? 'above ' + fmtPrice(d.above) : 'below ' + fmtPrice(d.below);
    this.toast('price-alert', d.symbol + ' crossed ' + dir + ' at ' + fmtPrice(d.price) + (d.note ? ' — ' + d.note : ''), d.symbol);
    this.alerts = this.alerts.filter((a) => a.id !== d.id);
    this.render();
  }

  toast(kind, text, sym) {
    const li = el('li', 'toast ' + kind, null, {role: 'status'});
    li.append(el('span', 'toast-text', text));
    if (sym) li.append(' ', el('button', 'chip', sym, {type: 'button', 'data-sym': sym}));
    li.addEventListener('click', (e) => { const b = e.target.closest('[data-sym]'); if (b) this.onSymbol?.(b.dataset.sym); li.remove(); });
    this.toasts.append(li);
    while (this.toasts.children.length > MAX_TOASTS) this.toasts.children[0].remove();
    setTimeout(() => li.remove(), TOAST_MS);
    this.desktop(text);
  }

  // ---- desktop notifications: opt-in, only while the page is hidden ----
  opted() { try { return localStorage.getItem(NOTIFY_KEY) === '1'; } catch (e) { return false; } }

  async setNotify(on) {
    const N = globalThis.Notification;
    if (on && N && N.permission !== 'granted') {
      const p = await N.requestPermission().catch(() => 'denied');
      if (p !== 'granted') { on = false; this.notifyBox.checked = false; }
    }
    try { localStorage.setItem(NOTIFY_KEY, on ? '1' : '0'); } catch (e) { /* private mode */ }
  }

  desktop(text) {
    const N = globalThis.Notification;
    if (!this.opted() || !N || N.permission !== 'granted' || !this.doc?.hidden) return;
    try { new N('tickroom', {body: text, tag: 'tickroom'}); } catch (e) { /* not allowed here */ }
  }
}
