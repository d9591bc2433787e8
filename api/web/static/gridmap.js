/*
 * gridmap.js: the browser side of the gridmap web map.
 *
 * The HTML page (api/web/map.py) only creates the Leaflet map, fits it to the
 * county and calls `gridmap.init(map, config)`. It embeds no data: everything
 * shown here is fetched from the JSON API (same origin, relative URLs) for the
 * part of the county in view, so the page stays light even for a district with
 * 100k households.
 *
 * config = {
 *   layers: [{code, name, color}],   // grid layers in display order; first is on
 *   bounds: [minlon, minlat, maxlon, maxlat],  // the county
 *   pointMinZoom: 14                 // households/cameras/events/staff from here on
 * }
 *
 * Plain ES2017 and Leaflet 1.9; no framework.
 */
(function (global) {
  'use strict';

  const GRID_PAGE_LIMIT = 1000;
  const DIVISION_PAGE_LIMIT = 1000;
  const POINT_LIMIT = 2000;
  // Enough for the largest grid layer (~10,000 polygons) at 1000 per page;
  // a runaway `next` chain must not keep the browser busy forever.
  const MAX_PAGES = 20;
  // Scroll-wheel zooming fires one moveend per step; wait for the view to
  // settle before asking the server.
  const MOVE_DEBOUNCE_MS = 200;
  const MESSAGE_TIMEOUT_MS = 10000;

  // ---------------------------------------------------------------- helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Leaflet's layers control inserts overlay names as HTML, so anything that
  // came from the server must be escaped before it goes there.
  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({
      '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    })[c]);
  }

  // Colours end up in style attributes; accept only plain hex.
  function safeColor(value, fallback) {
    return /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(value || '') ? value : fallback;
  }

  function isBlank(value) {
    return value === undefined || value === null || value === '';
  }

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // --------------------------------------------------------------- HTTP

  class HttpError extends Error {}

  // Turn an error response into one readable line. The API answers errors
  // with problem+json ({title, detail}); anything else gets the status line.
  async function describeErrorResponse(resp) {
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      // not JSON (proxy error page, empty body): fall through
    }
    if (body && (body.title || body.detail)) {
      let detail = body.detail;
      if (detail && typeof detail !== 'string') detail = JSON.stringify(detail);
      return [body.title, detail].filter(Boolean).join(': ');
    }
    return `HTTP ${resp.status} ${resp.statusText || ''}`.trim();
  }

  async function fetchJson(url, signal) {
    let resp;
    try {
      resp = await fetch(url, {
        signal,
        credentials: 'same-origin',
        headers: { Accept: 'application/geo+json, application/json' },
      });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new HttpError('network error, the server could not be reached');
    }
    if (!resp.ok) throw new HttpError(await describeErrorResponse(resp));
    return resp.json();
  }

  // `links` may hold absolute URLs built from the server's idea of its host
  // (which can differ behind a proxy); keep only path and query so every
  // request stays same-origin.
  function nextLink(collection) {
    const links = (collection && collection.links) || [];
    const next = links.find((link) => link && link.rel === 'next' && link.href);
    if (!next) return null;
    const url = new URL(next.href, global.location.href);
    return url.pathname + url.search;
  }

  function clamp(v, lo, hi) {
    return Math.min(hi, Math.max(lo, v));
  }

  // Padded views can run past the poles/antimeridian when zoomed far out;
  // the API wants a valid WGS84 box.
  function clampBounds(bounds) {
    const sw = bounds.getSouthWest();
    const ne = bounds.getNorthEast();
    return L.latLngBounds(
      [clamp(sw.lat, -90, 90), clamp(sw.lng, -180, 180)],
      [clamp(ne.lat, -90, 90), clamp(ne.lng, -180, 180)]
    );
  }

  function bboxParam(bounds) {
    return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
      .map((v) => v.toFixed(6))
      .join(',');
  }

  // ----------------------------------------------------- on-map UI pieces

  // A small dismissible box for failed requests. Repeats of one message are
  // counted instead of stacked, since every pan can fail the same way.
  function createMessageBox(map) {
    const box = el('div', 'gm-messages');
    box.setAttribute('role', 'alert');
    map.getContainer().appendChild(box);
    L.DomEvent.disableClickPropagation(box);
    const shown = new Map();

    function remove(text) {
      const entry = shown.get(text);
      if (!entry) return;
      clearTimeout(entry.timer);
      entry.node.remove();
      shown.delete(text);
    }

    function show(text) {
      let entry = shown.get(text);
      if (entry) {
        entry.count += 1;
        entry.counter.textContent = ` ×${entry.count}`;
        clearTimeout(entry.timer);
      } else {
        const node = el('div', 'gm-message');
        node.appendChild(el('span', null, text));
        const counter = node.appendChild(el('span', 'gm-message-count'));
        const close = node.appendChild(el('button', 'gm-message-close', '×'));
        close.type = 'button';
        close.title = 'Dismiss';
        close.addEventListener('click', () => remove(text));
        box.appendChild(node);
        entry = { node, counter, count: 1 };
        shown.set(text, entry);
      }
      entry.timer = setTimeout(() => remove(text), MESSAGE_TIMEOUT_MS);
    }

    return { show };
  }

  // Short status lines in a map corner (zoom hints, "first 2000 shown", ...),
  // keyed so each part of the app can set or clear its own line.
  function createNotes(map) {
    const lines = new Map();
    const control = L.control({ position: 'bottomleft' });
    let container = null;
    control.onAdd = function () {
      container = el('div', 'gm-notes');
      render();
      return container;
    };

    function render() {
      if (!container) return;
      container.textContent = '';
      lines.forEach((text) => container.appendChild(el('div', 'gm-note', text)));
      container.style.display = lines.size ? '' : 'none';
    }

    function set(key, text) {
      if (text) lines.set(key, text);
      else lines.delete(key);
      render();
    }

    control.addTo(map);
    return { set };
  }

  function createLegend(map, layers) {
    if (!layers.length) return;
    const control = L.control({ position: 'bottomright' });
    control.onAdd = function () {
      const box = el('div', 'gm-legend');
      box.appendChild(el('div', 'gm-legend-title', 'Grid layers 网格图层'));
      layers.forEach((layer) => {
        const row = box.appendChild(el('div', 'gm-legend-row'));
        const swatch = row.appendChild(el('span', 'gm-swatch'));
        swatch.style.borderColor = layer.color;
        swatch.style.backgroundColor = layer.color;
        row.appendChild(el('span', null, layer.name));
      });
      return box;
    };
    control.addTo(map);
  }

  // ------------------------------------------------------------- popups

  function formatValue(value, suffix) {
    if (isBlank(value)) return '—';
    return suffix ? `${value}${suffix}` : String(value);
  }

  function formatTime(value) {
    if (isBlank(value)) return '—';
    const date = new Date(value);
    return isNaN(date.getTime()) ? String(value) : date.toLocaleString('zh-CN', { hour12: false });
  }

  // rows: [[label, text], ...]
  function propTable(rows) {
    const table = el('table', 'gm-props');
    rows.forEach(([label, text]) => {
      const tr = table.appendChild(el('tr'));
      tr.appendChild(el('th', null, label));
      tr.appendChild(el('td', null, text));
    });
    return table;
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
  function openGridPopup(map, ui, feature, layerName, latlng) {
    const p = feature.properties || {};
    const id = isBlank(p.id) ? feature.id : p.id;
    const root = popupRoot(p.name);
    root.appendChild(propTable([
      ['Code 编码', formatValue(p.code)],
      ['Layer 图层', layerName],
      ['Division 区划', formatValue(p.division_code)],
    ]));
    const counts = root.appendChild(el('div', 'gm-counts', '…'));

    const popup = L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(root).openOn(map);
    if (isBlank(id)) {
      counts.textContent = 'No grid id: counts unavailable';
      return;
    }
    const controller = new AbortController();
    // Closing the popup (or opening another) makes the answer useless.
    popup.once('remove', () => controller.abort());

    fetchJson(`/grids/${encodeURIComponent(id)}`, controller.signal)
      .then((detail) => {
        const c = (detail && detail.properties && detail.properties.counts) || {};
        counts.textContent = '';
        counts.appendChild(propTable(COUNT_FIELDS.map(([key, label]) => [label, formatValue(c[key])])));
        popup.update(); // content is an element, so this only re-lays out
      })
      .catch((err) => {
        if (err.name === 'AbortError') return;
        counts.textContent = `Could not load counts: ${err.message}`;
        counts.classList.add('gm-error');
        popup.update();
      });
  }

  function divisionPopup(feature, levelLabel) {
    const p = feature.properties || {};
    const root = popupRoot(p.name);
    root.appendChild(propTable([
      ['Level 级别', levelLabel],
      ['Code 区划代码', formatValue(p.code)],
    ]));
    return root;
  }

  // One entry per point kind: API path, overlay label, marker colour and the
  // popup fields as [property, label, formatter].
  const POINT_KINDS = [
    {
      key: 'households', label: 'Households 户', noun: 'households', color: '#2171b5', title: 'address',
      fields: [
        ['address', 'Address 地址', formatValue],
        ['residents', 'Residents 人口', formatValue],
        ['group_code', 'Group 村民小组', formatValue],
      ],
    },
    {
      key: 'cameras', label: 'Cameras 摄像头', noun: 'cameras', color: '#252525', title: 'name',
      fields: [
        ['code', 'Code 编码', formatValue],
        ['name', 'Name 名称', formatValue],
        ['bearing', 'Bearing 朝向', (v) => formatValue(v, '°')],
        ['fov', 'FOV 视角', (v) => formatValue(v, '°')],
        ['range_m', 'Range 距离', (v) => formatValue(v, ' m')],
        ['status', 'Status 状态', formatValue],
      ],
    },
    {
      key: 'events', label: 'Events 事件', noun: 'events', color: '#d94801', title: 'category',
      fields: [
        ['category', 'Category 类别', formatValue],
        ['status', 'Status 状态', formatValue],
        ['reported_at', 'Reported 上报时间', formatTime],
        ['source', 'Source 来源', formatValue],
      ],
    },
    {
      key: 'staff', label: 'Staff 人员', noun: 'staff', color: '#238b45', title: 'name',
      fields: [
        ['name', 'Name 姓名', formatValue],
        ['role', 'Role 角色', formatValue],
        ['availability', 'Availability 在岗状态', formatValue],
      ],
    },
  ];

  function pointPopup(kind, feature) {
    const p = feature.properties || {};
    const root = popupRoot(isBlank(p[kind.title]) ? kind.label : p[kind.title]);
    root.appendChild(propTable(kind.fields.map(([key, label, fmt]) => [label, fmt(p[key])])));
    return root;
  }

  // ------------------------------------------------------- view loaders

  // Keeps one overlay filled for the current view.
  //
  // Each load asks for the view padded by `pad`, so small pans and zooming in
  // need no new request: we reload only when the view leaves the area already
  // loaded. At the initial (county-wide) view the padded box covers the whole
  // county, so a grid layer of a few thousand polygons is fetched once and
  // never again. A load cut short by the page cap is not trusted as covering
  // its area, so the next move loads again (by then usually a smaller view).
  //
  // spec: {key, label, group, url(bbox), minZoom, pad, maxPages, truncatedNote}
  function createViewLoader(map, ui, spec) {
    let loaded = null; // L.LatLngBounds fully loaded, or null
    let controller = null;

    function abort() {
      if (controller) controller.abort();
      controller = null;
    }

    function stop() {
      abort();
      ui.notes.set(`${spec.key}:truncated`, null);
    }

    function active() {
      return map.hasLayer(spec.group);
    }

    async function refresh() {
      if (!active()) return stop();
      if (map.getZoom() < spec.minZoom) {
        // Drop what is shown: stale points from another area would mislead.
        stop();
        spec.group.clearLayers();
        loaded = null;
        return;
      }
      const view = map.getBounds();
      if (loaded && loaded.contains(view)) return;

      abort(); // the view moved on: the previous answer is no longer wanted
      const mine = new AbortController();
      controller = mine;
      loaded = null;
      const area = clampBounds(view.pad(spec.pad));
      let url = spec.url(bboxParam(area));
      let pages = 0;
      let truncated = false;
      try {
        while (url) {
          const data = await fetchJson(url, mine.signal);
          if (mine.signal.aborted) return; // superseded while the body was parsed
          // Swap contents only once the first page is in, so the old
          // features stay visible while the request is in flight.
          if (pages === 0) spec.group.clearLayers();
          spec.group.addData((data && data.features) || []);
          pages += 1;
          url = nextLink(data);
          if (url && pages >= spec.maxPages) {
            truncated = true;
            break;
          }
        }
        loaded = truncated ? null : area;
        ui.notes.set(`${spec.key}:truncated`, truncated ? spec.truncatedNote : null);
        ui.restack();
      } catch (err) {
        if (err.name === 'AbortError') return;
        ui.messages.show(`${spec.label}: ${err.message}`);
      } finally {
        if (controller === mine) controller = null;
      }
    }

    return { refresh, stop, group: spec.group };
  }

  // ----------------------------------------------------------- overlays

  function gridStyle(color) {
    return { color, weight: 1, opacity: 0.9, fillColor: color, fillOpacity: 0.12 };
  }

  function createGridOverlay(map, ui, layer) {
    const base = gridStyle(layer.color);
    const group = L.geoJSON(null, {
      style: () => base,
      onEachFeature(feature, path) {
        path.on('click', (e) => openGridPopup(map, ui, feature, layer.name, e.latlng));
        // Hover feedback: with thousands of thin outlines it is otherwise
        // hard to tell which grid a click will hit.
        path.on('mouseover', () => path.setStyle({ weight: 2.5, fillOpacity: 0.3 }));
        path.on('mouseout', () => path.setStyle(base));
      },
    });
    const loader = createViewLoader(map, ui, {
      key: `grid:${layer.code}`,
      label: layer.name,
      group,
      url: (bbox) => `/grids?layer=${encodeURIComponent(layer.code)}&bbox=${bbox}&limit=${GRID_PAGE_LIMIT}`,
      minZoom: 0,
      pad: 0.5,
      maxPages: MAX_PAGES,
      truncatedNote: `${layer.name}: too many grids for this view, zoom in to see all`,
    });
    return loader;
  }

  const DIVISION_LEVELS = [
    {
      level: 'township', label: 'Townships 乡镇/街道', levelLabel: '乡镇/街道 township',
      // fillOpacity 0 (not fill: false) keeps the inside clickable under SVG
      // too; the canvas renderer hit-tests the inside either way.
      style: { color: '#3f3f3f', weight: 2.5, opacity: 0.9, dashArray: '8 4', fill: true, fillOpacity: 0 },
    },
    {
      level: 'village', label: 'Villages 村/社区', levelLabel: '村/社区 village',
      style: { color: '#6b6b6b', weight: 1.2, opacity: 0.9, dashArray: '3 3', fill: true, fillOpacity: 0 },
    },
  ];

  function createDivisionOverlay(map, ui, spec) {
    const group = L.geoJSON(null, {
      style: () => spec.style,
      onEachFeature(feature, path) {
        path.bindPopup(() => divisionPopup(feature, spec.levelLabel), { maxWidth: 320 });
      },
    });
    return createViewLoader(map, ui, {
      key: `division:${spec.level}`,
      label: spec.label,
      group,
      url: (bbox) => `/divisions?level=${spec.level}&bbox=${bbox}&limit=${DIVISION_PAGE_LIMIT}`,
      minZoom: 0,
      pad: 0.5,
      maxPages: MAX_PAGES,
      truncatedNote: `${spec.label}: not all shown, zoom in`,
    });
  }

  function createPointOverlay(map, ui, kind, minZoom) {
    const style = {
      radius: 4, color: '#ffffff', weight: 1, fillColor: kind.color, fillOpacity: 0.9,
    };
    const group = L.geoJSON(null, {
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, style),
      onEachFeature(feature, marker) {
        marker.bindPopup(() => pointPopup(kind, feature), { maxWidth: 320 });
      },
    });
    // One page only: at zoom >= 14 a view rarely holds more than the limit,
    // and if it does the note asks to zoom in rather than pulling thousands.
    return createViewLoader(map, ui, {
      key: `points:${kind.key}`,
      label: kind.label,
      group,
      url: (bbox) => `/${kind.key}?bbox=${bbox}&limit=${POINT_LIMIT}`,
      minZoom,
      pad: 0.25,
      maxPages: 1,
      truncatedNote: `Showing the first ${POINT_LIMIT} ${kind.noun}; zoom in to see all`,
    });
  }

  // ---------------------------------------------------------------- init

  function normaliseLayers(layers) {
    const fallback = ['#d7301f', '#2b8cbe', '#31a354', '#756bb1', '#e6550d', '#636363'];
    return (layers || []).map((layer, i) => ({
      code: String(layer.code),
      name: String(layer.name || layer.code),
      color: safeColor(layer.color, fallback[i % fallback.length]),
    }));
  }

  function overlayLabel(text, color, round) {
    const cls = round ? 'gm-swatch gm-swatch-dot' : 'gm-swatch';
    const swatch = color
      ? `<span class="${cls}" style="background-color:${color};border-color:${color}"></span>`
      : '';
    return `${swatch}${escapeHtml(text)}`;
  }

  function init(map, config) {
    config = config || {};
    const layers = normaliseLayers(config.layers);
    const pointMinZoom = Number.isFinite(config.pointMinZoom) ? config.pointMinZoom : 14;
    map.getContainer().classList.add('gm-map');
    // Leaflet 1.9's default attribution prefix carries a national flag; a county government map
    // shows the library's name only.
    if (map.attributionControl) {
      map.attributionControl.setPrefix('Leaflet');
    }

    const ui = {
      messages: createMessageBox(map),
      notes: null,
      restack: null,
    };
    // The scale goes in first so the notes stack above it in the corner.
    L.control.scale({ metric: true, imperial: false, position: 'bottomleft' }).addTo(map);
    ui.notes = createNotes(map);
    createLegend(map, layers);

    const gridLoaders = layers.map((layer) => createGridOverlay(map, ui, layer));
    const divisionLoaders = DIVISION_LEVELS.map((spec) => createDivisionOverlay(map, ui, spec));
    const pointLoaders = POINT_KINDS.map((kind) => createPointOverlay(map, ui, kind, pointMinZoom));
    const allLoaders = divisionLoaders.concat(gridLoaders, pointLoaders);

    // All vector layers share one canvas, where the last drawn shape wins a
    // click. Keep divisions at the bottom, grids above them and points on top,
    // so each click reaches the most specific thing under the pointer.
    ui.restack = function () {
      allLoaders.forEach((loader) => {
        if (map.hasLayer(loader.group)) loader.group.bringToFront();
      });
    };

    if (gridLoaders.length) gridLoaders[0].group.addTo(map);
    const control = L.control.layers(null, null, {
      position: 'topright',
      collapsed: global.innerWidth < 700, // keep small screens usable
    }).addTo(map);
    // addOverlay one by one (not an object keyed by label) so two layers
    // that happen to share a name both get an entry.
    layers.forEach((layer, i) => {
      control.addOverlay(gridLoaders[i].group, overlayLabel(layer.name, layer.color));
    });
    DIVISION_LEVELS.forEach((spec, i) => {
      control.addOverlay(divisionLoaders[i].group, overlayLabel(spec.label));
    });
    POINT_KINDS.forEach((kind, i) => {
      control.addOverlay(pointLoaders[i].group, overlayLabel(kind.label, kind.color, true));
    });

    // One combined hint for all point overlays that are on but not loaded.
    function updateZoomNote() {
      const wanted = POINT_KINDS.filter((kind, i) => map.hasLayer(pointLoaders[i].group));
      const show = wanted.length && map.getZoom() < pointMinZoom;
      ui.notes.set('zoom', show
        ? `Zoom in (level ${pointMinZoom}+) to see ${wanted.map((k) => k.noun).join(', ')}`
        : null);
    }

    function refreshAll() {
      allLoaders.forEach((loader) => loader.refresh());
      updateZoomNote();
    }

    function loaderFor(layer) {
      return allLoaders.find((loader) => loader.group === layer);
    }

    map.on('moveend', debounce(refreshAll, MOVE_DEBOUNCE_MS));
    map.on('overlayadd', (e) => {
      const loader = loaderFor(e.layer);
      if (loader) loader.refresh();
      ui.restack();
      updateZoomNote();
    });
    map.on('overlayremove', (e) => {
      const loader = loaderFor(e.layer);
      if (loader) loader.stop();
      updateZoomNote();
    });

    refreshAll();
    return { refresh: refreshAll };
  }

  global.gridmap = { init };
})(window);
