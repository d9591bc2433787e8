/*
 * signin.js: the login panel, the user badge, and what the server says about the user.
 *
 * The page is public; nothing is loaded until somebody signs in. The login panel covers the
 * map while there is no session; the badge (top right, above the layers control) names the user
 * and signs out. After signing in (and for a session picked up at page load) GET /auth/me
 * refreshes the stored user and gives the user's territory: ctx.territory (L.LatLngBounds or
 * null), announced as ctx.emit('territory', {bounds}), and the map is fitted to it.
 */

import { el } from './core/dom.js';

// Fitting the map to a user's territory: a single grid can be tiny.
const TERRITORY_MAX_ZOOM = 17;

const ROLE_LABELS = {
  admin: '管理员 admin',
  planner: '规划员 planner',
  grid_worker: '网格员 grid worker',
  grid_head: '网格长 grid head',
  department: '部门 department',
  emergency: '应急队伍 emergency',
  viewer: '查看者 viewer',
  auditor: '审计员 auditor',
  leader: '领导 leader',
};

// Modal-ish panel over the map. `onSubmit(username, password)` returns a
// promise; its rejection message (the server's `detail`) is shown as text. Exported for pages
// without a Leaflet map (the statistics page, js/stats/): `map` need only have getContainer().
export function createLoginPanel(map, onSubmit) {
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
  // Residents have no account: their way in is the public report page, not this form.
  const citizen = form.appendChild(el('p', 'gm-login-citizen'));
  citizen.appendChild(document.createTextNode('群众反映问题无需登录：'));
  const reportLink = citizen.appendChild(el('a', null, '我要报事'));
  reportLink.href = '/report';
  citizen.appendChild(document.createTextNode(' · '));
  const trackLink = citizen.appendChild(el('a', null, '查询进度'));
  trackLink.href = '/report/track';

  // The map must not pan, zoom or take the keys while the user types
  // (Leaflet's keyboard handler listens on the document).
  if (typeof L !== 'undefined') {
    L.DomEvent.disableClickPropagation(backdrop);
    L.DomEvent.disableScrollPropagation(backdrop);
    L.DomEvent.on(backdrop, 'keydown keyup keypress', L.DomEvent.stopPropagation);
  }
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

// GET /auth/me's territory_bbox ([minlon, minlat, maxlon, maxlat]) as
// Leaflet bounds, or null when absent or not a sensible WGS84 box.
function territoryBounds(bbox) {
  if (!Array.isArray(bbox) || bbox.length !== 4) return null;
  const [w, s, e, n] = bbox.map((v) => (typeof v === 'number' ? v : NaN));
  if (![w, s, e, n].every(Number.isFinite)) return null;
  if (w > e || s > n || w < -180 || e > 180 || s < -90 || n > 90) return null;
  return L.latLngBounds([s, w], [n, e]);
}

export function install(ctx) {
  const { map, auth } = ctx;
  ctx.territory = null; // L.LatLngBounds of the signed-in user's territory, once known
  const badge = createUserBadge(map, () => auth.end('signout'));
  const login = createLoginPanel(map, (username, password) => auth.login(username, password));

  function setTerritory(bounds) {
    ctx.territory = bounds;
    ctx.emit('territory', { bounds });
  }

  // GET /auth/me: the stored user may be stale (role changed since), and
  // a dead session shows itself here even with no overlay switched on. With
  // `fit` (right after signing in, and when a stored session is picked up at
  // page load, never otherwise) the map is fitted to the territory, so a grid
  // worker starts on their own grid rather than somewhere in an empty part of
  // the county.
  function checkMe(fit) {
    const epoch = auth.epoch;
    ctx.api('/auth/me').then((me) => {
      if (epoch !== auth.epoch) return; // signed out (or in as someone else) meanwhile
      auth.setUser(me);
      const territory = territoryBounds(me && me.territory_bbox);
      setTerritory(territory);
      if (fit && territory) {
        map.fitBounds(territory, { padding: [24, 24], maxZoom: TERRITORY_MAX_ZOOM });
      }
    }).catch(() => {
      // AuthRequiredError: the login panel is up; anything else: the
      // overlays will report their own trouble.
    });
  }

  auth.listeners.add((event) => {
    if (event === 'signin') {
      setTerritory(null);
      ctx.messages.clear();
      login.hide();
      badge.update(auth.user());
      checkMe(true);
    } else if (event === 'signout' || event === 'expired') {
      setTerritory(null);
      ctx.messages.clear();
      map.closePopup();
      badge.update(null);
      if (event === 'signout') {
        // The next person at the screen starts from a clean page. (An
        // expired session keeps the name: it is usually the same user.)
        login.show('', { clearUsername: true });
      } else {
        login.show('登录已过期，请重新登录 Your session has ended, please sign in again');
      }
    } else if (event === 'user') {
      badge.update(auth.user());
    }
  });

  if (auth.signedIn()) {
    badge.update(auth.user());
    checkMe(true);
  } else {
    login.show('');
  }
}
