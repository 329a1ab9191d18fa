// Tests for tickroom.js (node --test dashboard/web/*_test.mjs; go test
// ./dashboard/web runs them): pure helpers, then the Socket against a
// scripted fake WebSocket and EventSource.
import test from 'node:test';
import assert from 'node:assert/strict';
import {splitFrame, backoffDelay, matchChannel, isPersisted, SeqTracker, connect, chooseTransport} from './tickroom.js';
import {FakeWS, FakeES, FlakyWS, tick, until, opts} from './testfakes.mjs';

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

// ---- request tracking ----

test('request tracking: unique ids, replies matched in any order, unknown ids ignored, queued until open', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  // Made before the socket opens: queued, sent on open.
  const h1 = s.history('chat.a', {limit: 1});
  const h2 = s.history('chat.b', {before: 9});
  assert.equal(FakeWS.all[0].sent.length, 0, 'nothing sent before open');
  await until(() => FakeWS.all[0].ops('history').length === 2);
  const ws = FakeWS.all[0];
  const [a, b] = ws.ops('history');
  assert.notEqual(a.id, b.id);
  assert.deepEqual(b, {op: 'history', channel: 'chat.b', before: 9, id: b.id});
  ws.recv({id: 9999, ok: true}, {id: b.id, ok: true, messages: ['b']}, {id: a.id, ok: true, messages: ['a']});
  assert.deepEqual((await h1).messages, ['a']);
  assert.deepEqual((await h2).messages, ['b']);
  // A second reply to the same id is ignored: one outcome per request.
  ws.recv({id: a.id, ok: false, error: {code: 'internal', message: 'late'}});
  // A reply without id is a server error, not a reply.
  const errs = [];
  s.on('server_error', (e) => errs.push(e.code));
  ws.recv({ok: false, error: {code: 'bad_request', message: 'not JSON'}});
  ws.onmessage({data: 'not json'});
  assert.deepEqual(errs, ['bad_request', 'bad_frame']);
  // In flight when the connection drops: sent again on the next one, same id.
  const p = s.presence('chat.a');
  await until(() => ws.ops('presence').length === 1);
  const id = ws.last('presence').id;
  ws.serverClose(1001, 'going away');
  await until(() => FakeWS.all[1]?.ops('presence').length === 1);
  assert.equal(FakeWS.all[1].last('presence').id, id);
  FakeWS.all[1].recv({id, ok: true, users: ['ana']});
  assert.deepEqual((await p).users, ['ana']);
  s.close();
  await assert.rejects(s.ping(), (e) => e.code === 'closed', 'a request after close() fails at once');
});

test('close() rejects pending requests and subscriptions with closed', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  await until(() => s.status === 'connected');
  const h = s.history('chat.a');
  const sub = s.subscribe('chat.a');
  s.close();
  await assert.rejects(h, (e) => e.code === 'closed');
  await assert.rejects(sub, (e) => e.code === 'closed');
});

// ---- recovery: recovered and epoch ----

async function subscribed(s, channel, since, reply, ...events) {
  const p = s.subscribe(channel, since === undefined ? {} : {since});
  await until(() => FakeWS.all.at(-1)?.ops('subscribe').some((m) => m.channel === channel));
  const ws = FakeWS.all.at(-1);
  const m = ws.ops('subscribe').findLast((x) => x.channel === channel);
  ws.recv({id: m.id, ok: true, ...reply}, ...events);
  return {reply: await p, ws, msg: m};
}

const chat = (seq, text = 'm' + seq) => ({channel: 'chat.lobby', event: 'chat', seq, data: {user: 'ana', text}});

