// Tests of the client library's parts on their own (client/*.js): request
// tracking over a fake link, subscription state, local events.
import test from 'node:test';
import assert from 'node:assert/strict';
import {Requests} from './client/requests.js';
import {Subscriptions} from './client/subscriptions.js';
import {Emitter} from './client/events.js';
import {tick} from './testfakes.mjs';

function link() {
  return {kind: 'websocket', up: false, frames: [], ready() { return this.up; },
    sendFrame(m) { if (!this.up) return false; this.frames.push(structuredClone(m)); return true; }, http: async () => null};
}

test('Requests: queued while down, one outcome per id, onReply before the promise, publish retried on unavailable', async () => {
  const l = link();
  const rq = new Requests(l, {timeout: 1000, publishTimeout: 5000, retry: {min: 1, max: 2}});
  const order = [];
  const a = rq.request({op: 'history', channel: 'chat.a'}, {onReply: () => order.push('onReply')});
  assert.equal(l.frames.length, 0);
  l.up = true;
  rq.resend(rq.all());
  assert.deepEqual(l.frames.map((m) => m.id), [1]);
  a.then(() => order.push('resolved'));
  assert.ok(rq.reply({id: 1, ok: true, messages: []}));
  assert.deepEqual(order, ['onReply'], 'onReply runs synchronously');
  assert.ok(!rq.reply({id: 1, ok: true}), 'a second reply has no request');
  await a;
  assert.deepEqual(order, ['onReply', 'resolved']);
  const p = rq.request({op: 'publish', channel: 'chat.a', data: {}, msgid: 'm1'}, {retry: true});
  rq.reply({id: 2, ok: false, error: {code: 'unavailable', message: 'no leader'}});
  while (l.frames.length < 3) await tick(1);
  assert.deepEqual(l.frames.slice(1).map((m) => [m.id, m.msgid]), [[2, 'm1'], [2, 'm1']]);
  rq.reply({id: 2, ok: true, seq: 3});
  assert.equal((await p).seq, 3);
  // Dropped connection: subscribes are dropped (their owner renews them),
  // unsubscribes succeed, the rest wait.
  rq.request({op: 'subscribe', channel: 'x'});
  const u = rq.request({op: 'unsubscribe', channel: 'y'});
  const h = rq.request({op: 'history', channel: 'z'});
  rq.disconnected();
  assert.equal((await u).ok, true);
  assert.deepEqual(rq.all().map((r) => r.msg.op), ['history']);
  rq.rejectAll(Object.assign(new Error('closed'), {code: 'closed'}));
  await assert.rejects(h, (e) => e.code === 'closed');
});

test('Subscriptions: resume points, duplicates, wildcard maxSeq, epochs', () => {
  const ss = new Subscriptions();
  const {sub: lobby} = ss.add('chat.lobby', 10);
  const {sub: all} = ss.add('alert.*');
  const {sub: ticks} = ss.add('market.*');
  assert.equal(ss.resumeSince(lobby), 10);
  assert.equal(ss.resumeSince(all), undefined);
  assert.ok(ss.accept({channel: 'chat.lobby', seq: 11}));
  assert.ok(!ss.accept({channel: 'chat.lobby', seq: 11}));
  assert.ok(ss.accept({channel: 'alert.AAPL', seq: 5}));
  assert.ok(ss.accept({channel: 'alert.MSFT', seq: 7}));
  assert.equal(ss.resumeSince(lobby), 11);
  assert.equal(ss.resumeSince(all), 7);
  assert.equal(ss.resumeSince(ticks), undefined, 'ticks do not resume');
  assert.equal(ss.replied(lobby, {ok: true, epoch: 'e1'}, 11), null);
  assert.equal(ss.replied(lobby, {ok: true, epoch: 'e1', recovered: true}, 11), null);
  assert.equal(ss.replied(lobby, {ok: true, epoch: 'e1', recovered: false}, 11).reason, 'retention');
  assert.equal(ss.replied(lobby, {ok: true}, 11), null, 'a server without epochs: nothing to compare');
  const g = ss.replied(lobby, {ok: true, epoch: 'e2', recovered: true}, 11);
  assert.equal(g.reason, 'epoch');
  assert.equal(g.previousEpoch, 'e1');
  assert.equal(ss.lastSeq('chat.lobby'), undefined, 'seq state reset');
  assert.equal(ss.resumeSince(lobby), 0);
  ss.remove('chat.lobby');
  assert.equal(ss.get('chat.lobby'), undefined);
});

test('Emitter: once, off, a throwing handler does not stop the others', () => {
  const e = new Emitter();
  const got = [], rethrown = [];
  const realSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = (fn) => { rethrown.push(fn); return 0; };  // where the error is rethrown
  try {
    e.on('x', () => { throw new Error('boom'); });
    e.once('x', (v) => got.push('once' + v));
    const f = (v) => got.push('on' + v);
    e.on('x', f);
    e.dispatch('x', 1);
    e.off('x', f);
    e.dispatch('x', 2);
  } finally { globalThis.setTimeout = realSetTimeout; }
  assert.deepEqual(got, ['once1', 'on1']);
  assert.equal(rethrown.length, 2);
  assert.throws(rethrown[0], /boom/, 'the error still surfaces, on its own task');
});
