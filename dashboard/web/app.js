// The dashboard page: wires the socket to the ticker board, chart,
// analytics, movers and chat. No inline script, no innerHTML: CSP-safe.
import {connect} from './tickroom.js';
import {Board} from './board.js';
import {Chat} from './chat.js';
import {ChartView} from './chart.js';
import {AnalyticsPanel, Movers} from './panels.js';
import {storedName, signIn} from './session.js';
import {Inbox} from './inbox.js';
import {mountChartTools, focusChart} from './chartshare.js';

const $ = (id) => document.getElementById(id);
const statusEl = $('status'), rttEl = $('rtt'), meEl = $('me');
const signinForm = $('signin'), nameInput = $('name-input');

const STATUS_TEXT = {connecting: 'connecting…', connected: 'connected', reconnecting: 'reconnecting…', offline: 'offline'};
function showStatus(st, extra) {
  statusEl.dataset.state = st;
  statusEl.textContent = (STATUS_TEXT[st] || st) + (extra ? ' — ' + extra : '');
  if (st !== 'connected') rttEl.textContent = '';
}

// Dark by default; the user's choice of light is remembered.
const themeBtn = $('theme');
function applyTheme(light) {
  if (light) document.documentElement.dataset.theme = 'light'; else delete document.documentElement.dataset.theme;
  themeBtn.setAttribute('aria-pressed', String(light));
}
try { applyTheme(localStorage.getItem('tickroom.theme') === 'light'); } catch (e) { applyTheme(false); }

async function main() {
  showStatus('connecting');
  const name = storedName();
  if (name) {
    nameInput.value = name;
    try { await signIn(name); } catch (e) { meEl.textContent = 'sign-in failed: ' + e.message; }
  }

  // ?transport=sse forces the Server-Sent Events fallback (tickroom.js
  // also falls back by itself when WebSockets cannot connect).
  const transport = new URLSearchParams(location.search).get('transport');
  const socket = connect(transport ? {transport} : {});
  globalThis.tickroomSocket = socket;  // for debugging and browser tests
  const showConn = () => showStatus(socket.status, socket.status === 'connected' && socket.transport === 'sse' ? 'via SSE' : '');
  socket.on('status', showConn);
  socket.on('transport', showConn);
  socket.on('rtt', (ms) => { rttEl.textContent = ms + ' ms'; });
  socket.on('welcome', (d) => {
    meEl.textContent = d.user || '';
    statusEl.title = d.node ? 'gateway ' + d.node : '';
    if (!nameInput.value && d.user) nameInput.placeholder = d.user;
    socket.ping().then((ms) => { rttEl.textContent = ms + ' ms'; }, () => {});
  });
  socket.on('auth_error', async (e) => {
    showStatus('offline', 'sign-in needed');
    const n = storedName();
    if (!n) return;
    try { await signIn(n); socket.reconnect(); } catch (err) { meEl.textContent = 'sign-in failed: ' + err.message; }
  });

  signinForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const n = nameInput.value.trim();
    if (!n) return;
    try { await signIn(n); socket.reconnect(); } catch (err) { meEl.textContent = 'sign-in failed: ' + err.message; }
  });

  // ---- board, chart, analytics ----
  let selected = null;
  const follow = $('follow');
  function select(sym, byUser) {
    if (!sym) return;
    if (sym !== selected) {
      selected = sym;
      board.select(sym);
      chart.show(sym);
      analytics.show(sym);
    }
    if (byUser && follow.checked) chat.open('chat.' + sym);
  }

  const board = new Board($('tickers'), {
    onSelect: (sym) => select(sym, true),
    onFrame: (changed) => {
      chat.updateChips(changed);
      if (!selected && changed.length) select(board.symbols().sort()[0], false);
      for (const s of changed) chat.addRoom(s);
    },
  });
  $('filter').addEventListener('input', (e) => board.setFilter(e.target.value));
  const chart = new ChartView($('chart'), $('chart-sym'), socket);
  themeBtn.addEventListener('click', () => {
    const light = document.documentElement.dataset.theme !== 'light';
    applyTheme(light);
    try { localStorage.setItem('tickroom.theme', light ? 'light' : 'dark'); } catch (e) { /* private mode */ }
    chart.applyTheme();
  });
  const analytics = new AnalyticsPanel($('analytics'), board);
  const movers = new Movers($('movers'), board, (sym) => select(sym, true));
  setInterval(() => { analytics.render(); movers.render(); }, 1000);

  socket.on('market', (d) => board.tick(d));
  socket.on('analytics', (d) => { board.analytics(d); analytics.onAnalytics(d); });

  // ---- chat ----
  const chat = new Chat({
    socket, list: $('messages'), form: $('composer'), input: $('message'), room: $('room'),
    presence: $('presence'), presenceCount: $('presence-count'), title: $('chat-title'),
    price: (sym) => board.get(sym)?.price,
    onSymbol: (sym) => select(sym, true),
    onRef: (ref) => { select(ref.symbol, false); focusChart(chart, ref); },
  });
  // Price alerts and notifications (inbox.js); "New price alert" from a
  // board row (right click) and from the chart, "Share to chat" (chartshare.js).
  const inbox = new Inbox({
    socket, root: document.querySelector('aside.chat'), price: (sym) => board.get(sym)?.price,
    onSymbol: (sym) => select(sym, true), afterMention: () => chat.refreshRooms(),
  });
  mountChartTools(document.querySelector('.panel.center .panel-head'), chart, () => selected, chat, inbox);
  $('tickers').addEventListener('contextmenu', (e) => {
    const tr = e.target.closest('tr[data-sym]');
    if (tr) { e.preventDefault(); inbox.newAlert(tr.dataset.sym); }
  });

  const hash = decodeURIComponent(location.hash.slice(1));
  chat.open(/^[A-Za-z0-9_-]+$/.test(hash) && hash !== 'lobby' ? 'chat.' + hash : 'chat.lobby');
  if (/^[A-Za-z0-9_-]+$/.test(hash) && hash !== 'lobby') select(hash, false);

  socket.subscribe('market.*').catch((e) => console.warn('market.*', e));
  socket.subscribe('analytics.*').catch((e) => console.warn('analytics.*', e));
  socket.subscribe('alert.*').catch((e) => console.warn('alert.*', e));
}

main().catch((e) => { showStatus('offline', e.message); console.error(e); });
