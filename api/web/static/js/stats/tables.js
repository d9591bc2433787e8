/*
 * stats/tables.js: the headline figures and the tables of the statistics page.
 *
 * `renderHeadline(box, answer, onFigure)`: the division's totals as cards — 受理, 处置, 处置率 (the
 * seed's headline figure, as /stats/events defines it), 办结, 按期办结率, 超期未办结, time to close.
 * `renderTable(box, name, rows, onFigure, onPlace)`: one table (township, village, category, week).
 * Every count is a button: `onFigure({figure, key, table, name})` opens the list behind it; a rate
 * opens the list of its numerator. A township's name drills down into it (`onPlace`).
 */

import { el } from '../core/dom.js';
import { FIGURES, TABLES, count, duration, percent } from './format.js';

const COLUMNS = ['received', 'handled', 'handling_rate', 'closed', 'closed_on_time', 'on_time_rate', 'open_overdue',
  'rejected', 'duplicates', 'median_hours_to_close'];
const HEADINGS = {
  handling_rate: '处置率', on_time_rate: '按期办结率', median_hours_to_close: '办结用时（中位数）',
};
const RATE_OF = { handling_rate: 'handled', on_time_rate: 'closed_on_time' };

function figureButton(text, figure, onClick) {
  const b = el('button', 'gm-stats-fig', text);
  b.type = 'button';
  b.dataset.figure = figure;
  b.title = `查看${FIGURES[figure]}的事件`;
  b.addEventListener('click', onClick);
  return b;
}

function cellValue(row, column) {
  if (column in RATE_OF) return percent(row[column]);
  if (column === 'median_hours_to_close') return duration(row[column]);
  return count(row[column]);
}

export function renderHeadline(box, answer, onFigure) {
  box.replaceChildren();
  const t = answer.total;
  const cards = [
    ['received', '受理', count(t.received)],
    ['handled', '处置', count(t.handled)],
    ['handling_rate', '处置率', percent(t.handling_rate)],
    ['closed', '办结', count(t.closed)],
    ['on_time_rate', '按期办结率', percent(t.on_time_rate)],
    ['open_overdue', '超期未办结', count(t.open_overdue)],
  ];
  cards.forEach(([field, label, text]) => {
    const figure = RATE_OF[field] || field;
    const card = box.appendChild(figureButton('', figure, () => onFigure({ figure, key: null, table: null, name: null })));
    card.classList.add('gm-stats-card');
    card.dataset.field = field;
    card.appendChild(el('span', 'gm-stats-card-value', text));
    card.appendChild(el('span', 'gm-stats-card-label', label));
  });
  const time = box.appendChild(el('div', 'gm-stats-card gm-stats-card-plain'));
  time.appendChild(el('span', 'gm-stats-card-value', duration(t.median_hours_to_close)));
  time.appendChild(el('span', 'gm-stats-card-label', `办结用时中位数（90%在${duration(t.p90_hours_to_close)}内）`));
}

export function renderTable(box, name, rows, onFigure, onPlace) {
  box.replaceChildren();
  box.appendChild(el('h2', 'gm-stats-h2', `按${TABLES[name]}`));
  if (!rows.length) {
    box.appendChild(el('p', 'gm-stats-empty', '此时段内没有事件'));
    return;
  }
  const wrap = box.appendChild(el('div', 'gm-stats-scroll'));
  const table = wrap.appendChild(el('table', 'gm-stats-table'));
  table.dataset.table = name;
  const head = table.appendChild(el('thead')).appendChild(el('tr'));
  head.appendChild(el('th', null, name === 'week' ? '周（周一）' : TABLES[name]));
  COLUMNS.forEach((c) => head.appendChild(el('th', null, HEADINGS[c] || FIGURES[c])));
  const body = table.appendChild(el('tbody'));
  rows.forEach((row) => {
    const tr = body.appendChild(el('tr'));
    tr.dataset.key = row.key === null ? '' : row.key;
    const label = row.name || '（未归属网格）';
    const th = tr.appendChild(el('th', null));
    if (name === 'township' && onPlace && row.key) {
      const b = th.appendChild(el('button', 'gm-stats-place', label));
      b.type = 'button';
      b.title = `只看${label}`;
      b.addEventListener('click', () => onPlace(row));
    } else {
      th.textContent = label;
    }
    COLUMNS.forEach((c) => {
      const td = tr.appendChild(el('td'));
      td.dataset.field = c;
      const figure = RATE_OF[c] || (c in FIGURES ? c : null);
      const text = cellValue(row, c);
      if (figure && row.key !== null && (c in RATE_OF ? row[c] !== null : row[c] > 0)) {
        td.appendChild(figureButton(text, figure, () => onFigure({ figure, key: row.key, table: name, name: label })));
      } else {
        td.textContent = text;
      }
    });
  });
}
