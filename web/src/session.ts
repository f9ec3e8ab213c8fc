// Who is looking at the wall: the session (GET/POST/DELETE /cityroom/v1/session, docs/ACCESS.md)
// and the writes a logged-in user makes (alarms, the simulator). The session cookie is HttpOnly,
// so the page never sees it; it keeps only the CSRF token the server hands out, and sends it on
// every write. Passwords go straight into the login request and are never kept or logged.
export interface Session {
  user: string | null;
  role: string;  // public, staff, executive, admin
  department?: string | null;
}

let csrf: string | null = null;
let current: Session = { user: null, role: 'public' };

export function session(): Session {
  return current;
}
export function isStaff(): boolean {
  return current.role === 'staff' || current.role === 'executive' || current.role === 'admin';
}
export function isAdmin(): boolean {
  return current.role === 'admin';
}

function take(body: Record<string, unknown> | null): Session {
  csrf = typeof body?.csrfToken === 'string' ? body.csrfToken : null;
  current = {
    user: typeof body?.user === 'string' ? body.user : null,
    role: typeof body?.role === 'string' ? body.role : 'public',
    department: typeof body?.department === 'string' ? body.department : null,
  };
  return current;
}

export async function loadSession(): Promise<Session> {
  try {
    const r = await fetch('/cityroom/v1/session', { headers: { Accept: 'application/json' } });
    return take(r.ok ? await r.json() : null);
  } catch {
    return take(null);
  }
}

// Answers an error text for the login form, or null on success.
export async function login(username: string, password: string): Promise<string | null> {
  try {
    const r = await fetch('/cityroom/v1/session', {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (r.status === 429) return 'throttled';
    if (!r.ok) return 'badLogin';
    take(await r.json());
    return null;
  } catch {
    return 'offlineShort';
  }
}

export async function logout(): Promise<void> {
  try {
    await fetch('/cityroom/v1/session', { method: 'DELETE', headers: csrf ? { 'X-CSRF-Token': csrf } : {} });
  } catch { /* the cookie expires anyway */ }
  take(null);
}

// A cookie-authenticated write: JSON body, CSRF token. Answers the parsed body or an error.
export async function write(method: string, url: string, body?: unknown): Promise<{ ok: boolean; status: number; body: any }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (csrf) headers['X-CSRF-Token'] = csrf;
  try {
    const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let parsed: unknown = null;
    try { parsed = await r.json(); } catch { /* empty answer */ }
    return { ok: r.ok, status: r.status, body: parsed };
  } catch {
    return { ok: false, status: 0, body: null };
  }
}
