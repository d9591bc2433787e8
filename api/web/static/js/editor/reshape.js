/*
 * editor/reshape.js: reshaping the selected grid with leaflet-geoman's edit mode (planners).
 *
 * The grid's boundary, read again with its ETag, becomes an editable copy: drag a vertex, drag
 * a midpoint marker to add one, right-click a vertex to delete it, each snapping to the
 * neighbours' and the parent's vertices and edges (editor/snapping.js). The vertex count and
 * the area follow each change. "Check" sends it to confirm.js's confirmEdit as
 * PUT /grids/{id}/geometry with If-Match, which shows the dry run (the households, cameras,
 * events and staff that would move, and from which grid to which) before asking the reason.
 * On a full-cover layer (不重不漏) a shape that gives up area is refused with the gap; the
 * gap is drawn in red with its m² and the planner picks the neighbour that takes it
 * (fill_gap_into, whose ETag goes in If-Match too).
 */

import { el, button } from '../core/dom.js';
import { formatArea, toGeoJson } from './geodesic.js';
import { geoman, latLngsOf, snapOptions } from './snapping.js';
import { dryRun, runEdit } from './submit.js';

const PAGE = 1000;
const GAP_STYLE = { color: '#e31a1c', weight: 3, fillColor: '#e31a1c', fillOpacity: 0.35, interactive: false };

function bboxOf(bounds) {
  return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map((v) => v.toFixed(6)).join(',');
}

