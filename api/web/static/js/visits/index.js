/*
 * visits/index.js: household visits 入户走访 and patrols 巡查 on the map, for roles with visits:log.
 *
 * A panel "走访巡查" holds: the grid shown (the one the worker serves, GET /visits/me, or the grid
 * last clicked), the legend of the household colours, the households behind first with a
 * "记录走访" button each (the same action as in a household's popup on the map), the visit form
 * (kind, note; the position comes from navigator.geolocation and the server measures the distance),
 * patrol mode (visits/patrol.js) and, for a grid head, who is behind (visits/behind.js).
 * After a visit is logged the grid's status is fetched again, so the household's colour changes.
 *
 * Server strings go into the page as text only.
 */

import { button, el } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { createBehind } from './behind.js';
import { KINDS, colorOf, currentPosition, metresText, problemText, sinceText, statusOf } from './model.js';
import { createPatrol } from './patrol.js';
import { createStatusLayer } from './status-layer.js';

const PERMISSION = 'visits:log';
const LIST_MAX = 30;

export function install(ctx) {
  const { auth, map } = ctx;
  const box = el('div', 'gm-visits');
  const panel = ctx.panels.add('visits', '走访巡查', box);
  L.DomEvent.disableClickPropagation(box);
  L.DomEvent.disableScrollPropagation(box);
  const state = { me: null, grid: null, busy: false, error: null, form: null, formBusy: false, epoch: 0 };
  const layer = createStatusLayer(ctx, { onVisit: (f) => openForm(f) });
  const patrol = createPatrol(ctx, { onChange: () => render() });
  const behind = createBehind(ctx, { onChange: () => render(), onHousehold: (h) => focusHousehold(h.id) });
  let shown = false;

  async function loadStatus(fit) {
    if (!state.grid) return;
    const epoch = state.epoch;
    state.busy = true;
    render();
    try {
      const answer = await ctx.api(`/grids/${state.grid.id}/visit-status`);
      if (epoch !== state.epoch) return;
      state.grid = answer.grid;
      state.error = null;
      layer.draw(answer);
      if (fit && layer.bounds()) map.fitBounds(layer.bounds(), { maxZoom: 17, padding: [20, 20] });
    } catch (err) {
      if (!isQuiet(err)) state.error = problemText(err);
    }
    state.busy = false;
    render();
  }

  function focusHousehold(id) {
    const a = layer.answer();
    const f = a && a.features.find((x) => x.id === id);
    if (f) {
      const [lon, lat] = f.geometry.coordinates;
      map.setView([lat, lon], Math.max(map.getZoom(), 17));
      openForm(f);
    }
  }

  function openForm(feature) {
    state.form = { feature, kind: 'routine', note: '', result: null, error: null };
    panel.open();
    render();
  }

  async function submitVisit() {
    const form = state.form;
    form.error = null;
    state.formBusy = true;
    render();
    try {
      const at = await currentPosition();
      const visit = await ctx.api('/visits', { json: { household_id: form.feature.id, kind: form.kind, note: form.note,
        ...at } });
      const text = `已记录走访，距住户${metresText(visit.distance_m)}`;
      if (visit.far) ctx.messages.warning(`${text}：距离较远，已标记，请核实位置`, 'visits');
      else ctx.messages.success(text, 'visits');
      state.form = null;
      await loadStatus(false);
    } catch (err) {
      form.error = problemText(err);
    }
    state.formBusy = false;
    render();
  }

  function renderForm(parent) {
    const form = state.form;
    const p = form.feature.properties;
    const box2 = parent.appendChild(el('div', 'gm-visit-form'));
    box2.appendChild(el('h4', null, `记录走访：${p.address || `住户 ${p.id}`}`));
    box2.appendChild(el('div', 'gm-muted', `上次走访：${sinceText(p.days_since)}`));
    const kind = box2.appendChild(el('select', 'gm-visit-kind'));
    KINDS.forEach(([value, label]) => {
      const o = kind.appendChild(el('option', null, label));
      o.value = value;
      o.selected = value === form.kind;
    });
    kind.addEventListener('change', () => { form.kind = kind.value; });
    const note = box2.appendChild(el('textarea', 'gm-visit-note'));
    note.placeholder = '备注（选填，最多500字）';
    note.maxLength = 500;
    note.rows = 2;
    note.value = form.note;
    note.addEventListener('input', () => { form.note = note.value; });
    const row = box2.appendChild(el('div', 'gm-visit-actions'));
    button(row, state.formBusy ? '定位中…' : '提交走访', submitVisit, 'gm-visit-submit', state.formBusy);
    button(row, '取消', () => { state.form = null; render(); }, 'gm-visit-cancel', state.formBusy);
    if (form.error) box2.appendChild(el('div', 'gm-error', form.error));
  }

  function renderList(parent) {
    const a = layer.answer();
    if (!a) return;
    const s = a.summary;
    parent.appendChild(el('div', 'gm-muted', `${s.households}户，落后${s.behind}户，从未走访${s.never_visited}户`));
    const items = a.features.slice().sort((x, y) => {
      const dx = x.properties.days_since === null ? Infinity : x.properties.days_since - x.properties.target_days;
      const dy = y.properties.days_since === null ? Infinity : y.properties.days_since - y.properties.target_days;
      return dy - dx || x.id - y.id;
    }).slice(0, LIST_MAX);
    const list = parent.appendChild(el('ul', 'gm-visit-list'));
    items.forEach((f) => {
      const li = list.appendChild(el('li', 'gm-visit-item'));
      li.dataset.household = String(f.id);
      const dot = li.appendChild(el('span', 'gm-visit-dot'));
      dot.style.background = colorOf(statusOf(f.properties));
      li.appendChild(el('span', 'gm-visit-address', `${f.properties.address || f.id}（${sinceText(f.properties.days_since)}）`));
      button(li, '记录走访', () => focusHousehold(f.id), 'gm-visit-log');
    });
  }

  function render() {
    if (!shown) return;
    box.replaceChildren();
    if (!state.grid) {
      box.appendChild(el('div', 'gm-muted', '点击地图上的网格，查看该网格住户的走访情况'));
    } else {
      box.appendChild(el('div', 'gm-visits-grid', `${state.grid.name || ''}（${state.grid.code || ''}）`));
    }
    if (state.me && state.me.rule) box.appendChild(el('div', 'gm-muted gm-visits-rule', state.me.rule.text));
    box.appendChild(layer.legend());
    if (state.busy) box.appendChild(el('div', 'gm-muted', '加载中…'));
    if (state.error) box.appendChild(el('div', 'gm-error', state.error));
    if (state.form) renderForm(box);
    renderList(box);
    if (state.me && state.me.staff_id) patrol.render(box);
    if (auth.user() && auth.user().role === 'grid_head') behind.render(box);
  }

  async function start() {
    shown = true;
    panel.show();
    const epoch = state.epoch;
    try {
      const me = await ctx.api('/visits/me');
      if (epoch !== state.epoch) return;
      state.me = me;
      if (!state.grid && me.grid) {
        state.grid = me.grid;
        await loadStatus(true);
      }
    } catch (err) {
      if (!isQuiet(err)) state.error = problemText(err);
    }
    render();
  }

  function reset() {
    state.epoch += 1;
    Object.assign(state, { me: null, grid: null, busy: false, error: null, form: null });
    layer.clear();
    patrol.stop();
    behind.reset();
    shown = false;
    box.replaceChildren();
    panel.hide();
  }

  function sync() {
    const wanted = auth.signedIn() && auth.can(PERMISSION);
    if (wanted && !shown) start();
    else if (!wanted && shown) reset();
  }

  ctx.on('grid-selected', (detail) => {
    const f = detail && detail.feature;
    const p = (f && f.properties) || {};
    const layerCode = detail && detail.layer && (detail.layer.code || detail.layer);
    if (!shown || !f || (layerCode && layerCode !== 'comprehensive')) return;
    state.grid = { id: p.id === undefined ? f.id : p.id, code: p.code, name: p.name };
    state.form = null;
    loadStatus(false);
  });
  auth.listeners.add((event) => {
    if (event === 'signin' || event === 'signout' || event === 'expired') reset();
    sync();
  });
  ctx.visits = { layer, patrol, state, reload: () => loadStatus(false) };
  sync();
}
