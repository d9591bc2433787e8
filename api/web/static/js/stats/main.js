/*
 * stats/main.js: the leaders' statistics page (/stats, issue 15): boot, sign-in, filters, export.
 *
 * Signs in as the map does (core/session.js's `auth`, signin.js's login form), then asks
 * GET /stats/events/tables for the leader's own division and draws it: the headline cards and
 * tables (tables.js), the charts (charts.js), and on a click the list behind a figure (list.js).
 * The window is chosen by day (Beijing); a county leader drills into a township by its name.
 * "导出Excel" downloads GET /stats/events.xlsx with the same filters, under the server's file name.
 *
 * `window.gridmapStats` = {auth, state, charts, answer} is for the browser tests and a developer's
 * console; nothing of the page reads it.
 */

import { el } from '../core/dom.js';
import { createApiFetch, isQuiet } from '../core/http.js';
import { auth } from '../core/session.js';
import { createLoginPanel } from '../signin.js';
import { createCharts } from './charts.js';
import { beijingDay, dayAfter, dayStart, lastDay, query } from './format.js';
import { createList } from './list.js';
import { renderHeadline, renderTable } from './tables.js';

const root = document.getElementById('gm-stats');
const api = createApiFetch(auth);
const state = { from: null, to: null, division: null, trail: [] };
const page = { auth, state, charts: null, answer: null };
window.gridmapStats = page;

