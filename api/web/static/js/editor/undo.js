/*
 * editor/undo.js: "撤销上一次编辑 Undo last edit" for planners (permission grids:edit).
 *
 * The panel "撤销 Undo" shows the planner's last edit (GET /grids/edits?mine=true&limit=1) and a
 * button to undo it, disabled with the server's reason when it may not be undone (someone edited
 * those grids since, it was undone already, ...). Undoing checks first and asks after, as every
 * edit (docs/web.md): a dry run (POST /grids/edits/{id}/undo?dry_run=true) draws what would come
 * back (green) and what would go (red) and says what would move; only then is the reason asked
 * and the undo applied. The answer is a message (success or error, owner 'undo') and
 * 'grids-changed', so the overlays reload. For the grid selected in the editor the panel also
 * offers its history (editor/history.js, ctx.history).
 */

import { el, button, formatTime } from '../core/dom.js';
import { isQuiet } from '../core/http.js';

const OWNER = 'undo';
const PERMISSION = 'grids:edit';
const BACK_STYLE = { color: '#1a9850', weight: 3, opacity: 1, fillColor: '#1a9850', fillOpacity: 0.2 };
const GONE_STYLE = { color: '#e31a1c', weight: 2, opacity: 1, dashArray: '4 4', fill: false };
const KINDS = { household: '户 households', camera: '摄像头 cameras', event: '事件 events', staff: '人员 staff' };
const OPERATIONS = {
  create: '新建 create', reshape: '修改边界 reshape', update: '修改属性 rename', split: '拆分 split',
  merge: '合并 merge', retire: '撤销网格 retire', regroup: '融合调整 regroup', undo: '撤回 undo',
};

function describe(edit) {
  const codes = edit.grids.map((g) => g.code).join(', ');
  return `#${edit.id} ${OPERATIONS[edit.operation] || edit.operation} · ${codes} · ${formatTime(edit.at)}`;
}

function movesText(preview) {
  const lines = (preview.moves || []).filter((m) => m.count).map((m) => {
    const from = m.from_name || m.from || '—';
    const to = m.to_name || m.to || '—';
    return `${m.count} ${KINDS[m.kind] || m.kind}: ${from} → ${to}`;
  });
  return lines.length ? lines : ['无迁移 nothing moves'];
}

