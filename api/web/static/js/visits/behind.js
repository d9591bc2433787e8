/*
 * visits/behind.js: for a grid head (网格长), which workers and households are behind the visit
 * targets in their territory (GET /visits/behind). Names come masked from the server; the rule is
 * the server's own sentence.
 */

import { button, el } from '../core/dom.js';
import { problemText, sinceText } from './model.js';

const ROLE = { grid_worker: '网格员', grid_assistant: '网格辅助员' };

export function createBehind(ctx, { onChange, onHousehold }) {
  const state = { data: null, busy: false, error: null, open: false };

  async function load() {
    state.busy = true;
    onChange();
    try {
      state.data = await ctx.api('/visits/behind?limit=50');
      state.error = null;
    } catch (err) {
      state.error = problemText(err);
    }
    state.busy = false;
    onChange();
  }

  function render(parent) {
    const box = parent.appendChild(el('div', 'gm-visits-behind'));
    box.appendChild(el('h4', null, '走访落后情况'));
    if (!state.open) {
      button(box, '查看谁落后了', () => {
        state.open = true;
        load();
      }, 'gm-visits-behind-open');
      return;
    }
    if (state.busy) box.appendChild(el('div', 'gm-muted', '加载中…'));
    if (state.error) box.appendChild(el('div', 'gm-error', state.error));
    const d = state.data;
    if (!d) return;
    box.appendChild(el('div', 'gm-muted',
      `共${d.households}户，落后${d.behind}户（其中从未走访${d.never_visited}户）`));
    const workers = box.appendChild(el('ul', 'gm-visits-workers'));
    d.workers.filter((w) => w.behind > 0).slice(0, 20).forEach((w) => {
      const li = workers.appendChild(el('li', null,
        `${w.grid_name} ${ROLE[w.role] || w.role} ${w.name}：落后${w.behind}/${w.households}户，近30天走访${w.visits_30d}次`));
      li.dataset.staff = String(w.staff_id);
    });
    const list = box.appendChild(el('ul', 'gm-visits-late'));
    d.households.slice(0, 20).forEach((h) => {
      const li = list.appendChild(el('li'));
      button(li, `${h.address}（${sinceText(h.days_since)}，每${h.target_days}天一次）`, () => onHousehold(h),
        'gm-link');
    });
    button(box, '刷新', load, 'gm-visits-behind-refresh');
  }

  return { render, reset: () => Object.assign(state, { data: null, open: false, error: null }) };
}
