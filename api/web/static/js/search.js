/*
 * search.js: the place search box in the map's top-left corner (GET /search).
 *
 * Type a grid code or name, a village or township, a household address (for roles that may read
 * households) or coordinates ("106.66,26.45", "26.45 106.66 gcj02"). Results come grouped by
 * kind; the keyboard works throughout: arrows move, Enter chooses (the first result when none is
 * marked), Escape closes the list, then clears the box. Choosing a place fits the map to it and
 * outlines it; a coordinate shows a marker at the point, converted to WGS84 by the server, with
 * the grid there.
 *
 * Only while signed in; the results, the outline and the marker go with the session. Text from
 * the server goes in as textContent. The query travels only to the API (it may be an address).
 */

import { debounce, el, isolate } from './core/dom.js';
import { isQuiet } from './core/http.js';

const TYPE_DELAY_MS = 250;
const LIMIT = 12;
const KINDS = [
  ['coordinate', '坐标 Coordinates'],
  ['county', '区县 County'],
  ['township', '乡镇/街道 Townships'],
  ['village', '村/社区 Villages'],
  ['grid', '网格 Grids'],
  ['household', '住户 Households'],
];
const HIGHLIGHT = { color: '#ffbf00', weight: 4, opacity: 1, fill: false, interactive: false };
const CRS_NAMES = { wgs84: 'WGS84/CGCS2000', cgcs2000: 'CGCS2000', gcj02: 'GCJ-02', bd09: 'BD-09' };

function describe(hit) {
  if (hit.kind === 'grid') return [hit.name, `${hit.code} · ${hit.layer_name || hit.layer}`];
  if (hit.kind === 'household') return [hit.address, ''];
  if (hit.kind === 'coordinate') {
    const order = hit.order === 'latlon' ? 'lat, lon' : 'lon, lat';
    const there = hit.grid ? `${hit.grid.name} ${hit.grid.code}` : '不在辖区 outside your area';
    return [`${hit.lon.toFixed(6)}, ${hit.lat.toFixed(6)} (${CRS_NAMES[hit.crs] || hit.crs}, ${order})`, there];
  }
  return [hit.name, hit.parent_name || hit.code];
}

