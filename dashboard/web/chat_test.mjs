// Tests for the chat panel's data (chatlog.js) and for chat.js rendering
// from it, driven through a real Socket over a fake WebSocket and a small
// fake DOM (testfakes.mjs).
import test from 'node:test';
import assert from 'node:assert/strict';
import {ChatLog, LIMIT} from './chatlog.js';
import {FakeWS, FakeElement, installDOM, tick, until, opts} from './testfakes.mjs';

const created = installDOM();
const {Chat, GAP_TEXT} = await import('./chat.js');
const {connect} = await import('./tickroom.js');

const msg = (seq, text = 'm' + seq, extra = {}) => ({seq, user: 'ana', text, ts: 1000 + seq, ...extra});

test('ChatLog: keyed by seq, ordered by seq, duplicates refused', () => {
  const log = new ChatLog();
  assert.equal(log.limit, LIMIT);
  assert.ok(log.add(msg(5)));
  assert.ok(log.add(msg(2)));
  assert.ok(!log.add(msg(5, 'again')), 'a seq is held once');
  assert.ok(!log.add({user: 'x', text: 'no seq'}), 'only stored messages (with seq)');
  assert.deepEqual(log.entries().map((e) => e.seq), [2, 5]);
  assert.equal(log.oldest, 2);
  assert.equal(log.newest, 5);
});

test('ChatLog: trims to the newest limit messages, and gap marks before them', () => {
  const log = new ChatLog(5);
  for (let s = 1; s <= 8; s++) log.add(msg(s));
  log.gap(2); log.gap(6);
  assert.equal(log.trim(), 3);
  assert.equal(log.size, 5);
  assert.deepEqual(log.entries().map((e) => e.kind === 'gap' ? 'gap' + e.after : e.seq), [4, 5, 6, 'gap6', 7, 8]);
  assert.equal(log.trim(), 0);
  for (let s = 9; s <= 1000; s++) log.add(msg(s));
  log.trim();
  assert.equal(log.size, 5);
  assert.equal(log.oldest, 996);
  assert.ok(log.full);
});

test('ChatLog: own messages pending by msgid until the ack or the stored event', () => {
  const log = new ChatLog();
  log.add(msg(1));
  log.send('c1-1', 'ana', 'first');
  log.send('c1-2', 'ana', 'second');
  assert.deepEqual(log.entries().map((e) => e.kind), ['msg', 'pending', 'pending']);
  // The event comes before the ack: it replaces the pending copy.
  log.add(msg(2, 'first', {msgid: 'c1-1'}));
  log.acked('c1-1', 2);
  // The ack comes before the event: a provisional entry, replaced by the event.
  log.acked('c1-2', 3, 5000);
  assert.ok(!log.has(3));
  assert.ok(log.add(msg(3, 'second', {msgid: 'c1-2'})));
  assert.deepEqual(log.entries().map((e) => [e.kind, e.seq, e.text]), [['msg', 1, 'm1'], ['msg', 2, 'first'], ['msg', 3, 'second']]);
  log.send('c1-3', 'ana', 'third');
  log.failed('c1-3', 'no answer', true);
  assert.equal(log.entries().at(-1).state, 'failed');
  assert.equal(log.retrying('c1-3').text, 'third');
  assert.equal(log.entries().at(-1).state, 'sending');
});

// ---- the panel ----

function panel(socket, limit) {
  const list = new FakeElement('ul');
  list.connected = true;
  const chat = new Chat({
    socket, list, limit,
    form: new FakeElement('form'), input: Object.assign(new FakeElement('textarea'), {value: ''}),
    room: Object.assign(new FakeElement('select'), {value: ''}), presence: new FakeElement('ul'), presenceCount: new FakeElement('span'),
  });
  return {chat, list};
}

const texts = (list) => list.children.map((li) => li.classes.has('msg') ? li.querySelectorAll('.text')[0].textContent : '[' + li.textContent + ']');
const ev = (seq, text = 'm' + seq, user = 'bob') => ({channel: 'chat.lobby', event: 'chat', seq, time: 1e12 + seq, data: {user, text}});

async function answer(ws, op, reply) {
  await until(() => ws.ops(op).some((m) => !m.answered));
  const m = ws.ops(op).find((x) => !x.answered);
  m.answered = true;
  ws.recv({id: m.id, ok: true, ...reply});
  await tick(1);
  return m;
}

