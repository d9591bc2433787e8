/*
 * basemap-vector.js: a vector-tile basemap (MVT from a local MBTiles/PMTiles file) drawn by
 * protomaps-leaflet, with a sober style of our own.
 *
 * Why protomaps-leaflet: it renders z/x/y MVT on canvas inside Leaflet (a GridLayer, so it follows
 * the map's CRS, GCJ-02 included), needs no WebGL, no style server, no sprites or glyphs from
 * another host; MapLibre GL would bring a second map engine beside Leaflet.
 *
 * Tile schemas name their layers differently (OpenMapTiles: water, transportation, building,
 * place; Protomaps: water, roads, buildings, places; Shortbread: water_polygons, streets,
 * buildings, place_labels), so each rule lists the names it accepts and keeps those the file has
 * (config.basemap.vector_layers). Place names come from the file, in Chinese where it has them.
 */

const WATER = ['water', 'water_polygons', 'ocean', 'waterway', 'water_lines'];
const LANDUSE = ['landuse', 'landcover', 'land', 'park', 'natural'];
const ROADS = ['roads', 'transportation', 'streets', 'road', 'highway'];
const BUILDINGS = ['buildings', 'building'];
const PLACES = ['places', 'place', 'place_labels', 'place_label'];

const MAJOR = /^(motorway|trunk|primary|highway|major_road|secondary)/;

function present(cfg, names) {
  const ids = (cfg.vector_layers || []).map((v) => v && v.id).filter(Boolean);
  // A file that does not list its layers: try every name (an absent layer costs nothing).
  return ids.length ? names.filter((n) => ids.includes(n)) : names;
}

function roadKind(f) {
  const p = f.props || {};
  return String(p.kind || p.class || p.highway || p.pmap_kind || '');
}

function paintRules(cfg) {
  const P = protomapsL;
  const rules = [];
  present(cfg, LANDUSE).forEach((layer) => rules.push({
    dataLayer: layer, symbolizer: new P.PolygonSymbolizer({ fill: '#e3ead9', opacity: 0.7 }),
  }));
  present(cfg, WATER).forEach((layer) => {
    rules.push({ dataLayer: layer, symbolizer: new P.PolygonSymbolizer({ fill: '#b9d3e6' }),
      filter: (z, f) => f.geomType === 3 });
    rules.push({ dataLayer: layer, symbolizer: new P.LineSymbolizer({ color: '#9dc0dc', width: 1.2 }),
      filter: (z, f) => f.geomType === 2 });
  });
  present(cfg, BUILDINGS).forEach((layer) => rules.push({
    dataLayer: layer, minzoom: 14,
    symbolizer: new P.PolygonSymbolizer({ fill: '#dcd6cc', stroke: '#cbc3b6', width: 0.5 }),
  }));
  present(cfg, ROADS).forEach((layer) => {
    rules.push({ dataLayer: layer, symbolizer: new P.LineSymbolizer({ color: '#ffffff', width: (z) => (z >= 15 ? 3 : 1.5) }),
      filter: (z, f) => !MAJOR.test(roadKind(f)) });
    rules.push({ dataLayer: layer, symbolizer: new P.LineSymbolizer({ color: '#f4d9a6', width: (z) => (z >= 14 ? 4.5 : 2.5) }),
      filter: (z, f) => MAJOR.test(roadKind(f)) });
  });
  return rules;
}

function labelRules(cfg) {
  const P = protomapsL;
  return present(cfg, PLACES).map((layer) => ({
    dataLayer: layer,
    symbolizer: new P.CenteredTextSymbolizer({
      labelProps: ['name:zh', 'name_zh', 'name'], font: '12px sans-serif', fill: '#5b5346', stroke: '#ffffff', width: 2,
    }),
  }));
}

export function vectorBasemap(cfg, zoom) {
  return protomapsL.leafletLayer({
    url: cfg.url,
    paintRules: paintRules(cfg),
    labelRules: labelRules(cfg),
    backgroundColor: '#f2efe9',
    attribution: cfg.attribution || '', // never protomaps-leaflet's default, which names other hosts
    maxDataZoom: zoom.maxNativeZoom,
    minZoom: zoom.minNativeZoom, // no underzoom: a vector file's data stops at its minzoom
    maxZoom: zoom.maxZoom,
    className: 'gm-basemap',
  });
}
