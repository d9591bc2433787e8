/*
 * fusion.js: multi-net fusion 多网融合 on the web map.
 *
 * - an overlay "融合问题 Fusion problems": every problem of GET /fusion as its
 *   own shape, coloured by kind (overlap, gap, sliver, outside parent,
 *   misalignment);
 * - a panel (in the dock) with the county's fusion score, the townships worst
 *   first and the problems ranked (households, then area); a click on a
 *   problem zooms to it;
 * - for users with grids:edit, "应用 Apply" on a problem with a suggested fix:
 *   POST /fusion/suggestions/{id}/apply with the If-Match ETags the analysis
 *   listed, checked first and confirmed with a reason (editor/confirm.js; a
 *   stale suggestion answers 412 and the analysis is run again); then the grid
 *   overlays reload ('grids-changed');
 * - downloads of the analysis as GeoJSON and as CSV (for the township's list).
 *
 * Server strings go into the page as text only.
 */

import { button as domButton, el, overlayLabel } from './core/dom.js';
import { isQuiet } from './core/http.js';
import { confirmEdit } from './editor/confirm.js';

const OWNER = 'fusion';

const KINDS = {
  overlap: { label: '重叠 Overlap', color: '#e31a1c' },
  gap: { label: '缝隙 Gap', color: '#1f78b4' },
  sliver: { label: '碎片 Sliver', color: '#ff7f00' },
  outside_parent: { label: '越界 Outside parent', color: '#6a3d9a' },
  misalignment: { label: '错位 Misalignment', color: '#e7298a' },
};
const LIST_LIMIT = 50; // problems listed in the panel; the overlay and the exports carry them all
const TOWNSHIP_LIMIT = 10;
const DEFAULT_LAYERS = ['comprehensive', 'party', 'emergency'];

function kindOf(kind) {
  return KINDS[kind] || { label: String(kind), color: '#636363' };
}

function percent(value) {
  return `${(100 * Number(value || 0)).toFixed(2)}%`;
}