test('chat renders from its data: history, live messages, trimming to the bound, text as text', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const {chat, list} = panel(s, 10);
  chat.open('chat.lobby');
  await until(() => FakeWS.all[0]?.ops('history').length === 1);
  const ws = FakeWS.all[0];
  ws.recv({event: 'welcome', data: {user: 'ana'}});
  const nasty = '<img src=x onerror=alert(1)> & $AAPL';
  await answer(ws, 'history', {messages: [ev(1), ev(2, nasty), ev(3)]});
  const sub = await answer(ws, 'subscribe', {recovered: true, epoch: 'e1'});
  assert.equal(sub.since, 3, 'subscribes from the last seq of the history');
  assert.deepEqual(texts(list), ['m1', '<img src=x onerror=alert(1)> & $AAPL —', 'm3'], 'the $AAPL chip shows no price yet');
  assert.ok(chat.chips.has('AAPL'));
  assert.equal(list.children[1].querySelectorAll('.text')[0].childNodes[0].data, '<img src=x onerror=alert(1)> & ', 'user text is a text node');
  assert.ok(!created.includes('img'), 'no markup was parsed');
  // Live messages, one frame; 12 in all with a bound of 10: the oldest go.
  ws.recv(...[4, 5, 6, 7, 8, 9, 10, 11, 12].map((n) => ev(n)), ev(12));
  await tick(1);
  const shown = list.children.filter((li) => li.classes.has('msg')).map((li) => +li.dataset.seq);
  assert.deepEqual(shown, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(chat.log.size, 10);
  assert.match(list.children[0].textContent, /Showing the latest 10 messages/);
  // Trimmed nodes leave the chip registry too.
  assert.ok(!chat.chips.has('AAPL'));
  chat.close(); s.close();
});

test('chat: own message pending, then stored once (ack first, then the event); a failure offers a retry with the same msgid', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const {chat, list} = panel(s, 50);
  chat.open('chat.lobby');
  await until(() => FakeWS.all[0]?.ops('history').length === 1);
  const ws = FakeWS.all[0];
  ws.recv({event: 'welcome', data: {user: 'ana'}});
  await answer(ws, 'history', {messages: []});
  await answer(ws, 'subscribe', {});
  chat.input.value = '  hello  ';
  chat.send();
  await tick(1);
  let li = list.children.at(-1);
  assert.ok(li.classes.has('pending') && li.classes.has('mine'));
  assert.equal(li.querySelectorAll('.text')[0].textContent, 'hello');
  await until(() => ws.ops('publish').length === 1);
  const pub = ws.ops('publish')[0];
  ws.recv({id: pub.id, ok: true, seq: 7});
  await tick(1);
  ws.recv({channel: 'chat.lobby', event: 'chat', seq: 7, data: {user: 'ana', text: 'hello', msgid: pub.msgid}});
  await tick(1);
  const hellos = list.querySelectorAll('.text').filter((t) => t.textContent === 'hello');
  assert.equal(hellos.length, 1);
  li = list.children.at(-1);
  assert.equal(li.dataset.seq, '7');
  assert.ok(!li.classes.has('pending'));
  // A failure shows why, with a retry that keeps the msgid.
  chat.input.value = 'again';
  chat.send();
  await until(() => ws.ops('publish').length === 2);
  const p2 = ws.ops('publish')[1];
  ws.recv({id: p2.id, ok: false, error: {code: 'rate_limited', message: 'slow'}});
  await tick(1);
  li = list.children.at(-1);
  assert.ok(li.classes.has('failed'));
  assert.match(li.textContent, /not sent \(too fast, slow down\)/);
  chat.retry(li.dataset.msgid);
  await until(() => ws.ops('publish').length === 3);
  assert.equal(ws.ops('publish')[2].msgid, p2.msgid);
  chat.close(); s.close();
});

test('chat: recovered:false marks the gap and reloads history; a new epoch clears the room', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const {chat, list} = panel(s, 10);
  chat.open('chat.lobby');
  await until(() => FakeWS.all[0]?.ops('history').length === 1);
  let ws = FakeWS.all[0];
  await answer(ws, 'history', {messages: [ev(1), ev(2)]});
  await answer(ws, 'subscribe', {recovered: true, epoch: 'e1'});
  ws.recv(ev(3));
  // The connection drops; retention dropped 4..19 meanwhile.
  ws.serverClose(1006);
  await until(() => FakeWS.all[1]?.ops('subscribe').length === 1);
  ws = FakeWS.all[1];
  const sub = ws.last('subscribe');
  assert.equal(sub.since, 3);
  ws.recv({id: sub.id, ok: true, recovered: false, epoch: 'e1'}, ev(20), ev(21));
  await until(() => ws.ops('history').length === 1);
  assert.deepEqual(ws.last('history'), {op: 'history', channel: 'chat.lobby', limit: 50, id: ws.last('history').id});
  await answer(ws, 'history', {messages: [ev(20), ev(21), ev(22)]});
  assert.deepEqual(texts(list), ['m1', 'm2', 'm3', '[' + GAP_TEXT + ']', 'm20', 'm21', 'm22']);
  // The stream is recreated: old seq values mean nothing.
  ws.serverClose(1001);
  await until(() => FakeWS.all[2]?.ops('subscribe').length === 1);
  ws = FakeWS.all[2];
  const sub2 = ws.last('subscribe');
  ws.recv({id: sub2.id, ok: true, recovered: true, epoch: 'e2'});
  await until(() => ws.ops('history').length === 1);
  await answer(ws, 'history', {messages: [ev(1, 'new one'), ev(2, 'new two')]});
  ws.recv(ev(3, 'new three'));
  await tick(1);
  assert.deepEqual(texts(list), ['[' + GAP_TEXT + ']', 'new one', 'new two', 'new three']);
  chat.close(); s.close();
});

