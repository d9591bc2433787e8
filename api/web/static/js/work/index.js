/*
 * work/index.js: "我的工作", a grid worker's own open reports on the phone (GET /events/mine): counts by
 * status, the list overdue first with the time overdue or left in days and hours and the grid's name,
 * and a tap that opens the report in the reports panel (reports.js: its details and the actions the
 * state machine and the role allow). It also installs the worker's parts of that panel: the way to the
 * place and the reporter's contact (work/navigate.js) and the feedback's photo step (work/photo-step.js).
 * "我的位置" is work/location.js, installed from here (one line in features.js for the worker's part).
 *
 * For accounts with events:handle (workers, heads, departments). Server strings go in as text only.
 */

import { button, el, isBlank } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { OPEN_STATUSES, problemText } from '../reports-model.js';
import { deadlineText } from './duration.js';
import { install as installLocation } from './location.js';
import { createNavigation } from './navigate.js';
import { createPhotoStep } from './photo-step.js';

const PERMISSION = 'events:handle';
const LIMIT = 200;
// Plain words for the worker's open statuses (reports-model.js has the panel's bilingual labels).
const STATUS_WORDS = {
  reported: '待受理', screened: '已受理', assigned: '已交办', in_progress: '处理中', escalated: '已吹哨',
  feedback: '已反馈', reopened: '重新办理',
};

export function install(ctx) {
  const { auth } = ctx;
  const box = el('div', 'gm-work');
  const panel = ctx.panels.add('work', '我的工作', box);
  const state = { data: null, busy: false, error: null, status: null, epoch: 0 };
  let shown = false;

  installLocation(ctx);
  if (ctx.reports) {
    const nav = createNavigation(ctx);
    ctx.reports.detailExtras.push(nav.render);
    ctx.reports.formExtras.feedback = createPhotoStep(ctx).render;
  }

  function render() {
    box.replaceChildren();
    const bar = box.appendChild(el('div', 'gm-events-bar'));
    button(bar, state.busy ? '加载中…' : '刷新', load, 'gm-events-button gm-work-refresh', state.busy);
    if (state.error) box.appendChild(el('div', 'gm-events-error', state.error));
    const data = state.data;
    if (!data) return;
    const summary = box.appendChild(el('div', 'gm-work-summary'));
    summary.appendChild(el('span', 'gm-work-total', `待办 ${data.total} 件`));
    if (data.overdue) summary.appendChild(el('span', 'gm-work-overdue gm-events-late', ` · 超期 ${data.overdue} 件`));
    const chips = box.appendChild(el('div', 'gm-work-counts'));
    const chip = (status, text) => {
      const b = button(chips, text, () => { state.status = status; render(); }, 'gm-events-tab gm-work-count');
      if (status) b.dataset.status = status;
      if (state.status === status) b.classList.add('gm-events-tab-on');
    };
    chip(null, `全部 ${data.total}`);
    OPEN_STATUSES.filter((s) => data.by_status[s]).forEach((s) => chip(s, `${STATUS_WORDS[s] || s} ${data.by_status[s]}`));
    const items = data.items.filter((i) => state.status === null || i.status === state.status);
    if (!items.length) {
      box.appendChild(el('div', 'gm-events-summary', data.total ? '这个状态下没有事件' : '没有待办的事件'));
      return;
    }
    const ol = box.appendChild(el('ol', 'gm-work-list'));
    items.forEach((item) => {
      const li = ol.appendChild(el('li', `gm-work-item${item.overdue ? ' gm-work-item-late' : ''}`));
      li.dataset.eventId = String(item.id);
      const open = button(li, '', () => openItem(item), 'gm-work-open');
      open.appendChild(el('span', 'gm-work-title', `${item.category_name || item.category}`));
      open.appendChild(el('span', 'gm-work-status', ` · ${STATUS_WORDS[item.status] || item.status}`));
      const line = open.appendChild(el('span', 'gm-work-line'));
      line.appendChild(el('span', `gm-work-due${item.overdue ? ' gm-events-late' : ''}`, deadlineText(item.due_in_s)));
      line.appendChild(el('span', 'gm-work-grid', ` · ${isBlank(item.grid_name) ? '不在网格内' : item.grid_name}`));
      if (!isBlank(item.address)) open.appendChild(el('span', 'gm-work-where', item.address));
    });
  }

  function openItem(item) {
    if (ctx.reports) ctx.reports.open(item.id, { lat: item.lat, lon: item.lon });
  }

  async function load() {
    const epoch = state.epoch;
    state.busy = true;
    state.error = null;
    render();
    try {
      const data = await ctx.api(`/events/mine?limit=${LIMIT}`);
      if (epoch !== state.epoch) return;
      state.data = data;
      if (state.status && !data.by_status[state.status]) state.status = null;
    } catch (err) {
      if (epoch === state.epoch && !isQuiet(err)) state.error = `加载失败：${problemText(err)}`;
    } finally {
      if (epoch === state.epoch) {
        state.busy = false;
        render();
      }
    }
  }

  // Shown while someone who handles reports is signed in; on their phone it is the panel that opens first.
  function sync(event) {
    const wanted = auth.signedIn() && auth.can(PERMISSION);
    if (event === 'signin' || event === 'signout' || event === 'expired') {
      state.epoch += 1;
      state.data = null;
      state.status = null;
      if (shown && !wanted) panel.hide();
      shown = false;
    }
    if (wanted && !shown) {
      shown = true;
      panel.open();
      load();
    } else if (!wanted && shown) {
      shown = false;
      panel.hide();
    }
  }
  auth.listeners.add(sync);
  ctx.on('report-changed', () => { if (shown) load(); });
  sync('start');
}
