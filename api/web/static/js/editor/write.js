/*
 * editor/write.js: sending a grid edit, and what the editor says about the answer.
 *
 * runWrite fetches every grid afresh for its ETag (so the edit is made on the
 * version the server has now, and a concurrent change answers 412), sends the
 * edit with If-Match, says what happened (ctx.messages, owner 'editor') and
 * announces 'grids-changed' so the overlays reload. A 409's conflicts and the
 * part outside the parent are drawn in red until dismissed.
 */

import { formatValue } from '../core/dom.js';
import { HttpError, isQuiet } from '../core/http.js';

export const OWNER = 'editor';
const CONFLICT_STYLE = { color: '#e31a1c', weight: 3, opacity: 1, fillColor: '#e31a1c', fillOpacity: 0.35 };
const MOVE_KINDS = {
  household: '户 households', camera: '摄像头 cameras', event: '事件 events', staff: '人员 staff',
};
const STALE_TEXT = '该网格已被他人修改，请重新加载后再试 '
  + 'The grid was changed by someone else: reload it (select it again) and retry';

// A short line about a successful edit, from the API's answer.
export function editSummary(kind, result) {
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

// The grid codes an edit's answer wrote or retired, for 'grids-changed'.
function writtenCodes(result) {
  const grids = (result && Array.isArray(result.grids)) ? result.grids : [];
  const retired = (result && Array.isArray(result.retired)) ? result.retired : [];
  return grids.map((g) => g && g.code).filter(Boolean).concat(retired);
}

// ed: the editor (editor/index.js). send(ifMatch) makes the request and returns its answer.
export async function runWrite(ed, kind, sel, ids, send) {
  const { ctx, state } = ed;
  if (state.busy) return;
  const epoch = state.epoch;
  state.busy = true;
  ed.render();
  try {
    const tags = [];
    for (const id of ids) {
      const fresh = await ctx.api(`/grids/${encodeURIComponent(id)}`, { withEtag: true });
      if (!fresh.etag) throw new HttpError('服务器未返回 ETag The server sent no ETag');
      tags.push(fresh.etag);
    }
    if (epoch !== state.epoch) return;
    const result = await send(tags.join(', '));
    if (epoch !== state.epoch) return;
    ed.conflicts.clearLayers();
    ctx.messages.success(editSummary(kind, result) || '已保存 Saved', OWNER);
    ed.select(null);
    ctx.emit('grids-changed', { codes: writtenCodes(result), layers: [sel.layer.code] });
  } catch (err) {
    if (epoch !== state.epoch) return;
    showError(ed, err);
    if (err.status === 412) {
      ed.select(null); // the next selection brings the current version
      ctx.emit('grids-changed', { codes: [], layers: [sel.layer.code] });
    }
  } finally {
    if (epoch === state.epoch) {
      state.busy = false;
      ed.render();
    }
  }
}

export function showError(ed, err) {
  if (isQuiet(err)) return;
  if (err.status === 412) {
    ed.ctx.messages.warning(STALE_TEXT, OWNER);
    return;
  }
  const problem = err.problem || {};
  let text = err.message;
  if (err.status === 409) {
    const found = drawConflicts(ed, problem);
    if (found) text += ` — 冲突 conflicts: ${found}`;
  }
  ed.ctx.messages.error(`编辑失败 Edit failed: ${text}`, OWNER);
}

// Red shapes for a 409's conflicts/outside, until dismissed.
function drawConflicts(ed, problem) {
  const { map, conflicts } = ed;
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
  ed.render();
  return names.join(', ');
}
