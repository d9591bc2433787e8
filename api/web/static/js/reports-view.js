/*
 * reports-view.js: what the reports panel (reports.js) shows: the two lists, a report's
 * details and transitions, the actions the user may take, and the form of the open action.
 * It only renders `rp.state` into `rp.box` and wires the buttons to rp's handlers.
 */

import { el, formatTime, isBlank } from './core/dom.js';
import { photoStrip } from './photos-view.js';
import { ACTIONS, ASSIGNEE_KINDS, OPEN_STATUSES, hoursPast, mayTake, statusLabel, stepLabel } from './reports-model.js';

export function render(rp) {
  const { box, state } = rp;
  box.replaceChildren();
  if (state.detailId !== null) renderDetail(rp);
  else renderList(rp);
}

function renderList(rp) {
  const { ctx, state, box, button, categoryLabel, can, switchView, loadList, openEvent, closeEvent, openForm, closeForm, perform } = rp;
  const tabs = box.appendChild(el('div', 'gm-events-tabs'));
  [['overdue', '超期 Overdue'], ['open', '我的辖区 Open in my territory']].forEach(([view, text]) => {
    const b = button(tabs, text, () => switchView(view), 'gm-events-tab', state.listBusy);
    if (state.view === view) b.classList.add('gm-events-tab-on');
  });
  const bar = box.appendChild(el('div', 'gm-events-bar'));
  if (state.view === 'open') {
    const select = bar.appendChild(el('select', 'gm-events-status'));
    select.setAttribute('aria-label', '状态 Status');
    OPEN_STATUSES.forEach((s) => {
      const option = select.appendChild(el('option', null, statusLabel(s)));
      option.value = s;
    });
    select.value = state.status;
    select.disabled = state.listBusy;
    select.addEventListener('change', () => {
      state.status = select.value;
      loadList();
    });
  }
  button(bar, state.listBusy ? '加载中… Loading…' : '刷新 Refresh', loadList, 'gm-events-button', state.listBusy);
  if (state.listError) box.appendChild(el('div', 'gm-events-error', state.listError));
  const list = state.list;
  if (!list) return;
  const shown = list.items.length;
  let summary;
  if (!shown) summary = state.view === 'overdue' ? '没有超期事件 No overdue reports' : '没有事件 No reports';
  else if (list.total !== null && list.total > shown) summary = `显示 ${shown} / 共 ${list.total} Showing ${shown} of ${list.total}`;
  else if (list.more) summary = `显示前 ${shown} 条 Showing the first ${shown}`;
  else summary = `共 ${shown} 条 ${shown} reports`;
  box.appendChild(el('div', 'gm-events-summary', summary));
  const ol = box.appendChild(el('ol', 'gm-events-list'));
  list.items.forEach((item) => {
    const li = ol.appendChild(el('li', 'gm-events-item'));
    const link = li.appendChild(el('a', 'gm-events-link', `#${item.id} ${categoryLabel(item.category)}`));
    link.href = '#';
    link.addEventListener('click', (e) => {
      e.preventDefault();
      openEvent(item.id, item);
    });
    li.appendChild(el('span', 'gm-events-meta', ` · ${statusLabel(item.status)}`));
    if (item.hours !== null) li.appendChild(el('span', 'gm-events-late', ` · 超期 ${item.hours} h overdue`));
  });
}

