/*
 * editor/draw.js: drawing a new grid on the map, and the panel that also offers reshaping the
 * selected grid (editor/reshape.js). For planners only (permission grids:edit): nobody else
 * ever sees the panel, and the server checks the permission again on every write.
 *
 * "Draw grid": the planner picks the layer, the village (and, for a layer with a parent layer
 * such as micro-grids, the parent grid) and a name in the panel, then clicks the vertices on
 * the map with leaflet-geoman. Vertices snap to the neighbours' and the parent's vertices and
 * edges (editor/snapping.js shows them as dashed guides and rings the snapped point); the
 * vertex count and the geodesic area (editor/geodesic.js) follow every vertex placed or removed.
 * Clicking the first vertex, Enter or "Finish" closes the shape, which goes to confirm.js's
 * confirmEdit as POST /grids: the server's dry run is shown first, the reason asked after.
 */

import { el, button } from '../core/dom.js';
import { formatArea, latLngsArea, toGeoJson, vertexCount } from './geodesic.js';
import { createGuides, geoman, muteGrids, snapOptions } from './snapping.js';
import { createReshaper } from './reshape.js';
import { runEdit } from './submit.js';

export const EDIT_PERMISSION = 'grids:edit';
const PAGE = 1000;

export function install(ctx) {
  const { map, auth } = ctx;
  const box = el('div', 'gm-draw-panel');
  box.setAttribute('aria-label', '绘制与修形 Draw and reshape grids');
  const panel = ctx.panels.add('draw', '绘制网格 Draw & reshape', box);
  const state = {
    layers: [], // GET /layers: {code, name, parent_layer, full_cover, allow_overlap}
    villages: [], // GET /divisions?level=village: features
    parents: [], // grids of the parent layer in the chosen village
    form: { layer: '', division: '', parent: '', name: '' },
    mode: null, // null | 'drawing' | 'review' | 'reshaping'
    busy: false,
    stats: null, // {vertices, area}
    selected: null, // {feature, layer} from 'grid-selected'
    epoch: 0,
  };
  const session = { guides: null, unmute: null, working: null, draft: null, dblZoom: null, editor: undefined };
  const reshaper = createReshaper(ctx, {
    render,
    setStats,
    begin: beginSession,
    end: endSession,
    mode: (m) => { state.mode = m; render(); },
    busy: (b) => { state.busy = b; render(); },
  });

  // --- who may draw
  function allowed() {
    return auth.signedIn() && auth.can(EDIT_PERMISSION);
  }

  async function refreshLists() {
    const epoch = ++state.epoch;
    try {
      const [layers, villages] = await Promise.all([
        ctx.api('/layers'),
        ctx.api(`/divisions?level=village&limit=${PAGE}`),
      ]);
      if (epoch !== state.epoch) return;
      state.layers = layers;
      // Features (with their outline: the parent of a new top-level grid), by name.
      state.villages = villages.features.slice()
        .sort((a, b) => a.properties.name.localeCompare(b.properties.name, 'zh-CN'));
      if (!state.form.layer && layers.length) state.form.layer = layers[0].code;
      render();
    } catch (err) {
      if (epoch === state.epoch && err.name !== 'AuthRequiredError') ctx.messages.error(`绘制面板 Draw panel: ${err.message}`, 'draw');
    }
  }

  function follow() {
    if (allowed()) {
      panel.show();
      refreshLists();
    } else {
      stopAll();
      state.layers = [];
      state.villages = [];
      panel.hide();
    }
  }
  auth.listeners.add(follow);
  follow();

  ctx.on('grid-selected', (detail) => {
    if (!allowed() || state.mode) return;
    state.selected = detail && detail.feature ? detail : null;
    render();
  });

  const layerInfo = (code) => state.layers.find((l) => l.code === code) || null;

  async function loadParents() {
    const layer = layerInfo(state.form.layer);
    state.parents = [];
    state.form.parent = '';
    if (!layer || !layer.parent_layer || !state.form.division) return render();
    const epoch = state.epoch;
    try {
      const page = await ctx.api(`/grids?layer=${encodeURIComponent(layer.parent_layer)}`
        + `&division=${state.form.division}&limit=${PAGE}`);
      if (epoch !== state.epoch) return;
      state.parents = page.features;
    } catch (err) {
      if (epoch === state.epoch && err.name !== 'AuthRequiredError') ctx.messages.error(`上级网格 Parent grids: ${err.message}`, 'draw');
    }
    render();
  }

  // --- a drawing session: guides, muted grids, no double-click zoom
  function beginSession() {
    geoman(map); // opt-in on before the first guide is made
    // The split editor's edit mode ends (its selection, line or merge), and while a shape is drawn
    // no click reaches it or popups.js (ctx.editor is who layers.js and popups.js ask first).
    if (ctx.editor && ctx.editor.leave) ctx.editor.leave();
    session.editor = ctx.editor;
    ctx.editor = Object.assign({}, session.editor, { onGridClick: () => true, onMapClick: () => true });
    session.guides = createGuides(map);
    session.unmute = muteGrids(ctx);
    session.dblZoom = map.doubleClickZoom.enabled();
    map.doubleClickZoom.disable();
    return session.guides;
  }

  function endSession() {
    if (session.guides) session.guides.remove();
    if (session.unmute) session.unmute();
    if (session.dblZoom) map.doubleClickZoom.enable();
    if (session.draft) session.draft.remove();
    if (session.editor !== undefined) ctx.editor = session.editor;
    Object.assign(session, { guides: null, unmute: null, working: null, draft: null, dblZoom: null, editor: undefined });
    state.stats = null;
  }

  function setStats(latlngs) {
    state.stats = latlngs ? { vertices: vertexCount(latlngs), area: latLngsArea(latlngs) } : null;
    renderStats();
  }

  // Snap targets of a new grid: the layer's grids in the village and around it, and the parent
  // (the parent grid, or the village itself).
  async function loadTargets(guides, layer) {
    const parent = state.parents.find((f) => f.properties.code === state.form.parent)
      || state.villages.find((f) => f.properties.code === state.form.division);
    if (parent) guides.add(parent.geometry, 'parent');
    const around = parent ? L.geoJSON(parent.geometry).getBounds().pad(0.25) : map.getBounds();
    const bbox = [around.getWest(), around.getSouth(), around.getEast(), around.getNorth()]
      .map((v) => v.toFixed(6)).join(',');
    const page = await ctx.api(`/grids?layer=${encodeURIComponent(layer.code)}&bbox=${bbox}&limit=${PAGE}`);
    page.features.forEach((f) => guides.add(f.geometry, 'neighbour'));
    return parent;
  }

  async function startDrawing() {
    const layer = layerInfo(state.form.layer);
    if (!layer || !state.form.name.trim() || !(state.form.parent || (state.form.division && !layer.parent_layer))) {
      ctx.messages.warning('请选择图层、村/社区（微网格另选上级网格）并填写名称 '
        + 'Choose the layer, the village (and the parent grid for a micro-grid) and a name', 'draw');
      return;
    }
    ctx.messages.clear('draw');
    state.mode = 'drawing';
    state.busy = true;
    render();
    const guides = beginSession();
    try {
      const parent = await loadTargets(guides, layer);
      if (parent) map.fitBounds(L.geoJSON(parent.geometry).getBounds(), { maxZoom: 17, animate: false });
    } catch (err) {
      ctx.messages.warning(`吸附目标未能加载 Snap targets not loaded: ${err.message}`, 'draw');
    }
    if (state.mode !== 'drawing') return;
    state.busy = false;
    map.once('pm:drawstart', (e) => {
      session.working = e.workingLayer;
      guides.follow(e.workingLayer);
      const update = () => setStats(session.working ? session.working.getLatLngs() : null);
      e.workingLayer.on('pm:vertexadded pm:vertexremoved', update);
    });
    map.on('pm:create', onCreate);
    const pm = geoman(map);
    pm.setGlobalOptions({ finishOnEnter: true });
    pm.enableDraw('Polygon', Object.assign(snapOptions(), {
      pathOptions: { color: layer.color || '#2b8cbe', weight: 2, fillOpacity: 0.2, renderer: guides.renderer() },
      templineStyle: { renderer: guides.renderer() },
      hintlineStyle: { color: '#2b8cbe', dashArray: '5,5', renderer: guides.renderer() },
    }));
    setStats([]);
    render();
  }

  function onCreate(e) {
    map.off('pm:create', onCreate);
    const latlngs = e.layer.getLatLngs();
    e.layer.remove();
    session.working = null;
    session.draft = L.polygon(latlngs, {
      pane: session.guides.pane, renderer: session.guides.renderer(), interactive: false,
      color: '#2b8cbe', weight: 2, fillOpacity: 0.2, className: 'gm-draw-draft',
    }).addTo(map);
    setStats(latlngs);
    submit(latlngs);
  }

  async function submit(latlngs) {
    const layer = layerInfo(state.form.layer);
    const body = { layer: layer.code, name: state.form.name.trim(), geometry: toGeoJson(latlngs) };
    if (state.form.parent) body.parent_grid = state.form.parent;
    else body.division = state.form.division;
    state.mode = 'review';
    render();
    // confirmEdit shows the success (or keeps a refusal in red on screen) and reloads the overlays.
    await runEdit(ctx, {
      title: `新建网格 New grid: ${body.name}`, method: 'POST', url: '/grids', body, layers: [layer.code], owner: 'draw',
    });
    if (state.mode === 'review') finish();
  }

  function finish() {
    stopAll();
    render();
  }

  function stopAll() {
    map.off('pm:create', onCreate);
    if (map.pm && map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    reshaper.stop();
    endSession();
    state.mode = null;
    state.busy = false;
  }

  function finishShape() {
    const drawer = map.pm.Draw.Polygon;
    // geoman's own toolbar "Finish" action calls this; it refuses shapes under 3 vertices.
    if (drawer && typeof drawer._finishShape === 'function') drawer._finishShape();
  }

  // --- the panel
  const statsLine = el('div', 'gm-draw-stats');
  statsLine.setAttribute('aria-live', 'polite');

  function renderStats() {
    const s = state.stats;
    statsLine.textContent = s ? `顶点 Vertices: ${s.vertices} · 面积 Area: ${formatArea(s.area)}` : '';
    statsLine.dataset.vertices = s ? String(s.vertices) : '';
    statsLine.dataset.areaM2 = s ? String(Math.round(s.area)) : '';
  }

  function select(parent, label, options, value, onChange, name) {
    const row = parent.appendChild(el('label', 'gm-draw-field'));
    row.appendChild(el('span', null, label));
    const input = row.appendChild(el('select'));
    input.name = name;
    options.forEach(([v, text]) => {
      const o = input.appendChild(el('option', null, text));
      o.value = v;
      o.selected = v === value;
    });
    input.disabled = state.busy || !!state.mode;
    input.addEventListener('change', () => onChange(input.value));
    return input;
  }

  function render() {
    box.textContent = '';
    if (!allowed()) return;
    const form = box.appendChild(el('form', 'gm-draw-form'));
    form.addEventListener('submit', (e) => e.preventDefault());
    form.appendChild(el('div', 'gm-draw-heading', '新建网格 New grid'));
    const layer = layerInfo(state.form.layer);
    select(form, '图层 Layer', state.layers.map((l) => [l.code, l.name]), state.form.layer, (v) => {
      state.form.layer = v;
      loadParents();
    }, 'layer');
    select(form, '村/社区 Village', [['', '—']].concat(state.villages.map((v) => [
      v.properties.code, `${v.properties.name} ${v.properties.code}`])),
      state.form.division, (v) => {
        state.form.division = v;
        loadParents();
      }, 'division');
    if (layer && layer.parent_layer) {
      select(form, '上级网格 Parent grid', [['', '—']].concat(state.parents.map((f) => [
        f.properties.code, `${f.properties.name} ${f.properties.code}`])), state.form.parent, (v) => {
        state.form.parent = v;
      }, 'parent_grid');
    }
    const nameRow = form.appendChild(el('label', 'gm-draw-field'));
    nameRow.appendChild(el('span', null, '名称 Name'));
    const name = nameRow.appendChild(el('input'));
    name.name = 'name';
    name.maxLength = 100;
    name.value = state.form.name;
    name.disabled = state.busy || !!state.mode;
    name.addEventListener('input', () => { state.form.name = name.value; });
    const row = form.appendChild(el('div', 'gm-draw-actions'));
    if (state.mode === 'drawing') {
      form.appendChild(el('div', 'gm-draw-hint', state.busy ? '加载吸附目标… Loading snap targets…'
        : '点击地图放置顶点；点击第一个顶点、回车或“完成”闭合；顶点吸附到虚线所示的邻近网格和上级边界 '
          + 'Click the map to place vertices; click the first vertex, press Enter or Finish to close. '
          + 'Vertices snap to the dashed neighbours and parent.'));
      button(row, '完成 Finish', finishShape, 'gm-edit-button', state.busy);
      button(row, '取消 Cancel', finish, 'gm-edit-button');
    } else if (state.mode === 'review') {
      form.appendChild(el('div', 'gm-draw-hint', '服务器检查中，请在确认面板中继续 Checked by the server: continue in the confirmation'));
    } else if (!state.mode) {
      button(row, '开始绘制 Draw grid', startDrawing, 'gm-edit-button', state.busy);
    }
    if (state.mode === 'drawing' || state.mode === 'review' || state.mode === 'reshaping') box.appendChild(statsLine);
    renderStats();
    reshaper.render(box, state);
  }
  render();
}
