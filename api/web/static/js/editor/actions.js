/*
 * editor/actions.js: the edits a planner starts from the editing panel, as today:
 * rename, split along a drawn line, balanced split (the server's suggestion),
 * merge with a neighbour, retire. Names and reasons are still asked with
 * prompt()/confirm() (the forms replace them next); every edit goes through
 * runWrite (editor/write.js).
 */

import { el, isBlank } from '../core/dom.js';
import { OWNER, runWrite, showError } from './write.js';

export const SELECTED_STYLE = { color: '#ffb000', weight: 4, opacity: 1, fill: false };
const DRAW_STYLE = { color: '#c51b8a', weight: 3, opacity: 1 };
const RUBBER_STYLE = { color: '#c51b8a', weight: 2, opacity: 0.7, dashArray: '4 6' };
const SUGGEST_STYLE = {
  color: '#6a3d9a', weight: 3, opacity: 1, dashArray: '8 6', fillColor: '#6a3d9a', fillOpacity: 0.08,
};

export function gridId(feature) {
  const p = (feature && feature.properties) || {};
  return isBlank(p.id) ? feature.id : p.id;
}

function gridTitle(feature) {
  const p = (feature && feature.properties) || {};
  return [p.name, isBlank(p.code) ? '' : `(${p.code})`].filter((v) => !isBlank(v)).join(' ') || `#${gridId(feature)}`;
}

export function suggestionLabel(feature) {
  const p = feature.properties || {};
  const area = Number.isFinite(p.area_m2) ? `${Math.round(p.area_m2).toLocaleString('zh-CN')} m²` : '';
  const part = isBlank(p.part) ? '—' : String(p.part);
  const households = isBlank(p.households) ? '—' : String(p.households);
  return `${part}: ${households} 户 households${area ? ` · ${area}` : ''}`;
}

// prompt() that insists on a non-empty answer; null when cancelled.
function askText(question, initial) {
  for (;;) {
    const answer = window.prompt(question, initial || '');
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

// ------------------------------------------------------------ split along a line

export function redrawLine(ed, cursor) {
  const { drawing, state } = ed;
  drawing.clearLayers();
  const pts = state.points.slice();
  if (pts.length) {
    L.polyline(pts, Object.assign({ interactive: false }, DRAW_STYLE)).addTo(drawing);
    pts.forEach((p) => L.circleMarker(p, {
      interactive: false, radius: 3, color: DRAW_STYLE.color, fillOpacity: 1,
    }).addTo(drawing));
  }
  if (cursor && pts.length) {
    L.polyline([pts[pts.length - 1], cursor], Object.assign({ interactive: false }, RUBBER_STYLE)).addTo(drawing);
  }
}

export function addPoint(ed, latlng) {
  const { map, state } = ed;
  const last = state.points[state.points.length - 1];
  // The two clicks of a double-click land on the same spot.
  if (last && map.latLngToContainerPoint(last).distanceTo(map.latLngToContainerPoint(latlng)) < 4) return;
  state.points.push(latlng);
  redrawLine(ed, null);
  ed.render();
}

export function startSplit(ed) {
  ed.clearDrawing();
  ed.state.mode = 'split';
  ed.dblZoomWas = ed.map.doubleClickZoom.enabled();
  ed.map.doubleClickZoom.disable();
  ed.render();
}

export function finishLine(ed) {
  const { ctx, state } = ed;
  if (state.mode !== 'split' || state.busy) return;
  if (state.points.length < 2) {
    ctx.messages.warning('至少需要两个点 Draw at least two points', OWNER);
    return;
  }
  const sel = state.selected;
  const line = lineGeometry(state.points);
  const reason = askReason('画线拆分 Split');
  if (reason === null) return;
  runWrite(ed, 'split', sel, [sel.id], (ifMatch) => ctx.api(`/grids/${encodeURIComponent(sel.id)}/split`, {
    method: 'POST', headers: { 'If-Match': ifMatch }, json: { line, reason },
  }));
}

// ------------------------------------------------------------ balanced split

export async function startSuggest(ed) {
  const { ctx, state } = ed;
  const sel = state.selected;
  const answer = window.prompt('拆分为几个部分 (2–10)？ Number of parts (2–10)', '2');
  if (answer === null) return;
  const parts = Number(answer.trim());
  if (!Number.isInteger(parts) || parts < 2 || parts > 10) {
    ctx.messages.warning('请输入 2 到 10 之间的整数 Enter a whole number from 2 to 10', OWNER);
    return;
  }
  const epoch = state.epoch;
  state.busy = true;
  ed.render();
  try {
    const fc = await ctx.api(`/grids/${encodeURIComponent(sel.id)}/split-suggestion?parts=${parts}`);
    if (epoch !== state.epoch || state.selected !== sel) return;
    ed.clearDrawing();
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
    }).addTo(ed.drawing);
  } catch (err) {
    if (epoch === state.epoch) showError(ed, err);
  } finally {
    if (epoch === state.epoch) {
      state.busy = false;
      ed.render();
    }
  }
}