function renderDetail(rp) {
  const { ctx, state, box, button, categoryLabel, can, switchView, loadList, openEvent, closeEvent, openForm, closeForm, perform } = rp;
  const back = box.appendChild(el('div', 'gm-events-bar'));
  button(back, '← 列表 List', closeEvent, 'gm-events-button', state.actionBusy);
  button(back, '刷新 Refresh', () => openEvent(state.detailId), 'gm-events-button',
    state.detailBusy || state.actionBusy);
  if (state.detailError) box.appendChild(el('div', 'gm-events-error', state.detailError));
  const d = state.detail;
  if (!d) {
    if (state.detailBusy) box.appendChild(el('div', 'gm-events-summary', '加载中… Loading…'));
    return;
  }
  const category = d.category || {};
  box.appendChild(el('div', 'gm-events-subtitle', `#${d.id} ${categoryLabel(category.code, category.name)}`));
  const table = box.appendChild(el('table', 'gm-props gm-events-props'));
  const row = (label, text, className) => {
    const tr = table.appendChild(el('tr'));
    tr.appendChild(el('th', null, label));
    const td = tr.appendChild(el('td', className, text));
    return td;
  };
  row('状态 Status', statusLabel(d.status));
  const late = d.overdue ? hoursPast(d.due_at) : null;
  row('期限 Deadline', formatTime(d.due_at)
    + (d.overdue ? ` · 超期 overdue${late !== null ? ` ${late} h` : ''}` : ''), d.overdue ? 'gm-events-late' : null);
  row('上报 Reported', formatTime(d.reported_at));
  // In the map's layer order and with its labels; a layer the map does not show goes last, by code.
  const memberships = Object.entries(d.grids || {});
  const label = (code) => (ctx.layers.find((l) => l.code === code) || { label: code }).label;
  const rank = (code) => {
    const i = ctx.layers.findIndex((l) => l.code === code);
    return i < 0 ? ctx.layers.length : i;
  };
  const grids = memberships.sort(([a], [b]) => rank(a) - rank(b)).map(([code, grid]) => `${label(code)}: ${grid}`);
  row('网格 Grids', grids.length ? grids.join('\n') : '—', 'gm-events-grids');
  row('承办 Assignee', assigneeText(d.assignee));
  if (!isBlank(d.escalated_to)) row('吹哨 Escalated to', d.escalated_to);
  if (!isBlank(d.duplicate_of)) row('重复于 Duplicate of', `#${d.duplicate_of}`);
  if (!isBlank(d.description)) row('描述 Description', d.description);
  if (d.location && !isBlank(d.location.address)) row('地址 Address', d.location.address);
  box.appendChild(photoStrip(ctx, d.id));
  const rerender = () => render(rp);
  ((ctx.reports && ctx.reports.detailExtras) || []).forEach((extra) => extra(d, box, rerender));

  box.appendChild(el('div', 'gm-events-subtitle', '流转 Transitions'));
  const steps = box.appendChild(el('ol', 'gm-events-steps'));
  (d.transitions || []).forEach((t) => {
    const li = steps.appendChild(el('li', 'gm-events-step'));
    li.appendChild(el('span', 'gm-events-step-action', stepLabel(t.action)));
    li.appendChild(el('span', 'gm-events-meta',
      `${t.from && t.from !== t.to ? ` ${statusLabel(t.from)} → ${statusLabel(t.to)}` : ''} · ${t.actor || '—'}`
      + ` · ${formatTime(t.at)}`));
    if (!isBlank(t.note)) li.appendChild(el('div', 'gm-events-note', t.note));
  });

  renderActions(rp, d);
}

function assigneeText(a) {
  if (!a) return '—';
  const who = a.name || a.code || (isBlank(a.id) ? '' : `#${a.id}`);
  return `${who} (${ASSIGNEE_KINDS[a.kind] || a.kind})`;
}

function renderActions(rp, d) {
  const { ctx, state, box, button, categoryLabel, can, switchView, loadList, openEvent, closeEvent, openForm, closeForm, perform } = rp;
  const allowed = (d.allowed_actions || []).filter((a) => ACTIONS[a]);
  const mine = allowed.filter((a) => mayTake(can, a, d));
  if (!allowed.length) return;
  if (!mine.length) {
    box.appendChild(el('div', 'gm-events-summary', '您的角色无可执行操作 No actions for your role'));
    return;
  }
  const bar = box.appendChild(el('div', 'gm-events-actions'));
  mine.forEach((name) => {
    const b = button(bar, ACTIONS[name].label, () => openForm(name), 'gm-events-action',
      state.actionBusy || state.detailBusy);
    if (state.action === name) b.classList.add('gm-events-tab-on');
  });
  if (state.action) renderForm(rp, state.action);
  else if (state.actionError) box.appendChild(el('div', 'gm-events-error', state.actionError));
}

