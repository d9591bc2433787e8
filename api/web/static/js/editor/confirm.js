/*
 * editor/confirm.js: one grid edit, run as issue 14 asks: check first, then ask for the reason.
 *
 *   confirmEdit(ctx, {title, method, url, body, etags, describe, container, layers, successText, reload})
 *
 * 1. the dry run (the same request with ?dry_run=true and If-Match): every check of the edit, nothing stored;
 * 2. its answer drawn on the map (editor/preview.js) and listed: the grids written, the pieces cut away,
 *    the table of what moves from which grid to which, by kind (`describe(answer)` may add a line);
 * 3. only then a reason field and an Apply button (disabled until a reason is typed);
 * 4. the real request with If-Match, the reason added to the body;
 * 5. ctx.messages.success (`successText(result)` or a summary) and ctx.emit('grids-changed').
 * A 412 offers "reload the grid and redo": fresh ETags (or `reload()`, which returns them or null to
 * give up), and the dry run again. A 409 draws the conflict in red with its m², says what to correct,
 * and resolves {applied: false, conflict} so the caller's form stays open. Cancel clears the preview.
 * Resolves {applied: true, result} or {applied: false, ...}. One confirmation at a time: a new one
 * cancels the one before. `container` is where the box goes (default: a panel of its own).
 */

import { button, el } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { createPreview, formatArea, movesTable, MOVE_KINDS } from './preview.js';

const OWNER = 'editor';
let preview = null; // one preview layer for the map
let current = null; // the confirmation on screen

export function clearPreview() {
  if (preview) preview.clear();
}

// The current ETag of each grid, read afresh.
export async function freshEtags(ctx, ids) {
  const tags = [];
  for (const id of ids) {
    const fresh = await ctx.api(`/grids/${encodeURIComponent(id)}`, { withEtag: true });
    if (!fresh.etag) throw new Error('服务器未返回 ETag The server sent no ETag');
    tags.push(fresh.etag);
  }
  return tags;
}

// Grid ids named by ETags like "g12v3".
function idsOf(etags) {
  return etags.map((t) => (/g(\d+)v\d+/.exec(t) || [])[1]).filter(Boolean);
}

function withDryRun(url) {
  return `${url}${url.includes('?') ? '&' : '?'}dry_run=true`;
}

// What an answer does, in one line: grids created and changed, codes retired, what moves.
export function summary(answer) {
  const grids = answer.grids || [];
  const parts = [];
  const created = grids.filter((g) => g.new);
  const changed = grids.filter((g) => !g.new);
  if (created.length) parts.push(`新建 new: ${created.map((g) => g.name || g.code).join('、')}`);
  if (changed.length) parts.push(`修改 changed: ${changed.map((g) => g.name || g.code).join('、')}`);
  if ((answer.retired || []).length) parts.push(`撤销 retired: ${answer.retired.join('、')}`);
  const totals = new Map();
  (answer.moves || []).forEach((m) => totals.set(m.kind, (totals.get(m.kind) || 0) + m.count));
  if (totals.size) parts.push(`迁移 moves: ${Array.from(totals, ([k, n]) => `${n} ${MOVE_KINDS[k] || k}`).join('、')}`);
  return parts.join('；') || '无变化 Nothing changes';
}