test('resume with since: recovered:false reports a gap; seq state is kept', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const gaps = [], got = [];
  s.on('gap', (g) => gaps.push(g));
  s.on('chat', (d, m) => got.push(m.seq));
  const {reply} = await subscribed(s, 'chat.lobby', 10, {recovered: true, epoch: 'e1'}, chat(11), chat(12));
  assert.equal(reply.recovered, true);
  assert.equal(s.epoch('chat.lobby'), 'e1');
  assert.deepEqual(gaps, []);
  // The connection drops; meanwhile retention dropped 13..19.
  FakeWS.all[0].serverClose(1006);
  await until(() => FakeWS.all[1]?.ops('subscribe').length === 1);
  const ws = FakeWS.all[1];
  const m = ws.last('subscribe');
  assert.equal(m.since, 12, 'resumes from the last seq seen');
  ws.recv({id: m.id, ok: true, recovered: false, epoch: 'e1'}, chat(20), chat(12), chat(21));
  assert.deepEqual(gaps, [{channel: 'chat.lobby', since: 12, recovered: false, epoch: 'e1', previousEpoch: 'e1', reason: 'retention'}]);
  assert.deepEqual(got, [11, 12, 20, 21], 'the replay continues after the gap, still without duplicates');
  assert.equal(s.lastSeq('chat.lobby'), 21);
  // since 0 asks for everything retained: less than everything is no gap.
  await subscribed(s, 'chat.other', 0, {recovered: false, epoch: 'e1'});
  assert.equal(gaps.length, 1);
  s.close();
});

test('epoch change: a gap, the channel\'s seq state reset, the new stream\'s events delivered', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const gaps = [], got = [];
  s.on('gap', (g) => gaps.push(g));
  s.on('chat', (d, m) => got.push(m.seq));
  await subscribed(s, 'chat.lobby', 0, {recovered: true, epoch: 'e1'}, chat(40), chat(41));
  FakeWS.all[0].serverClose(1001);
  await until(() => FakeWS.all[1]?.ops('subscribe').length === 1);
  let ws = FakeWS.all[1];
  let m = ws.last('subscribe');
  assert.equal(m.since, 41);
  // The stream was recreated and holds only 2 messages: nothing after 41
  // to replay, and its live events (3, 4) are smaller than the old 41.
  ws.recv({id: m.id, ok: true, recovered: true, epoch: 'e2'}, chat(3));
  assert.deepEqual(gaps, [{channel: 'chat.lobby', since: 41, recovered: true, epoch: 'e2', previousEpoch: 'e1', reason: 'epoch'}]);
  ws.recv(chat(4));
  assert.deepEqual(got, [40, 41, 3, 4], 'the new stream is not taken for duplicates');
  assert.equal(s.epoch('chat.lobby'), 'e2');
  // The next resume starts from what the new stream delivered.
  ws.serverClose(1006);
  await until(() => FakeWS.all[2]?.ops('subscribe').length === 1);
  ws = FakeWS.all[2];
  m = ws.last('subscribe');
  assert.equal(m.since, 4, 'the highest seq of the new epoch');
  ws.recv({id: m.id, ok: true, recovered: true, epoch: 'e2'});
  assert.equal(gaps.length, 1, 'same epoch: no gap');
  s.close();
});

test('epoch change with nothing delivered yet: the next resume replays the new stream from 0', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  await subscribed(s, 'chat.lobby', 0, {epoch: 'e1'}, chat(7));
  FakeWS.all[0].serverClose(1006);
  await until(() => FakeWS.all[1]?.ops('subscribe').length === 1);
  let m = FakeWS.all[1].last('subscribe');
  FakeWS.all[1].recv({id: m.id, ok: true, recovered: true, epoch: 'e2'});
  FakeWS.all[1].serverClose(1006);
  await until(() => FakeWS.all[2]?.ops('subscribe').length === 1);
  m = FakeWS.all[2].last('subscribe');
  assert.equal(m.since, 0);
  s.close();
});

test('gap over the SSE fallback: the stream\'s subscribe outcome carries recovered', async () => {
  FakeWS.all = []; FakeES.all = [];
  const s = connect('ws://x/ws', {...opts, EventSource: FakeES, transport: 'sse'});
  const gaps = [];
  s.on('gap', (g) => gaps.push(g));
  const sub = s.subscribe('chat.lobby', {since: 5});
  await until(() => FakeES.all.length && FakeES.all.at(-1).channels().length === 1 && FakeES.all.at(-1).readyState === 1);
  const es = FakeES.all.at(-1);
  assert.equal(es.url.searchParams.get('lastEventId'), 'chat.lobby=5');
  es.send({op: 'subscribe', channel: 'chat.lobby', ok: true, recovered: false, epoch: 'e1'});
  assert.equal((await sub).recovered, false);
  assert.equal(gaps.length, 1);
  assert.equal(gaps[0].since, 5);
  s.close();
});

