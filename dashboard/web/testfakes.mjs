// Fakes for the node tests of the client library and the chat panel: a
// scripted WebSocket and EventSource, a few timing helpers, and a small
// DOM (just what chat.js and format.js's el() use). Not served: the
// gateway embeds *.js only.

export class FakeWS {
  static all = [];
  constructor(url, proto) {
    this.url = url; this.proto = proto; this.readyState = 0; this.sent = [];
    FakeWS.all.push(this);
    setTimeout(() => { if (this.readyState === 0) { this.readyState = 1; this.onopen?.(); } }, 1);
  }
  send(s) { this.sent.push(JSON.parse(s)); }
  close(code = 1000) { this.serverClose(code); }
  serverClose(code, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3; setTimeout(() => this.onclose?.({code, reason}), 0);
  }
  /** One server frame holding objs, joined with '\n'. */
  recv(...objs) { this.onmessage?.({data: objs.map((o) => JSON.stringify(o)).join('\n')}); }
  ops(op) { return this.sent.filter((m) => m.op === op); }
  last(op) { return this.ops(op).at(-1); }
}

export class FakeES {
  static all = [];
  constructor(url) {
    this.url = new URL(url); this.readyState = 0; this.listeners = {};
    FakeES.all.push(this);
    setTimeout(() => { if (this.readyState === 0) { this.readyState = 1; this.onopen?.(); } }, 1);
  }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  close() { this.readyState = 2; }
  channels() { return this.url.searchParams.getAll('channel'); }
  send(obj) { this.onmessage?.({data: JSON.stringify(obj)}); }
  ackAll() { for (const ch of this.channels()) this.send({op: 'subscribe', channel: ch, ok: true}); }
  serverClose(code, reason) { for (const fn of this.listeners.close || []) fn({data: JSON.stringify({code, reason})}); }
}

// A WebSocket the network breaks (unless `ok`): it never opens.
export class FlakyWS extends FakeWS {
  static ok = false;
  constructor(url, proto) {
    super(url, proto);
    if (!FlakyWS.ok) { this.readyState = 3; setTimeout(() => this.onclose?.({code: 1006, reason: ''}), 1); }
  }
}

export const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

export async function until(fn, ms = 1000) {
  const end = Date.now() + ms;
  while (!fn()) { if (Date.now() > end) throw new Error('timed out waiting'); await tick(2); }
}

/** Socket options for tests: fast backoff, no heartbeat in the way. */
export const opts = {WebSocket: FakeWS, backoff: {min: 5, max: 20}, retry: {min: 5, max: 10}, heartbeat: 60000, timeout: 200};

// ---- a small DOM ----

class FakeText {
  constructor(data) { this.data = String(data); this.parentNode = null; }
  get textContent() { return this.data; }
}

const camel = (s) => s.replace(/-([a-z])/g, (m, c) => c.toUpperCase());

export class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.childNodes = [];
    this.parentNode = null;
    this.dataset = {};
    this.attributes = {};
    this.listeners = {};
    this.classes = new Set();
    this.scrollTop = 0; this.scrollHeight = 0; this.clientHeight = 0;
    this.connected = false;  // set on a root to make its subtree "in the document"
    const self = this;
    this.classList = {
      add: (...c) => c.forEach((x) => self.classes.add(x)),
      remove: (...c) => c.forEach((x) => self.classes.delete(x)),
      contains: (c) => self.classes.has(c),
    };
  }
  get className() { return [...this.classes].join(' '); }
  set className(v) { this.classes = new Set(String(v).split(/\s+/).filter(Boolean)); }
  setAttribute(k, v) {
    this.attributes[k] = String(v);
    if (k.startsWith('data-')) this.dataset[camel(k.slice(5))] = String(v);
    if (k === 'class') this.className = v;
  }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  get children() { return this.childNodes.filter((n) => n instanceof FakeElement); }
  get firstChild() { return this.childNodes[0] || null; }
  get nextSibling() {
    const p = this.parentNode; if (!p) return null;
    return p.childNodes[p.childNodes.indexOf(this) + 1] || null;
  }
  get isConnected() { let n = this; while (n.parentNode) n = n.parentNode; return !!n.connected; }
  detach(n) { if (n.parentNode) { const s = n.parentNode.childNodes; s.splice(s.indexOf(n), 1); n.parentNode = null; } }
  wrap(n) { return typeof n === 'string' ? new FakeText(n) : n; }
  append(...ns) { for (let n of ns) { n = this.wrap(n); this.detach(n); n.parentNode = this; this.childNodes.push(n); } }
  prepend(...ns) { for (let n of ns.reverse()) { n = this.wrap(n); this.detach(n); n.parentNode = this; this.childNodes.unshift(n); } }
  insertBefore(n, ref) {
    if (ref === null || ref === undefined) { this.append(n); return n; }
    if (ref.parentNode !== this) throw new Error('insertBefore: ref is not a child');
    if (n === ref) return n;
    this.detach(n);
    this.childNodes.splice(this.childNodes.indexOf(ref), 0, n); n.parentNode = this;
    return n;
  }
  replaceChild(n, old) {
    if (old.parentNode !== this) throw new Error('replaceChild: not a child');
    this.detach(n);
    this.childNodes[this.childNodes.indexOf(old)] = n; n.parentNode = this; old.parentNode = null;
    return old;
  }
  remove() { this.detach(this); }
  replaceChildren(...ns) { for (const c of [...this.childNodes]) this.detach(c); this.append(...ns); }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(''); }
  set textContent(v) { this.replaceChildren(); if (v !== '') this.append(String(v)); }
  getBoundingClientRect() { return {top: 0, bottom: 0}; }
  closest() { return null; }
  querySelectorAll(sel) {  // '.class' or 'tag' only
    const out = [];
    const want = (e) => sel.startsWith('.') ? e.classes.has(sel.slice(1)) : e.tagName === sel.toUpperCase();
    const walk = (e) => { for (const c of e.children) { if (want(c)) out.push(c); walk(c); } };
    walk(this);
    return out;
  }
}

/** Install a fake `document` (createElement only); returns the list of
 *  tag names created, so a test can assert no markup was parsed. */
export function installDOM() {
  const created = [];
  globalThis.document = {createElement: (tag) => { created.push(tag); return new FakeElement(tag); }};
  return created;
}