// hooks: {render, setStats(latlngs), begin() -> guides, end(), mode(m), busy(b)}
export function createReshaper(ctx, hooks) {
  const { map } = ctx;
  const state = {
    grid: null, // {id, code, name, layer, division_code}
    etag: null,
    layer: null, // GET /layers/{code}
    shape: null, // the editable L.polygon
    neighbours: [], // features of the same layer around it
    gap: null, // {area_m2, geometry, layer: L.Polygon, candidates: [feature], choice}
  };

  async function start(selected) {
    const id = selected.feature.properties.id || selected.feature.id;
    hooks.mode('reshaping');
    hooks.busy(true);
    const guides = hooks.begin();
    try {
      const [{ data, etag }, layers] = await Promise.all([
        ctx.api(`/grids/${id}`, { withEtag: true }),
        ctx.api('/layers'),
      ]);
      state.grid = data.properties;
      state.etag = etag;
      state.layer = layers.find((l) => l.code === data.properties.layer) || { code: data.properties.layer };
      const bounds = L.geoJSON(data.geometry).getBounds();
      await loadTargets(guides, bounds.pad(0.5));
      const pm = geoman(map);
      if (pm.globalDrawModeEnabled()) pm.disableDraw();
      state.shape = L.polygon(latLngsOf(data.geometry), {
        pane: guides.pane, renderer: guides.renderer(), pmIgnore: false, interactive: false,
        color: '#2b8cbe', weight: 2.5, fillOpacity: 0.15, className: 'gm-reshape-shape',
      }).addTo(map);
      guides.follow(state.shape);
      state.shape.pm.enable(snapOptions());
      const update = () => hooks.setStats(state.shape.getLatLngs());
      state.shape.on('pm:change pm:edit pm:vertexadded pm:vertexremoved pm:markerdragend', update);
      update();
      map.fitBounds(bounds, { maxZoom: 18, animate: false });
    } catch (err) {
      stop();
      hooks.end();
      hooks.mode(null);
      if (err.name !== 'AuthRequiredError') ctx.messages.error(`修改形状 Reshape: ${err.message}`, 'draw');
      return;
    }
    hooks.busy(false);
  }

  // Neighbours: the grids of the same layer around the grid. Parent: the parent layer's grids
  // around it (micro-grids), or the grid's village.
  async function loadTargets(guides, around) {
    const layer = state.layer;
    const bbox = bboxOf(around);
    const [same, parents] = await Promise.all([
      ctx.api(`/grids?layer=${encodeURIComponent(layer.code)}&bbox=${bbox}&limit=${PAGE}`),
      layer.parent_layer
        ? ctx.api(`/grids?layer=${encodeURIComponent(layer.parent_layer)}&bbox=${bbox}&limit=${PAGE}`)
        : ctx.api(`/divisions?level=village&bbox=${bbox}&limit=${PAGE}`),
    ]);
    state.neighbours = same.features.filter((f) => f.properties.id !== state.grid.id);
    state.neighbours.forEach((f) => guides.add(f.geometry, 'neighbour'));
    const parentFeatures = layer.parent_layer ? parents.features
      : parents.features.filter((f) => f.properties.code === state.grid.division_code);
    parentFeatures.forEach((f) => guides.add(f.geometry, 'parent'));
  }

  function request(extra) {
    return Object.assign({
      title: `修改形状 Reshape ${state.grid.name} ${state.grid.code}`,
      method: 'PUT',
      url: `/grids/${state.grid.id}/geometry`,
      body: { geometry: toGeoJson(state.shape.getLatLngs()) },
      etags: [state.etag],
      layers: [state.layer.code],
      owner: 'draw',
    }, extra || {});
  }

  async function check() {
    clearGap();
    const req = request();
    if (state.layer.full_cover) {
      hooks.busy(true);
      try {
        await dryRun(ctx, req);
      } catch (err) {
        hooks.busy(false);
        if (err.status === 409 && err.problem && err.problem.gap) {
          showGap(err.problem.gap);
          return;
        }
        // Any other refusal: confirmEdit shows it with its shapes.
      }
      hooks.busy(false);
    }
    await apply(req);
  }

  async function apply(req) {
    hooks.mode('review');
    // confirmEdit shows the success and reloads the overlays; a refusal stays on screen in red.
    const answer = await runEdit(ctx, req);
    if (!state.shape) return; // stopped meanwhile (signed out)
    if (!answer) {
      hooks.mode('reshaping'); // back to the shape, still editable
      return;
    }
    stop();
    hooks.end();
    hooks.mode(null);
  }

  function showGap(gap) {
    const layer = L.polygon(latLngsOf(gap.geometry), Object.assign({ className: 'gm-reshape-gap' }, GAP_STYLE))
      .addTo(map);
    const candidates = neighboursOf(gap.geometry, layer.getBounds());
    state.gap = { area_m2: gap.area_m2, layer, candidates, choice: candidates.length ? String(candidates[0].properties.id) : '' };
    hooks.render();
  }

  // The neighbours that may take a gap: those sharing vertices with it (the gap's outline is the
  // grid's old boundary, which a full-cover layer shares with its neighbours), most shared first;
  // failing that, those whose extent meets it.
  function neighboursOf(geometry, bounds) {
    const key = (c) => `${c[0].toFixed(7)},${c[1].toFixed(7)}`;
    const rings = (g) => (g.type === 'Polygon' ? g.coordinates : g.type === 'MultiPolygon' ? g.coordinates.flat() : []);
    const corners = new Set(rings(geometry).flat().map(key));
    const scored = state.neighbours
      .map((f) => ({ f, shared: new Set(rings(f.geometry).flat().map(key).filter((k) => corners.has(k))).size }))
      .filter((s) => s.shared > 0)
      .sort((a, b) => b.shared - a.shared);
    if (scored.length) return scored.map((s) => s.f);
    return state.neighbours.filter((f) => L.geoJSON(f.geometry).getBounds().intersects(bounds));
  }

  function clearGap() {
    if (state.gap && state.gap.layer) state.gap.layer.remove();
    state.gap = null;
  }

  async function fillGap() {
    const id = Number(state.gap.choice);
    if (!id) return;
    hooks.busy(true);
    let etag;
    try {
      etag = (await ctx.api(`/grids/${id}`, { withEtag: true })).etag;
    } catch (err) {
      hooks.busy(false);
      if (err.name !== 'AuthRequiredError') ctx.messages.error(`修改形状 Reshape: ${err.message}`, 'draw');
      return;
    }
    hooks.busy(false);
    const req = request({ etags: [state.etag, etag] });
    req.body.fill_gap_into = id;
    clearGap();
    await apply(req);
  }

  function stop() {
    clearGap();
    if (state.shape) {
      if (state.shape.pm) state.shape.pm.disable();
      state.shape.remove();
    }
    Object.assign(state, { grid: null, etag: null, layer: null, shape: null, neighbours: [] });
  }

  function render(box, panelState) {
    const section = box.appendChild(el('div', 'gm-reshape'));
    const sel = panelState.selected;
    if (panelState.mode === 'reshaping' && state.grid) {
      section.appendChild(el('div', 'gm-draw-heading', `修改形状 Reshape: ${state.grid.name} ${state.grid.code}`));
      section.appendChild(el('div', 'gm-draw-hint', panelState.busy ? '处理中… Working…'
        : '拖动顶点；拖动边中点添加顶点；右键删除顶点；顶点吸附到虚线所示的邻近网格和上级边界 '
          + 'Drag a vertex; drag a midpoint to add one; right-click a vertex to delete it. '
          + 'Vertices snap to the dashed neighbours and parent.'));
      if (state.gap) renderGap(section, panelState);
      const row = section.appendChild(el('div', 'gm-draw-actions'));
      button(row, '检查 Check', check, 'gm-edit-button', panelState.busy);
      button(row, '取消 Cancel', () => { stop(); hooks.end(); hooks.mode(null); }, 'gm-edit-button');
    } else if (!panelState.mode && sel) {
      const p = sel.feature.properties;
      section.appendChild(el('div', 'gm-draw-heading', `选中 Selected: ${p.name || '—'} ${p.code || ''}`));
      const row = section.appendChild(el('div', 'gm-draw-actions'));
      button(row, '修改形状 Reshape', () => start(sel), 'gm-edit-button', panelState.busy);
    }
  }

  function renderGap(section, panelState) {
    const box = section.appendChild(el('div', 'gm-reshape-gap-choice gm-edit-conflict'));
    box.appendChild(el('div', null, `新形状会留下 ${formatArea(state.gap.area_m2)} 不属于任何网格（红色，不重不漏） `
      + `The new shape leaves ${formatArea(state.gap.area_m2)} in no grid (red); choose the neighbour that takes it`));
    if (!state.gap.candidates.length) {
      box.appendChild(el('div', null, '附近没有可接收的网格：请把边界画到邻近网格边上 '
        + 'No neighbour touches it: draw the boundary to the neighbours\' edges'));
      return;
    }
    const choice = box.appendChild(el('select'));
    choice.name = 'fill_gap_into';
    state.gap.candidates.forEach((f) => {
      const o = choice.appendChild(el('option', null, `${f.properties.name} ${f.properties.code}`));
      o.value = String(f.properties.id);
      o.selected = o.value === state.gap.choice;
    });
    choice.addEventListener('change', () => { state.gap.choice = choice.value; });
    button(box, '交给所选网格 Give it to this grid', fillGap, 'gm-edit-button', panelState.busy);
  }

  return { start, stop, render };
}
