// Dev-mode sign-in (PROTOCOL §3): POST /api/session {"name"} sets the
// session cookie the WebSocket upgrade authenticates with. The chosen name
// is remembered in localStorage and signed in again on reload; without one
// the server connects us as a guest (the name comes in the welcome event).
// `?name=ana` in the page URL signs in as ana (handy for tests and demos).

const KEY = 'tickroom.name';

export function storedName() {
  const fromURL = new URLSearchParams(location.search).get('name');
  if (fromURL) return fromURL;
  try { return localStorage.getItem(KEY) || ''; } catch (e) { return ''; }
}

export function forgetName() { try { localStorage.removeItem(KEY); } catch (e) { /* private mode */ } }

/** Sign in; resolves to {user, token}. Remembers the name on success. */
export async function signIn(name, {timeout = 5000} = {}) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), timeout);
  try {
    const r = await fetch('/api/session', {
      method: 'POST', credentials: 'same-origin', signal: ctl.signal,
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name}),
    });
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw new Error((body && body.error && (body.error.message || body.error.code)) || 'sign-in failed (' + r.status + ')');
    try { localStorage.setItem(KEY, name); } catch (e) { /* private mode */ }
    return body || {user: name};
  } finally { clearTimeout(t); }
}
