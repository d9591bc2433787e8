/*
 * popups.js: the grid, division and point popups.
 *
 * A grid popup shows the grid's identity at once and fetches its counts
 * (GET /grids/{id}); a point popup shows the point's own properties. A click
 * on the map where no grid or point took it asks the server which divisions
 * cover the spot (GET /locate, the same covers rule as everywhere else) and
 * shows the most specific one whose overlay is switched on.
 */

import { el, formatValue, isBlank } from './core/dom.js';
import { ForbiddenError, isQuiet } from './core/http.js';

export const FORBIDDEN_TEXT = '无权限 not permitted for your role';

// rows: [[label, text], ...], appended to `parent` (a table or tbody)
function addRows(parent, rows) {
  rows.forEach(([label, text]) => {
    const tr = parent.appendChild(el('tr'));
    tr.appendChild(el('th', null, label));
    tr.appendChild(el('td', null, text));
  });
  return parent;
}

function propTable(rows) {
  return addRows(el('table', 'gm-props'), rows);
}

// "name (code)" when the division's name is known, else whichever there is.
function formatDivision(name, code) {
  if (!isBlank(name) && !isBlank(code)) return `${name} (${code})`;
  return formatValue(isBlank(name) ? code : name);
}

function popupRoot(title) {
  const root = el('div', 'gm-popup');
  root.appendChild(el('div', 'gm-popup-title', isBlank(title) ? '—' : title));
  return root;
}

const COUNT_FIELDS = [
  ['households', 'Households 户'],
  ['residents', 'Residents 人口'],
  ['cameras', 'Cameras 摄像头'],
  ['open_events', 'Open events 未办结事件'],
  ['staff', 'Staff 人员'],
];

// The list endpoint carries only identity fields; the counts are computed
// per grid by GET /grids/<id>, so they are fetched when the popup opens.
// Identity and counts are two sections (tbody) of one table, so their
// value columns line up whatever the labels' widths.
export function openGridPopup(ctx, feature, layerName, latlng) {
  const { map } = ctx;
  const p = feature.properties || {};
  const id = isBlank(p.id) ? feature.id : p.id;
  const root = popupRoot(p.name);
  const table = root.appendChild(el('table', 'gm-props'));
  addRows(table.appendChild(el('tbody')), [
    ['Code 编码', formatValue(p.code)],
    ['Layer 图层', layerName],
    ['Division 区划', formatDivision(p.division_name, p.division_code)],
  ]);
  const counts = table.appendChild(el('tbody', 'gm-counts'));

  // A status line across both columns ('…', or why there are no counts).
  function countsStatus(text, isError) {
    counts.textContent = '';
    const cell = counts.appendChild(el('tr')).appendChild(el('td', 'gm-counts-status', text));
    cell.colSpan = 2;
    if (isError) cell.classList.add('gm-error');
  }

  countsStatus('…');
  const popup = L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(root).openOn(map);
  if (isBlank(id)) {
    countsStatus('No grid id: counts unavailable');
    popup.update();
    return popup;
  }
  const controller = new AbortController();
  // Closing the popup (or opening another) makes the answer useless.
  popup.once('remove', () => controller.abort());

  ctx.api(`/grids/${encodeURIComponent(id)}`, { signal: controller.signal })
    .then((detail) => {
      const c = (detail && detail.properties && detail.properties.counts) || {};
      counts.textContent = '';
      addRows(counts, COUNT_FIELDS.map(([key, label]) => [label, formatValue(c[key])]));
      popup.update(); // content is an element, so this only re-lays out
    })
    .catch((err) => {
      if (err.name === 'AbortError') return;
      if (isQuiet(err)) {
        map.closePopup(popup);
        return;
      }
      countsStatus(err instanceof ForbiddenError
        ? `Counts 统计: ${FORBIDDEN_TEXT}`
        : `Could not load counts: ${err.message}`, true);
      popup.update();
    });
  return popup;
}

// kind: {label, title, fields: [[property, label, formatter]]} (layers.js's POINT_KINDS)
export function pointPopup(kind, feature) {
  const p = feature.properties || {};
  const root = popupRoot(isBlank(p[kind.title]) ? kind.label : p[kind.title]);
  root.appendChild(propTable(kind.fields.map(([key, label, fmt]) => [label, fmt(p[key])])));
  return root;
}

function divisionPopup(division, levelLabel) {
  const root = popupRoot(division.name);
  root.appendChild(propTable([
    ['Level 级别', levelLabel],
    ['Code 区划代码', formatValue(division.code)],
  ]));
  return root;
}

// The map's own click comes only where no grid or point took it (grid
// clicks stop it, bindPopup stops it for points): there, show the most
// specific division switched on under the pointer, as the server locates it.
export function install(ctx) {
  const { map, auth } = ctx;
  let controller = null;

  map.on('click', async (e) => {
    if (!auth.signedIn()) return;
    if (ctx.editor && ctx.editor.onMapClick(e)) return;
    // villages first (ctx.divisions is townships, villages)
    const shown = (ctx.divisions || []).filter((d) => map.hasLayer(d.group)).reverse();
    if (!shown.length) return;
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    const { lat, lng } = e.latlng.wrap();
    const epoch = auth.epoch;
    try {
      const params = new URLSearchParams({ lon: lng.toFixed(7), lat: lat.toFixed(7) });
      const found = await ctx.api(`/locate?${params.toString()}`, { signal: mine.signal });
      if (mine.signal.aborted || epoch !== auth.epoch) return;
      const divisions = (found && found.divisions) || {};
      const hit = shown.find((d) => divisions[d.level]);
      if (!hit) return;
      L.popup({ maxWidth: 320 })
        .setLatLng(e.latlng)
        .setContent(divisionPopup(divisions[hit.level], hit.levelLabel))
        .openOn(map);
    } catch (err) {
      if (isQuiet(err) || mine.signal.aborted) return;
      if (err instanceof ForbiddenError) return; // a role without map reading gets no popup
      ctx.messages.error(`区划 Division: ${err.message}`, 'locate');
    } finally {
      if (controller === mine) controller = null;
    }
  });
}
