// The dashboard page: wires the socket to the price store, and the store to
// the board, chart, analytics, movers, order book, tape and chat. Keeps the
// view (symbol, interval, room) in the URL hash and the user's choices in
// localStorage; says plainly when the data is not live. No inline script,
// no innerHTML: CSP-safe.
import {connect} from './tickroom.js';
import {PriceStore} from './store.js';
import {Board} from './board.js';
import {Chat} from './chat.js';
import {ChartView} from './chart.js';
import {AnalyticsPanel, Movers, BookView, TapeView} from './panels.js';
import {SymbolSearch} from './search.js';
import {splitters, tabs} from './layout.js';
import {loadPrefs, savePrefs, parseHash, formatHash} from './prefs.js';
import {validInterval, DEFAULT_INTERVAL} from './candles.js';
import {fmtTime} from './format.js';
import {storedName, signIn} from './session.js';
import {Inbox} from './inbox.js';
import {mountChartTools, focusChart} from './chartshare.js';

const $ = (id) => document.getElementById(id);
const statusEl = $('status'), rttEl = $('rtt'), meEl = $('me');
const signinForm = $('signin'), nameInput = $('name-input');
const desk = $('desk');
const SYM = /^[A-Za-z0-9_-]{1,64}$/;
const KEY_DEBOUNCE_MS = 250;

