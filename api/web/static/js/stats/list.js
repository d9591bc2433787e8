/*
 * stats/list.js: the list behind a figure (issue 15: every figure links to the reports that make it).
 *
 * `createList(root, api)` returns `{open(target)}`; `target` = {figure, division?, category?, week?,
 * title} plus the page's window. It asks GET /stats/events/items, which counts with the same rule as
 * the figure, shows how many reports there are and pages through them ("再显示100条"). A row names the
 * category, status, place, report time, deadline and, for an open overdue report, how long past it —
 * in days and hours. No free text or contact is in the answer; a report's own page (the map's report
 * panel) shows its masked description.
 */

import { el } from '../core/dom.js';
import { FIGURES, STATUS, beijingTime, count, duration, query } from './format.js';

const PAGE = 100;

export function createList(root, api, onError) {
  const section = root.appendChild(el('section', 'gm-stats-list'));
  section.hidden = true;
  section.setAttribute('aria-label', '明细');
  const head = section.appendChild(el('div', 'gm-stats-list-head'));
  const title = head.appendChild(el('h2', 'gm-stats-list-title'));
  const close = head.appendChild(el('button', 'gm-stats-button', '关闭'));
  close.type = 'button';
  close.addEventListener('click', () => { section.hidden = true; });
  const summary = section.appendChild(el('p', 'gm-stats-list-count'));
  const table = section.appendChild(el('table', 'gm-stats-table gm-stats-items'));
  const headRow = table.appendChild(el('thead')).appendChild(el('tr'));
  ['编号', '类别', '状态', '乡镇', '村（社区）', '网格', '上报时间', '期限', '办结时间', '超期']
    .forEach((h) => headRow.appendChild(el('th', null, h)));
  const body = table.appendChild(el('tbody'));
  const more = section.appendChild(el('button', 'gm-stats-button gm-stats-more', `再显示${PAGE}条`));
  more.type = 'button';
  let current = null;
  let shown = 0;
  let total = 0;
  let epoch = 0;

  function row(item, asOf) {
    const tr = el('tr');
    tr.dataset.id = item.id;
    const late = item.closed_at || !item.due_at || new Date(item.due_at) >= new Date(asOf) ? null
      : (new Date(asOf) - new Date(item.due_at)) / 3600000;
    [item.id, item.category_name, STATUS[item.status] || item.status, item.township_name || '—',
      item.village_name || '—', item.grid_name || '—', beijingTime(item.reported_at), beijingTime(item.due_at),
      beijingTime(item.closed_at), late === null ? '' : `超期${duration(late)}`]
      .forEach((v) => tr.appendChild(el('td', null, v)));
    return tr;
  }

  async function load(offset) {
    const mine = ++epoch;
    more.disabled = true;
    const t = current;
    const answer = await api(`/stats/events/items?${query({
      figure: t.figure, from: t.from, to: t.to, division: t.division, category: t.category, week: t.week,
      limit: PAGE, offset,
    })}`);
    if (mine !== epoch) return;
    if (offset === 0) body.replaceChildren();
    answer.items.forEach((item) => body.appendChild(row(item, answer.as_of)));
    shown = offset + answer.items.length;
    total = answer.count;
    section.dataset.count = String(total);
    section.dataset.shown = String(shown);
    summary.textContent = `共${count(total)}件，已显示${count(shown)}件`;
    more.hidden = shown >= total;
    more.disabled = false;
  }

  more.addEventListener('click', () => load(shown).catch(onError));

  function open(target) {
    current = target;
    title.textContent = `${target.title}：${FIGURES[target.figure]}`;
    section.dataset.figure = target.figure;
    delete section.dataset.count;
    summary.textContent = '加载中…';
    section.hidden = false;
    section.scrollIntoView({ block: 'start' });
    return load(0).catch(onError);
  }

  function reset() {
    epoch += 1;
    section.hidden = true;
    body.replaceChildren();
  }

  return { open, reset, element: section };
}
