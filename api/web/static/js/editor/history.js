/*
 * editor/history.js: a grid's history and lineage on the map (every role that reads the map).
 *
 * The panel "网格历史 Grid history" shows, for one grid (current or retired):
 * - the timeline of its versions, newest first, each with author, time, reason and area
 *   (GET /grids/{id}/history); "显示 Show" draws that version's outline on the map;
 * - its lineage (GET /grids/{id}/lineage): "来自 Came from" and "变为 Became", each grid a link
 *   that opens its history and zooms to it — a retired grid is drawn from its last version.
 * It is opened from a grid popup (a "历史 History" button added to the popup when it opens), from
 * the undo panel for the grid selected in the editor (editor/undo.js), or by ctx.history.open(id).
 * Sets ctx.history = {open(gridId), close(), drawn} (drawn: the layer group of the outlines shown).
 */

import { el, button, formatTime, isBlank } from '../core/dom.js';
import { isQuiet } from '../core/http.js';

const OWNER = 'history';
const VERSION_STYLE = { color: '#6a3d9a', weight: 3, opacity: 1, dashArray: '6 4', fill: false };
const LINK_STYLE = { color: '#ff7f00', weight: 3, opacity: 1, fillColor: '#ff7f00', fillOpacity: 0.15 };
const OPERATIONS = {
  split: '拆分 split', merge: '合并 merge', retire: '撤销 retire', undo: '撤回 undo', restore: '恢复 restore',
};

function area(m2) {
  if (!Number.isFinite(m2)) return '—';
  return m2 >= 100000 ? `${(m2 / 1e6).toFixed(3)} km²` : `${Math.round(m2).toLocaleString('en')} m²`;
}

