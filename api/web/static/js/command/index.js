/*
 * command/index.js: the emergency officer's command map (指挥调度), for roles with staff:dispatch.
 *
 * Click the map (with "点击地图选点" on) or one of the open events drawn there: the nearest
 * dispatchable responders appear on the map and in the panel's list, coloured by availability and
 * by how fresh their last fix is, with its time in plain Chinese ("3分钟前") and the distance in
 * metres (GET /responders/nearest, or /events/{id}/responders for an event). "周边" lists what is
 * around the point (GET /around): households, how many need help, the cameras whose view covers
 * it, open events. With an event picked, "调度" sends a responder (POST /events/{id}/dispatch): the
 * row and marker turn busy. Responders move on the map by ctx.live ('responder') when the live
 * feature is there, else the list refreshes itself every 30 s. Break-glass: command/breakglass.js.
 */

import { button, el } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { createBreakGlass } from './breakglass.js';
import { availabilityLabel, fixText, freshnessLabel, metres, responderStyle, roleLabel } from './format.js';
import { createLayer } from './layer.js';

const PERMISSION = 'staff:dispatch';
const OWNER = 'command';
const RADIUS_M = 300;
const K = 10;
const REFRESH_MS = 30000;

export function install(ctx) {
  const { auth } = ctx;
  const box = el('div', 'gm-command');
  const panel = ctx.panels.add('command', '指挥调度', box);
  const glass = createBreakGlass(ctx);
  const state = { picking: true, point: null, event: null, responders: [], around: null, busy: new Set(), epoch: 0 };
  const layer = createLayer(ctx, { onEvent: (e) => pickEvent(e) });

  const allowed = () => auth.signedIn() && auth.can(PERMISSION);

  async function get(url, epoch) {
    const body = await ctx.api(url);
    if (epoch !== state.epoch) throw Object.assign(new Error('stale'), { name: 'AbortError' });
    return body;
  }

  async function loadResponders(epoch) {
    const q = new URLSearchParams({ k: String(K), include_stale: 'true' });
    const url = state.event
      ? `/events/${state.event.id}/responders?${q}`
      : `/responders/nearest?${q}&lon=${state.point.lon.toFixed(7)}&lat=${state.point.lat.toFixed(7)}`;
    const body = await get(url, epoch);
    state.responders = body.responders || [];
    layer.responders(state.responders);
  }

  async function refresh() {
    if (!state.point || !allowed()) return;
    const epoch = state.epoch;
    try {
      await loadResponders(epoch);
      render();
    } catch (err) {
      if (!isQuiet(err) && err.name !== 'AbortError') ctx.messages.error(`刷新人员失败：${err.message}`, OWNER);
    }
  }

  async function pick(lon, lat, event = null) {
    state.epoch += 1;
    const epoch = state.epoch;
    state.point = { lon, lat };
    state.event = event;
    state.around = null;
    glass.setEvent(event);
    layer.point(lon, lat, RADIUS_M);
    panel.open();
    box.dataset.state = 'loading'; // for the browser test: 'ready' once the answers are drawn
    render('加载中…');
    try {
      const around = get(`/around?lon=${lon.toFixed(7)}&lat=${lat.toFixed(7)}&radius=${RADIUS_M}`, epoch);
      await loadResponders(epoch);
      state.around = await around;
      layer.around(state.around);
      if (!state.event && state.around.events && state.around.events.length) {
        state.event = state.around.events[0]; // the nearest open event: what a dispatch is for
        glass.setEvent(state.event);
      }
      ctx.messages.clear(OWNER);
    } catch (err) {
      if (isQuiet(err) || err.name === 'AbortError') return;
      ctx.messages.error(err.status === 404 ? '该位置不在您的辖区内' : `查询失败：${err.message}`, OWNER);
    }
    box.dataset.state = 'ready';
    render();
  }

  function pickEvent(e) {
    pick(e.lon, e.lat, e);
  }

  async function dispatch(r) {
    if (!state.event) return;
    state.busy.add(r.id);
    render();
    try {
      const done = await ctx.api(`/events/${state.event.id}/dispatch`, { method: 'POST', json: { staff_id: r.id } });
      r.availability = done.availability;
      r.dispatched_to = done.event_id;
      layer.updateResponder(r);
      ctx.messages.success(`已调度 ${roleLabel(r.role)} ${r.name || r.id} 前往事件 ${done.event_id}`, OWNER);
    } catch (err) {
      if (!isQuiet(err)) ctx.messages.error(`调度失败：${err.message}`, OWNER);
    } finally {
      state.busy.delete(r.id);
      render();
    }
  }

  function responderRow(list, r) {
    const row = list.appendChild(el('li', 'gm-command-responder'));
    row.dataset.staffId = String(r.id);
    row.dataset.availability = r.availability;
    const dot = row.appendChild(el('span', 'gm-command-dot', '●'));
    dot.style.color = responderStyle(r).color;
    row.appendChild(el('span', 'gm-command-who', ` ${roleLabel(r.role)} ${r.name || ''} `));
    row.appendChild(el('span', 'gm-command-state', availabilityLabel(r.availability)));
    row.appendChild(el('span', 'gm-command-distance', ` · ${metres(r.distance_m)}`));
    row.appendChild(el('span', 'gm-command-fix', ` · ${fixText(r.position_at)}（${freshnessLabel(r)}）`));
    if (r.phone) row.appendChild(el('span', 'gm-command-phone', ` · ${r.phone}`));
    if (r.availability === 'busy') {
      row.appendChild(el('span', 'gm-command-sent', r.dispatched_to ? ` · 已调度至事件 ${r.dispatched_to}` : ''));
    } else if (state.event) {
      button(row, '调度', () => dispatch(r), 'gm-command-dispatch', state.busy.has(r.id));
    }
  }

  function aroundSection() {
    const a = state.around;
    const sec = el('div', 'gm-command-around');
    sec.appendChild(el('h4', null, `周边 ${RADIUS_M}米`));
    const h = a.households || {};
    sec.appendChild(el('p', 'gm-command-households',
      `住户 ${h.count || 0}户（${h.residents || 0}人），需帮扶（独居老人、残疾人）${h.needs_help_count || 0}户`));
    const cams = a.cameras || [];
    sec.appendChild(el('p', 'gm-command-cameras', cams.length
      ? `能看到此处的摄像头 ${cams.length}个：${cams.slice(0, 5).map((c) => `${c.name || c.code}（${metres(c.distance_m)}）`).join('、')}`
      : '没有摄像头的视野覆盖此处'));
    const events = a.events || [];
    if (events.length) {
      sec.appendChild(el('p', null, '附近未办结事件（点击选择）：'));
      const list = sec.appendChild(el('ul', 'gm-command-events'));
      events.slice(0, 8).forEach((e) => {
        const item = list.appendChild(el('li'));
        const chosen = state.event && state.event.id === e.id;
        button(item, `${chosen ? '✔ ' : ''}事件 ${e.id} ${e.category} · ${metres(e.distance_m)}`, () => pickEvent(e),
          'gm-command-event');
      });
    }
    return sec;
  }

  function render(note) {
    box.replaceChildren();
    if (!allowed()) return;
    const mode = box.appendChild(el('label', 'gm-command-mode'));
    const check = mode.appendChild(el('input'));
    check.type = 'checkbox';
    check.checked = state.picking;
    check.addEventListener('change', () => { state.picking = check.checked; });
    mode.appendChild(el('span', null, ' 点击地图选点'));
    if (!state.point) {
      box.appendChild(el('p', 'gm-command-hint', '点击地图上的位置或事件，查看最近的可调度人员和周边情况。'));
      box.appendChild(glass.element);
      return;
    }
    box.appendChild(el('p', 'gm-command-target', state.event
      ? `事件 ${state.event.id}（${state.event.category || ''}）`
      : `位置 ${state.point.lon.toFixed(5)}, ${state.point.lat.toFixed(5)}`));
    if (note) box.appendChild(el('p', 'gm-command-hint', note));
    box.appendChild(el('h4', null, '最近的可调度人员'));
    const list = box.appendChild(el('ul', 'gm-command-responders'));
    if (!state.responders.length) list.appendChild(el('li', 'gm-command-hint', '附近没有可调度人员'));
    state.responders.forEach((r) => responderRow(list, r));
    if (!state.event) box.appendChild(el('p', 'gm-command-hint', '选择一个事件后才能调度。'));
    if (state.around) box.appendChild(aroundSection());
    box.appendChild(glass.element);
  }

  // Clicks: grids stop the map's own click, so both are taken here (after the editor's own turn).
  const base = ctx.editor;
  const take = (e) => {
    if (!allowed() || !state.picking || !e || !e.latlng) return false;
    const { lat, lng } = e.latlng.wrap();
    pick(lng, lat);
    return true;
  };
  ctx.editor = Object.assign({}, base, {
    onGridClick: (feature, layerOf, e) => (base && base.onGridClick(feature, layerOf, e)) || take(e),
    onMapClick: (e) => (base && base.onMapClick(e)) || take(e),
  });

  // Live: responders move and change state on the map; without ctx.live the list refreshes itself.
  if (ctx.live && typeof ctx.live.on === 'function') {
    ctx.live.on('responder', (m) => {
      const r = state.responders.find((x) => x.id === m.staff_id);
      if (!r) return;
      Object.assign(r, { availability: m.availability, lon: m.lon, lat: m.lat, position_at: m.at, stale: false });
      layer.updateResponder(r);
      render();
    });
  } else {
    setInterval(() => { if (state.point && !state.busy.size) refresh(); }, REFRESH_MS);
  }

  function sync(event) {
    if (event === 'user') { // permissions re-read (/auth/me): keep what is picked
      if (!state.point) state.picking = auth.can('pii:break-glass');
      if (allowed()) panel.show(); else panel.hide();
      render();
      return;
    }
    state.epoch += 1;
    state.point = null;
    state.event = null;
    state.responders = [];
    state.around = null;
    layer.clear();
    glass.reset();
    // Clicks pick points by default for the emergency officer only; a grid head (who also may
    // dispatch) keeps grid popups until they tick the box.
    state.picking = auth.signedIn() && auth.can('pii:break-glass');
    if (allowed()) {
      panel.show();
      render();
      glass.restore();
    } else {
      panel.hide();
    }
  }
  auth.listeners.add(sync);
  sync();
}
