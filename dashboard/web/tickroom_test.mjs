// Tests for tickroom.js: node --test dashboard/web/
// Pure helpers, then the Socket against a scripted fake WebSocket.
import test from 'node:test';
import assert from 'node:assert/strict';
import {splitFrame, backoffDelay, matchChannel, isPersisted, SeqTracker, connect} from './tickroom.js';

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