export function install(ctx) {
  const { map, auth } = ctx;
  const box = isolate(el('div', 'gm-search'));
  box.style.cssText = 'background:#fff;padding:4px;border-radius:4px;box-shadow:0 1px 5px rgba(0,0,0,.4);'
    + 'width:300px;max-width:70vw;';
  const input = box.appendChild(el('input', 'gm-search-input'));
  Object.assign(input, { type: 'search', placeholder: '搜索 网格/村/地址/坐标 Search', autocomplete: 'off' });
  input.style.cssText = 'width:100%;box-sizing:border-box;padding:4px;font-size:14px;';
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-label', 'Search places 搜索地点');
  input.setAttribute('aria-expanded', 'false');
  const list = box.appendChild(el('div', 'gm-search-results'));
  list.setAttribute('role', 'listbox');
  list.style.cssText = 'max-height:50vh;overflow:auto;font-size:13px;';
  const control = L.control({ position: 'topleft' });
  control.onAdd = () => box;
  control.addTo(map);

  const marks = L.layerGroup().addTo(map);
  let items = []; // [{hit, node}]
  let active = -1;
  let controller = null;
  let asked = '';

  function close() {
    list.replaceChildren();
    items = [];
    active = -1;
    input.setAttribute('aria-expanded', 'false');
  }

  function mark(i) {
    items.forEach((it, j) => {
      it.node.setAttribute('aria-selected', String(j === i));
      it.node.style.background = j === i ? '#dbeafe' : '';
    });
    active = i;
    if (i >= 0) items[i].node.scrollIntoView({ block: 'nearest' });
  }

  function show(results, truncated) {
    close();
    if (!results.length) {
      list.appendChild(el('div', 'gm-search-empty', '没有结果 Nothing found'));
      return;
    }
    KINDS.forEach(([kind, heading]) => {
      const mine = results.filter((h) => h.kind === kind);
      if (!mine.length) return;
      const head = list.appendChild(el('div', 'gm-search-kind', heading));
      head.style.cssText = 'font-weight:600;color:#555;padding:4px 2px 0;';
      mine.forEach((hit) => {
        const [main, sub] = describe(hit);
        const node = list.appendChild(el('div', 'gm-search-item'));
        node.setAttribute('role', 'option');
        node.dataset.kind = hit.kind;
        node.style.cssText = 'padding:3px 6px;cursor:pointer;';
        node.appendChild(el('div', 'gm-search-main', main));
        if (sub) node.appendChild(el('div', 'gm-search-sub', sub)).style.cssText = 'color:#666;font-size:11px;';
        const index = items.length;
        node.addEventListener('mousedown', (e) => { e.preventDefault(); choose(index); });
        items.push({ hit, node });
      });
    });
    if (truncated) list.appendChild(el('div', 'gm-search-more', '更多结果，请输入更多 More: type more'));
    input.setAttribute('aria-expanded', 'true');
  }

  async function ask(q) {
    if (controller) controller.abort();
    asked = q;
    if (!q.trim() || !auth.signedIn()) return close();
    controller = new AbortController();
    const url = `/search?q=${encodeURIComponent(q)}&limit=${LIMIT}`;
    try {
      const body = await ctx.api(url, { signal: controller.signal });
      if (asked === q) show(body.results || [], body.truncated);
      ctx.messages.clear('search');
    } catch (err) {
      if (isQuiet(err)) return;
      close();
      ctx.messages.error(`搜索失败 Search: ${err.message}`, 'search');
    }
  }
  const askSoon = debounce(() => ask(input.value), TYPE_DELAY_MS);

  async function outline(hit) {
    const path = hit.kind === 'grid' ? `/grids/${hit.id}` : `/divisions/${hit.id}`;
    try {
      const feature = await ctx.api(path);
      marks.addLayer(L.geoJSON(feature, { style: () => HIGHLIGHT, interactive: false }));
    } catch (err) {
      if (!isQuiet(err)) ctx.messages.warning(`轮廓无法显示 Outline not shown: ${err.message}`, 'search');
    }
  }

  function choose(i) {
    const it = items[i];
    if (!it) return;
    const { hit } = it;
    marks.clearLayers();
    close();
    input.value = describe(hit)[0];
    ctx.selectedPlace = hit;
    if (hit.bbox) {
      const [x0, y0, x1, y1] = hit.bbox;
      map.fitBounds([[y0, x0], [y1, x1]], { padding: [24, 24], maxZoom: 17, animate: false });
      outline(hit);
    } else {
      map.setView([hit.lat, hit.lon], Math.max(map.getZoom(), 17), { animate: false });
      const [main, sub] = describe(hit);
      const marker = L.marker([hit.lat, hit.lon], { keyboard: false, title: main }).addTo(marks);
      const tip = el('div', 'gm-search-tip');
      tip.appendChild(el('div', null, main));
      if (sub) tip.appendChild(el('div', null, sub));
      marker.bindTooltip(tip, { permanent: true, direction: 'top', offset: [0, -30] }).openTooltip();
      if (hit.kind === 'coordinate' && hit.grid) outline({ kind: 'grid', id: hit.grid.id });
    }
    ctx.emit('place-selected', { hit });
  }

  input.addEventListener('input', askSoon);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!items.length) return;
      const step = e.key === 'ArrowDown' ? 1 : -1;
      mark((active + step + items.length) % items.length);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (items.length) choose(active >= 0 ? active : 0);
      else ask(input.value);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      if (items.length || list.childElementCount) close();
      else {
        input.value = '';
        marks.clearLayers();
      }
    }
  });
  input.addEventListener('blur', () => setTimeout(close, 150));

  function sync() {
    box.style.display = auth.signedIn() ? '' : 'none';
    if (!auth.signedIn()) {
      if (controller) controller.abort();
      close();
      input.value = '';
      marks.clearLayers();
      ctx.selectedPlace = null;
    }
  }
  auth.listeners.add(sync);
  sync();
}