export function install(ctx) {
  const { map, auth } = ctx;
  const box = el('div', 'gm-edit-panel gm-history');
  box.setAttribute('aria-label', '网格历史 Grid history');
  const panel = ctx.panels.add('history', '网格历史 Grid history', box);
  const drawn = L.featureGroup().addTo(map); // outlines of versions and lineage links
  let current = null; // {id, versions, lineage}
  let shownVersion = null;
  let controller = null;

  function clearDrawn() {
    drawn.clearLayers();
    shownVersion = null;
  }

  function close() {
    if (controller) controller.abort();
    current = null;
    clearDrawn();
    box.textContent = '';
    panel.hide();
  }

  function draw(geometry, style, fit) {
    const layer = L.geoJSON(geometry, { interactive: false, style: () => style }).addTo(drawn);
    if (fit && layer.getBounds().isValid()) map.fitBounds(layer.getBounds(), { maxZoom: 17, animate: false });
    return layer;
  }

  function toggleVersion(v) {
    clearDrawn();
    if (shownVersion !== v.version) {
      draw(v.geometry, VERSION_STYLE, true);
      shownVersion = v.version;
    }
    render();
  }

  function renderTimeline(versions) {
    box.appendChild(el('div', 'gm-history-heading', '版本 Versions'));
    const list = box.appendChild(el('ol', 'gm-history-versions'));
    list.reversed = true;
    versions.slice().reverse().forEach((v) => {
      const item = list.appendChild(el('li', 'gm-history-version'));
      item.dataset.version = String(v.version);
      const head = item.appendChild(el('div', 'gm-history-version-head'));
      head.appendChild(el('span', 'gm-history-v', `v${v.version}`));
      head.appendChild(el('span', 'gm-history-author', v.author || '—'));
      head.appendChild(el('span', 'gm-history-time', formatTime(v.valid_from)));
      head.appendChild(el('span', 'gm-history-area', area(v.area_m2)));
      item.appendChild(el('div', 'gm-history-reason', isBlank(v.reason) ? '—' : v.reason));
      if (v.name && v.name !== versions[versions.length - 1].name) {
        item.appendChild(el('div', 'gm-history-name', v.name));
      }
      const showing = shownVersion === v.version;
      button(item, showing ? '隐藏 Hide' : '显示 Show', () => toggleVersion(v),
        showing ? 'gm-edit-button gm-history-show gm-on' : 'gm-edit-button gm-history-show');
    });
  }

  function renderLinks(title, entries, cls) {
    const section = box.appendChild(el('div', `gm-history-lineage ${cls}`));
    section.appendChild(el('div', 'gm-history-heading', title));
    if (!entries.length) {
      section.appendChild(el('div', 'gm-edit-hint', '—'));
      return;
    }
    const list = section.appendChild(el('ul'));
    entries.forEach((e) => {
      const item = list.appendChild(el('li'));
      const link = item.appendChild(el('a', 'gm-history-link', `${e.name || ''} ${e.code}`.trim()));
      link.href = '#';
      link.dataset.grid = String(e.id);
      link.addEventListener('click', (evt) => {
        evt.preventDefault();
        L.DomEvent.stopPropagation(evt);
        open(e.id, { zoom: true });
      });
      item.appendChild(el('span', 'gm-history-op', ` ${OPERATIONS[e.operation] || e.operation}`));
    });
  }

  function render() {
    box.textContent = '';
    if (!current) return;
    const last = current.versions[current.versions.length - 1];
    const retired = !isBlank(last.valid_to);
    box.appendChild(el('div', 'gm-edit-name', last.name || '—'));
    box.appendChild(el('div', 'gm-edit-code', `${last.code} · ${last.layer}${retired ? ' · 已撤销 retired' : ''}`));
    renderTimeline(current.versions);
    const lineage = current.lineage || { ancestors: [], descendants: [] };
    // the nearest first: the grids this one came from directly, then theirs
    renderLinks('来自 Came from', lineage.ancestors || [], 'gm-history-from');
    renderLinks('变为 Became', lineage.descendants || [], 'gm-history-became');
    const row = box.appendChild(el('div', 'gm-edit-actions'));
    button(row, '关闭 Close', close, 'gm-edit-button');
  }

  async function open(gridId, options) {
    if (isBlank(gridId)) return;
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    const epoch = auth.epoch;
    box.textContent = '';
    box.appendChild(el('div', 'gm-edit-hint', '…'));
    panel.open();
    try {
      const id = encodeURIComponent(gridId);
      const [versions, lineage] = await Promise.all([
        ctx.api(`/grids/${id}/history`, { signal: mine.signal }),
        ctx.api(`/grids/${id}/lineage`, { signal: mine.signal }),
      ]);
      if (mine.signal.aborted || epoch !== auth.epoch) return;
      current = { id: gridId, versions, lineage };
      clearDrawn();
      if (options && options.zoom && versions.length) {
        // a retired grid is no longer on the map: its last version shows where it was
        draw(versions[versions.length - 1].geometry, LINK_STYLE, true);
      }
      ctx.messages.clear(OWNER);
      render();
    } catch (err) {
      if (err.name === 'AbortError' || isQuiet(err)) return;
      box.textContent = '';
      ctx.messages.error(`历史 History: ${err.message}`, OWNER);
      panel.hide();
    } finally {
      if (controller === mine) controller = null;
    }
  }

  // The grid popup (popups.js) is built when it opens; a "历史 History" button goes in at the end.
  // The popup names the grid by code, and the overlays hold its feature (and so its id).
  function featureByCode(code) {
    for (const g of ctx.grids || []) {
      let found = null;
      g.group.eachLayer((layer) => {
        const walk = layer.eachLayer ? layer : null;
        const check = (l) => {
          const f = l.feature;
          if (!found && f && f.properties && f.properties.code === code) found = f;
        };
        if (walk) walk.eachLayer(check);
        else check(layer);
      });
      if (found) return found;
    }
    return null;
  }

  map.on('popupopen', (e) => {
    const root = e.popup.getElement() && e.popup.getElement().querySelector('.gm-popup');
    if (!root || root.querySelector('.gm-history-open')) return;
    const codeRow = Array.from(root.querySelectorAll('th')).find((th) => th.textContent.startsWith('Code'));
    const code = codeRow && codeRow.nextElementSibling ? codeRow.nextElementSibling.textContent : null;
    const feature = code ? featureByCode(code) : null;
    if (!feature) return;
    const id = isBlank(feature.properties.id) ? feature.id : feature.properties.id;
    const row = root.appendChild(el('div', 'gm-edit-actions'));
    button(row, '历史 History', () => open(id), 'gm-edit-button gm-history-open');
    e.popup.update();
  });

  ctx.on('grids-changed', () => {
    if (current) open(current.id);
  });
  auth.listeners.add((event) => {
    if (event === 'signin' || event === 'signout' || event === 'expired') close();
  });

  ctx.history = { open, close, drawn };
}
