/*
 * labels.js: place names on the map — townships, villages and the grids of the grid overlays
 * that are on — and each grid layer's look (outline only, or filled at a chosen opacity).
 *
 * Where and when: every grid and division comes with a label point inside it and the room there
 * in metres (label_lon, label_lat, label_size_m: the maximum inscribed circle, migration 0017).
 * A name is drawn only when it fits that room at the current zoom (its width in pixels against
 * label_size_m / metres-per-pixel), so grid names appear as one zooms in and township names give
 * way at street level. Township names help from the county view to zoom 13, village names from
 * 12 to 16; a grid gets its name, and its code below when that fits too.
 *
 * Collisions: labels are placed greedily by importance (township > village > grid, then the
 * larger room first); one that would overlap a placed one is skipped. Redrawn after every
 * zoom and pan, when an overlay is switched and when a loader adds features. Text from the
 * server is set as textContent, never as HTML.
 *
 * Township and village names are fetched here (two small requests per sign-in), so the map
 * can be read with the division outlines off. Grid names come from the grid overlays' own
 * features (ctx.grids), so only the layers that are on are labelled.
 *
 * Styles: the "Layer style 图层样式" panel has, per grid layer, outline only / fill and an
 * opacity slider; kept in sessionStorage (gridmap.layerStyle). By default only the first layer
 * is filled, so with every layer on the map stays readable.
 */

import { debounce, el } from './core/dom.js';
import { isQuiet, nextLink } from './core/http.js';

const FONT_PX = { township: 15, village: 13, grid: 12, code: 10 };
const FONT_FAMILY = 'system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
const ZOOMS = { township: [0, 13], village: [12, 16], grid: [0, 30] };
const IMPORTANCE = { township: 0, village: 1, grid: 2 };
const PAD_PX = 3; // space kept around each label
const EARTH_M = 40075016.686;
const STYLE_KEY = 'gridmap.layerStyle';
const DEFAULT_OPACITY = 0.12;

// Inline, so the module needs no stylesheet of its own: dark text in a white halo reads on any fill.
const HALO = 'text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff;';
const BASE_CSS = `position:absolute;white-space:nowrap;text-align:center;line-height:1.25;${HALO}`;
const LABEL_CSS = {
  township: `${BASE_CSS}color:#111;`,
  village: `${BASE_CSS}color:#333;`,
  grid: `${BASE_CSS}color:#14466b;`,
};

let measureCtx = null;

function textWidth(text, px, weight) {
  if (!measureCtx) measureCtx = document.createElement('canvas').getContext('2d');
  measureCtx.font = `${weight || 400} ${px}px ${FONT_FAMILY}`;
  return measureCtx.measureText(text).width;
}

function metresPerPixel(map, lat) {
  return (EARTH_M * Math.cos((lat * Math.PI) / 180)) / (256 * Math.pow(2, map.getZoom()));
}

// {kind, layer, text, code?, lat, lon, size} from a GeoJSON feature's properties, or null.
function candidate(kind, p, layer) {
  const lat = Number(p.label_lat);
  const lon = Number(p.label_lon);
  const size = Number(p.label_size_m);
  if (!p.name || !Number.isFinite(lat) || !Number.isFinite(lon) || !(size > 0)) return null;
  return { kind, layer: layer || kind, text: String(p.name), code: kind === 'grid' && p.code ? String(p.code) : null,
           lat, lon, size };
}

// The lines to draw for a candidate at this zoom, with the box they take, or null when none fits.
function fitted(map, c) {
  const [lo, hi] = ZOOMS[c.kind];
  const zoom = map.getZoom();
  if (zoom < lo || zoom > hi) return null;
  const room = c.size / metresPerPixel(map, c.lat); // the inscribed circle's diameter in pixels
  const weight = c.kind === 'township' ? 700 : 500;
  const lines = [{ text: c.text, px: FONT_PX[c.kind], weight, width: textWidth(c.text, FONT_PX[c.kind], weight) }];
  if (lines[0].width > room || lines[0].px > room) return null;
  if (c.code) {
    const code = { text: c.code, px: FONT_PX.code, weight: 400, width: textWidth(c.code, FONT_PX.code, 400) };
    if (code.width <= room && lines[0].px + code.px + 2 <= room * 0.8) lines.push(code);
  }
  const width = Math.max(...lines.map((l) => l.width));
  const height = lines.reduce((h, l) => h + l.px * 1.25, 0);
  return { lines, width, height };
}