test('ChatLog: edits and deletes apply to held messages, and to messages that arrive later', () => {
  const log = new ChatLog();
  log.add(msg(1, 'helo'));
  log.edit(1, 'hello');
  log.remove(3);            // the delete event came before the message (a history page)
  log.add(msg(3, 'secret'));
  log.add(msg(2, 'x', {bot: true}));
  const [m1, m2, m3] = log.entries();
  assert.deepEqual([m1.text, m1.edited], ['hello', true]);
  assert.ok(m2.bot);
  assert.deepEqual([m3.text, m3.deleted], ['', true]);
  log.edit(3, 'back');      // a deleted message stays deleted
  assert.equal(log.entries()[2].text, '');
});

test('chat: bot badge, (edited), removed messages, @me highlighted, ref cards, edit/delete events live', async () => {
  FakeWS.all = [];
  const s = connect('ws://x/ws', opts);
  const prices = {AAPL: 231};
  const list = new FakeElement('ul');
  list.connected = true;
  const refs = [];
  const chat = new Chat({
    socket: s, list, limit: 50, price: (sym) => prices[sym], onRef: (r) => refs.push(r),
    form: new FakeElement('form'), input: Object.assign(new FakeElement('textarea'), {value: ''}),
    room: Object.assign(new FakeElement('select'), {value: ''}), presence: new FakeElement('ul'), presenceCount: new FakeElement('span'),
  });
  chat.open('chat.lobby');
  await until(() => FakeWS.all[0]?.ops('history').length === 1);
  const ws = FakeWS.all[0];
  ws.recv({event: 'welcome', data: {user: 'ana'}});
  const ref = {symbol: 'AAPL', time: '2026-12-01T10:00:00Z', price: 220, interval: '5m'};
  await answer(ws, 'history', {messages: [
    {channel: 'chat.lobby', event: 'chat', seq: 1, time: 1e12, data: {user: 'ana', text: 'I am ana', bot: true}},
    {channel: 'chat.lobby', event: 'chat', seq: 2, time: 1e12, data: {user: 'bob', text: 'hi all', edited: true}},
    {channel: 'chat.lobby', event: 'chat', seq: 3, time: 1e12, data: {user: 'bob', deleted: true}},
    {channel: 'chat.lobby', event: 'chat', seq: 4, time: 1e12, data: {user: 'bob', text: 'anyone? @ana.', ref}},
    {channel: 'chat.lobby', event: 'edit', seq: 5, time: 1e12, data: {ref_seq: 2, text: 'hi all', user: 'bob'}},
    {channel: 'chat.lobby', event: 'delete', seq: 6, time: 1e12, data: {ref_seq: 3, user: 'bob'}},
  ]});
  await answer(ws, 'subscribe', {read: 0, unread: 6});
  const lis = list.children.filter((li) => li.classes.has('msg'));
  assert.equal(lis.length, 4, 'edit and delete events are not messages');
  assert.ok(lis[0].classes.has('bot') && lis[0].querySelectorAll('.bot-badge').length === 1);
  assert.equal(lis[1].querySelectorAll('.edited')[0].textContent, '(edited)');
  assert.ok(lis[2].classes.has('deleted'));
  assert.equal(lis[2].querySelectorAll('.text')[0].textContent, 'message removed');
  assert.ok(lis[3].classes.has('mentions-me'));
  assert.equal(lis[3].querySelectorAll('.mention')[0].classes.has('me'), true);
  assert.equal(lis[3].querySelectorAll('.mention')[0].textContent, '@ana');
  const card = lis[3].querySelectorAll('.ref-card')[0];
  assert.equal(card.dataset.refSym, 'AAPL');
  assert.equal(card.querySelectorAll('.ref-change')[0].textContent, '+5.00% since');
  prices.AAPL = 198;
  chat.updateChips(['AAPL']);
  assert.equal(card.querySelectorAll('.ref-change')[0].textContent, '-10.00% since');
  // Live: bob edits, then deletes his message.
  ws.recv({channel: 'chat.lobby', event: 'edit', seq: 7, data: {ref_seq: 4, text: 'ok @bob', user: 'bob'}});
  await tick(1);
  let li4 = list.children.find((li) => li.dataset.seq === '4');
  assert.equal(li4.querySelectorAll('.edited').length, 1);
  assert.ok(!li4.classes.has('mentions-me'));
  ws.recv({channel: 'chat.lobby', event: 'delete', seq: 8, data: {ref_seq: 4, user: 'bob'}});
  await tick(1);
  li4 = list.children.find((li) => li.dataset.seq === '4');
  assert.ok(li4.classes.has('deleted'));
  assert.ok(!JSON.stringify(li4.textContent).includes('ok @bob'));
  chat.close(); s.close();
});