function textButton(parent, text, onClick, className) {
  const b = parent.appendChild(el('button', className || 'gm-stats-button', text));
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

// Header: title, who is signed in, the way out.
const header = root.appendChild(el('header', 'gm-stats-header'));
const title = header.appendChild(el('h1', 'gm-stats-title', '事件统计'));
const who = header.appendChild(el('span', 'gm-stats-user'));
const mapLink = header.appendChild(el('a', 'gm-stats-link', '地图'));
mapLink.href = '/';
textButton(header, '退出', () => auth.end('signout'), 'gm-stats-button gm-stats-signout');

// Filters: the window by day, back up from a township, export.
const bar = root.appendChild(el('form', 'gm-stats-filters'));
bar.noValidate = true;
function dateField(label, name) {
  const l = bar.appendChild(el('label', 'gm-stats-field'));
  l.appendChild(el('span', null, label));
  const input = l.appendChild(el('input'));
  input.type = 'date';
  input.name = name;
  return input;
}
const fromInput = dateField('自', 'from');
const toInput = dateField('至', 'to');
const apply = bar.appendChild(el('button', 'gm-stats-button gm-stats-apply', '查询'));
apply.type = 'submit';
const up = textButton(bar, '返回上级', () => {
  state.division = state.trail.pop() || null;
  refresh();
});
const exportButton = textButton(bar, '导出Excel', () => download().catch(showError), 'gm-stats-button gm-stats-export');
const message = root.appendChild(el('div', 'gm-stats-message'));
message.setAttribute('role', 'alert');

const headline = root.appendChild(el('section', 'gm-stats-cards'));
const list = createList(root, api, showError);
const chartsBox = root.appendChild(el('div', 'gm-stats-charts'));
const tablesBox = root.appendChild(el('div', 'gm-stats-tables'));
const tableBoxes = {};
['township', 'village', 'category', 'week'].forEach((name) => {
  tableBoxes[name] = tablesBox.appendChild(el('section', 'gm-stats-table-box'));
});
root.insertBefore(list.element, chartsBox);

function showError(err) {
  if (isQuiet(err)) return;
  message.textContent = err && err.message ? `出错了：${err.message}` : '出错了，请稍后再试';
  message.hidden = false;
}

bar.addEventListener('submit', (event) => {
  event.preventDefault();
  if (fromInput.value && toInput.value && fromInput.value > toInput.value) {
    showError({ message: '开始日期不能晚于结束日期' });
    return;
  }
  state.from = fromInput.value ? dayStart(fromInput.value) : null;
  state.to = toInput.value ? dayAfter(toInput.value) : null;
  refresh();
});

function filters() {
  return { from: state.from, to: state.to, division: state.division };
}

// The list behind a figure: the page's window and division, narrowed by the row that was clicked.
function openFigure(answer, { figure, key, table, name }) {
  const target = { figure, from: answer.from, to: answer.to, division: state.division, title: placeName(answer) };
  if (table === 'township' || table === 'village') {
    target.division = key;
    target.title = name;
  } else if (table === 'category') {
    target.category = key;
    target.title = `${placeName(answer)} · ${name}`;
  } else if (table === 'week') {
    target.week = key;
    target.title = `${placeName(answer)} · ${key}起一周`;
  }
  return list.open(target);
}

function placeName(answer) {
  return answer.place ? answer.place.name : '全部';
}

let epoch = 0;
async function refresh() {
  const mine = ++epoch;
  message.hidden = true;
  list.reset();
  root.dataset.loading = 'true';
  try {
    const answer = await api(`/stats/events/tables?${query(filters())}`);
    if (mine !== epoch) return;
    page.answer = answer;
    draw(answer);
  } catch (err) {
    if (mine === epoch) showError(err);
  } finally {
    if (mine === epoch) delete root.dataset.loading;
  }
}

function draw(answer) {
  const place = placeName(answer);
  title.textContent = `${place}事件统计`;
  document.title = `${place}事件统计 · 网格化服务管理`;
  fromInput.value = beijingDay(answer.from);
  toInput.value = lastDay(answer.to);
  up.hidden = !state.trail.length && !state.division;
  const onFigure = (target) => openFigure(answer, target);
  renderHeadline(headline, answer, onFigure);
  // A township's leader (or a drill into one) sees its villages; a county's sees its townships.
  const level = answer.place ? answer.place.level : 'county';
  const placeTable = level === 'township' || level === 'village' ? 'village' : 'township';
  tableBoxes.township.hidden = placeTable === 'village';
  renderTable(tableBoxes.township, 'township', answer.tables.township, onFigure, (row) => {
    state.trail.push(state.division);
    state.division = row.key;
    refresh();
  });
  ['village', 'category', 'week'].forEach((name) => renderTable(tableBoxes[name], name, answer.tables[name], onFigure));
  if (!page.charts) page.charts = createCharts(chartsBox, onFigureOfCurrent);
  page.charts.draw(answer, placeTable);
  root.dataset.ready = 'true';
}

// The charts are made once; their clicks follow the answer drawn last.
function onFigureOfCurrent(target) {
  return page.answer ? openFigure(page.answer, target) : null;
}

async function download() {
  exportButton.disabled = true;
  try {
    const answer = page.answer;
    const blob = await api(`/stats/events.xlsx?${query(filters())}`, { raw: true });
    const url = URL.createObjectURL(blob);
    const a = document.body.appendChild(el('a'));
    a.href = url;
    a.download = answer ? answer.xlsx_name : '事件统计.xlsx';
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } finally {
    exportButton.disabled = false;
  }
}

// Sign-in: the map's login form over the page while there is no session.
const login = createLoginPanel({ getContainer: () => document.body }, (u, p) => auth.login(u, p));

function signedIn() {
  const user = auth.user();
  who.textContent = user ? (user.display_name || user.username) : '';
  root.hidden = false;
  refresh();
}

auth.listeners.add((event) => {
  if (event === 'signin') {
    login.hide();
    state.division = null;
    state.trail = [];
    signedIn();
  } else if (event === 'signout' || event === 'expired') {
    epoch += 1;
    page.answer = null;
    delete root.dataset.ready;
    root.hidden = true;
    login.show(event === 'expired' ? '登录已过期，请重新登录' : '', { clearUsername: event === 'signout' });
  } else if (event === 'user') {
    const user = auth.user();
    who.textContent = user ? (user.display_name || user.username) : '';
  }
});

if (auth.signedIn()) {
  signedIn();
} else {
  root.hidden = true;
  login.show('');
}