function renderForm(rp, name) {
  const { ctx, state, box, button, categoryLabel, can, switchView, loadList, openEvent, closeEvent, openForm, closeForm, perform } = rp;
  const spec = ACTIONS[name];
  const form = box.appendChild(el('form', 'gm-events-form'));
  form.noValidate = true;
  form.appendChild(el('div', 'gm-events-form-title', spec.label));
  const choices = state.choices || {};

  function selectField(label, key, options, emptyText) {
    const wrap = form.appendChild(el('label', 'gm-events-field'));
    wrap.appendChild(el('span', null, label));
    const select = wrap.appendChild(el('select'));
    if (emptyText !== null) {
      const empty = select.appendChild(el('option', null, emptyText));
      empty.value = '';
    }
    options.forEach(([value, text]) => {
      const option = select.appendChild(el('option', null, text));
      option.value = String(value);
    });
    select.value = state.form[key] || '';
    if (select.value !== (state.form[key] || '')) state.form[key] = select.value;
    select.addEventListener('change', () => {
      state.form[key] = select.value;
    });
    return select;
  }

  if (!state.choices && (spec.department || spec.duplicateOf || spec.handler)) {
    form.appendChild(el('div', 'gm-events-summary', '加载选项… Loading choices…'));
  }
  if (spec.department && choices.departments) {
    selectField('部门 Department', 'department', choices.departments.map((p) => [p.code, `${p.name} (${p.code})`]),
      '— 请选择 choose —');
  }
  if (spec.handler && choices.departments) {
    const options = [];
    (choices.staff || []).forEach((s) => options.push([`staff:${s.id}`, `${s.name} (${s.role || '人员 staff'})`]));
    choices.departments.forEach((p) => options.push([`dep:${p.code}`, `${p.name} (${p.code})`]));
    selectField('承办 Handler', 'handler', options, '默认 Default: the category\'s handler');
  }
  if (spec.duplicateOf && choices.duplicates) {
    const dups = choices.duplicates;
    if (dups.length) {
      selectField('原事件 Original report', 'duplicateOf', dups.map((o) => [o.id,
        `#${o.id} ${categoryLabel(o.category)} · ${statusLabel(o.status)} · ${Math.round(o.distance_m)} m`]),
      '— 请选择 choose —');
    } else {
      form.appendChild(el('div', 'gm-events-summary', '附近没有可能重复的事件 No possible originals nearby'));
    }
  }
  const noteWrap = form.appendChild(el('label', 'gm-events-field'));
  noteWrap.appendChild(el('span', null, spec.noteRequired ? '说明 Note (必填 required)' : '说明 Note (可选 optional)'));
  const note = noteWrap.appendChild(el('textarea', 'gm-events-note-input'));
  note.rows = 2;
  note.maxLength = 2000;
  note.value = state.form.note || '';
  note.addEventListener('input', () => {
    state.form.note = note.value;
  });
  const extra = ctx.reports && ctx.reports.formExtras[name];
  if (extra) extra(form, state.form, () => render(rp));
  if (state.actionError) form.appendChild(el('div', 'gm-events-error', state.actionError));
  const bar = form.appendChild(el('div', 'gm-events-bar'));
  const submit = bar.appendChild(el('button', 'gm-events-button gm-events-confirm',
    state.actionBusy ? '提交中… Sending…' : '确认 Confirm'));
  submit.type = 'submit';
  submit.disabled = state.actionBusy;
  button(bar, '取消 Cancel', closeForm, 'gm-events-button', state.actionBusy);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    perform(name);
  });
}