// ---- emit (Socket.IO-style) ----

test('emit publishes: string data becomes {text}, ack(err, reply), chainable; emitWithAck resolves with the ack', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  await until(() => s.status === 'connected');
  const ws = FakeWS.all[0];
  const acks = [];
  assert.equal(s.emit('chat.lobby', 'hi', (err, reply) => acks.push([err, reply && reply.seq])), s);
  s.emit('chat.lobby', {text: 'obj'});
  const pw = s.emitWithAck('chat.lobby', 'three');
  await until(() => ws.ops('publish').length === 3);
  const [a, b, c] = ws.ops('publish');
  assert.deepEqual(a.data, {text: 'hi'});
  assert.deepEqual(b.data, {text: 'obj'});
  assert.deepEqual(c.data, {text: 'three'});
  assert.ok(a.msgid && b.msgid && a.msgid !== b.msgid);
  const errs = [];
  s.on('server_error', (e) => errs.push(e));
  ws.recv({id: a.id, ok: true, seq: 7}, {id: b.id, ok: false, error: {code: 'too_large', message: 'long'}}, {id: c.id, ok: true, seq: 8});
  assert.equal((await pw).seq, 8);
  await tick();
  assert.deepEqual(acks, [[null, 7]]);
  assert.equal(errs.length, 1, 'a failed emit without ack is reported');
  assert.equal(errs[0].code, 'too_large');
  assert.equal(errs[0].msgid, b.msgid);
  // A failure reaches the ack as its first argument.
  const failed = new Promise((res) => s.emit('market.AAPL', {x: 1}, (err) => res(err)));
  await until(() => ws.ops('publish').length === 4);
  ws.recv({id: ws.last('publish').id, ok: false, error: {code: 'forbidden', message: 'chat.* only'}});
  assert.equal((await failed).code, 'forbidden');
  s.close();
});

// ---- the outbox ----

test('outbox: a publish answered unavailable is sent again with the same msgid until acked', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  await until(() => s.status === 'connected');
  const ws = FakeWS.all[0];
  const p = s.publish('chat.lobby', {text: 'during failover'});
  for (let i = 1; i <= 3; i++) {
    await until(() => ws.ops('publish').length === i);
    ws.recv({id: ws.last('publish').id, ok: false, error: {code: 'unavailable', message: 'no leader'}});
  }
  await until(() => ws.ops('publish').length === 4);
  const all = ws.ops('publish');
  assert.equal(new Set(all.map((m) => m.msgid)).size, 1, 'one msgid throughout');
  ws.recv({id: all[3].id, ok: true, seq: 99});
  assert.equal((await p).seq, 99);
  assert.equal(p.msgid, all[0].msgid);
  // Other errors are final: a rate limit is the user's to see.
  const q = s.publish('chat.lobby', {text: 'fast'});
  await until(() => ws.ops('publish').length === 5);
  ws.recv({id: ws.last('publish').id, ok: false, error: {code: 'rate_limited', message: 'slow down'}});
  await assert.rejects(q, (e) => e.code === 'rate_limited');
  s.close();
});

test('outbox: a publish made offline is sent on connect, and again with the same msgid after each reconnect', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const p = s.publish('chat.lobby', {text: 'queued'});
  const msgid = p.msgid;
  for (let n = 0; n < 3; n++) {
    await until(() => FakeWS.all[n]?.ops('publish').length === 1);
    assert.equal(FakeWS.all[n].last('publish').msgid, msgid);
    if (n < 2) FakeWS.all[n].serverClose(n ? 1006 : 4000);
  }
  const ws = FakeWS.all[2];
  ws.recv({id: ws.last('publish').id, ok: true, seq: 5});
  assert.equal((await p).seq, 5);
  s.close();
});

test('outbox: an unacknowledged publish times out after publishTimeout, retried meanwhile', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', {...opts, timeout: 20, publishTimeout: 90});
  const p = s.publish('chat.lobby', {text: 'lost'});
  await assert.rejects(p, (e) => e.code === 'timeout');
  const sent = FakeWS.all[0].ops('publish');
  assert.ok(sent.length >= 3, 'resent after each request timeout: ' + sent.length);
  assert.equal(new Set(sent.map((m) => m.msgid)).size, 1);
  s.close();
});