export function install(ctx) {
  const { map, auth } = ctx;
  const box = el('div', 'gm-edit-panel gm-undo');
  box.setAttribute('aria-label', '撤销 Undo');
  const panel = ctx.panels.add('undo', '撤销 Undo', box);
  const preview = L.featureGroup().addTo(map);
  const state = { enabled: false, last: null, busy: false, checked: null, selected: null, epoch: 0 };

  function allowed() {
    const user = auth.user();
    return !!(auth.signedIn() && user && Array.isArray(user.permissions) && user.permissions.includes(PERMISSION));
  }

  function render() {
    box.textContent = '';
    if (!state.enabled) {
      panel.hide();
      return;
    }
    panel.show();
    const last = state.last;
    box.appendChild(el('div', 'gm-edit-hint', last ? `上一次编辑 Last edit: ${describe(last)}` : '还没有编辑 No edits yet'));
    if (state.checked) {
      renderCheck();
    } else {
      const row = box.appendChild(el('div', 'gm-edit-actions'));
      const b = button(row, '撤销上一次编辑 Undo last edit', check, 'gm-edit-button gm-undo-button',
        state.busy || !last || !last.undoable);
      if (last && !last.undoable) {
        b.title = last.why_not || '';
        box.appendChild(el('div', 'gm-edit-hint gm-undo-why', `不能撤销 Cannot undo: ${last.why_not}`));
      }
      button(row, '刷新 Refresh', refresh, 'gm-edit-button', state.busy);
    }
    if (state.selected && ctx.history) {
      const row = box.appendChild(el('div', 'gm-edit-actions'));
      const s = state.selected;
      button(row, `历史 History: ${s.code}`, () => ctx.history.open(s.id), 'gm-edit-button gm-undo-history');
    }
  }

  // The dry run's answer, then the reason and the real request.
  function renderCheck() {
    const c = state.checked;
    const summary = box.appendChild(el('div', 'gm-undo-preview'));
    const back = c.grids.map((g) => `${g.name || ''} ${g.code || '(新 new)'}`.trim());
    if (back.length) summary.appendChild(el('div', 'gm-undo-back', `恢复 Comes back: ${back.join('、')}`));
    if (c.retired.length) summary.appendChild(el('div', 'gm-undo-gone', `撤销 Goes: ${c.retired.join('、')}`));
    movesText(c).forEach((line) => summary.appendChild(el('div', 'gm-undo-move', line)));
    const label = box.appendChild(el('label', 'gm-undo-reason-label', '原因 Reason'));
    const reason = label.appendChild(el('input', 'gm-undo-reason'));
    reason.type = 'text';
    reason.maxLength = 500;
    reason.name = 'reason';
    const row = box.appendChild(el('div', 'gm-edit-actions'));
    button(row, '确认撤销 Confirm undo', () => apply(reason.value.trim()),
      'gm-edit-button gm-edit-danger gm-undo-confirm', state.busy);
    button(row, '取消 Cancel', cancel, 'gm-edit-button', state.busy);
    setTimeout(() => reason.focus(), 0);
  }

  function cancel() {
    preview.clearLayers();
    state.checked = null;
    render();
  }

  async function refresh() {
    const epoch = ++state.epoch;
    state.enabled = allowed();
    if (!state.enabled) {
      state.last = null;
      cancel();
      return;
    }
    try {
      const edits = await ctx.api('/grids/edits?mine=true&limit=1');
      if (epoch !== state.epoch) return;
      state.last = edits && edits.length ? edits[0] : null;
    } catch (err) {
      if (isQuiet(err) || epoch !== state.epoch) return;
      ctx.messages.error(`撤销 Undo: ${err.message}`, OWNER);
    }
    render();
  }

  // Grids the dry run would bring back, from its shapes; the ones it would retire are still on the map.
  function drawPreview(answer) {
    preview.clearLayers();
    answer.grids.forEach((g) => L.geoJSON(g.geometry, { interactive: false, style: () => BACK_STYLE }).addTo(preview));
    const gone = new Set(answer.retired);
    (ctx.grids || []).forEach((overlay) => overlay.group.eachLayer(function visit(layer) {
      if (layer.eachLayer) {
        layer.eachLayer(visit);
        return;
      }
      const f = layer.feature;
      if (f && f.properties && gone.has(f.properties.code)) {
        L.geoJSON(f.geometry, { interactive: false, style: () => GONE_STYLE }).addTo(preview);
      }
    }));
    if (preview.getLayers().length && preview.getBounds().isValid()) {
      map.fitBounds(preview.getBounds(), { maxZoom: 17, animate: false });
    }
  }

  async function send(dryRun, reason) {
    const query = dryRun ? '?dry_run=true' : '';
    return ctx.api(`/grids/edits/${encodeURIComponent(state.last.id)}/undo${query}`,
      { method: 'POST', json: { reason: reason || '' } });
  }

  async function check() {
    if (state.busy || !state.last) return;
    state.busy = true;
    render();
    try {
      const answer = await send(true);
      state.checked = answer;
      drawPreview(answer);
      ctx.messages.clear(OWNER);
    } catch (err) {
      if (!isQuiet(err)) ctx.messages.error(`不能撤销 Cannot undo: ${err.message}`, OWNER);
      await refresh();
    } finally {
      state.busy = false;
      render();
    }
  }

  async function apply(reason) {
    if (state.busy || !state.checked) return;
    state.busy = true;
    render();
    try {
      const result = await send(false, reason);
      const codes = result.grids.map((g) => g.code).concat(result.retired);
      ctx.messages.success(`已撤销编辑 #${result.undone} Undone: ${codes.join(', ')}; 迁移 moved ${result.moved}`,
        OWNER);
      preview.clearLayers();
      state.checked = null;
      ctx.emit('grids-changed', { codes });
    } catch (err) {
      if (!isQuiet(err)) ctx.messages.error(`不能撤销 Cannot undo: ${err.message}`, OWNER);
      preview.clearLayers();
      state.checked = null;
    } finally {
      state.busy = false;
      await refresh();
    }
  }

  ctx.on('grid-selected', (detail) => {
    const f = detail && detail.feature;
    const p = (f && f.properties) || {};
    state.selected = f ? { id: p.id === undefined ? f.id : p.id, code: p.code } : null;
    render();
  });
  ctx.on('grids-changed', () => refresh());
  auth.listeners.add((event) => {
    if (event === 'signout' || event === 'expired') state.selected = null;
    refresh();
  });
  refresh();
}