export function install(ctx) {
  const { map, auth } = ctx;
  const apiFetch = ctx.api;
  const overlay = L.featureGroup();
  const state = { report: null, busy: false, epoch: 0 };
  const chosen = new Set(ctx.layers.map((l) => l.code).filter((c) => DEFAULT_LAYERS.includes(c)));

  ctx.layersControl.addOverlay(overlay, overlayLabel('融合问题 Fusion problems', KINDS.misalignment.color));

  const box = el('div', 'gm-fusion');
  const panel = ctx.panels.add('fusion', '多网融合 Multi-net fusion', box);

  function query(format) {
    const params = new URLSearchParams({ layers: Array.from(chosen).join(','), f: format });
    return `/fusion?${params.toString()}`;
  }

  const button = (parent, text, onClick, className) =>
    domButton(parent, text, onClick, className || 'gm-fusion-button', state.busy);

  function render() {
    box.replaceChildren();
    const picks = box.appendChild(el('div', 'gm-fusion-layers'));
    ctx.layers.forEach((layer) => {
      const label = picks.appendChild(el('label', 'gm-fusion-layer'));
      const check = label.appendChild(el('input'));
      check.type = 'checkbox';
      check.checked = chosen.has(layer.code);
      check.addEventListener('change', () => {
        if (check.checked) chosen.add(layer.code);
        else chosen.delete(layer.code);
      });
      label.appendChild(el('span', null, layer.label));
    });
    const actions = box.appendChild(el('div', 'gm-fusion-actions'));
    button(actions, state.busy ? '分析中… Analysing…' : '分析 Analyse', analyse);
    if (state.report) {
      button(actions, 'GeoJSON', () => download('geojson', 'application/geo+json'));
      button(actions, 'CSV', () => download('csv', 'text/csv'));
      renderReport(state.report);
    }
  }

  function renderReport(report) {
    const score = report.score || {};
    box.appendChild(el('div', 'gm-fusion-score',
      `融合度 Score: ${percent(score.area_score)} 面积 area, ${percent(score.household_score)} 户 households`));
    const towns = box.appendChild(el('ol', 'gm-fusion-towns'));
    (report.townships || []).slice(0, TOWNSHIP_LIMIT).forEach((t) => {
      towns.appendChild(el('li', null, `${t.name} ${percent(t.area_score)} · ${t.problems} 处 problems`));
    });
    const problems = report.problems || [];
    box.appendChild(el('div', 'gm-fusion-subtitle',
      problems.length ? `问题 Problems: ${problems.length}` : '没有问题 No problems: the nets agree'));
    const list = box.appendChild(el('ol', 'gm-fusion-list'));
    const fixes = new Map((report.suggestions || []).map((s) => [s.id, s]));
    problems.slice(0, LIST_LIMIT).forEach((p) => {
      const item = list.appendChild(el('li', 'gm-fusion-item'));
      const swatch = item.appendChild(el('span', 'gm-swatch'));
      swatch.style.backgroundColor = kindOf(p.kind).color;
      swatch.style.borderColor = kindOf(p.kind).color;
      const text = `${kindOf(p.kind).label} ${(p.grids || []).join(' / ')} · `
        + `${Math.round(p.area_m2).toLocaleString()} m² · ${p.households} 户`;
      const link = item.appendChild(el('a', 'gm-fusion-link', text));
      link.href = '#';
      link.addEventListener('click', (e) => {
        e.preventDefault();
        zoomTo(p);
      });
      const fix = p.suggestion && fixes.get(p.suggestion);
      if (fix && auth.can('grids:edit')) {
        button(item, '应用 Apply', () => applyFix(fix), 'gm-fusion-apply');
      }
    });
  }

  function zoomTo(problem) {
    if (!problem.geometry) return;
    const shape = L.geoJSON(problem.geometry);
    map.fitBounds(shape.getBounds(), { padding: [40, 40], maxZoom: 17 });
    if (!map.hasLayer(overlay)) map.addLayer(overlay);
  }

  function draw(report) {
    overlay.clearLayers();
    (report.problems || []).forEach((p) => {
      if (!p.geometry) return;
      const color = kindOf(p.kind).color;
      const shape = L.geoJSON(p.geometry, {
        style: { color, weight: 2, fillColor: color, fillOpacity: 0.45 },
      });
      const popup = el('div', 'gm-fusion-popup');
      popup.appendChild(el('strong', null, `${p.rank}. ${kindOf(p.kind).label}`));
      popup.appendChild(el('div', null, (p.grids || []).join(' / ')));
      popup.appendChild(el('div', null, `${Math.round(p.area_m2).toLocaleString()} m², ${p.households} 户 households`));
      if (p.share_area !== undefined) popup.appendChild(el('div', null, `占比 share ${percent(p.share_area)}`));
      shape.bindPopup(popup);
      overlay.addLayer(shape);
    });
  }

  async function analyse() {
    if (state.busy || !chosen.size) return;
    const epoch = state.epoch;
    state.busy = true;
    render();
    try {
      const report = await apiFetch(query('json'));
      if (epoch !== state.epoch) return;
      state.report = report;
      draw(report);
      if (!map.hasLayer(overlay)) map.addLayer(overlay);
    } catch (err) {
      if (epoch === state.epoch) showError(err);
    } finally {
      if (epoch === state.epoch) {
        state.busy = false;
        render();
      }
    }
  }

  // The fix as every grid edit: checked on the server and shown (editor/confirm.js), then the reason, then
  // applied. A stale suggestion (412) is not redone on fresh ETags: the analysis runs again instead.
  async function applyFix(fix) {
    if (state.busy) return;
    const epoch = state.epoch;
    const outcome = await confirmEdit(ctx, {
      title: '应用融合建议 Apply the fusion fix',
      url: `/fusion/suggestions/${encodeURIComponent(fix.id)}/apply`,
      body: {},
      etags: (fix.affected || []).map((a) => a.etag),
      successText: (result) => `${(result.grids || []).map((g) => g.code).join(', ')} · ${result.moved || 0} 迁移 moved`,
      reload: async () => {
        analyse();
        return null;
      },
    });
    if (epoch === state.epoch && outcome.applied) analyse(); // the ranking and the ids change after every edit
  }

  async function download(format, type) {
    try {
      const blob = await apiFetch(query(format), { raw: true, headers: { Accept: type } });
      const link = el('a');
      link.href = URL.createObjectURL(blob);
      link.download = `fusion.${format === 'geojson' ? 'geojson' : 'csv'}`;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (err) {
      showError(err);
    }
  }

  function showError(err) {
    if (isQuiet(err)) return;
    if (err.status === 412) {
      ctx.messages.warning('建议已过期，已重新分析 The suggestion was stale: analysed again', OWNER);
      return;
    }
    ctx.messages.error(`多网融合 Fusion: ${err.message}`, OWNER);
  }

  // A session that ends takes its analysis with it; the panel is for those who edit grids (grids:edit).
  function onAuth(event) {
    state.epoch += 1;
    state.busy = false;
    if (event === 'signout' || event === 'expired') {
      state.report = null;
      overlay.clearLayers();
    }
    if (auth.signedIn() && auth.can('grids:edit')) panel.show();
    else panel.hide();
    render();
  }
  auth.listeners.add(onAuth);
  onAuth('start');
}
