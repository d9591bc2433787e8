/*
 * core/session.js: the signed-in session, the one place that knows the tokens.
 *
 * Tokens live in sessionStorage (per tab, gone when the tab closes), never
 * in localStorage, URLs or logs. If storage is unavailable (disabled,
 * sandboxed iframe) the session is kept in memory for this page only.
 * `auth` signs in (POST /auth/token, OAuth2 password grant), renews the
 * access token (POST /auth/refresh, one request shared by every caller) and
 * tells its `listeners` about 'signin' | 'signout' | 'expired' | 'user' | 'refresh'.
 */

import {
  AuthRequiredError, HttpError, describeErrorResponse, postAuth, readJson,
} from './http.js';

const SESSION_KEY = 'gridmap.session';
// Renew a little before the access token runs out rather than earn a 401
// (at most half its lifetime early, so a short-lived token is still used).
const EXPIRY_MARGIN_MS = 30 * 1000;

const sessionStore = {
  memory: null,
  read() {
    let raw = null;
    try {
      raw = window.sessionStorage.getItem(SESSION_KEY);
    } catch (_) {
      raw = this.memory;
    }
    if (!raw) return null;
    let value = null;
    try {
      value = JSON.parse(raw);
    } catch (_) {
      value = null;
    }
    const session = validSession(value);
    if (!session) this.clear(); // garbage or an old format: forget it
    return session;
  },
  write(session) {
    const raw = JSON.stringify(session);
    try {
      window.sessionStorage.setItem(SESSION_KEY, raw);
      this.memory = null;
    } catch (_) {
      this.memory = raw;
    }
  },
  clear() {
    this.memory = null;
    try {
      window.sessionStorage.removeItem(SESSION_KEY);
    } catch (_) {
      // storage unavailable: nothing stored there
    }
  },
};

function isNonEmptyString(value) {
  return typeof value === 'string' && value.length > 0;
}

function validUser(user) {
  if (!user || typeof user !== 'object' || !isNonEmptyString(user.username)) return null;
  return {
    username: user.username,
    display_name: typeof user.display_name === 'string' ? user.display_name : '',
    role: typeof user.role === 'string' ? user.role : '',
    permissions: Array.isArray(user.permissions)
      ? user.permissions.filter((p) => typeof p === 'string')
      : [],
  };
}

// A stored session: {access_token, refresh_token, renew_at, user}, where
// renew_at (ms since epoch, 0 if unknown) is when to renew the access token.
function validSession(value) {
  if (!value || typeof value !== 'object') return null;
  const user = validUser(value.user);
  if (!isNonEmptyString(value.access_token) || !isNonEmptyString(value.refresh_token) || !user) {
    return null;
  }
  return {
    access_token: value.access_token,
    refresh_token: value.refresh_token,
    renew_at: Number.isFinite(value.renew_at) ? value.renew_at : 0,
    user,
  };
}

// A /auth/token or /auth/refresh answer turned into a stored session.
function sessionFromTokenResponse(body) {
  if (!body || typeof body !== 'object') return null;
  if (body.token_type && String(body.token_type).toLowerCase() !== 'bearer') return null;
  const lifetime = Number(body.expires_in) * 1000;
  const valid = Number.isFinite(lifetime) && lifetime > 0;
  return validSession({
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    renew_at: valid ? Date.now() + Math.max(lifetime - EXPIRY_MARGIN_MS, lifetime / 2) : 0,
    user: body.user,
  });
}

// The one place that knows the tokens. `listeners` hear about sign-in,
// sign-out and session loss so the UI can follow.
export const auth = {
  session: sessionStore.read(),
  // Bumped on every sign-in/sign-out so a refresh that was in flight at the
  // time cannot bring an ended session back.
  epoch: 0,
  refreshing: null,
  listeners: new Set(),

  signedIn() {
    return this.session !== null;
  },

  user() {
    return this.session ? this.session.user : null;
  },

  // Whether the signed-in user's role has `permission` ('grids:edit', 'events:read', ...).
  // The server checks again on every request; this only decides what to show.
  can(permission) {
    const user = this.user();
    return !!(user && Array.isArray(user.permissions) && user.permissions.includes(permission));
  },

  notify(event) {
    this.listeners.forEach((fn) => fn(event));
  },

  start(session) {
    this.epoch += 1;
    this.refreshing = null;
    this.session = session;
    sessionStore.write(session);
    this.notify('signin');
  },

  // reason: 'signout' (the user asked) or 'expired' (the server refused).
  end(reason) {
    const had = this.session !== null;
    this.epoch += 1;
    this.refreshing = null;
    this.session = null;
    sessionStore.clear();
    if (had) this.notify(reason);
  },

  setUser(user) {
    const valid = validUser(user);
    if (!this.session || !valid) return;
    this.session = Object.assign({}, this.session, { user: valid });
    sessionStore.write(this.session);
    this.notify('user');
  },

  // POST /auth/token with the OAuth2 password grant. Resolves on success,
  // rejects with an Error whose message is fit to show in the login panel.
  async login(username, password) {
    const body = new URLSearchParams();
    body.set('grant_type', 'password');
    body.set('username', username);
    body.set('password', password);
    const resp = await postAuth('/auth/token', {
      'Content-Type': 'application/x-www-form-urlencoded',
    }, body.toString());
    const data = await readJson(resp);
    if (!resp.ok) {
      const detail = data && typeof data.detail === 'string' ? data.detail : '';
      throw new Error(detail || (data && data.title) || `登录失败 Sign-in failed (HTTP ${resp.status})`);
    }
    const session = sessionFromTokenResponse(data);
    if (!session) throw new Error('登录失败 Sign-in failed: unexpected answer from the server');
    this.start(session);
  },

  // A fresh access token to replace `stale`. Concurrent callers share one
  // POST /auth/refresh. Throws AuthRequiredError (after ending the session)
  // when the server refuses the refresh token, HttpError when it cannot be
  // reached (the session is kept: that is no reason to sign anybody out).
  renew(stale) {
    if (!this.session) return Promise.reject(new AuthRequiredError());
    // Someone else already renewed while our request was out.
    if (this.session.access_token !== stale) return Promise.resolve(this.session.access_token);
    if (!this.refreshing) {
      const epoch = this.epoch;
      const refreshToken = this.session.refresh_token;
      const flight = this.doRefresh(refreshToken, epoch);
      this.refreshing = flight;
      const done = () => {
        if (this.refreshing === flight) this.refreshing = null;
      };
      flight.then(done, done);
    }
    return this.refreshing;
  },

  async doRefresh(refreshToken, epoch) {
    const resp = await postAuth('/auth/refresh', { 'Content-Type': 'application/json' },
      JSON.stringify({ refresh_token: refreshToken }));
    if (epoch !== this.epoch) throw new AuthRequiredError(); // signed out meanwhile
    if (resp.status >= 500 || resp.status === 429) {
      throw new HttpError(await describeErrorResponse(resp), resp.status);
    }
    const session = resp.ok ? sessionFromTokenResponse(await readJson(resp)) : null;
    if (epoch !== this.epoch) throw new AuthRequiredError();
    if (!session) {
      this.end('expired');
      throw new AuthRequiredError();
    }
    this.session = session;
    sessionStore.write(session);
    this.notify('refresh');
    return session.access_token;
  },

  // The token to send now, renewed first when it is known to have run out.
  async accessToken() {
    const session = this.session;
    if (!session) throw new AuthRequiredError();
    if (session.renew_at && Date.now() >= session.renew_at) {
      return this.renew(session.access_token);
    }
    return session.access_token;
  },
};
