/*
 * stats/charts.js: the charts of the statistics page, drawn by Apache ECharts (npm, the global
 * `echarts` from /static/vendor/echarts/echarts.min.js), on a canvas.
 *
 * `createCharts(box, onFigure)` returns `{draw(answer, placeTable), charts}`:
 *   - 每周趋势: received and handled per week (bars) and 处置率 (line, right axis);
 *   - by place: received, handled and open overdue per township (a county) or village (a township);
 *   - by category: the same per category.
 * Clicking a bar (or a point of the line) calls `onFigure({figure, key, table, name})` with the
 * figure of its series and the group's key, so the chart opens the same list as the table's cell.
 */

import { el } from '../core/dom.js';
import { FIGURES, TABLES, percent } from './format.js';

const COLORS = { received: '#5b8ff9', handled: '#5ad8a6', open_overdue: '#e8684a', handling_rate: '#f6bd16' };

function chartBox(box, name, title) {
  const section = box.appendChild(el('section', 'gm-stats-chart'));
  section.appendChild(el('h2', 'gm-stats-h2', title));
  const canvasBox = section.appendChild(el('div', 'gm-stats-canvas'));
  canvasBox.dataset.chart = name;
  return canvasBox;
}

function barSeries(figure, rows) {
  return {
    name: FIGURES[figure], type: 'bar', id: figure, itemStyle: { color: COLORS[figure] },
    data: rows.map((r) => r[figure]),
  };
}

function groupOption(rows, figures) {
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 48, right: 16, top: 32, bottom: 72 },
    xAxis: { type: 'category', data: rows.map((r) => r.name || '（未归属网格）'), axisLabel: { rotate: 30, interval: 0 } },
    yAxis: { type: 'value', name: '件' },
    series: figures.map((f) => barSeries(f, rows)),
  };
}

function trendOption(weeks) {
  return {
    tooltip: {
      trigger: 'axis',
      valueFormatter: (v) => (typeof v === 'number' && v <= 1 && !Number.isInteger(v) ? percent(v) : v),
    },
    legend: { top: 0 },
    grid: { left: 48, right: 56, top: 32, bottom: 56 },
    xAxis: { type: 'category', data: weeks.map((w) => w.key.slice(5)), axisLabel: { rotate: 45 } },
    yAxis: [
      { type: 'value', name: '件' },
      { type: 'value', name: '处置率', min: 0, max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
    ],
    series: [
      barSeries('received', weeks),
      barSeries('handled', weeks),
      {
        name: '处置率', type: 'line', id: 'handling_rate', yAxisIndex: 1, itemStyle: { color: COLORS.handling_rate },
        data: weeks.map((w) => w.handling_rate),
      },
    ],
  };
}

export function createCharts(box, onFigure) {
  const boxes = {
    week: chartBox(box, 'week', '每周趋势'),
    place: chartBox(box, 'place', '按地区'),
    category: chartBox(box, 'category', '按类别'),
  };
  const charts = {};
  const rowsOf = {};
  Object.entries(boxes).forEach(([name, node]) => {
    const chart = echarts.init(node, null, { renderer: 'canvas' });
    chart.on('click', (params) => {
      const rows = rowsOf[name];
      const row = rows && rows.rows[params.dataIndex];
      if (!row || row.key === null) return;
      const figure = params.seriesId === 'handling_rate' ? 'handled' : params.seriesId;
      onFigure({ figure, key: row.key, table: rows.table, name: row.name || row.key });
    });
    charts[name] = chart;
  });
  window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));

  function draw(answer, placeTable) {
    const t = answer.tables;
    rowsOf.week = { table: 'week', rows: t.week };
    rowsOf.place = { table: placeTable, rows: t[placeTable] };
    rowsOf.category = { table: 'category', rows: t.category };
    boxes.place.parentNode.querySelector('h2').textContent = `按${TABLES[placeTable]}`;
    Object.values(charts).forEach((c) => c.resize()); // the page may have been hidden when they were made
    charts.week.setOption(trendOption(t.week), true);
    charts.place.setOption(groupOption(t[placeTable], ['received', 'handled', 'open_overdue']), true);
    charts.category.setOption(groupOption(t.category, ['received', 'handled', 'open_overdue']), true);
    Object.entries(boxes).forEach(([name, node]) => { node.dataset.drawn = String(rowsOf[name].rows.length); });
  }

  return { draw, charts };
}