const prefs = loadPrefs();
const save = (patch) => { Object.assign(prefs, patch); savePrefs(prefs); };

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
let legacyTheme = null;
try { legacyTheme = localStorage.getItem('tickroom.theme'); } catch (e) { /* private mode */ }
applyTheme((prefs.theme ?? legacyTheme) === 'light');

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
  const store = new PriceStore((fn) => requestAnimationFrame(fn));
  globalThis.tickroomStore = store;    // likewise

  // ---- connection state and the banner ----
  const banner = $('banner');
  const conn = {everConnected: false, lostAt: NaN, feedDownAt: NaN, feedMessage: ''};
  const startedAt = Date.now();
  function renderBanner() {
    const st = socket.status;
    const connLost = st !== 'connected' && (conn.everConnected || Date.now() - startedAt > 3000);
    const feedDown = st === 'connected' && Number.isFinite(conn.feedDownAt);
    const last = Number.isFinite(store.lastUpdate) ? ' Last update ' + fmtTime(store.lastUpdate) + '.' : ' No update received yet.';
    let text = '';
    if (connLost) {
      const since = Number.isFinite(conn.lostAt) ? conn.lostAt : startedAt;
      text = (conn.everConnected ? 'Connection to the server lost' : 'Cannot reach the server') + ' since ' + fmtTime(since) +
        ' — reconnecting. Prices, chart, book and tape are paused.' + last;
    } else if (feedDown) {
      text = 'Market data unavailable since ' + fmtTime(conn.feedDownAt) + ' (the server lost its message bus' +
        (conn.feedMessage ? ': ' + conn.feedMessage : '') + '). Prices shown are not live.' + last;
    }
    const down = !!text;
    document.body.classList.toggle('paused', down);
    statusEl.dataset.feed = feedDown ? 'unavailable' : '';
    if (banner.textContent !== text) banner.textContent = text;
    banner.hidden = !down;
  }
  setTimeout(renderBanner, 3100);  // a page that never connects says so

  const showConn = () => showStatus(socket.status, socket.status !== 'connected' ? ''
    : [socket.transport === 'sse' ? 'via SSE' : '', Number.isFinite(conn.feedDownAt) ? 'market data unavailable' : ''].filter(Boolean).join(', '));
  // 'status' is both the library's connection state (a string) and the
  // server's feed status event (an object): see docs/protocol.md.
  socket.on('status', (s) => {
    if (typeof s === 'string') {
      if (s === 'connected') { conn.everConnected = true; conn.lostAt = NaN; }
      else if (!Number.isFinite(conn.lostAt)) conn.lostAt = Date.now();
      showConn();
    } else if (s && typeof s === 'object') {
      if (s.feed === 'unavailable') {
        if (!Number.isFinite(conn.feedDownAt)) conn.feedDownAt = Date.now();
        conn.feedMessage = typeof s.message === 'string' ? s.message : '';
      } else if (s.feed === 'available') conn.feedDownAt = NaN;
      showConn();
    }
    renderBanner();
  });
  socket.on('transport', showConn);
  socket.on('rtt', (ms) => { rttEl.textContent = ms + ' ms'; });
  socket.on('welcome', (d) => {
    conn.feedDownAt = NaN;  // the server says so again right after welcome if NATS is down
    renderBanner();
    showConn();
    meEl.textContent = d.user || '';
    statusEl.title = d.node ? 'gateway ' + d.node : '';
    if (!nameInput.value && d.user) nameInput.placeholder = d.user;
    socket.ping().then((ms) => { rttEl.textContent = ms + ' ms'; }, () => {});
  });
  socket.on('auth_error', async () => {
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

  // ---- layout ----
  const split = splitters(desk, (sizes) => save({sizes}));
  split.apply(prefs.sizes);
  const tabBar = tabs(document.querySelector('.tabs'), desk, () => {});

  // ---- the view: symbol, interval, room ----
  const hashView = parseHash(location.hash);
  const view = {
    symbol: hashView.symbol ?? (SYM.test(prefs.symbol || '') ? prefs.symbol : null),
    interval: hashView.interval ?? (validInterval(prefs.interval) ? prefs.interval : DEFAULT_INTERVAL),
    room: hashView.room ?? (SYM.test(prefs.room || '') ? prefs.room : 'lobby'),
  };
  function writeHash() {
    const h = formatHash(view);
    if (location.hash !== h) history.replaceState(null, '', h);
    save({symbol: view.symbol, interval: view.interval, room: view.room});
  }

  const follow = $('follow');
  if (typeof prefs.follow === 'boolean') follow.checked = prefs.follow;
  follow.addEventListener('change', () => save({follow: follow.checked}));
  let chartTimer = 0, bookChannel = null;
  /** Select a symbol. how: 'key' debounces the chart (arrow keys), a user
   *  action ('click', 'enter', 'search', 'chip', 'mover') may move chat. */
  function select(sym, how) {
    if (!sym || !SYM.test(sym)) return;
    const changed = sym !== view.symbol;
    view.symbol = sym;
    board.select(sym);
    clearTimeout(chartTimer);
    const apply = () => {
      chart.show(sym, view.interval); analytics.show(sym); book.show(sym); tape.show(sym);
      // The book is wanted for the selected symbol only (it is the heaviest feed).
      const bc = 'book.' + sym;
      if (bookChannel !== bc) {
        if (bookChannel) socket.unsubscribe(bookChannel).catch(() => {});
        bookChannel = bc;
        socket.subscribe(bc).catch(() => {});
      }
    };
    if (how === 'key') chartTimer = setTimeout(apply, KEY_DEBOUNCE_MS); else apply();
    if (['click', 'enter', 'search', 'chip', 'mover'].includes(how) && follow.checked) openRoom(sym);
    if (changed || how !== 'init') writeHash();
  }
  function setInterval_(iv) {
    if (!validInterval(iv)) return;
    view.interval = iv;
    for (const b of $('interval').querySelectorAll('button[data-iv]')) b.setAttribute('aria-pressed', String(b.dataset.iv === iv));
    if (view.symbol) chart.show(view.symbol, iv);
    writeHash();
  }
  function openRoom(room) {
    view.room = room;
    chat.open(room === 'lobby' ? 'chat.lobby' : 'chat.' + room);
    writeHash();
  }

  // ---- board, chart, panels ----
  const board = new Board($('tickers'), store, {
    onSelect: (sym, how) => select(sym, how),
    onSort: (sort) => save({sort}),
    empty: $('board-empty'),
    hold: $('p-board'),
  });
  if (prefs.sort && typeof prefs.sort.key === 'string') board.sortBy(prefs.sort.key, prefs.sort.dir === -1 ? -1 : 1);
  const filter = $('filter');
  if (typeof prefs.filter === 'string') { filter.value = prefs.filter; board.setFilter(prefs.filter); }
  filter.addEventListener('input', () => { board.setFilter(filter.value); save({filter: filter.value}); });

  const chart = new ChartView({
    container: $('chart'), title: $('chart-sym'), legend: $('ohlc'), note: $('chart-note'), live: $('live'),
    socket, store,
  });
  globalThis.tickroomChart = chart;  // for debugging and browser tests
  $('interval').addEventListener('click', (e) => { const b = e.target.closest('button[data-iv]'); if (b) setInterval_(b.dataset.iv); });
  themeBtn.addEventListener('click', () => {
    const light = document.documentElement.dataset.theme !== 'light';
    applyTheme(light);
    save({theme: light ? 'light' : 'dark'});
  });
  // Whatever sets the theme, what scripts draw follows the CSS variables.
  new MutationObserver(() => { chart.applyTheme(); board.applyTheme(); })
    .observe(document.documentElement, {attributes: true, attributeFilter: ['data-theme']});
  const analytics = new AnalyticsPanel($('analytics'), store);
  const movers = new Movers($('movers'), store, (sym) => select(sym, 'mover'));
  const book = new BookView($('book'), $('book-empty'), $('book-sym'), store);
  const tape = new TapeView($('tape'), $('tape-empty'), $('tape-sym'), store);
  let moversAt = 0;
  const rooms = new Set();
  store.onChange((changed) => {
    const sel = view.symbol;
    if (sel && changed.has(sel)) { analytics.render(); book.render(); tape.render(); }
    const now = Date.now();
    if (now - moversAt >= 1000) { moversAt = now; movers.render(); }
    chat.updateChips(changed);
    for (const s of changed) if (!rooms.has(s) && store.has(s)) { rooms.add(s); chat.addRoom(s); }
    if (!view.symbol) { const first = board.first(); if (first) select(first, 'auto'); }
    if (banner.hidden === false) renderBanner();
  });
  setInterval(() => { analytics.render(); movers.render(); }, 1000);

  socket.on('market', (d, m) => store.tick(d, m));
  socket.on('analytics', (d) => store.analytics(d));
  socket.on('ref', (d) => store.ref(d));
  socket.on('book', (d) => store.book(d));

  // ---- chat ----
  const chat = new Chat({
    socket, list: $('messages'), form: $('composer'), input: $('message'), room: $('room'),
    presence: $('presence'), presenceCount: $('presence-count'), title: $('chat-title'),
    price: (sym) => store.get(sym)?.price,
    decimals: (sym) => store.decimals(sym),
    onSymbol: (sym) => select(sym, 'chip'),
    onRef: (ref) => {  // a message's card: the chart at that moment
      if (ref.interval && validInterval(ref.interval)) setInterval_(ref.interval);
      select(ref.symbol, 'ref');
      tabBar.show('chart');
      focusChart(chart, ref);
    },
  });
  // Price alerts and notifications (inbox.js); "New price alert" from a
  // board row (right click) and from the chart, "Share to chat" (chartshare.js).
  const inbox = new Inbox({
    socket, root: $('p-chat'), price: (sym) => store.get(sym)?.price,
    onSymbol: (sym) => select(sym, 'chip'), afterMention: () => chat.refreshRooms(),
  });
  mountChartTools($('p-chart').querySelector('.panel-head'), chart, () => view.symbol, chat, inbox);
  $('tickers').addEventListener('contextmenu', (e) => {
    const tr = e.target.closest('tr[data-sym]');
    if (tr) { e.preventDefault(); inbox.newAlert(tr.dataset.sym); }
  });
  $('room').addEventListener('change', () => {
    const v = $('room').value;
    view.room = v === 'chat.lobby' ? 'lobby' : v.replace(/^chat\./, '');
    writeHash();
  });

  // ---- search and shortcuts ----
  const search = new SymbolSearch($('search'), $('search-list'),
    () => store.symbols().sort().map((sym) => ({sym, name: store.get(sym)?.ref?.name})),
    (sym) => { select(sym, 'search'); tabBar.show('chart'); });
  const dialog = $('shortcuts');
  $('help').addEventListener('click', () => dialog.showModal());
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
    if ((e.ctrlKey || e.metaKey) && (e.key === 'k' || e.key === 'K')) { e.preventDefault(); search.focus(); return; }
    if (typing || e.ctrlKey || e.metaKey || e.altKey || dialog.open) return;
    if (e.key === '/') { e.preventDefault(); search.focus(); }
    else if (e.key === '?') { e.preventDefault(); dialog.showModal(); }
    else if (/^[1-5]$/.test(e.key)) setInterval_(['1m', '5m', '15m', '1h', '1D'][+e.key - 1]);
    else if (e.key === 'l' || e.key === 'L') chart.toLive();
    else if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && t === document.body) {
      // Nothing focused: the arrows still walk the board.
      const rows = [...$('tickers').tBodies[0].rows].filter((r) => !r.hidden);
      const i = rows.findIndex((r) => r.dataset.sym === view.symbol);
      const next = rows[e.key === 'ArrowDown' ? Math.min(rows.length - 1, i + 1) : Math.max(0, i - 1)];
      if (next) { e.preventDefault(); select(next.dataset.sym, 'key'); }
    }
  });

  // ---- the hash, both ways ----
  window.addEventListener('hashchange', () => {
    const h = parseHash(location.hash);
    if (h.interval && h.interval !== view.interval) setInterval_(h.interval);
    if (h.symbol && h.symbol !== view.symbol) select(h.symbol, 'hash');
    if (h.room && h.room !== view.room) openRoom(h.room);
    writeHash();
  });

  for (const b of $('interval').querySelectorAll('button[data-iv]')) b.setAttribute('aria-pressed', String(b.dataset.iv === view.interval));
  chat.open(view.room === 'lobby' ? 'chat.lobby' : 'chat.' + view.room);
  if (view.symbol) select(view.symbol, 'init');
  writeHash();

  socket.subscribe('market.*').catch((e) => console.warn('market.*', e));
  socket.subscribe('analytics.*').catch((e) => console.warn('analytics.*', e));
  socket.subscribe('alert.*').catch((e) => console.warn('alert.*', e));
  // A PROTOCOL §4 kind; a gateway without it refuses or stays silent, and
  // the page infers decimals from the prices it sees.
  socket.subscribe('ref.*').catch(() => {});
}

main().catch((e) => { showStatus('offline', e.message); console.error(e); });
