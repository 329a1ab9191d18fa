// Operator page: polls /admin/api/state with the admin token and shows
// connections, channels and their rates, slow clients and producer health.
// Everything reaches the DOM as text.

const $ = (id) => document.getElementById(id);
const KEY = 'tickroom.admin';
let token = sessionStorage.getItem(KEY) || '';
let prev = null, prevAt = 0, timer = 0;

$('token').value = token;
$('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value;
  sessionStorage.setItem(KEY, token);
  poll();
});

function row(cells, cls) {
  const tr = document.createElement('tr');
  if (cls) tr.className = cls;
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = String(c);
    if (typeof c === 'number') td.className = 'num';
    tr.append(td);
  }
  return tr;
}

const fmt = (n) => (n >= 100 ? Math.round(n) : Math.round(n * 10) / 10).toLocaleString();
function rate(now, before, dt) { return before === undefined || dt <= 0 ? 0 : Math.max(0, (now - before) / dt); }

function render(st, dt) {
  const ov = $('overview');
  ov.replaceChildren();
  const pairs = [
    ['Node', st.node], ['Uptime', Math.round(st.uptime_s / 60) + ' min'], ['NATS', st.nats_ready ? 'ready' : 'NOT READY'],
    ['Connections', st.stats.Clients], ['Subscriptions', st.stats.Subscriptions], ['NATS subscriptions', st.stats.Topics],
    ['Ticks conflated', st.stats.Conflated], ['Slow-consumer closes', st.stats.SlowCloses],
    ['Frames out/s', fmt(rate(st.frames_out, prev?.frames_out, dt))], ['Bytes out/s', fmt(rate(st.bytes_out, prev?.bytes_out, dt))],
  ];
  for (const [k, v] of pairs) { const dt_ = document.createElement('dt'); dt_.textContent = k; const dd = document.createElement('dd'); dd.textContent = String(v); ov.append(dt_, dd); }

  const before = new Map((prev?.producers || []).map((p) => [p.kind, p.events]));
  $('producers').replaceChildren(...st.producers.map((p) => row(
    [p.kind, fmt(rate(p.events, before.get(p.kind), dt)), p.events, p.last_event_ago_s < 0 ? 'never' : p.last_event_ago_s + ' s ago'],
    p.last_event_ago_s > 30 ? 'bad' : '')));

  const ch = new Map((prev?.channels || []).map((c) => [c.pattern, c]));
  $('channels').replaceChildren(...st.channels.map((c) => row([c.pattern, c.subscribers,
    fmt(rate(c.events, ch.get(c.pattern)?.events, dt)), fmt(rate(c.deliveries, ch.get(c.pattern)?.deliveries, dt))])));

  $('conn-count').textContent = st.connections_total > st.connections.length
    ? `(slowest ${st.connections.length} of ${st.connections_total})` : `(${st.connections_total})`;
  $('connections').replaceChildren(...st.connections.map((c) => row(
    [c.session, c.user, c.ip, c.connected, c.subscriptions.join(' '), c.queued_events, c.queued_bytes],
    c.queued_bytes > 256 * 1024 ? 'bad' : '')));

  $('invalid').replaceChildren(...st.invalid.map((i) => row([i.subject, i.count])));

  const mod = st.moderation || {actions: [], mutes: []};
  $('moderation').replaceChildren(...(mod.actions || []).map((a) => row(
    [a.time, a.room, a.action, a.by, a.user || '', a.seq || '', a.seconds ? a.seconds + ' s' : ''])));
  $('mutes').replaceChildren(...(mod.mutes || []).map((m) => row([m.room, m.user, m.until, m.by])));
}

async function poll() {
  clearTimeout(timer);
  if (!token) return;
  try {
    const r = await fetch('/admin/api/state', {headers: {Authorization: 'Bearer ' + token}});
    if (r.status === 401 || r.status === 404) { $('status').textContent = r.status === 404 ? 'admin disabled (no -admin-token)' : 'wrong token'; return; }
    const st = await r.json();
    const now = performance.now();
    render(st, prev ? (now - prevAt) / 1000 : 0);
    prev = st; prevAt = now;
    $('status').textContent = 'live · ' + new Date().toLocaleTimeString();
  } catch (e) {
    $('status').textContent = 'unreachable: ' + e.message;
  }
  timer = setTimeout(poll, 2000);
}

poll();