export function applySuggestion(ed) {
  const { ctx, state } = ed;
  const sel = state.selected;
  const features = (state.suggestion && state.suggestion.features) || [];
  if (state.mode !== 'suggest' || features.length < 2) return;
  const reason = askReason('均衡拆分 Balanced split');
  if (reason === null) return;
  const parts = features.map((f) => f.geometry);
  runWrite(ed, 'split', sel, [sel.id], (ifMatch) => ctx.api(`/grids/${encodeURIComponent(sel.id)}/partition`, {
    method: 'POST', headers: { 'If-Match': ifMatch }, json: { parts, reason },
  }));
}

// ------------------------------------------------------------ merge, rename, retire

export function startMerge(ed) {
  ed.clearDrawing();
  ed.state.mode = 'merge';
  ed.render();
}

export function pickMergePartner(ed, feature, layer) {
  const { ctx, state } = ed;
  const sel = state.selected;
  const other = gridId(feature);
  if (String(other) === String(sel.id)) return;
  if (layer.code !== sel.layer.code) {
    ctx.messages.warning('只能合并同一图层的网格 Only grids of the same layer can be merged', OWNER);
    return;
  }
  ed.highlight.addLayer(L.geoJSON(feature.geometry, { interactive: false, style: () => SELECTED_STYLE }));
  const ok = window.confirm(`合并 Merge ${gridTitle(sel.feature)} + ${gridTitle(feature)}？`);
  if (!ok) {
    ed.select(sel);
    return;
  }
  const name = window.prompt('合并后的名称（留空保留原名） Name of the merged grid (empty keeps one)',
    sel.feature.properties.name || '');
  if (name === null) {
    ed.select(sel);
    return;
  }
  const reason = askReason('合并 Merge');
  if (reason === null) {
    ed.select(sel);
    return;
  }
  const body = { grids: [Number(sel.id), Number(other)], reason };
  if (name.trim()) body.name = name.trim();
  runWrite(ed, 'merge', sel, [sel.id, other], (ifMatch) => ctx.api('/grids/merge', {
    method: 'POST', headers: { 'If-Match': ifMatch }, json: body,
  }));
}

export function rename(ed) {
  const { ctx, state } = ed;
  const sel = state.selected;
  const name = askText('新名称 New name', sel.feature.properties.name || '');
  if (name === null) return;
  const reason = askReason('重命名 Rename');
  if (reason === null) return;
  runWrite(ed, 'rename', sel, [sel.id], (ifMatch) => ctx.api(`/grids/${encodeURIComponent(sel.id)}`, {
    method: 'PATCH', headers: { 'If-Match': ifMatch }, json: { name, reason },
  }));
}

export function retire(ed) {
  const { ctx, state } = ed;
  const sel = state.selected;
  if (!window.confirm(`撤销网格 Retire ${gridTitle(sel.feature)}？相邻网格将接收其区域 A neighbour takes its area`)) {
    return;
  }
  const reason = askReason('撤销网格 Retire');
  if (reason === null) return;
  runWrite(ed, 'retire', sel, [sel.id], (ifMatch) => ctx.api(`/grids/${encodeURIComponent(sel.id)}/retire`, {
    method: 'POST', headers: { 'If-Match': ifMatch }, json: { reason },
  }));
}
