// Tests for tickroom.js: node --test dashboard/web/
// Pure helpers, then the Socket against a scripted fake WebSocket.
import test from 'node:test';
import assert from 'node:assert/strict';
import {splitFrame, backoffDelay, matchChannel, isPersisted, SeqTracker, connect, chooseTransport} from './tickroom.js';

test('splitFrame splits on newlines, skips blanks, reports bad lines', () => {
  const bad = [];
  const out = splitFrame('{"a":1}\n\n{"b":2}\nnot json\n{"c":3}\n', (e, line) => bad.push(line));
  assert.deepEqual(out, [{a: 1}, {b: 2}, {c: 3}]);
  assert.deepEqual(bad, ['not json']);
  assert.deepEqual(splitFrame('{"x":"a\\nb"}'), [{x: 'a\nb'}]);  // escaped newline stays inside
});

test('backoffDelay: full jitter within [min, min(max, min*2^(n+1))]', () => {
  const o = {min: 250, max: 10000};
  assert.equal(backoffDelay(0, o, () => 0), 250);
  assert.equal(backoffDelay(0, o, () => 1), 500);
  assert.equal(backoffDelay(3, o, () => 1), 4000);
  assert.equal(backoffDelay(10, o, () => 1), 10000);
  assert.equal(backoffDelay(1000, o, () => 1), 10000);
  for (let n = 0; n < 50; n++) {
    const d = backoffDelay(n, o);
    assert.ok(d >= 250 && d <= 10000, String(d));
  }
});

test('matchChannel follows NATS wildcards', () => {
  assert.ok(matchChannel('market.*', 'market.AAPL'));
  assert.ok(!matchChannel('market.*', 'market.AAPL.x'));
  assert.ok(!matchChannel('market.*', 'chat.AAPL'));
  assert.ok(matchChannel('feed.>', 'feed.news.us'));
  assert.ok(!matchChannel('feed.>', 'feed'));
  assert.ok(matchChannel('chat.lobby', 'chat.lobby'));
  assert.ok(!matchChannel('chat.lobby', 'chat.lobby2'));
  assert.ok(isPersisted('chat.lobby') && isPersisted('alert.*') && isPersisted('candle.AAPL'));
  assert.ok(!isPersisted('market.AAPL') && !isPersisted('chatter.x'));
});

test('SeqTracker drops seq <= last seen per channel; rewind re-allows', () => {
  const t = new SeqTracker();
  assert.ok(t.accept('chat.a', 5));
  assert.ok(!t.accept('chat.a', 5));
  assert.ok(!t.accept('chat.a', 3));
  assert.ok(t.accept('chat.b', 3));
  assert.ok(t.accept('chat.a', 9));
  assert.ok(t.accept('market.x', undefined));
  t.rewind('chat.a', 0);
  assert.ok(t.accept('chat.a', 1));
  t.rewind('chat.new', 7);
  assert.ok(!t.accept('chat.new', 7));
  assert.ok(t.accept('chat.new', 8));
});

// ---- Socket with a fake WebSocket ----

class FakeWS {
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
  recv(...objs) { this.onmessage?.({data: objs.map((o) => JSON.stringify(o)).join('\n')}); }
  ops(op) { return this.sent.filter((m) => m.op === op); }
}
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
async function until(fn, ms = 1000) {
  const end = Date.now() + ms;
  while (!fn()) { if (Date.now() > end) throw new Error('timed out waiting'); await tick(2); }
}
const opts = {WebSocket: FakeWS, backoff: {min: 5, max: 20}, heartbeat: 60000, timeout: 200};

test('subscribe, events from batched frames, reply routing', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const got = [];
  s.on('chat', (d, m) => got.push(m.seq));
  const p = s.subscribe('chat.lobby', {since: 10});
  await until(() => FakeWS.all[0]?.sent.length);
  const ws = FakeWS.all[0];
  assert.equal(ws.proto, 'tickroom.v1');
  assert.deepEqual(ws.sent[0], {op: 'subscribe', channel: 'chat.lobby', since: 10, id: ws.sent[0].id});
  ws.recv({id: ws.sent[0].id, ok: true},
    {channel: 'chat.lobby', event: 'chat', seq: 9, data: {}},
    {channel: 'chat.lobby', event: 'chat', seq: 11, data: {}},
    {channel: 'chat.lobby', event: 'chat', seq: 11, data: {}},
    {channel: 'chat.lobby', event: 'chat', seq: 12, data: {}});
  assert.equal((await p).ok, true);
  assert.deepEqual(got, [11, 12]);
  const h = s.history('chat.lobby', {limit: 5});
  await until(() => ws.ops('history').length);
  ws.recv({id: ws.ops('history')[0].id, ok: false, error: {code: 'forbidden', message: 'no'}});
  await assert.rejects(h, (e) => e.code === 'forbidden');
  s.close();
});

