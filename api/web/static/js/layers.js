/*
 * layers.js: the map's overlays and the layers control.
 *
 * One overlay per grid layer (the first one on), township and village outlines, and
 * households, cameras, events and staff as points from pointMinZoom on; each kept filled for
 * the view by a loader (viewloader.js), and only while somebody is signed in. The layers
 * control lists them all; the legend names the grid layers' colours.
 *
 * Sets on ctx: layers (normalised grid layers {code, name, label, color}), grids, divisions,
 * points (one {…, group, refresh(), reset(), reload()} each), layersControl, restack().
 * Listens to 'grids-changed' {codes, layers?} (codes: the grid codes written; the grid overlays
 * of `layers` (layer codes) reload, all of them without it) and
 * 'territory'; emits 'view-changed' after the view settles and 'grid-selected' on a grid click.
 */

import { debounce, formatTime, formatValue, overlayLabel, safeColor } from './core/dom.js';
import { openGridPopup, pointPopup } from './popups.js';
import { createViewLoader } from './viewloader.js';

export const GRID_PAGE_LIMIT = 1000;
export const DIVISION_PAGE_LIMIT = 1000;
// The server's largest page (GRIDMAP_PAGE_MAX, default 1000); a dense village at zoom 15 holds
// several thousand households, so points follow a few next links.
export const POINT_LIMIT = 1000;
const POINT_PAGES = 5;
// Enough for the largest grid layer (~10,000 polygons) at 1000 per page;
// a runaway `next` chain must not keep the browser busy forever.
const MAX_PAGES = 20;
// Scroll-wheel zooming fires one moveend per step; wait for the view to
// settle before asking the server.
const MOVE_DEBOUNCE_MS = 200;
// English names of the known grid layers; the server names them in Chinese.
const LAYER_ENGLISH = {
  comprehensive: 'Comprehensive',
  party: 'Party-building',
  emergency: 'Emergency',
  dedicated: 'Dedicated',
  micro: 'Micro-grid',
};
const FALLBACK_COLORS = ['#d7301f', '#2b8cbe', '#31a354', '#756bb1', '#e6550d', '#636363'];

// Division outlines follow the same borders as many grids, so they are drawn
// in panes of their own above the grids (Leaflet's overlayPane is 400),
// townships over villages. Those panes take no pointer events at all: every
// click goes through to the grids and points below, and a division popup
// opens only from the map's own click (popups.js), i.e. where no grid or point is.
export const DIVISION_LEVELS = [
  {
    level: 'township', label: 'Townships 乡镇/街道', levelLabel: '乡镇/街道 township',
    pane: 'gmTownships', zIndex: 460,
    style: { color: '#000000', weight: 2.5, opacity: 0.9, fill: false },
  },
  {
    level: 'village', label: 'Villages 村/社区', levelLabel: '村/社区 village',
    pane: 'gmVillages', zIndex: 450,
    style: { color: '#4a4a4a', weight: 1.5, opacity: 0.95, dashArray: '5 4', fill: false },
  },
];

