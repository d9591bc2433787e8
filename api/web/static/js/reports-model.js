/*
 * reports-model.js: the closed loop's 闭环 vocabulary for reports.js: statuses, actions (with
 * the permission each needs and what its form asks for), labels, and the server's refusals
 * in its own words.
 */

import { isBlank } from './core/dom.js';

// The loop's states, open ones in the order a report passes through them.
export const STATUSES = {
  reported: '上报 Reported',
  screened: '甄别 Screened',
  assigned: '交办 Assigned',
  in_progress: '处置 In progress',
  escalated: '吹哨 Escalated',
  feedback: '反馈 Feedback',
  reopened: '重办 Reopened',
  closed: '办结 Closed',
  rejected: '驳回 Rejected',
  duplicate: '重复 Duplicate',
};
export const OPEN_STATUSES = ['reported', 'screened', 'assigned', 'in_progress', 'escalated', 'feedback', 'reopened'];

// One entry per action of POST /events/{id}/{action}: label, permission and
// what its form asks for (the server checks all of it again).
export const ACTIONS = {
  accept: { label: '受理 Accept', permission: 'events:handle' },
  reject: { label: '驳回 Reject', permission: 'events:handle', noteRequired: true },
  duplicate: { label: '重复 Duplicate', permission: 'events:handle', duplicateOf: true },
  assign: { label: '交办 Assign', permission: 'events:assign', handler: true },
  start: { label: '开始处置 Start', permission: 'events:handle' },
  escalate: { label: '吹哨 Escalate', permission: 'events:assign', department: true },
  feedback: { label: '反馈 Feedback', permission: 'events:handle', noteRequired: true },
  // A grid worker (events:handle) may close a residents' matter 民事 of their own grid with an after photo
  // (自办自结, geo/events/lifecycle.py): offered for civil reports, the server checks the rest.
  close: { label: '办结 Close', permission: 'events:assign', orUnderRule: 'events:handle', rule: (d) => civil(d) },
  reopen: { label: '重办 Reopen', permission: 'events:assign', noteRequired: true },
};
// Transitions that are not actions of the loop.
export const OTHER_STEPS = { report: '上报 Reported', rerouted: '改派 Rerouted' };

export const ASSIGNEE_KINDS = { staff: '人员 staff', division: '村/社区 village', department: '部门 department' };

function civil(detail) {
  return !!(detail && detail.category && detail.category.triage === 'civil');
}

// Whether the user may try `name` on the report `detail` (its own permission, or the lesser one under its rule).
export function mayTake(can, name, detail) {
  const spec = ACTIONS[name];
  if (!spec) return false;
  if (can(spec.permission)) return true;
  return !!(spec.orUnderRule && can(spec.orUnderRule) && spec.rule && spec.rule(detail));
}

// The body of POST /events/{id}/{name} from the form's state, or {error} saying what is missing.
export function stepBody(name, form) {
  const spec = ACTIONS[name];
  const note = (form.note || '').trim();
  if (spec.noteRequired && !note) return { error: '请填写说明 A note is required' };
  const body = {};
  if (note) body.note = note;
  if (spec.department) {
    if (!form.department) return { error: '请选择部门 Choose a department' };
    body.department = form.department;
  }
  if (spec.duplicateOf) {
    const original = Number(form.duplicateOf);
    if (!Number.isInteger(original) || original < 1) return { error: '请选择原事件 Choose the original report' };
    body.duplicate_of = original;
  }
  if (spec.handler && form.handler) {
    const cut = form.handler.indexOf(':'); // 'staff:<id>' or 'dep:<code>'
    const value = form.handler.slice(cut + 1);
    if (form.handler.startsWith('staff:')) body.staff_id = Number(value);
    else if (form.handler.startsWith('dep:')) body.department = value;
  }
  const photos = form.photos || []; // a form extra's uploads (js/work/photo-step.js)
  if (photos.some((p) => !p.id && !p.error)) return { error: '照片还在上传，请稍候' };
  const ids = photos.map((p) => p.id).filter(Boolean);
  if (ids.length) body.photo_ids = ids;
  return { body };
}

export function statusLabel(status) {
  return STATUSES[status] || String(isBlank(status) ? '—' : status);
}

export function stepLabel(action) {
  if (ACTIONS[action]) return ACTIONS[action].label;
  return OTHER_STEPS[action] || String(action);
}

// Whole hours past `due` (ISO time), or null when not yet due.
export function hoursPast(due) {
  const t = new Date(due).getTime();
  if (isBlank(due) || isNaN(t) || t >= Date.now()) return null;
  return Math.round((Date.now() - t) / 3600000);
}

// The server's own words for a refused request: problem+json `detail`, and
// the actions a 409 says are allowed now (or a 422's choices).
export function problemText(err) {
  const problem = err && err.problem;
  if (!problem || typeof problem.detail !== 'string' || !problem.detail) return (err && err.message) || String(err);
  if (Array.isArray(problem.allowed)) {
    return `${problem.detail} — 可执行 allowed now: ${problem.allowed.length ? problem.allowed.join(', ') : '—'}`;
  }
  if (Array.isArray(problem.choices) && problem.choices.length) {
    return `${problem.detail} — 可选 choices: ${problem.choices.join(', ')}`;
  }
  return problem.detail;
}
