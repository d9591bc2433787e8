/*
 * basemap.js: what lies under the grids — the configured basemap, or the app's own map look.
 *
 * config.basemap (api/web/map.py, from tiles.basemap.Basemap.page_config) is one of
 *   {kind: 'raster', url: '/basemap/{z}/{x}/{y}', ...}  a local MBTiles/PMTiles file of images
 *   {kind: 'vector', url: '/basemap/{z}/{x}/{y}', vector_layers, ...}  of vector tiles (basemap-vector.js)
 *   {kind: 'url', url: 'http://intranet/{z}/{x}/{y}', subdomains, ...}  an intranet XYZ/WMTS service
 * each with datum, attribution, minzoom, maxzoom; or null: then own-look.js draws the map from the
 * app's own data. The datum is crs.js's business; this module only draws.
 * Basemap tiles go in Leaflet's tilePane, under every overlay, and take no clicks.
 */

import { vectorBasemap } from './basemap-vector.js';
import { installOwnLook } from './own-look.js';

// Leaflet may stretch a file's deepest tiles this far beyond it (a county file often stops at 16-17
// while planners draw at 18-19), and draw its shallowest ones this many levels further out.
const MAX_DISPLAY_ZOOM = 20;
const UNDERZOOM = 2;

function zoomOptions(cfg) {
  const minzoom = Number.isInteger(cfg.minzoom) ? cfg.minzoom : 0;
  const maxzoom = Number.isInteger(cfg.maxzoom) ? cfg.maxzoom : 18;
  return {
    minZoom: Math.max(0, minzoom - UNDERZOOM),
    minNativeZoom: minzoom,
    maxNativeZoom: maxzoom,
    maxZoom: MAX_DISPLAY_ZOOM,
  };
}

// A file's bounds are in its own datum; in WGS84 they bound where tiles are asked for. (For a
// GCJ-02 file they would be off by the shift, so the layer asks everywhere and gets 204s outside.)
function boundsOption(cfg) {
  const b = cfg.bounds;
  if (!Array.isArray(b) || b.length !== 4 || cfg.datum === 'gcj02') return {};
  return { bounds: L.latLngBounds([b[1], b[0]], [b[3], b[2]]) };
}

function rasterBasemap(cfg) {
  const options = Object.assign(
    {
      attribution: cfg.attribution || '',
      className: 'gm-basemap',
      // Missing tiles (204 inside a sparse file) stay blank rather than showing a broken image.
      errorTileUrl: 'data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==',
    },
    zoomOptions(cfg),
    boundsOption(cfg)
  );
  if (Array.isArray(cfg.subdomains) && cfg.subdomains.length) options.subdomains = cfg.subdomains;
  return L.tileLayer(cfg.url, options);
}

export function basemapLayer(cfg) {
  if (!cfg || typeof cfg.url !== 'string') return null;
  if (cfg.kind === 'vector') return vectorBasemap(cfg, zoomOptions(cfg));
  if (cfg.kind === 'raster' || cfg.kind === 'url') return rasterBasemap(cfg);
  return null;
}

export function install(ctx) {
  const cfg = ctx.config.basemap;
  const layer = basemapLayer(cfg);
  ctx.basemap = { layer, kind: layer ? cfg.kind : 'own' }; // added to ctx (docs/web.md)
  if (!layer) {
    installOwnLook(ctx);
    return;
  }
  ctx.map.getContainer().classList.add('gm-has-basemap');
  layer.addTo(ctx.map);
}