// One entry per point kind: API path, overlay label, marker colour and the
// popup fields as [property, label, formatter].
export const POINT_KINDS = [
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

// The server's (Chinese) name, followed by the English for known codes.
function layerLabel(code, name) {
  const english = Object.prototype.hasOwnProperty.call(LAYER_ENGLISH, code) ? LAYER_ENGLISH[code] : '';
  return english && !name.includes(english) ? `${name} ${english}` : name;
}

export function normaliseLayers(layers) {
  return (layers || []).map((layer, i) => {
    const code = String(layer.code);
    const name = String(layer.name || layer.code);
    return { code, name, label: layerLabel(code, name), color: safeColor(layer.color, FALLBACK_COLORS[i % FALLBACK_COLORS.length]) };
  });
}

function gridStyle(color) {
  return { color, weight: 1, opacity: 0.9, fillColor: color, fillOpacity: 0.12 };
}

function createGridOverlay(ctx, layer) {
  const base = gridStyle(layer.color);
  const group = L.geoJSON(null, {
    style: () => base,
    onEachFeature(feature, path) {
      path.on('click', (e) => {
        // A grid took the click: the map's own click (the division popup) must not follow.
        L.DomEvent.stopPropagation(e);
        // In edit mode the editor takes the click (select, draw, merge).
        if (ctx.editor && ctx.editor.onGridClick(feature, layer, e)) return;
        openGridPopup(ctx, feature, layer.label, e.latlng);
        ctx.emit('grid-selected', { feature, layer });
      });
      // Hover feedback: with thousands of thin outlines it is otherwise
      // hard to tell which grid a click will hit.
      path.on('mouseover', () => path.setStyle({ weight: 2.5, fillOpacity: 0.3 }));
      path.on('mouseout', () => path.setStyle(base));
    },
  });
  const loader = createViewLoader(ctx, {
    key: `grid:${layer.code}`,
    label: layer.label,
    group,
    url: (bbox) => `/grids?layer=${encodeURIComponent(layer.code)}&bbox=${bbox}&limit=${GRID_PAGE_LIMIT}`,
    minZoom: 0,
    pad: 0.5,
    maxPages: MAX_PAGES,
    truncatedNote: `${layer.label}: too many grids for this view, zoom in to see all`,
    noteEmpty: true,
  });
  return Object.assign({ layer }, loader);
}

function divisionPane(map, spec) {
  let pane = map.getPane(spec.pane);
  if (!pane) {
    pane = map.createPane(spec.pane);
    pane.style.zIndex = String(spec.zIndex);
    pane.style.pointerEvents = 'none'; // gridmap.css says so too
    L.DomUtil.addClass(pane, 'gm-division-pane');
  }
  return spec.pane;
}

function createDivisionOverlay(ctx, spec) {
  const group = L.geoJSON(null, {
    pane: divisionPane(ctx.map, spec),
    interactive: false,
    style: () => spec.style,
  });
  const loader = createViewLoader(ctx, {
    key: `division:${spec.level}`,
    label: spec.label,
    group,
    url: (bbox) => `/divisions?level=${spec.level}&bbox=${bbox}&limit=${DIVISION_PAGE_LIMIT}`,
    minZoom: 0,
    pad: 0.5,
    maxPages: MAX_PAGES,
    truncatedNote: `${spec.label}: not all shown, zoom in`,
  });
  return Object.assign({ level: spec.level, label: spec.label, levelLabel: spec.levelLabel }, loader);
}

function createPointOverlay(ctx, kind, minZoom) {
  const style = { radius: 4, color: '#ffffff', weight: 1, fillColor: kind.color, fillOpacity: 0.9 };
  const group = L.geoJSON(null, {
    pointToLayer: (feature, latlng) => L.circleMarker(latlng, style),
    onEachFeature(feature, marker) {
      marker.bindPopup(() => pointPopup(kind, feature), { maxWidth: 320 });
    },
  });
  // A few pages at most: beyond POINT_LIMIT * POINT_PAGES the note asks to zoom in
  // rather than pulling tens of thousands of points into the browser.
  const loader = createViewLoader(ctx, {
    key: `points:${kind.key}`,
    label: kind.label,
    group,
    url: (bbox) => `/${kind.key}?bbox=${bbox}&limit=${POINT_LIMIT}`,
    minZoom,
    pad: 0.1,
    maxPages: POINT_PAGES,
    truncatedNote: `Showing the first ${POINT_LIMIT * POINT_PAGES} ${kind.noun}; zoom in to see all`,
    noteEmpty: true,
  });
  return Object.assign({ kind }, loader);
}

function createLegend(map, layers) {
  if (!layers.length) return;
  const control = L.control({ position: 'bottomright' });
  control.onAdd = function () {
    const box = document.createElement('div');
    box.className = 'gm-legend';
    const title = box.appendChild(document.createElement('div'));
    title.className = 'gm-legend-title';
    title.textContent = 'Grid layers 网格图层';
    layers.forEach((layer) => {
      const row = box.appendChild(document.createElement('div'));
      row.className = 'gm-legend-row';
      const swatch = row.appendChild(document.createElement('span'));
      swatch.className = 'gm-swatch';
      swatch.style.borderColor = layer.color;
      swatch.style.backgroundColor = layer.color;
      row.appendChild(document.createElement('span')).textContent = layer.label;
    });
    return box;
  };
  control.addTo(map);
}

export function install(ctx) {
  const { map, auth, config } = ctx;
  const layers = normaliseLayers(config.layers);
  const pointMinZoom = Number.isFinite(config.pointMinZoom) ? config.pointMinZoom : 14;
  ctx.layers = layers;
  createLegend(map, layers);

  ctx.grids = layers.map((layer) => createGridOverlay(ctx, layer));
  ctx.divisions = DIVISION_LEVELS.map((spec) => createDivisionOverlay(ctx, spec));
  ctx.points = POINT_KINDS.map((kind) => createPointOverlay(ctx, kind, pointMinZoom));
  const all = ctx.divisions.concat(ctx.grids, ctx.points);

  // Grids and points share one canvas (overlayPane), where the last drawn
  // shape wins a click: keep grids below and points on top, so each click
  // reaches the most specific thing under the pointer. (Divisions have
  // panes of their own above, which take no clicks.)
  ctx.restack = function () {
    ctx.grids.concat(ctx.points).forEach((loader) => {
      if (map.hasLayer(loader.group)) loader.group.bringToFront();
    });
  };

  if (ctx.grids.length) ctx.grids[0].group.addTo(map);
  const control = L.control.layers(null, null, {
    position: 'topright',
    collapsed: window.innerWidth < 700, // keep small screens usable
  }).addTo(map);
  ctx.layersControl = control;
  // addOverlay one by one (not an object keyed by label) so two layers
  // that happen to share a name both get an entry.
  ctx.grids.forEach((g) => control.addOverlay(g.group, overlayLabel(g.layer.label, g.layer.color)));
  ctx.divisions.forEach((d) => control.addOverlay(d.group, overlayLabel(d.label)));
  ctx.points.forEach((p) => control.addOverlay(p.group, overlayLabel(p.kind.label, p.kind.color, true)));

  // One combined hint for all point overlays that are on but not loaded.
  function updateZoomNote() {
    const wanted = ctx.points.filter((p) => map.hasLayer(p.group)).map((p) => p.kind);
    const show = auth.signedIn() && wanted.length && map.getZoom() < pointMinZoom;
    ctx.notes.set('zoom', show
      ? `Zoom in (level ${pointMinZoom}+) to see ${wanted.map((k) => k.noun).join(', ')}`
      : null);
  }

  function refreshAll() {
    all.forEach((loader) => loader.refresh());
    updateZoomNote();
  }

  const loaderFor = (group) => all.find((loader) => loader.group === group);

  // The overlays as a fresh page has them: the first grid layer on, the
  // rest off. (The layers control follows, and so do the loaders through
  // overlayadd/overlayremove.)
  function resetOverlays() {
    all.forEach((loader) => {
      const on = ctx.grids.length > 0 && loader === ctx.grids[0];
      if (on && !map.hasLayer(loader.group)) map.addLayer(loader.group);
      if (!on && map.hasLayer(loader.group)) map.removeLayer(loader.group);
    });
  }

  // Nothing of a previous user's view may survive a change of session.
  auth.listeners.add((event) => {
    if (event === 'signin' || event === 'signout' || event === 'expired') {
      all.forEach((loader) => loader.reset());
      if (event === 'signout') resetOverlays();
      if (event === 'signin') refreshAll(); // what moveend would load for the overlays that are on
      updateZoomNote();
    }
  });
  ctx.on('territory', () => all.forEach((loader) => loader.renote()));
  ctx.on('grids-changed', (detail) => {
    const only = detail && Array.isArray(detail.layers) && detail.layers.length ? detail.layers : null;
    ctx.grids.forEach((g) => {
      if (!only || only.includes(g.layer.code)) g.reload();
    });
  });

  map.on('moveend', debounce(() => {
    refreshAll();
    ctx.emit('view-changed', { bounds: map.getBounds(), zoom: map.getZoom() });
  }, MOVE_DEBOUNCE_MS));
  map.on('overlayadd', (e) => {
    const loader = loaderFor(e.layer);
    if (loader) loader.refresh();
    ctx.restack();
    updateZoomNote();
  });
  map.on('overlayremove', (e) => {
    const loader = loaderFor(e.layer);
    if (loader) loader.stop();
    updateZoomNote();
  });

  if (auth.signedIn()) refreshAll();
}