function overlaps(a, b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

function createLabelLayer(ctx) {
  const { map } = ctx;
  const pane = map.createPane('gmLabels');
  pane.style.zIndex = '470'; // above the division outlines (450, 460), below popups
  pane.style.pointerEvents = 'none';
  const box = pane.appendChild(el('div', 'gm-labels'));
  box.style.cssText = 'position:absolute;left:0;top:0;';
  let divisions = { township: [], village: [] };
  let epoch = 0;

  function gridCandidates() {
    const out = [];
    (ctx.grids || []).forEach((g) => {
      if (!map.hasLayer(g.group)) return;
      g.group.eachLayer((path) => {
        const c = candidate('grid', (path.feature && path.feature.properties) || {}, g.layer.code);
        if (c) out.push(c);
      });
    });
    return out;
  }

  function draw() {
    box.replaceChildren();
    box.style.display = '';
    if (!ctx.auth.signedIn()) return;
    const view = map.getBounds().pad(0.1);
    const all = divisions.township.concat(divisions.village, gridCandidates())
      .filter((c) => view.contains([c.lat, c.lon]))
      .sort((a, b) => IMPORTANCE[a.kind] - IMPORTANCE[b.kind] || b.size - a.size);
    const placed = [];
    all.forEach((c) => {
      const fit = fitted(map, c);
      if (!fit) return;
      const pt = map.latLngToLayerPoint([c.lat, c.lon]);
      const rect = { x0: pt.x - fit.width / 2 - PAD_PX, x1: pt.x + fit.width / 2 + PAD_PX,
                     y0: pt.y - fit.height / 2 - PAD_PX, y1: pt.y + fit.height / 2 + PAD_PX };
      if (placed.some((r) => overlaps(r, rect))) return;
      placed.push(rect);
      const label = box.appendChild(el('div', `gm-label gm-label-${c.kind}`));
      label.style.cssText = LABEL_CSS[c.kind];
      label.dataset.layer = c.layer; // the grid layer's code, or the division level
      fit.lines.forEach((line, i) => {
        const span = label.appendChild(el('span', i ? 'gm-label-code' : 'gm-label-name', line.text));
        span.style.display = 'block';
        span.style.fontSize = `${line.px}px`;
        span.style.fontWeight = String(line.weight);
      });
      label.style.fontFamily = FONT_FAMILY;
      L.DomUtil.setPosition(label, L.point(Math.round(rect.x0 + PAD_PX), Math.round(rect.y0 + PAD_PX)));
      label.style.width = `${Math.ceil(fit.width) + 1}px`;
    });
  }

  const redraw = debounce(draw, 60);

  async function loadDivisions() {
    const mine = ++epoch;
    const next = { township: [], village: [] };
    try {
      for (const level of ['township', 'village']) {
        let url = `/divisions?level=${level}&limit=1000`;
        for (let page = 0; url && page < 10; page += 1) {
          const body = await ctx.api(url);
          (body.features || []).forEach((f) => {
            const c = candidate(level, f.properties || {});
            if (c) next[level].push(c);
          });
          url = nextLink(body);
        }
      }
    } catch (err) {
      // No session any more, or a role without the map (403): nothing to say. Anything else: a quiet note.
      if (mine === epoch && !isQuiet(err) && err.status !== 403) {
        ctx.notes.set('labels', 'Place names could not be loaded 地名加载失败');
      }
      return;
    }
    if (mine !== epoch) return;
    ctx.notes.set('labels', null);
    divisions = next;
    draw();
  }

  function clear() {
    epoch += 1;
    divisions = { township: [], village: [] };
    box.replaceChildren();
  }

  map.on('zoomstart', () => { box.style.display = 'none'; });
  map.on('moveend overlayadd overlayremove', redraw);
  (ctx.grids || []).forEach((g) => g.group.on('layeradd layerremove', redraw));
  ctx.on('grids-changed', redraw);
  ctx.auth.listeners.add((event) => {
    if (event === 'signin') loadDivisions();
    if (event === 'signout' || event === 'expired') clear();
  });
  if (ctx.auth.signedIn()) loadDivisions();
  return { draw, placed: () => Array.from(box.children) };
}

// ---------------------------------------------------------------- layer styles

function readStyles() {
  try {
    const parsed = JSON.parse(sessionStorage.getItem(STYLE_KEY) || '{}');
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch (err) {
    return {};
  }
}

function createStylePanel(ctx) {
  const saved = readStyles();
  const styles = {};
  (ctx.grids || []).forEach((g, i) => {
    const s = saved[g.layer.code] || {};
    const opacity = Number(s.opacity);
    styles[g.layer.code] = {
      fill: typeof s.fill === 'boolean' ? s.fill : i === 0,
      opacity: Number.isFinite(opacity) && opacity >= 0 && opacity <= 1 ? opacity : DEFAULT_OPACITY,
    };
  });

  const pathStyle = (code) => ({ fill: true, fillOpacity: styles[code].fill ? styles[code].opacity : 0 });

  function apply(g) {
    // Fill stays "on" with opacity 0 in outline mode, so a click inside a grid still selects it.
    g.group.setStyle(pathStyle(g.layer.code));
  }

  function save() {
    try { sessionStorage.setItem(STYLE_KEY, JSON.stringify(styles)); } catch (err) { /* private mode */ }
  }

  const body = el('div', 'gm-style-panel');
  (ctx.grids || []).forEach((g) => {
    const code = g.layer.code;
    const row = body.appendChild(el('div', 'gm-style-row'));
    row.dataset.layer = code;
    const name = row.appendChild(el('span', 'gm-style-name', g.layer.label));
    name.style.borderLeft = `4px solid ${g.layer.color}`;
    const choice = row.appendChild(el('select', 'gm-style-mode'));
    choice.setAttribute('aria-label', `${g.layer.label}: outline or fill`);
    [['outline', '仅轮廓 Outline'], ['fill', '填充 Fill']].forEach(([value, text]) => {
      const option = choice.appendChild(el('option', null, text));
      option.value = value;
    });
    choice.value = styles[code].fill ? 'fill' : 'outline';
    const slider = row.appendChild(el('input', 'gm-style-opacity'));
    Object.assign(slider, { type: 'range', min: '0', max: '0.8', step: '0.02', value: String(styles[code].opacity) });
    slider.setAttribute('aria-label', `${g.layer.label}: fill opacity`);
    slider.disabled = !styles[code].fill;
    choice.addEventListener('change', () => {
      styles[code].fill = choice.value === 'fill';
      slider.disabled = !styles[code].fill;
      apply(g);
      save();
    });
    slider.addEventListener('input', () => {
      styles[code].opacity = Number(slider.value);
      apply(g);
      save();
    });
    // New features take the layer's style; hover feedback (layers.js) ends back on it.
    const own = g.group.options.style;
    g.group.options.style = (feature) => Object.assign({}, typeof own === 'function' ? own(feature) : own,
                                                       pathStyle(code));
    g.group.on('mouseout', (e) => { if (e.layer && e.layer.setStyle) e.layer.setStyle(pathStyle(code)); });
    apply(g);
  });
  const panel = ctx.panels.add('layer-style', '图层样式 Layer style', body);
  panel.fold(true);
  const sync = () => (ctx.auth.signedIn() && ctx.grids.length ? panel.show() : panel.hide());
  ctx.auth.listeners.add(sync);
  sync();
  return { styles, apply };
}

export function install(ctx) {
  ctx.labels = createLabelLayer(ctx);
  ctx.layerStyles = createStylePanel(ctx);
}