test('reconnect resumes with since = last seen, renews subscriptions, retries publish with same msgid', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const statuses = [];
  s.on('status', (st) => statuses.push(st));
  const got = [];
  s.on('chat', (d, m) => got.push(m.seq));
  s.subscribe('chat.lobby', {since: 0});
  s.subscribe('market.*');
  await until(() => FakeWS.all[0]?.sent.length === 2);
  let ws = FakeWS.all[0];
  for (const m of ws.sent) ws.recv({id: m.id, ok: true});
  ws.recv({channel: 'chat.lobby', event: 'chat', seq: 41, data: {}});
  const pub = s.publish('chat.lobby', {text: 'hi'});
  await until(() => ws.ops('publish').length);
  const first = ws.ops('publish')[0];
  assert.match(first.msgid, /^c[0-9a-z]+-000001$/);
  ws.serverClose(4000, 'slow consumer');
  await until(() => FakeWS.all.length === 2 && FakeWS.all[1].sent.length === 3);
  ws = FakeWS.all[1];
  const subs = ws.ops('subscribe');
  assert.deepEqual(subs.map((m) => [m.channel, m.since]), [['chat.lobby', 41], ['market.*', undefined]]);
  const again = ws.ops('publish')[0];
  assert.equal(again.msgid, first.msgid);
  for (const m of subs) ws.recv({id: m.id, ok: true});
  ws.recv({id: again.id, ok: true, seq: 42},
    {channel: 'chat.lobby', event: 'chat', seq: 41, data: {}},
    {channel: 'chat.lobby', event: 'chat', seq: 42, data: {}});
  assert.equal((await pub).seq, 42);
  assert.deepEqual(got, [41, 42]);
  assert.ok(statuses.includes('reconnecting') && statuses.at(-1) === 'connected');
  s.close();
  assert.equal(s.status, 'offline');
});

test('close 1008 emits auth_error and does not reconnect', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  let auth = null;
  s.on('auth_error', (e) => { auth = e; });
  await until(() => s.status === 'connected');
  FakeWS.all[0].serverClose(1008, 'expired');
  await until(() => auth);
  await tick(50);
  assert.equal(FakeWS.all.length, 1);
  assert.equal(s.status, 'offline');
  s.reconnect();
  await until(() => s.status === 'connected');
  assert.equal(FakeWS.all.length, 2);
  s.close();
});

test('ping resolves to a round-trip time; request timeout rejects', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const p = s.ping();
  await until(() => FakeWS.all[0]?.ops('ping').length);
  await tick(10);
  FakeWS.all[0].recv({id: FakeWS.all[0].ops('ping')[0].id, ok: true});
  const rtt = await p;
  assert.ok(rtt >= 5 && rtt < 200, String(rtt));
  await assert.rejects(s.presence('chat.lobby'), (e) => e.code === 'timeout');
  s.close();
});

// ---- SSE fallback ----

test('chooseTransport: fall back after repeated failures before any open, or when forced', () => {
  assert.equal(chooseTransport({}), 'websocket');
  assert.equal(chooseTransport({wsFailures: 2}), 'websocket');
  assert.equal(chooseTransport({wsFailures: 3}), 'sse');
  assert.equal(chooseTransport({wsFailures: 1, fallbackAfter: 1}), 'sse');
  // A WebSocket that worked once: a server restart is not a blocked network.
  assert.equal(chooseTransport({wsFailures: 10, everOpen: true}), 'websocket');
  assert.equal(chooseTransport({forced: 'sse'}), 'sse');
  assert.equal(chooseTransport({forced: 'websocket', wsFailures: 10}), 'websocket');
  assert.equal(chooseTransport({hasWebSocket: false}), 'sse');
  assert.equal(chooseTransport({forced: 'sse', hasEventSource: false}), 'websocket');
  assert.equal(chooseTransport({wsFailures: 5, hasEventSource: false}), 'websocket');
});

