/*
 * editor/undo.js: "撤销上一次编辑 Undo last edit" for planners (permission grids:edit).
 *
 * The panel "撤销 Undo" shows the planner's last edit (GET /grids/edits?mine=true&limit=1) and a
 * button to undo it, disabled with the server's reason when it may not be undone (someone edited
 * those grids since, it was undone already, ...). Undoing goes through editor/confirm.js as every
 * edit (docs/web.md): the dry run (POST /grids/edits/{id}/undo?dry_run=true) drawn on the map with
 * what would move, then the reason, then the undo, its message and 'grids-changed'. No If-Match:
 * the edit log knows the versions. For the grid selected in the editor the panel also offers its
 * history (editor/history.js, ctx.history).
 */

import { el, button, formatTime } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { confirmEdit } from './confirm.js';

const OWNER = 'undo';
const PERMISSION = 'grids:edit';
const OPERATIONS = {
  create: '新建 create', reshape: '修改边界 reshape', update: '修改属性 rename', split: '拆分 split',
  merge: '合并 merge', retire: '撤销网格 retire', regroup: '融合调整 regroup', undo: '撤回 undo',
};

function describe(edit) {
  const codes = edit.grids.map((g) => g.code).join(', ');
  return `#${edit.id} ${OPERATIONS[edit.operation] || edit.operation} · ${codes} · ${formatTime(edit.at)}`;
}

export function install(ctx) {
  const { auth } = ctx;
  const box = el('div', 'gm-edit-panel gm-undo');
  box.setAttribute('aria-label', '撤销 Undo');
  const panel = ctx.panels.add('undo', '撤销 Undo', box);
  const state = { enabled: false, last: null, busy: false, checking: false, selected: null, epoch: 0 };
  const confirmBox = el('div', 'gm-undo-confirm-box'); // editor/confirm.js puts its box here

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
    if (state.checking) {
      box.appendChild(confirmBox);
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

  async function refresh() {
    const epoch = ++state.epoch;
    state.enabled = allowed();
    if (!state.enabled) {
      state.last = null;
      render();
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

  // Dry run, preview, reason, undo: editor/confirm.js; the panel shows its box meanwhile.
  async function check() {
    if (state.busy || !state.last) return;
    const edit = state.last;
    state.busy = true;
    state.checking = true;
    confirmBox.textContent = '';
    render();
    try {
      await confirmEdit(ctx, {
        title: `撤销编辑 Undo edit #${edit.id}`,
        method: 'POST',
        url: `/grids/edits/${encodeURIComponent(edit.id)}/undo`,
        body: {},
        etags: [],
        container: confirmBox,
        successText: (result) => `已撤销编辑 #${result.undone} undone; 迁移 moved ${result.moved}`,
      });
    } catch (err) {
      if (!isQuiet(err)) ctx.messages.error(`不能撤销 Cannot undo: ${err.message}`, OWNER);
    } finally {
      state.busy = false;
      state.checking = false;
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
