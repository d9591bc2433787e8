/*
 * gridmap.js: the browser side of the gridmap web map.
 *
 * The HTML page (api/web/map.py) only creates the Leaflet map, fits it to the
 * county and calls `gridmap.init(map, config)`. It embeds no data: everything
 * shown here is fetched from the JSON API (same origin, relative URLs) for the
 * part of the county in view, so the page stays light even for a district with
 * 100k households.
 *
 * config = {
 *   layers: [{code, name, color}],   // grid layers in display order; first is on
 *   bounds: [minlon, minlat, maxlon, maxlat],  // the county
 *   pointMinZoom: 14                 // households/cameras/events/staff from here on
 * }
 *
 * Every data endpoint wants `Authorization: Bearer <access token>`. The page
 * itself is public: it shows a login panel (POST /auth/token, OAuth2 password
 * grant) until there is a session, keeps the tokens in sessionStorage, and
 * sends every data request through `apiFetch`, which renews the access token
 * via POST /auth/refresh on a 401 and retries once.
 *
 * Plain ES2017 and Leaflet 1.9; no framework.
 */
(function (global) {
  'use strict';

  const GRID_PAGE_LIMIT = 1000;
  const DIVISION_PAGE_LIMIT = 1000;
  // The server's largest page (GRIDMAP_PAGE_MAX, default 1000); a dense village at zoom 15 holds
  // several thousand households, so points follow a few next links.
  const POINT_LIMIT = 1000;
  const POINT_PAGES = 5;
  // Enough for the largest grid layer (~10,000 polygons) at 1000 per page;
  // a runaway `next` chain must not keep the browser busy forever.
  const MAX_PAGES = 20;
  // Scroll-wheel zooming fires one moveend per step; wait for the view to
  // settle before asking the server.
  const MOVE_DEBOUNCE_MS = 200;
  const MESSAGE_TIMEOUT_MS = 10000;
  // Shown (once, as a quiet note) for an overlay the role may not read.
  const FORBIDDEN_TEXT = '无权限 not permitted for your role';
  // Quiet notes for an overlay that is on but came back empty: for the whole
  // of the user's territory, or (when the loaded area does not cover it) for
  // the part of the map in view.
  const EMPTY_AREA_TEXT = 'none in your area 您的辖区内没有';
  const EMPTY_VIEW_TEXT = 'none in this view 当前视图内没有';
  // English names of the known grid layers; the server names them in Chinese.
  const LAYER_ENGLISH = {
    comprehensive: 'Comprehensive',
    party: 'Party-building',
    emergency: 'Emergency',
    dedicated: 'Dedicated',
    micro: 'Micro-grid',
  };
  // Fitting the map to a user's territory: a single grid can be tiny.
  const TERRITORY_MAX_ZOOM = 17;

  // ---------------------------------------------------------------- helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // A button that runs ``onClick``. Panels are rebuilt by their handlers, which detaches the
  // button; Leaflet finds clicks on controls by walking up from the target, so a detached one
  // would count as a click on the map (a line point, a popup): the click must not propagate.
  function button(parent, text, onClick, className, disabled) {
    const b = parent.appendChild(el('button', className, text));
    b.type = 'button';
    b.disabled = !!disabled;
    b.addEventListener('click', (e) => {
      e.preventDefault();
      L.DomEvent.stopPropagation(e);
      onClick();
    });
    return b;
  }

  // Leaflet's layers control inserts overlay names as HTML, so anything that
  // came from the server must be escaped before it goes there.
  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({
      '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    })[c]);
  }

  // Colours end up in style attributes; accept only plain hex.
  function safeColor(value, fallback) {
    return /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(value || '') ? value : fallback;
  }

  function isBlank(value) {
    return value === undefined || value === null || value === '';
  }

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // --------------------------------------------------------------- HTTP

  // `problem` is the parsed problem+json body, when there was one (grid
  // edits carry conflict geometries in it).
  class HttpError extends Error {
    constructor(message, status, problem) {
      super(message);
      this.name = 'HttpError';
      this.status = status || 0;
      this.problem = problem && typeof problem === 'object' ? problem : null;
    }
  }

  // The signed-in user's role lacks the permission (403). Not retried: asking
  // again gives the same answer.
  class ForbiddenError extends HttpError {
    constructor(message) {
      super(message, 403);
      this.name = 'ForbiddenError';
    }
  }

  // There is no usable session (never signed in, signed out, or the refresh
  // token was refused). The login panel is already on screen when this is
  // thrown, so callers drop it silently.
  class AuthRequiredError extends Error {
    constructor() {
      super('sign-in required 请登录');
      this.name = 'AuthRequiredError';
    }
  }

  // Parse a response body as JSON, or null when it is not JSON.
  async function readJson(resp) {
    try {
      return await resp.json();
    } catch (_) {
      return null; // not JSON (proxy error page, empty body)
    }
  }

  // Turn an error response into one readable line. The API answers errors
  // with problem+json ({title, detail}); anything else gets the status line.
  async function describeErrorResponse(resp) {
    return describeProblem(resp, await readJson(resp));
  }

  function describeProblem(resp, body) {
    if (body && (body.title || body.detail)) {
      let detail = body.detail;
      if (detail && typeof detail !== 'string') detail = JSON.stringify(detail);
      return [body.title, detail].filter(Boolean).join(': ');
    }
    return `HTTP ${resp.status} ${resp.statusText || ''}`.trim();
  }

  // An HttpError for a failed answer, keeping its problem+json body.
  async function problemError(resp) {
    const body = await readJson(resp);
    return new HttpError(describeProblem(resp, body), resp.status, body);
  }

  // ------------------------------------------------------------ session

  // Tokens live in sessionStorage (per tab, gone when the tab closes), never
  // in localStorage, URLs or logs. If storage is unavailable (disabled,
  // sandboxed iframe) the session is kept in memory for this page only.
  const SESSION_KEY = 'gridmap.session';
  // Renew a little before the access token runs out rather than earn a 401
  // (at most half its lifetime early, so a short-lived token is still used).
  const EXPIRY_MARGIN_MS = 30 * 1000;

  const sessionStore = {
    memory: null,
    read() {
      let raw = null;
      try {
        raw = global.sessionStorage.getItem(SESSION_KEY);
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
        global.sessionStorage.setItem(SESSION_KEY, raw);
        this.memory = null;
      } catch (_) {
        this.memory = raw;
      }
    },
    clear() {
      this.memory = null;
      try {
        global.sessionStorage.removeItem(SESSION_KEY);
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
  const auth = {
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

  // POST to an /auth endpoint; the credentials travel in the body only.
  async function postAuth(url, headers, body) {
    try {
      return await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: Object.assign({ Accept: 'application/json' }, headers),
        body,
      });
    } catch (_) {
      throw new HttpError('network error, the server could not be reached');
    }
  }

  // request: {method, headers, body} for writes; a plain GET without it.
  async function sendWithToken(url, token, signal, request) {
    const req = request || {};
    try {
      return await fetch(url, {
        signal,
        method: req.method || 'GET',
        credentials: 'same-origin',
        // Writes and ETag reads must never come from the HTTP cache.
        cache: request ? 'no-store' : 'default',
        headers: Object.assign({ Accept: 'application/geo+json, application/json' }, req.headers, {
          Authorization: `Bearer ${token}`,
        }),
        body: req.body,
      });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new HttpError('network error, the server could not be reached');
    }
  }

  function abortError() {
    const err = new Error('aborted');
    err.name = 'AbortError';
    return err;
  }

  // Every data request goes through here: GET `url` with the session's bearer
  // token and return the parsed JSON body.
  //
  // * 401: renew the access token once (shared with any other request that
  //   hit 401 at the same time) and retry once. If the refresh token is
  //   refused the session ends, the login panel appears and this throws
  //   AuthRequiredError; a second 401 right after a successful renewal ends
  //   the session as well, so there is never a loop.
  // * 403: ForbiddenError, for the caller to show quietly.
  // * anything else not ok: HttpError with the server's problem text (and
  //   its problem+json body as err.problem).
  //
  // options: {signal, method, headers, json, withEtag, raw}. `json` is sent as a
  // JSON body (writes: method POST/PATCH and an If-Match header); with
  // `withEtag` the answer is {data, etag} (the ETag header, for a write); with
  // `raw` it is the body as a Blob (an export to download).
  async function apiFetch(url, options) {
    const opts = options || {};
    const signal = opts.signal;
    let request = null;
    if (opts.method || opts.json !== undefined || opts.withEtag || opts.headers) {
      const headers = Object.assign({}, opts.headers);
      if (opts.json !== undefined) headers['Content-Type'] = 'application/json';
      request = {
        method: opts.method || (opts.json !== undefined ? 'POST' : 'GET'),
        headers,
        body: opts.json !== undefined ? JSON.stringify(opts.json) : undefined,
      };
    }
    let token = await auth.accessToken();
    if (signal && signal.aborted) throw abortError();
    let resp = await sendWithToken(url, token, signal, request);
    if (resp.status === 401) {
      token = await auth.renew(token);
      if (signal && signal.aborted) throw abortError();
      resp = await sendWithToken(url, token, signal, request);
      if (resp.status === 401) {
        // A brand-new token refused too: the account was disabled or its
        // tokens revoked. Sign out (unless the session changed meanwhile).
        if (auth.session && auth.session.access_token === token) auth.end('expired');
        throw new AuthRequiredError();
      }
    }
    if (resp.status === 403) throw new ForbiddenError(await describeErrorResponse(resp));
    if (!resp.ok) throw await problemError(resp);
    if (opts.withEtag) return { data: await readJson(resp), etag: resp.headers.get('ETag') };
    if (opts.raw) return resp.blob();
    return resp.json();
  }

  // `links` may hold absolute URLs built from the server's idea of its host
  // (which can differ behind a proxy); keep only path and query so every
  // request stays same-origin.
  function nextLink(collection) {
    const links = (collection && collection.links) || [];
    const next = links.find((link) => link && link.rel === 'next' && link.href);
    if (!next) return null;
    const url = new URL(next.href, global.location.href);
    return url.pathname + url.search;
  }

  function clamp(v, lo, hi) {
    return Math.min(hi, Math.max(lo, v));
  }

  // Padded views can run past the poles/antimeridian when zoomed far out;
  // the API wants a valid WGS84 box.
  function clampBounds(bounds) {
    const sw = bounds.getSouthWest();
    const ne = bounds.getNorthEast();
    return L.latLngBounds(
      [clamp(sw.lat, -90, 90), clamp(sw.lng, -180, 180)],
      [clamp(ne.lat, -90, 90), clamp(ne.lng, -180, 180)]
    );
  }

  function bboxParam(bounds) {
    return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
      .map((v) => v.toFixed(6))
      .join(',');
  }

  // ----------------------------------------------------- on-map UI pieces

  // A small dismissible box for failed requests. Repeats of one message are
  // counted instead of stacked, since every pan can fail the same way. A
  // message may name its owner (an overlay key) so the owner can take its
  // stale messages back (switched off, zoomed out of range, loaded fine).
  function createMessageBox(map) {
    const box = el('div', 'gm-messages');
    box.setAttribute('role', 'alert');
    map.getContainer().appendChild(box);
    L.DomEvent.disableClickPropagation(box);
    const shown = new Map();

    function remove(text) {
      const entry = shown.get(text);
      if (!entry) return;
      clearTimeout(entry.timer);
      entry.node.remove();
      shown.delete(text);
    }

    function show(text, owner) {
      let entry = shown.get(text);
      if (entry) {
        entry.count += 1;
        entry.counter.textContent = ` ×${entry.count}`;
        clearTimeout(entry.timer);
      } else {
        const node = el('div', 'gm-message');
        node.appendChild(el('span', null, text));
        const counter = node.appendChild(el('span', 'gm-message-count'));
        const close = node.appendChild(el('button', 'gm-message-close', '×'));
        close.type = 'button';
        close.title = 'Dismiss';
        close.addEventListener('click', () => remove(text));
        box.appendChild(node);
        entry = { node, counter, count: 1, owner: null };
        shown.set(text, entry);
      }
      entry.owner = owner || null;
      entry.timer = setTimeout(() => remove(text), MESSAGE_TIMEOUT_MS);
    }

    function clear() {
      Array.from(shown.keys()).forEach(remove);
    }

    function clearOwner(owner) {
      Array.from(shown.entries())
        .filter(([, entry]) => entry.owner === owner)
        .forEach(([text]) => remove(text));
    }

    return { show, clear, clearOwner };
  }

  // Short status lines in a map corner (zoom hints, "first 2000 shown", ...),
  // keyed so each part of the app can set or clear its own line.
  function createNotes(map) {
    const lines = new Map();
    const control = L.control({ position: 'bottomleft' });
    let container = null;
    control.onAdd = function () {
      container = el('div', 'gm-notes');
      render();
      return container;
    };

    function render() {
      if (!container) return;
      container.textContent = '';
      lines.forEach((text) => container.appendChild(el('div', 'gm-note', text)));
      container.style.display = lines.size ? '' : 'none';
    }

    function set(key, text) {
      if (text) lines.set(key, text);
      else lines.delete(key);
      render();
    }

    control.addTo(map);
    return { set };
  }

  function createLegend(map, layers) {
    if (!layers.length) return;
    const control = L.control({ position: 'bottomright' });
    control.onAdd = function () {
      const box = el('div', 'gm-legend');
      box.appendChild(el('div', 'gm-legend-title', 'Grid layers 网格图层'));
      layers.forEach((layer) => {
        const row = box.appendChild(el('div', 'gm-legend-row'));
        const swatch = row.appendChild(el('span', 'gm-swatch'));
        swatch.style.borderColor = layer.color;
        swatch.style.backgroundColor = layer.color;
        row.appendChild(el('span', null, layer.label));
      });
      return box;
    };
    control.addTo(map);
  }

  // ------------------------------------------------------ sign-in UI

  // Modal-ish panel over the map. `onSubmit(username, password)` returns a
  // promise; its rejection message (the server's `detail`) is shown as text.
  function createLoginPanel(map, onSubmit) {
    const backdrop = el('div', 'gm-login-backdrop');
    backdrop.style.display = 'none';
    const form = backdrop.appendChild(el('form', 'gm-login'));
    // POST, so that even a submit that somehow escapes the handler below
    // never puts the password into a URL.
    form.method = 'post';
    form.noValidate = true;
    form.setAttribute('aria-label', '登录 Sign in');
    form.appendChild(el('div', 'gm-login-title', '登录 Sign in'));
    const notice = form.appendChild(el('div', 'gm-login-notice'));
    notice.setAttribute('role', 'status');

    function field(labelText, name, type, autocomplete) {
      const label = form.appendChild(el('label', 'gm-login-field'));
      label.appendChild(el('span', 'gm-login-label', labelText));
      const input = label.appendChild(el('input', 'gm-login-input'));
      input.type = type;
      input.name = name;
      input.autocomplete = autocomplete;
      input.required = true;
      input.spellcheck = false;
      input.setAttribute('autocapitalize', 'none');
      return input;
    }

    const username = field('用户名 Username', 'username', 'text', 'username');
    const password = field('密码 Password', 'password', 'password', 'current-password');
    const error = form.appendChild(el('div', 'gm-login-error'));
    error.setAttribute('role', 'alert');
    const button = form.appendChild(el('button', 'gm-login-submit', '登录 Sign in'));
    button.type = 'submit';

    // The map must not pan, zoom or take the keys while the user types
    // (Leaflet's keyboard handler listens on the document).
    L.DomEvent.disableClickPropagation(backdrop);
    L.DomEvent.disableScrollPropagation(backdrop);
    L.DomEvent.on(backdrop, 'keydown keyup keypress', L.DomEvent.stopPropagation);
    map.getContainer().appendChild(backdrop);

    let busy = false;

    function setError(text) {
      error.textContent = text || '';
      error.style.display = text ? '' : 'none';
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (busy) return;
      const name = username.value.trim();
      if (!name || !password.value) {
        setError('请输入用户名和密码 Enter username and password');
        (name ? password : username).focus();
        return;
      }
      busy = true;
      button.disabled = true;
      button.textContent = '登录中… Signing in…';
      setError('');
      try {
        await onSubmit(name, password.value);
        password.value = '';
      } catch (err) {
        setError(err && err.message ? err.message : '登录失败 Sign-in failed');
        password.value = '';
        password.focus();
      } finally {
        busy = false;
        button.disabled = false;
        button.textContent = '登录 Sign in';
      }
    });

    // options.clearUsername: after an explicit sign-out the next person at
    // the screen is not necessarily the same user, so the name goes too.
    function show(message, options) {
      notice.textContent = message || '';
      notice.style.display = message ? '' : 'none';
      setError('');
      if (options && options.clearUsername) username.value = '';
      password.value = '';
      backdrop.style.display = '';
      (username.value ? password : username).focus();
    }

    function hide() {
      backdrop.style.display = 'none';
      password.value = '';
      setError('');
    }

    setError('');
    return { show, hide };
  }

  const ROLE_LABELS = {
    admin: '管理员 admin',
    planner: '规划员 planner',
    grid_worker: '网格员 grid worker',
    grid_head: '网格长 grid head',
    department: '部门 department',
    emergency: '应急队伍 emergency',
    viewer: '查看者 viewer',
    auditor: '审计员 auditor',
  };

  // Who is signed in, and the way out. Added to the top-right corner before
  // the layers control, so it sits above it rather than on top of it.
  function createUserBadge(map, onSignOut) {
    const control = L.control({ position: 'topright' });
    const box = el('div', 'gm-user');
    const name = box.appendChild(el('div', 'gm-user-name'));
    const role = box.appendChild(el('div', 'gm-user-role'));
    const button = box.appendChild(el('button', 'gm-user-signout', '退出 Sign out'));
    button.type = 'button';
    button.addEventListener('click', onSignOut);
    L.DomEvent.disableClickPropagation(box);
    control.onAdd = () => box;
    control.addTo(map);

    // Server-provided strings go in as text, never as HTML.
    function update(user) {
      if (!user) {
        box.style.display = 'none';
        return;
      }
      name.textContent = user.display_name || user.username;
      name.title = user.username;
      role.textContent = ROLE_LABELS[user.role] || user.role || '';
      role.style.display = user.role ? '' : 'none';
      box.style.display = '';
    }

    update(null);
    return { update };
  }

  // ------------------------------------------------------------- popups

  function formatValue(value, suffix) {
    if (isBlank(value)) return '—';
    return suffix ? `${value}${suffix}` : String(value);
  }

  function formatTime(value) {
    if (isBlank(value)) return '—';
    const date = new Date(value);
    return isNaN(date.getTime()) ? String(value) : date.toLocaleString('zh-CN', { hour12: false });
  }

  // rows: [[label, text], ...], appended to `parent` (a table or tbody)
  function addRows(parent, rows) {
    rows.forEach(([label, text]) => {
      const tr = parent.appendChild(el('tr'));
      tr.appendChild(el('th', null, label));
      tr.appendChild(el('td', null, text));
    });
    return parent;
  }

  function propTable(rows) {
    return addRows(el('table', 'gm-props'), rows);
  }

  // "name (code)" when the division's name is known, else whichever there is.
  function formatDivision(name, code) {
    if (!isBlank(name) && !isBlank(code)) return `${name} (${code})`;
    return formatValue(isBlank(name) ? code : name);
  }

  function popupRoot(title) {
    const root = el('div', 'gm-popup');
    root.appendChild(el('div', 'gm-popup-title', isBlank(title) ? '—' : title));
    return root;
  }

  const COUNT_FIELDS = [
    ['households', 'Households 户'],
    ['residents', 'Residents 人口'],
    ['cameras', 'Cameras 摄像头'],
    ['open_events', 'Open events 未办结事件'],
    ['staff', 'Staff 人员'],
  ];

  // The list endpoint carries only identity fields; the counts are computed
  // per grid by GET /grids/<id>, so they are fetched when the popup opens.
  // Identity and counts are two sections (tbody) of one table, so their
  // value columns line up whatever the labels' widths.
  function openGridPopup(map, ui, feature, layerName, latlng) {
    const p = feature.properties || {};
    const id = isBlank(p.id) ? feature.id : p.id;
    const root = popupRoot(p.name);
    const table = root.appendChild(el('table', 'gm-props'));
    addRows(table.appendChild(el('tbody')), [
      ['Code 编码', formatValue(p.code)],
      ['Layer 图层', layerName],
      ['Division 区划', formatDivision(p.division_name, p.division_code)],
    ]);
    const counts = table.appendChild(el('tbody', 'gm-counts'));

    // A status line across both columns ('…', or why there are no counts).
    function countsStatus(text, isError) {
      counts.textContent = '';
      const cell = counts.appendChild(el('tr')).appendChild(el('td', 'gm-counts-status', text));
      cell.colSpan = 2;
      if (isError) cell.classList.add('gm-error');
    }

    countsStatus('…');
    const popup = L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(root).openOn(map);
    if (isBlank(id)) {
      countsStatus('No grid id: counts unavailable');
      popup.update();
      return;
    }
    const controller = new AbortController();
    // Closing the popup (or opening another) makes the answer useless.
    popup.once('remove', () => controller.abort());

    apiFetch(`/grids/${encodeURIComponent(id)}`, { signal: controller.signal })
      .then((detail) => {
        const c = (detail && detail.properties && detail.properties.counts) || {};
        counts.textContent = '';
        addRows(counts, COUNT_FIELDS.map(([key, label]) => [label, formatValue(c[key])]));
        popup.update(); // content is an element, so this only re-lays out
      })
      .catch((err) => {
        if (err.name === 'AbortError') return;
        if (err instanceof AuthRequiredError) {
          map.closePopup(popup);
          return;
        }
        countsStatus(err instanceof ForbiddenError
          ? `Counts 统计: ${FORBIDDEN_TEXT}`
          : `Could not load counts: ${err.message}`, true);
        popup.update();
      });
  }

  function divisionPopup(feature, levelLabel) {
    const p = feature.properties || {};
    const root = popupRoot(p.name);
    root.appendChild(propTable([
      ['Level 级别', levelLabel],
      ['Code 区划代码', formatValue(p.code)],
    ]));
    return root;
  }

  // One entry per point kind: API path, overlay label, marker colour and the
  // popup fields as [property, label, formatter].
  const POINT_KINDS = [
    {
      key: 'households', label: 'Households 户', noun: 'households', color: '#2171b5', title: 'address',
      fields: [
        ['address', 'Address 地址', formatValue],
        ['residents', 'Residents 人口', formatValue],
        ['group_code', 'Group 村民小组', formatValue],
      ],
    },
    {
      key: 'cameras', label: 'Cameras 摄像头', noun: 'cameras', color: '#252525', title: 'name',
      fields: [
        ['code', 'Code 编码', formatValue],
        ['name', 'Name 名称', formatValue],
        ['bearing', 'Bearing 朝向', (v) => formatValue(v, '°')],
        ['fov', 'FOV 视角', (v) => formatValue(v, '°')],
        ['range_m', 'Range 距离', (v) => formatValue(v, ' m')],
        ['status', 'Status 状态', formatValue],
      ],
    },
    {
      key: 'events', label: 'Events 事件', noun: 'events', color: '#d94801', title: 'category',
      fields: [
        ['category', 'Category 类别', formatValue],
        ['status', 'Status 状态', formatValue],
        ['reported_at', 'Reported 上报时间', formatTime],
        ['source', 'Source 来源', formatValue],
      ],
    },
    {
      key: 'staff', label: 'Staff 人员', noun: 'staff', color: '#238b45', title: 'name',
      fields: [
        ['name', 'Name 姓名', formatValue],
        ['role', 'Role 角色', formatValue],
        ['availability', 'Availability 在岗状态', formatValue],
      ],
    },
  ];

  function pointPopup(kind, feature) {
    const p = feature.properties || {};
    const root = popupRoot(isBlank(p[kind.title]) ? kind.label : p[kind.title]);
    root.appendChild(propTable(kind.fields.map(([key, label, fmt]) => [label, fmt(p[key])])));
    return root;
  }

  // ------------------------------------------------------- view loaders

  // Keeps one overlay filled for the current view.
  //
  // Each load asks for the view padded by `pad`, so small pans and zooming in
  // need no new request: we reload only when the view leaves the area already
  // loaded. At the initial (county-wide) view the padded box covers the whole
  // county, so a grid layer of a few thousand polygons is fetched once and
  // never again. A load cut short by the page cap is not trusted as covering
  // its area, so the next move loads again (by then usually a smaller view).
  //
  // A view still being loaded is not asked for again while the request in
  // flight covers it (the moveend after a fitBounds, say); a view outside it
  // aborts that request and loads afresh.
  //
  // Nothing is requested without a session. A 403 marks the overlay as not
  // permitted for this session: one quiet note, and no further requests until
  // the user signs in again (a role does not change by panning).
  //
  // With spec.noteEmpty, a complete load without a single feature leaves a
  // quiet note too ("none in your area" when the loaded area covers the
  // user's territory, ui.territory; "none in this view" when it does not).
  // Errors go to the message box under the overlay's key, and are taken back
  // when the overlay is switched off, leaves its zoom range or loads fine.
  //
  // spec: {key, label, group, url(bbox), minZoom, pad, maxPages, truncatedNote, noteEmpty}
  function createViewLoader(map, ui, spec) {
    let loaded = null; // L.LatLngBounds fully loaded, or null
    let loading = null; // L.LatLngBounds of the request in flight, or null
    let controller = null;
    let forbidden = false;
    let emptyArea = null; // L.LatLngBounds of the last load, when it held nothing

    function abort() {
      if (controller) controller.abort();
      controller = null;
      loading = null;
    }

    // (Re)write the "none here" note; called again when ui.territory arrives.
    function renote() {
      let text = null;
      if (emptyArea) {
        const territory = ui.territory;
        const whole = !territory || emptyArea.contains(territory);
        text = `${spec.label}: ${whole ? EMPTY_AREA_TEXT : EMPTY_VIEW_TEXT}`;
      }
      ui.notes.set(`${spec.key}:empty`, text);
    }

    function setEmpty(area) {
      emptyArea = spec.noteEmpty ? area : null;
      renote();
    }

    function stop() {
      abort();
      ui.notes.set(`${spec.key}:truncated`, null);
      ui.notes.set(`${spec.key}:forbidden`, null);
      setEmpty(null);
      ui.messages.clearOwner(spec.key);
    }

    // Forget everything loaded for the session that just ended.
    function reset() {
      stop();
      spec.group.clearLayers();
      loaded = null;
      forbidden = false;
    }

    function active() {
      return map.hasLayer(spec.group);
    }

    async function refresh() {
      if (!active() || !auth.signedIn()) return stop();
      if (forbidden) {
        ui.notes.set(`${spec.key}:forbidden`, `${spec.label}: ${FORBIDDEN_TEXT}`);
        return;
      }
      if (map.getZoom() < spec.minZoom) {
        // Drop what is shown: stale points from another area would mislead.
        stop();
        spec.group.clearLayers();
        loaded = null;
        return;
      }
      const view = map.getBounds();
      if (loaded && loaded.contains(view)) return;
      if (controller && loading && loading.contains(view)) return; // on its way

      abort(); // the view moved on: the previous answer is no longer wanted
      const mine = new AbortController();
      controller = mine;
      loaded = null;
      const area = clampBounds(view.pad(spec.pad));
      loading = area;
      let url = spec.url(bboxParam(area));
      let pages = 0;
      let features = 0;
      let truncated = false;
      try {
        while (url) {
          const data = await apiFetch(url, { signal: mine.signal });
          if (mine.signal.aborted) return; // superseded while the body was parsed
          // Swap contents only once the first page is in, so the old
          // features stay visible while the request is in flight.
          if (pages === 0) spec.group.clearLayers();
          const page = (data && data.features) || [];
          spec.group.addData(page);
          features += page.length;
          pages += 1;
          url = nextLink(data);
          if (url && pages >= spec.maxPages) {
            truncated = true;
            break;
          }
        }
        loaded = truncated ? null : area;
        ui.notes.set(`${spec.key}:truncated`, truncated ? spec.truncatedNote : null);
        setEmpty(features === 0 && !truncated ? area : null);
        ui.messages.clearOwner(spec.key);
        ui.restack();
      } catch (err) {
        if (err.name === 'AbortError' || mine.signal.aborted) return;
        if (err instanceof AuthRequiredError) return; // the login panel is up
        if (err instanceof ForbiddenError) {
          forbidden = true;
          spec.group.clearLayers();
          ui.notes.set(`${spec.key}:truncated`, null);
          setEmpty(null);
          ui.notes.set(`${spec.key}:forbidden`, `${spec.label}: ${FORBIDDEN_TEXT}`);
          return;
        }
        ui.messages.show(`${spec.label}: ${err.message}`, spec.key);
      } finally {
        if (controller === mine) {
          controller = null;
          loading = null;
        }
      }
    }

    // Drop the cache and load the view again (after a grid edit); the old
    // features stay until the first page of the new answer is in.
    function reload() {
      abort();
      loaded = null;
      refresh();
    }

    return { refresh, stop, reset, renote, reload, group: spec.group };
  }

  // ----------------------------------------------------------- overlays

  function gridStyle(color) {
    return { color, weight: 1, opacity: 0.9, fillColor: color, fillOpacity: 0.12 };
  }

  function createGridOverlay(map, ui, layer) {
    const base = gridStyle(layer.color);
    const group = L.geoJSON(null, {
      style: () => base,
      onEachFeature(feature, path) {
        path.on('click', (e) => {
          // A grid took the click: the map's own click (the division popup)
          // must not follow.
          L.DomEvent.stopPropagation(e);
          // In edit mode the editor takes the click (select, draw, merge).
          if (ui.editor && ui.editor.onGridClick(feature, layer, e)) return;
          openGridPopup(map, ui, feature, layer.label, e.latlng);
        });
        // Hover feedback: with thousands of thin outlines it is otherwise
        // hard to tell which grid a click will hit.
        path.on('mouseover', () => path.setStyle({ weight: 2.5, fillOpacity: 0.3 }));
        path.on('mouseout', () => path.setStyle(base));
      },
    });
    const loader = createViewLoader(map, ui, {
      key: `grid:${layer.code}`,
      label: layer.label,
      group,
      url: (bbox) => `/grids?layer=${encodeURIComponent(layer.code)}&bbox=${bbox}&limit=${GRID_PAGE_LIMIT}`,
      minZoom: 0,
      pad: 0.5,
      maxPages: MAX_PAGES,
      truncatedNote: `${layer.label}: too many grids for this view, zoom in to see all`,
      noteEmpty: true,
    });
    return loader;
  }

  // Division outlines follow the same borders as many grids, so they are drawn
  // in panes of their own above the grids (Leaflet's overlayPane is 400),
  // townships over villages. Those panes take no pointer events at all: every
  // click goes through to the grids and points below, and a division popup
  // opens only from the map's own click, i.e. where no grid or point is.
  const DIVISION_LEVELS = [
    {
      level: 'township', label: 'Townships 乡镇/街道', levelLabel: '乡镇/街道 township',
      pane: 'gmTownships', zIndex: 460,
      style: { color: '#000000', weight: 2.5, opacity: 0.9, fill: false },
    },
    {
      level: 'village', label: 'Villages 村/社区', levelLabel: '村/社区 village',
      pane: 'gmVillages', zIndex: 450,
      style: { color: '#4a4a4a', weight: 1.5, opacity: 0.95, dashArray: '5 4', fill: false },
    },
  ];

  function divisionPane(map, spec) {
    let pane = map.getPane(spec.pane);
    if (!pane) {
      pane = map.createPane(spec.pane);
      pane.style.zIndex = String(spec.zIndex);
      pane.style.pointerEvents = 'none'; // gridmap.css says so too
      L.DomUtil.addClass(pane, 'gm-division-pane');
    }
    return spec.pane;
  }

  function createDivisionOverlay(map, ui, spec) {
    const group = L.geoJSON(null, {
      pane: divisionPane(map, spec),
      interactive: false,
      style: () => spec.style,
    });
    return createViewLoader(map, ui, {
      key: `division:${spec.level}`,
      label: spec.label,
      group,
      url: (bbox) => `/divisions?level=${spec.level}&bbox=${bbox}&limit=${DIVISION_PAGE_LIMIT}`,
      minZoom: 0,
      pad: 0.5,
      maxPages: MAX_PAGES,
      truncatedNote: `${spec.label}: not all shown, zoom in`,
    });
  }

  // Even-odd ray casting on one GeoJSON ring of [lon, lat] positions.
  function ringContains(ring, x, y) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
      const xi = ring[i][0];
      const yi = ring[i][1];
      const xj = ring[j][0];
      const yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function polygonContains(rings, x, y) {
    if (!Array.isArray(rings) || !rings.length || !ringContains(rings[0], x, y)) return false;
    return !rings.slice(1).some((hole) => ringContains(hole, x, y));
  }

  function geometryContains(geometry, latlng) {
    if (!geometry || !Array.isArray(geometry.coordinates)) return false;
    if (geometry.type === 'Polygon') return polygonContains(geometry.coordinates, latlng.lng, latlng.lat);
    if (geometry.type === 'MultiPolygon') {
      return geometry.coordinates.some((rings) => polygonContains(rings, latlng.lng, latlng.lat));
    }
    return false;
  }

  // The feature of a division overlay (switched on) that contains `latlng`,
  // or null.
  function featureAt(map, group, latlng) {
    if (!map.hasLayer(group)) return null;
    let found = null;
    group.eachLayer((layer) => {
      if (!found && layer.feature && layer.getBounds().contains(latlng)
          && geometryContains(layer.feature.geometry, latlng)) {
        found = layer.feature;
      }
    });
    return found;
  }

  function createPointOverlay(map, ui, kind, minZoom) {
    const style = {
      radius: 4, color: '#ffffff', weight: 1, fillColor: kind.color, fillOpacity: 0.9,
    };
    const group = L.geoJSON(null, {
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, style),
      onEachFeature(feature, marker) {
        marker.bindPopup(() => pointPopup(kind, feature), { maxWidth: 320 });
      },
    });
    // A few pages at most: beyond POINT_LIMIT * POINT_PAGES the note asks to zoom in
    // rather than pulling tens of thousands of points into the browser.
    return createViewLoader(map, ui, {
      key: `points:${kind.key}`,
      label: kind.label,
      group,
      url: (bbox) => `/${kind.key}?bbox=${bbox}&limit=${POINT_LIMIT}`,
      minZoom,
      pad: 0.1,
      maxPages: POINT_PAGES,
      truncatedNote: `Showing the first ${POINT_LIMIT * POINT_PAGES} ${kind.noun}; zoom in to see all`,
      noteEmpty: true,
    });
  }

  // -------------------------------------------------------- grid editing

  // Planners (permission grids:edit) edit grids on the map through the API.
  // Nothing here is shown or enabled for anybody else, and the server checks
  // the permission again on every write.
  const EDIT_PERMISSION = 'grids:edit';
  const SELECTED_STYLE = { color: '#ffb000', weight: 4, opacity: 1, fill: false };
  const DRAW_STYLE = { color: '#c51b8a', weight: 3, opacity: 1 };
  const RUBBER_STYLE = { color: '#c51b8a', weight: 2, opacity: 0.7, dashArray: '4 6' };
  const SUGGEST_STYLE = {
    color: '#6a3d9a', weight: 3, opacity: 1, dashArray: '8 6', fillColor: '#6a3d9a', fillOpacity: 0.08,
  };
  const CONFLICT_STYLE = { color: '#e31a1c', weight: 3, opacity: 1, fillColor: '#e31a1c', fillOpacity: 0.35 };
  const MOVE_KINDS = {
    household: '户 households', camera: '摄像头 cameras', event: '事件 events', staff: '人员 staff',
  };
  const STALE_TEXT = '该网格已被他人修改，请重新加载后再试 '
    + 'The grid was changed by someone else: reload it (select it again) and retry';

  function canEdit(user) {
    return !!(user && Array.isArray(user.permissions) && user.permissions.includes(EDIT_PERMISSION));
  }

  function gridId(feature) {
    const p = (feature && feature.properties) || {};
    return isBlank(p.id) ? feature.id : p.id;
  }

  function gridTitle(feature) {
    const p = (feature && feature.properties) || {};
    return [p.name, isBlank(p.code) ? '' : `(${p.code})`].filter((v) => !isBlank(v)).join(' ') || `#${gridId(feature)}`;
  }

  // A short line about a successful edit, from the API's answer.
  function editSummary(kind, result) {
    const grids = (result && Array.isArray(result.grids)) ? result.grids : [];
    const retired = (result && Array.isArray(result.retired)) ? result.retired : [];
    const first = grids[0] || {};
    const parts = [];
    if (kind === 'split') parts.push(`拆分为 ${grids.length} 个网格 split into ${grids.length} grids`);
    else if (kind === 'merge') parts.push(`已合并为 merged into ${first.name || first.code || ''}`.trim());
    else if (kind === 'rename') parts.push(`已重命名为 renamed to ${first.name || ''}`.trim());
    else if (kind === 'retire') parts.push(`已撤销 retired ${retired.join(', ')}`.trim());
    const totals = new Map();
    ((result && result.moves) || []).forEach((move) => {
      if (!move || !Number.isFinite(move.count)) return;
      totals.set(move.kind, (totals.get(move.kind) || 0) + move.count);
    });
    if (totals.size) {
      const moved = Array.from(totals, ([k, n]) => `${n} ${MOVE_KINDS[k] || k}`).join('、');
      parts.push(`迁移 moved ${moved}`);
    } else if (Number.isFinite(result && result.moved)) {
      parts.push(`迁移 moved ${result.moved}`);
    }
    return parts.join('；');
  }

  // prompt() that insists on a non-empty answer; null when cancelled.
  function askText(question, initial) {
    for (;;) {
      const answer = global.prompt(question, initial || '');
      if (answer === null) return null;
      if (answer.trim()) return answer.trim();
      initial = '';
    }
  }

  function askReason(action) {
    return askText(`${action}：请输入原因 Reason for this change`);
  }

  // Leaflet's layers are [lat, lng]; GeoJSON wants [lon, lat].
  function lineGeometry(latlngs) {
    return { type: 'LineString', coordinates: latlngs.map((p) => [p.lng, p.lat]) };
  }

  // ui.editor: {onGridClick, onMapClick, update(user), leave}.
  // gridLoaders[i] belongs to layers[i].
  function createEditor(map, ui, layers, gridLoaders) {
    const state = {
      enabled: false,
      active: false,
      busy: false,
      mode: null, // null | 'split' | 'suggest' | 'merge'
      selected: null, // {id, feature, layer}
      points: [], // split line being drawn
      suggestion: null, // FeatureCollection under review
      epoch: 0, // bumped on leaving, so late answers are dropped
    };
    const highlight = L.featureGroup().addTo(map);
    const drawing = L.featureGroup().addTo(map);
    const conflicts = L.featureGroup().addTo(map);
    let rubber = null;
    let dblZoomWas = null;

    // --- the toggle
    const toggle = L.control({ position: 'topleft' });
    const toggleBox = el('div', 'gm-edit-toggle leaflet-bar');
    const toggleButton = toggleBox.appendChild(el('button', 'gm-edit-toggle-button', '编辑 Edit'));
    toggleButton.type = 'button';
    toggleButton.setAttribute('aria-pressed', 'false');
    toggleButton.addEventListener('click', () => (state.active ? leave() : enter()));
    L.DomEvent.disableClickPropagation(toggleBox);
    toggle.onAdd = () => toggleBox;
    toggle.addTo(map);
    toggleBox.style.display = 'none';

    // --- the panel
    const panel = L.control({ position: 'topleft' });
    const panelBox = el('div', 'gm-edit-panel');
    panelBox.setAttribute('aria-label', '网格编辑 Grid editing');
    L.DomEvent.disableClickPropagation(panelBox);
    L.DomEvent.disableScrollPropagation(panelBox);
    panel.onAdd = () => panelBox;
    panel.addTo(map);
    panelBox.style.display = 'none';

    const editButton = (parent, text, onClick, className) =>
      button(parent, text, onClick, className || 'gm-edit-button', state.busy);

    function render() {
      panelBox.textContent = '';
      panelBox.style.display = state.active ? '' : 'none';
      toggleBox.style.display = state.enabled ? '' : 'none';
      toggleButton.classList.toggle('gm-edit-on', state.active);
      toggleButton.setAttribute('aria-pressed', String(state.active));
      if (!state.active) return;
      panelBox.appendChild(el('div', 'gm-edit-title', '网格编辑 Grid editing'));
      const sel = state.selected;
      if (!sel) {
        panelBox.appendChild(el('div', 'gm-edit-hint', '点击网格以选择 Click a grid to select it'));
      } else {
        panelBox.appendChild(el('div', 'gm-edit-name', sel.feature.properties.name || '—'));
        panelBox.appendChild(el('div', 'gm-edit-code',
          `${formatValue(sel.feature.properties.code)} · ${sel.layer.label}`));
      }
      if (state.busy) panelBox.appendChild(el('div', 'gm-edit-hint', '处理中… Working…'));
      if (sel && state.mode === 'split') {
        panelBox.appendChild(el('div', 'gm-edit-hint',
          `在地图上点击画线（已 ${state.points.length} 点），双击或“完成”结束，Esc 取消 `
          + 'Click points across the grid; double-click or Finish to end, Esc cancels'));
      }
      const row = panelBox.appendChild(el('div', 'gm-edit-actions'));
      if (sel && state.mode === 'split') {
        editButton(row, '完成 Finish', finishLine).disabled = state.busy || state.points.length < 2;
        editButton(row, '取消 Cancel', cancelMode);
      } else if (sel && state.mode === 'suggest') {
        const list = panelBox.insertBefore(el('ol', 'gm-edit-parts'), row);
        ((state.suggestion && state.suggestion.features) || []).forEach((f) => {
          list.appendChild(el('li', null, suggestionLabel(f)));
        });
        editButton(row, '应用 Apply', applySuggestion);
        editButton(row, '取消 Cancel', cancelMode);
      } else if (sel && state.mode === 'merge') {
        panelBox.insertBefore(el('div', 'gm-edit-hint',
          '点击同一图层中相邻的另一个网格 Click a neighbouring grid of the same layer'), row);
        editButton(row, '取消 Cancel', cancelMode);
      } else if (sel) {
        editButton(row, '重命名 Rename', rename);
        editButton(row, '画线拆分 Split along a line', startSplit);
        editButton(row, '均衡拆分 Balanced split', startSuggest);
        editButton(row, '合并 Merge with…', startMerge);
        editButton(row, '撤销网格 Retire', retire, 'gm-edit-button gm-edit-danger');
        editButton(row, '取消选择 Deselect', () => select(null));
      }
      if (conflicts.getLayers().length) {
        const box = panelBox.appendChild(el('div', 'gm-edit-conflict'));
        box.appendChild(el('span', null, '红色区域为冲突 Conflicts shown in red '));
        editButton(box, '清除 Dismiss', () => { conflicts.clearLayers(); render(); });
      }
    }

    function suggestionLabel(feature) {
      const p = feature.properties || {};
      const area = Number.isFinite(p.area_m2) ? `${Math.round(p.area_m2).toLocaleString('zh-CN')} m²` : '';
      return `${formatValue(p.part)}: ${formatValue(p.households)} 户 households${area ? ` · ${area}` : ''}`;
    }

    // --- modes and drawings

    function clearDrawing() {
      drawing.clearLayers();
      rubber = null;
      state.points = [];
      state.suggestion = null;
      if (dblZoomWas !== null) {
        if (dblZoomWas) map.doubleClickZoom.enable();
        dblZoomWas = null;
      }
    }

    function cancelMode() {
      clearDrawing();
      state.mode = null;
      render();
    }

    function select(pick) {
      clearDrawing();
      state.mode = null;
      highlight.clearLayers();
      state.selected = pick;
      if (pick) {
        L.geoJSON(pick.feature.geometry, { interactive: false, style: () => SELECTED_STYLE }).addTo(highlight);
      }
      render();
    }

    function enter() {
      if (!state.enabled) return;
      state.active = true;
      map.closePopup();
      render();
    }

    // Leaving edit mode (or losing the session) forgets everything.
    function leave() {
      state.epoch += 1;
      state.active = false;
      state.busy = false;
      select(null);
      conflicts.clearLayers();
      render();
    }

    function update(user) {
      state.enabled = canEdit(user);
      if (!state.enabled && state.active) leave();
      render();
    }

    function redrawLine(cursor) {
      drawing.clearLayers();
      const pts = state.points.slice();
      if (pts.length) {
        L.polyline(pts, Object.assign({ interactive: false }, DRAW_STYLE)).addTo(drawing);
        pts.forEach((p) => L.circleMarker(p, {
          interactive: false, radius: 3, color: DRAW_STYLE.color, fillOpacity: 1,
        }).addTo(drawing));
      }
      rubber = null;
      if (cursor && pts.length) {
        rubber = L.polyline([pts[pts.length - 1], cursor], Object.assign({ interactive: false }, RUBBER_STYLE))
          .addTo(drawing);
      }
    }

    function addPoint(latlng) {
      const last = state.points[state.points.length - 1];
      // The two clicks of a double-click land on the same spot.
      if (last && map.latLngToContainerPoint(last).distanceTo(map.latLngToContainerPoint(latlng)) < 4) return;
      state.points.push(latlng);
      redrawLine(null);
      render();
    }

    function startSplit() {
      clearDrawing();
      state.mode = 'split';
      dblZoomWas = map.doubleClickZoom.enabled();
      map.doubleClickZoom.disable();
      render();
    }

    function finishLine() {
      if (state.mode !== 'split' || state.busy) return;
      if (state.points.length < 2) {
        ui.messages.show('至少需要两个点 Draw at least two points');
        return;
      }
      const sel = state.selected;
      const line = lineGeometry(state.points);
      const reason = askReason('画线拆分 Split');
      if (reason === null) return;
      runWrite('split', sel, [sel.id], (ifMatch) => apiFetch(`/grids/${encodeURIComponent(sel.id)}/split`, {
        method: 'POST', headers: { 'If-Match': ifMatch }, json: { line, reason },
      }));
    }

    async function startSuggest() {
      const sel = state.selected;
      const answer = global.prompt('拆分为几个部分 (2–10)？ Number of parts (2–10)', '2');
      if (answer === null) return;
      const parts = Number(answer.trim());
      if (!Number.isInteger(parts) || parts < 2 || parts > 10) {
        ui.messages.show('请输入 2 到 10 之间的整数 Enter a whole number from 2 to 10');
        return;
      }
      const epoch = state.epoch;
      state.busy = true;
      render();
      try {
        const fc = await apiFetch(`/grids/${encodeURIComponent(sel.id)}/split-suggestion?parts=${parts}`);
        if (epoch !== state.epoch || state.selected !== sel) return;
        clearDrawing();
        state.mode = 'suggest';
        state.suggestion = fc;
        L.geoJSON(fc, {
          interactive: false,
          style: () => SUGGEST_STYLE,
          onEachFeature(feature, layer) {
            // Element content: the text never goes through HTML parsing.
            layer.bindTooltip(el('span', null, suggestionLabel(feature)), {
              permanent: true, direction: 'center', className: 'gm-edit-part-label',
            });
          },
        }).addTo(drawing);
      } catch (err) {
        if (epoch === state.epoch) showError(err);
      } finally {
        if (epoch === state.epoch) {
          state.busy = false;
          render();
        }
      }
    }

    function applySuggestion() {
      const sel = state.selected;
      const features = (state.suggestion && state.suggestion.features) || [];
      if (state.mode !== 'suggest' || features.length < 2) return;
      const reason = askReason('均衡拆分 Balanced split');
      if (reason === null) return;
      const parts = features.map((f) => f.geometry);
      runWrite('split', sel, [sel.id], (ifMatch) => apiFetch(`/grids/${encodeURIComponent(sel.id)}/partition`, {
        method: 'POST', headers: { 'If-Match': ifMatch }, json: { parts, reason },
      }));
    }

    function startMerge() {
      clearDrawing();
      state.mode = 'merge';
      render();
    }

    function pickMergePartner(feature, layer) {
      const sel = state.selected;
      const other = gridId(feature);
      if (String(other) === String(sel.id)) return;
      if (layer.code !== sel.layer.code) {
        ui.messages.show('只能合并同一图层的网格 Only grids of the same layer can be merged');
        return;
      }
      highlight.addLayer(L.geoJSON(feature.geometry, { interactive: false, style: () => SELECTED_STYLE }));
      const ok = global.confirm(`合并 Merge ${gridTitle(sel.feature)} + ${gridTitle(feature)}？`);
      if (!ok) {
        select(sel);
        return;
      }
      const name = global.prompt('合并后的名称（留空保留原名） Name of the merged grid (empty keeps one)',
        sel.feature.properties.name || '');
      if (name === null) {
        select(sel);
        return;
      }
      const reason = askReason('合并 Merge');
      if (reason === null) {
        select(sel);
        return;
      }
      const body = { grids: [Number(sel.id), Number(other)], reason };
      if (name.trim()) body.name = name.trim();
      runWrite('merge', sel, [sel.id, other], (ifMatch) => apiFetch('/grids/merge', {
        method: 'POST', headers: { 'If-Match': ifMatch }, json: body,
      }));
    }

    function rename() {
      const sel = state.selected;
      const name = askText('新名称 New name', sel.feature.properties.name || '');
      if (name === null) return;
      const reason = askReason('重命名 Rename');
      if (reason === null) return;
      runWrite('rename', sel, [sel.id], (ifMatch) => apiFetch(`/grids/${encodeURIComponent(sel.id)}`, {
        method: 'PATCH', headers: { 'If-Match': ifMatch }, json: { name, reason },
      }));
    }

    function retire() {
      const sel = state.selected;
      if (!global.confirm(`撤销网格 Retire ${gridTitle(sel.feature)}？相邻网格将接收其区域 A neighbour takes its area`)) {
        return;
      }
      const reason = askReason('撤销网格 Retire');
      if (reason === null) return;
      runWrite('retire', sel, [sel.id], (ifMatch) => apiFetch(`/grids/${encodeURIComponent(sel.id)}/retire`, {
        method: 'POST', headers: { 'If-Match': ifMatch }, json: { reason },
      }));
    }

    // Every write: fetch each grid afresh for its ETag, so the edit is made on
    // the version the server has now (and a concurrent change gives 412), then
    // send it with If-Match, report, and reload the layer.
    async function runWrite(kind, sel, ids, send) {
      if (state.busy) return;
      const epoch = state.epoch;
      state.busy = true;
      render();
      try {
        const tags = [];
        for (const id of ids) {
          const fresh = await apiFetch(`/grids/${encodeURIComponent(id)}`, { withEtag: true });
          if (!fresh.etag) throw new HttpError('服务器未返回 ETag The server sent no ETag');
          tags.push(fresh.etag);
        }
        if (epoch !== state.epoch) return;
        const result = await send(tags.join(', '));
        if (epoch !== state.epoch) return;
        conflicts.clearLayers();
        ui.messages.show(editSummary(kind, result) || '已保存 Saved');
        select(null);
        reloadLayer(sel.layer);
      } catch (err) {
        if (epoch !== state.epoch) return;
        showError(err);
        if (err.status === 412) {
          select(null); // the next selection brings the current version
          reloadLayer(sel.layer);
        }
      } finally {
        if (epoch === state.epoch) {
          state.busy = false;
          render();
        }
      }
    }

    function reloadLayer(layer) {
      const i = layers.findIndex((l) => l.code === layer.code);
      if (i >= 0) gridLoaders[i].reload();
    }

    function showError(err) {
      if (err instanceof AuthRequiredError || err.name === 'AbortError') return;
      if (err.status === 412) {
        ui.messages.show(STALE_TEXT);
        return;
      }
      const problem = err.problem || {};
      let text = err.message;
      if (err.status === 409) {
        const found = drawConflicts(problem);
        if (found) text += ` — 冲突 conflicts: ${found}`;
      }
      ui.messages.show(`编辑失败 Edit failed: ${text}`);
    }

    // Red shapes for a 409's conflicts/outside, until dismissed.
    function drawConflicts(problem) {
      conflicts.clearLayers();
      const names = [];
      const add = (geometry, label) => {
        if (!geometry || typeof geometry !== 'object') return;
        try {
          L.geoJSON(geometry, { interactive: false, style: () => CONFLICT_STYLE }).addTo(conflicts);
          names.push(label);
        } catch (_) {
          // not drawable geometry: the text still says what is wrong
        }
      };
      (Array.isArray(problem.conflicts) ? problem.conflicts : []).forEach((c) => {
        if (!c) return;
        add(c.geometry, `${formatValue(c.code)}${Number.isFinite(c.area_m2) ? ` ${c.area_m2} m²` : ''}`);
      });
      if (problem.outside) {
        add(problem.outside, `超出上级 outside parent${Number.isFinite(problem.area_m2) ? ` ${problem.area_m2} m²` : ''}`);
      }
      if (names.length) {
        const bounds = conflicts.getBounds();
        if (bounds.isValid() && !map.getBounds().contains(bounds)) map.fitBounds(bounds, { padding: [40, 40] });
        conflicts.eachLayer((l) => l.bringToFront && l.bringToFront());
      }
      render();
      return names.join(', ');
    }

    // --- map input

    // Returns true when the click was the editor's.
    function onGridClick(feature, layer, e) {
      if (!state.active) return false;
      if (state.busy) return true;
      if (state.mode === 'split') {
        addPoint(e.latlng);
        return true;
      }
      if (state.mode === 'suggest') return true;
      if (state.mode === 'merge') {
        pickMergePartner(feature, layer);
        return true;
      }
      const id = gridId(feature);
      if (isBlank(id)) return false;
      select({ id, feature, layer });
      return true;
    }

    function onMapClick(e) {
      if (!state.active) return false;
      if (state.mode === 'split' && !state.busy) addPoint(e.latlng);
      return true; // no division popups while editing
    }

    map.on('mousemove', (e) => {
      if (state.mode === 'split' && state.points.length) redrawLine(e.latlng);
    });
    map.on('dblclick', () => {
      if (state.mode === 'split') finishLine();
    });
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || !state.active) return;
      if (state.mode) cancelMode();
    });

    render();
    return { onGridClick, onMapClick, update, leave };
  }

  // ---------------------------------------------------------------- init

  // The server's (Chinese) name, followed by the English for known codes.
  function layerLabel(code, name) {
    const english = Object.prototype.hasOwnProperty.call(LAYER_ENGLISH, code) ? LAYER_ENGLISH[code] : '';
    return english && !name.includes(english) ? `${name} ${english}` : name;
  }

  function normaliseLayers(layers) {
    const fallback = ['#d7301f', '#2b8cbe', '#31a354', '#756bb1', '#e6550d', '#636363'];
    return (layers || []).map((layer, i) => {
      const code = String(layer.code);
      const name = String(layer.name || layer.code);
      return {
        code,
        name,
        label: layerLabel(code, name),
        color: safeColor(layer.color, fallback[i % fallback.length]),
      };
    });
  }

  // GET /auth/me's territory_bbox ([minlon, minlat, maxlon, maxlat]) as
  // Leaflet bounds, or null when absent or not a sensible WGS84 box.
  function territoryBounds(bbox) {
    if (!Array.isArray(bbox) || bbox.length !== 4) return null;
    const [w, s, e, n] = bbox.map((v) => (typeof v === 'number' ? v : NaN));
    if (![w, s, e, n].every(Number.isFinite)) return null;
    if (w > e || s > n || w < -180 || e > 180 || s < -90 || n > 90) return null;
    return L.latLngBounds([s, w], [n, e]);
  }

  function overlayLabel(text, color, round) {
    const cls = round ? 'gm-swatch gm-swatch-dot' : 'gm-swatch';
    const swatch = color
      ? `<span class="${cls}" style="background-color:${color};border-color:${color}"></span>`
      : '';
    return `${swatch}${escapeHtml(text)}`;
  }

  function init(map, config) {
    config = config || {};
    const layers = normaliseLayers(config.layers);
    const pointMinZoom = Number.isFinite(config.pointMinZoom) ? config.pointMinZoom : 14;
    map.getContainer().classList.add('gm-map');
    // Leaflet 1.9's default attribution prefix carries a national flag; a county government map
    // shows the library's name only.
    if (map.attributionControl) {
      map.attributionControl.setPrefix('Leaflet');
    }

    const ui = {
      messages: createMessageBox(map),
      notes: null,
      restack: null,
      territory: null, // L.LatLngBounds of the signed-in user's territory, once known
      editor: null, // grid editing, for users with grids:edit
    };
    // The scale goes in first so the notes stack above it in the corner.
    L.control.scale({ metric: true, imperial: false, position: 'bottomleft' }).addTo(map);
    ui.notes = createNotes(map);
    createLegend(map, layers);

    const gridLoaders = layers.map((layer) => createGridOverlay(map, ui, layer));
    const divisionLoaders = DIVISION_LEVELS.map((spec) => createDivisionOverlay(map, ui, spec));
    const pointLoaders = POINT_KINDS.map((kind) => createPointOverlay(map, ui, kind, pointMinZoom));
    const allLoaders = divisionLoaders.concat(gridLoaders, pointLoaders);
    ui.editor = createEditor(map, ui, layers, gridLoaders);

    // Grids and points share one canvas (overlayPane), where the last drawn
    // shape wins a click: keep grids below and points on top, so each click
    // reaches the most specific thing under the pointer. (Divisions have
    // panes of their own above, which take no clicks.)
    ui.restack = function () {
      gridLoaders.concat(pointLoaders).forEach((loader) => {
        if (map.hasLayer(loader.group)) loader.group.bringToFront();
      });
    };

    if (gridLoaders.length) gridLoaders[0].group.addTo(map);
    // Before the layers control, so the badge sits above it in the corner.
    const badge = createUserBadge(map, () => auth.end('signout'));
    const control = L.control.layers(null, null, {
      position: 'topright',
      collapsed: global.innerWidth < 700, // keep small screens usable
    }).addTo(map);
    // addOverlay one by one (not an object keyed by label) so two layers
    // that happen to share a name both get an entry.
    layers.forEach((layer, i) => {
      control.addOverlay(gridLoaders[i].group, overlayLabel(layer.label, layer.color));
    });
    DIVISION_LEVELS.forEach((spec, i) => {
      control.addOverlay(divisionLoaders[i].group, overlayLabel(spec.label));
    });
    POINT_KINDS.forEach((kind, i) => {
      control.addOverlay(pointLoaders[i].group, overlayLabel(kind.label, kind.color, true));
    });

    // One combined hint for all point overlays that are on but not loaded.
    function updateZoomNote() {
      const wanted = POINT_KINDS.filter((kind, i) => map.hasLayer(pointLoaders[i].group));
      const show = auth.signedIn() && wanted.length && map.getZoom() < pointMinZoom;
      ui.notes.set('zoom', show
        ? `Zoom in (level ${pointMinZoom}+) to see ${wanted.map((k) => k.noun).join(', ')}`
        : null);
    }

    function refreshAll() {
      allLoaders.forEach((loader) => loader.refresh());
      updateZoomNote();
    }

    function loaderFor(layer) {
      return allLoaders.find((loader) => loader.group === layer);
    }

    // --- session: nothing is loaded until somebody is signed in.
    const login = createLoginPanel(map, (username, password) => auth.login(username, password));

    // Drop everything loaded for a session that ended.
    function clearData() {
      ui.editor.leave(); // selection, drawings, panels and conflicts go too
      allLoaders.forEach((loader) => loader.reset());
      ui.territory = null;
      map.closePopup();
      ui.messages.clear();
      updateZoomNote();
    }

    // The overlays as a fresh page has them: the first grid layer on, the
    // rest off. (The layers control follows, and so do the loaders through
    // overlayadd/overlayremove.)
    function resetOverlays() {
      allLoaders.forEach((loader) => {
        const on = gridLoaders.length > 0 && loader === gridLoaders[0];
        if (on && !map.hasLayer(loader.group)) map.addLayer(loader.group);
        if (!on && map.hasLayer(loader.group)) map.removeLayer(loader.group);
      });
    }

    // GET /auth/me: the stored user may be stale (role changed since), and
    // a dead session shows itself here even with no overlay switched on. It
    // also tells the extent of the user's territory; with `fit` (right after
    // signing in, and when a stored session is picked up at page load, never
    // otherwise) the map is fitted to it, so a grid worker starts on their
    // own grid rather than somewhere in an empty part of the county.
    function checkMe(fit) {
      const epoch = auth.epoch;
      apiFetch('/auth/me').then((me) => {
        if (epoch !== auth.epoch) return; // signed out (or in as someone else) meanwhile
        auth.setUser(me);
        const territory = territoryBounds(me && me.territory_bbox);
        ui.territory = territory;
        allLoaders.forEach((loader) => loader.renote());
        if (fit && territory) {
          map.fitBounds(territory, { padding: [24, 24], maxZoom: TERRITORY_MAX_ZOOM });
        }
      }).catch(() => {
        // AuthRequiredError: the login panel is up; anything else: the
        // overlays will report their own trouble.
      });
    }

    function onAuthChange(event) {
      if (event === 'signin') {
        clearData(); // nothing of a previous user's view may survive
        login.hide();
        badge.update(auth.user());
        ui.editor.update(auth.user());
        refreshAll(); // what moveend would load for the overlays that are on
        checkMe(true);
      } else if (event === 'signout' || event === 'expired') {
        clearData();
        badge.update(null);
        ui.editor.update(null);
        if (event === 'signout') {
          // The next person at the screen starts from a clean page. (An
          // expired session keeps name and overlays: it is usually the same
          // user signing in again.)
          resetOverlays();
          login.show('', { clearUsername: true });
        } else {
          login.show('登录已过期，请重新登录 Your session has ended, please sign in again');
        }
      } else {
        badge.update(auth.user());
        ui.editor.update(auth.user()); // /auth/me may have changed the permissions
      }
    }
    auth.listeners.add(onAuthChange);

    map.on('moveend', debounce(refreshAll, MOVE_DEBOUNCE_MS));
    map.on('overlayadd', (e) => {
      const loader = loaderFor(e.layer);
      if (loader) loader.refresh();
      ui.restack();
      updateZoomNote();
    });
    map.on('overlayremove', (e) => {
      const loader = loaderFor(e.layer);
      if (loader) loader.stop();
      updateZoomNote();
    });

    // The map's own click comes only where no grid or point took it (grid
    // clicks stop it, bindPopup stops it for points): there, show the most
    // specific division switched on under the pointer.
    map.on('click', (e) => {
      if (!auth.signedIn()) return;
      if (ui.editor.onMapClick(e)) return;
      for (let i = DIVISION_LEVELS.length - 1; i >= 0; i -= 1) { // villages first
        const feature = featureAt(map, divisionLoaders[i].group, e.latlng);
        if (feature) {
          L.popup({ maxWidth: 320 })
            .setLatLng(e.latlng)
            .setContent(divisionPopup(feature, DIVISION_LEVELS[i].levelLabel))
            .openOn(map);
          return;
        }
      }
    });

    // Modules loaded after this file (gridmap-fusion.js) get what they need to add their own
    // overlay and panel; they never reach into this closure otherwise.
    const context = {
      map, ui, control, layers, auth, apiFetch, el, button, canEdit, overlayLabel,
      reloadGrids: () => gridLoaders.forEach((loader) => loader.reload()),
    };
    global.gridmap.plugins.forEach((plugin) => plugin(context));

    if (auth.signedIn()) {
      badge.update(auth.user());
      ui.editor.update(auth.user());
      refreshAll();
      checkMe(true);
    } else {
      login.show('');
    }
    return { refresh: refreshAll };
  }

  global.gridmap = { init, plugins: [] };
})(window);