class FakeES {
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
class FlakyWS extends FakeWS {
  static ok = false;
  constructor(url, proto) {
    super(url, proto);
    if (!FlakyWS.ok) { this.readyState = 3; setTimeout(() => this.onclose?.({code: 1006, reason: ''}), 1); }
  }
}

test('falls back to SSE after 3 failed WebSocket attempts, publishes over HTTP, switches back without duplicates', async () => {
  FakeWS.all = []; FakeES.all = []; FlakyWS.ok = false;
  const posts = [];
  let failNextPost = true;
  const fetch = async (url, init) => {
    const u = new URL(url);
    if (u.pathname === '/api/publish') {
      const body = JSON.parse(init.body);
      posts.push(body);
      if (failNextPost) { failNextPost = false; throw new TypeError('network down'); }
      return {ok: true, json: async () => ({ok: true, seq: 43})};
    }
    if (u.pathname === '/api/channels/chat.lobby/history') return {ok: true, json: async () => ({ok: true, messages: [{seq: 40}]})};
    if (u.pathname === '/healthz') return {ok: true, json: async () => ({})};
    throw new Error('unexpected ' + url);
  };
  const s = connect('ws://x/ws', {...opts, WebSocket: FlakyWS, EventSource: FakeES, fetch, probeInterval: 30, timeout: 100});
  const transports = [];
  s.on('transport', (t) => transports.push(t));
  const got = [];
  s.on('chat', (d, m) => got.push(m.seq));
  const sub = s.subscribe('chat.lobby', {since: 40});
  s.subscribe('market.*');
  await until(() => FakeES.all.length >= 1 && s.status === 'connected');
  assert.equal(FakeWS.all.length, 3, 'three WebSocket attempts before the fallback');
  assert.equal(s.transport, 'sse');
  let es = FakeES.all.at(-1);
  assert.equal(es.url.pathname, '/sse');
  assert.deepEqual(es.channels(), ['chat.lobby', 'market.*']);
  assert.equal(es.url.searchParams.get('lastEventId'), 'chat.lobby=40');
  es.send({event: 'welcome', data: {user: 'ana', heartbeat_ms: 60000}});
  es.ackAll();
  assert.equal((await sub).ok, true);
  assert.equal(s.user, 'ana');
  es.send({channel: 'chat.lobby', event: 'chat', seq: 41, data: {}});
  es.send({channel: 'chat.lobby', event: 'chat', seq: 41, data: {}});
  es.send({channel: 'chat.lobby', event: 'chat', seq: 42, data: {}});

  // Publish over HTTP: a network error is retried with the same msgid.
  const ack = await s.publish('chat.lobby', {text: 'hi'});
  assert.equal(ack.seq, 43);
  assert.equal(posts.length, 2);
  assert.equal(posts[0].msgid, posts[1].msgid);
  assert.deepEqual(posts[1], {channel: 'chat.lobby', data: {text: 'hi'}, msgid: posts[0].msgid});
  assert.deepEqual((await s.history('chat.lobby', {limit: 5})).messages, [{seq: 40}]);
  await assert.rejects(s.presence('chat.lobby'), (e) => e.code === 'unavailable');

  // A new subscription reopens the stream, resuming from what was seen.
  s.subscribe('alert.*');
  await until(() => FakeES.all.length === 2);
  es = FakeES.all[1];
  assert.deepEqual(es.channels(), ['chat.lobby', 'market.*', 'alert.*']);
  assert.equal(es.url.searchParams.get('lastEventId'), 'chat.lobby=42');
  assert.equal(FakeES.all[0].readyState, 2, 'the old stream is closed');
  await until(() => es.readyState === 1);
  es.ackAll();

  // The server closes the stream (slow consumer): reconnect over SSE.
  es.serverClose(4000, 'slow consumer');
  await until(() => FakeES.all.length === 3);
  es = FakeES.all[2];
  assert.equal(es.url.searchParams.get('lastEventId'), 'chat.lobby=42');
  await until(() => s.status === 'connected');
  es.ackAll();
  es.send({channel: 'chat.lobby', event: 'chat', seq: 43, data: {}});

  // The network heals: the probe opens a WebSocket and the socket moves to it.
  FlakyWS.ok = true;
  await until(() => s.transport === 'websocket');
  const ws = FakeWS.all.at(-1);
  await until(() => ws.ops('subscribe').length === 3);
  assert.equal(es.readyState, 2, 'the stream is closed after the switch');
  assert.deepEqual(ws.ops('subscribe').map((m) => [m.channel, m.since]),
    [['chat.lobby', 43], ['market.*', undefined], ['alert.*', undefined]]);
  for (const m of ws.ops('subscribe')) ws.recv({id: m.id, ok: true});
  ws.recv({channel: 'chat.lobby', event: 'chat', seq: 43, data: {}}, {channel: 'chat.lobby', event: 'chat', seq: 44, data: {}});
  assert.deepEqual(got, [41, 42, 43, 44], 'each message exactly once across transports');
  assert.deepEqual(transports, ['sse', 'websocket']);  // the first choice is made in connect()
  const n = FakeWS.all.length;
  await tick(80);
  assert.equal(FakeWS.all.length, n, 'no probing once back on WebSocket');
  s.close();
});

test("transport: 'sse' uses the stream at once and never probes", async () => {
  FakeWS.all = []; FakeES.all = [];
  const s = connect('wss://example.com/ws', {...opts, EventSource: FakeES, transport: 'sse', probeInterval: 10, token: 'tok'});
  await until(() => s.status === 'connected');
  assert.equal(FakeWS.all.length, 0);
  const es = FakeES.all[0];
  assert.equal(es.url.origin, 'https://example.com');
  assert.equal(es.url.searchParams.get('token'), 'tok');
  assert.deepEqual(es.channels(), []);
  es.send({event: 'welcome', data: {user: 'bob'}});
  assert.equal(s.user, 'bob');
  es.serverClose(1008, 'session expired');
  await tick(40);
  assert.equal(s.status, 'offline');
  assert.equal(FakeES.all.length, 1, '1008: no reconnect');
  assert.equal(FakeWS.all.length, 0);
  s.close();
});