export function confirmEdit(ctx, options) {
  if (current) current.cancel();
  if (!preview) preview = createPreview(ctx.map);
  const shown = preview;
  const opts = Object.assign({ method: 'POST', body: {}, etags: [] }, options);
  const box = el('div', 'gm-confirm');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', opts.title || '确认 Confirm');
  let panel = null;
  if (opts.container) opts.container.appendChild(box);
  else {
    panel = ctx.panels.add('edit-confirm', opts.title || '确认 Confirm', box);
    panel.show();
  }
  let etags = opts.etags.slice();
  let settled = false;
  let resolveOutcome;
  const outcome = new Promise((resolve) => { resolveOutcome = resolve; });
  const me = { cancel: () => finish({ applied: false, cancelled: true }) };
  current = me;

  // Settles the promise; the box goes too unless it shows a conflict (kept until closed).
  function finish(result, keep) {
    if (!settled) resolveOutcome(result);
    settled = true;
    if (keep) return;
    if (current === me) current = null;
    shown.clear();
    box.remove();
    if (panel) panel.remove();
  }
  const close = () => finish({ applied: false, cancelled: true });

  function status(text, className) {
    box.textContent = '';
    box.appendChild(el('div', 'gm-edit-title', opts.title || ''));
    if (text) box.appendChild(el('div', className || 'gm-edit-hint', text));
  }

  function actions(list) {
    const row = box.appendChild(el('div', 'gm-edit-actions'));
    return list.map(([label, onClick, className]) => button(row, label, onClick, className || 'gm-edit-button'));
  }

  const headers = () => (etags.length ? { 'If-Match': etags.join(', ') } : {});

  async function check() {
    if (settled) return;
    status('正在检查… Checking with the server…', 'gm-edit-hint gm-confirm-checking');
    actions([['取消 Cancel', close]]);
    let answer;
    try {
      answer = await ctx.api(withDryRun(opts.url), { method: opts.method, headers: headers(), json: opts.body });
    } catch (err) {
      failed(err);
      return;
    }
    if (settled) return;
    shown.show(answer);
    review(answer);
  }

  function review(answer) {
    status(summary(answer), 'gm-confirm-summary');
    if (opts.describe) box.appendChild(el('div', 'gm-edit-hint', opts.describe(answer)));
    const list = box.appendChild(el('ul', 'gm-confirm-grids'));
    (answer.grids || []).forEach((g) => list.appendChild(el('li', g.new ? 'gm-confirm-new' : 'gm-confirm-changed',
      `${g.new ? '新 new' : '改 changed'}: ${g.name || ''} ${g.code || ''} · ${formatArea(g.area_m2)}`)));
    (answer.clipped || []).forEach((c) => list.appendChild(el('li', 'gm-confirm-clipped',
      `${c.why === 'parent' ? '裁去上级以外 cut: outside the parent' : '裁去与相邻重叠 cut: on a neighbour'}`
      + ` · ${formatArea(c.area_m2)}`)));
    box.appendChild(movesTable(answer));
    const label = box.appendChild(el('label', 'gm-confirm-reason-label', '原因 Reason'));
    const reason = label.appendChild(el('textarea', 'gm-confirm-reason'));
    reason.rows = 2;
    reason.maxLength = 500;
    const note = box.appendChild(el('div', 'gm-edit-hint gm-confirm-note'));
    const [apply] = actions([['应用 Apply', () => send(reason.value.trim(), note), 'gm-edit-button gm-confirm-apply'],
      ['取消 Cancel', close]]);
    apply.disabled = true;
    reason.addEventListener('input', () => { apply.disabled = !reason.value.trim(); });
    reason.focus();
  }

  async function send(reason, note) {
    if (!reason || settled) return;
    box.querySelectorAll('button, textarea').forEach((n) => { n.disabled = true; });
    note.textContent = '正在应用… Applying…';
    let result;
    try {
      result = await ctx.api(opts.url, { method: opts.method, headers: headers(),
        json: Object.assign({}, opts.body, { reason }) });
    } catch (err) {
      failed(err);
      return;
    }
    const codes = [...(result.grids || []).map((g) => g.code), ...(result.retired || [])].filter(Boolean);
    const text = (opts.successText && opts.successText(result)) || summary(result);
    ctx.messages.success(`${opts.title ? `${opts.title}：` : ''}${text}`, OWNER);
    finish({ applied: true, result });
    ctx.emit('grids-changed', { codes, layers: opts.layers });
  }

  function failed(err) {
    if (settled) return;
    if (isQuiet(err)) {
      finish({ applied: false, error: err });
      return;
    }
    const problem = (err && err.problem) || {};
    const detail = problem.detail || (err && err.message) || String(err);
    if (err.status === 412) {
      status(`该网格已被他人修改 The grid was changed meanwhile: ${detail}`, 'gm-edit-hint gm-confirm-stale');
      actions([['重新加载并重做 Reload the grid and redo', reloadAndRedo, 'gm-edit-button gm-confirm-reload'],
        ['取消 Cancel', close]]);
      ctx.messages.warning('该网格已被他人修改 The grid was changed by someone else: reload and redo', OWNER);
      return;
    }
    if (err.status === 409) {
      const labels = shown.conflicts(problem);
      status(`冲突 Conflict: ${detail}`, 'gm-edit-hint gm-confirm-conflict');
      const list = box.appendChild(el('ul', 'gm-confirm-conflicts'));
      labels.forEach((label) => list.appendChild(el('li', null, label)));
      box.appendChild(el('div', 'gm-edit-hint', '请修改后再检查 Correct the edit and check again'));
      actions([['关闭 Close', close]]);
      ctx.messages.error(`${detail}${labels.length ? ` — ${labels.join('；')}` : ''}`, OWNER);
      finish({ applied: false, conflict: problem }, true);
      return;
    }
    ctx.messages.error(`编辑失败 Edit failed: ${detail}`, OWNER);
    finish({ applied: false, error: err });
  }

  async function reloadAndRedo() {
    status('正在重新加载… Reloading the grid…');
    try {
      etags = opts.reload ? await opts.reload() : await freshEtags(ctx, idsOf(etags));
    } catch (err) {
      failed(err);
      return;
    }
    if (!etags) {
      close();
      return;
    }
    ctx.emit('grids-changed', { codes: [], layers: opts.layers });
    ctx.messages.clear(OWNER);
    check();
  }

  check();
  return outcome;
}
