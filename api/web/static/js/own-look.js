/*
 * own-look.js: the map's own look when no basemap is configured — so it still looks like a map.
 *
 * Drawn from the app's own data, under every overlay and taking no clicks:
 * - a paper-coloured background;
 * - each township 乡镇/街道 filled in a soft colour of its own, and the village 村/社区 boundaries
 *   as thin lines (GET /divisions, the caller's territory);
 * - the settlements: households counted per cell (GET /basemap/settlements, no personal data at any
 *   zoom: cells of >= 60 m with >= 3 households), drawn as discs sized by the count.
 * Names are labels.js's, not drawn here. Everything is cleared at sign-out: what the next user is
 * shown comes from their own territory.
 */

import { bboxParam, clampBounds, isQuiet, nextLink } from './core/http.js';
import { debounce } from './core/dom.js';

const PANE = 'gmOwnLook';
const PANE_Z = 250; // above tilePane (200), below the overlays (400) and the division lines (450+)
const PAPER = '#f3f0e8';
const TOWNSHIP_FILLS = ['#f1e3c6', '#dcebd5', '#d8e6ef', '#efdbe0', '#e6e0f0', '#e9ecd0', '#d5ece8', '#f3dccb'];
const VILLAGE_LINE = { color: '#b7ab97', weight: 0.8, opacity: 0.9, fill: false, interactive: false };
const SETTLEMENT = { color: '#9c8466', stroke: false, fillOpacity: 0.5, interactive: false };
const FULL_AT = 25; // households: a cell with this many or more is drawn as a full disc
const MOVE_DEBOUNCE_MS = 250;

async function allFeatures(ctx, url, signal) {
  const out = [];
  for (let next = url; next;) {
    const page = await ctx.api(next, { signal });
    out.push(...(page.features || []));
    next = nextLink(page);
  }
  return out;
}

// A disc inside its cell, its area growing with the count: a village centre reads as a solid
// patch, a hamlet as a speck. Cells are squares of Web Mercator metres, cos(lat) of true metres.
function settlementDisc([lon, lat, n], cellM, renderer) {
  const share = Math.max(0.3, Math.min(1, Math.sqrt(n / FULL_AT)));
  const radius = 0.5 * cellM * Math.cos((lat * Math.PI) / 180) * share;
  return L.circle([lat, lon], Object.assign({ radius, renderer, pane: PANE }, SETTLEMENT));
}

export function installOwnLook(ctx) {
  const map = ctx.map;
  map.getContainer().classList.add('gm-own-look');
  map.getContainer().style.background = PAPER;
  const pane = map.createPane(PANE);
  pane.style.zIndex = String(PANE_Z);
  pane.style.pointerEvents = 'none';
  const renderer = L.canvas({ pane: PANE, padding: 0.2 });
  const divisions = L.layerGroup().addTo(map);
  const settlements = L.layerGroup().addTo(map);
  const look = { divisions, settlements, cells: 0, loaded: false }; // ctx.basemap.look, for the tests
  ctx.basemap.look = look;
  let divisionsAbort = null;
  let cellsAbort = null;

  async function loadDivisions() {
    if (divisionsAbort) divisionsAbort.abort();
    divisionsAbort = new AbortController();
    const signal = divisionsAbort.signal;
    try {
      const [townships, villages] = await Promise.all([
        allFeatures(ctx, '/divisions?level=township&limit=1000', signal),
        allFeatures(ctx, '/divisions?level=village&limit=1000', signal),
      ]);
      if (signal.aborted) return;
      divisions.clearLayers();
      townships.forEach((f, i) => {
        const fill = TOWNSHIP_FILLS[i % TOWNSHIP_FILLS.length];
        divisions.addLayer(L.geoJSON(f, { pane: PANE, renderer, interactive: false,
          style: { stroke: false, fillColor: fill, fillOpacity: 0.55 } }));
      });
      villages.forEach((f) => divisions.addLayer(L.geoJSON(f, { pane: PANE, renderer, style: VILLAGE_LINE })));
      look.loaded = true;
    } catch (err) {
      if (!isQuiet(err)) ctx.notes.set('own-look', `底图 map look: ${err.message}`);
    }
  }

  async function loadSettlements() {
    if (!ctx.auth.signedIn()) return;
    if (cellsAbort) cellsAbort.abort();
    cellsAbort = new AbortController();
    const signal = cellsAbort.signal;
    const url = `/basemap/settlements?bbox=${bboxParam(clampBounds(map.getBounds().pad(0.1)))}&zoom=${map.getZoom()}`;
    try {
      const answer = await ctx.api(url, { signal });
      if (signal.aborted) return;
      settlements.clearLayers();
      answer.cells.forEach((cell) => settlements.addLayer(settlementDisc(cell, answer.cell_m, renderer)));
      look.cells = answer.cells.length;
      ctx.notes.set('own-look', null);
    } catch (err) {
      if (!isQuiet(err)) ctx.notes.set('own-look', `居民点 settlements: ${err.message}`);
    }
  }

  function clear() {
    [divisionsAbort, cellsAbort].forEach((c) => c && c.abort());
    divisions.clearLayers();
    settlements.clearLayers();
    look.cells = 0;
    look.loaded = false;
  }

  ctx.auth.listeners.add((event) => {
    if (event === 'signin' || event === 'signout' || event === 'expired') clear();
    if (event === 'signin') {
      loadDivisions();
      loadSettlements();
    }
  });
  map.on('moveend', debounce(loadSettlements, MOVE_DEBOUNCE_MS));
  if (ctx.auth.signedIn()) {
    loadDivisions();
    loadSettlements();
  }
}
