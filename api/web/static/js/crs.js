/*
 * crs.js: the display CRS — plain Web Mercator, or Web Mercator of GCJ-02 for AMap-style basemaps.
 *
 * AMap-style tiles (config.basemap.datum 'gcj02') are drawn in GCJ-02, the mandated datum that
 * shifts WGS84 by a few hundred metres. Rather than shift every overlay, the map gets a CRS whose
 * projection is Web Mercator of the GCJ-02-shifted coordinates: project(wgs) = merc(wgs→gcj),
 * unproject(px) = gcj→wgs(merc⁻¹(px)). Every overlay, bbox and click stays in WGS84 (what the API
 * stores and answers), and grids land on AMap's streets. 天地图 (CGCS2000) and plain files need none.
 *
 * The transform is gcoord's (npm, the common JS implementation with the same Krasovsky constants
 * as geo/spatial/crs.py). Its inverse stops at 1e-6° (~0.1 m); we refine it by the same fixed-point
 * step to 1e-10° (sub-millimetre) so a click comes back where the vertex is.
 *
 * The CRS must be set before anything is drawn. Folium creates the map (its `crs` option takes only
 * the names of Leaflet's own CRSs), so install() — first in features.js, before any layer exists —
 * sets map.options.crs and refits the county with {reset: true}, which recomputes Leaflet's pixel
 * origin in the new projection. Nothing projected in the old CRS survives that.
 */

const MERCATOR = L.Projection.SphericalMercator;
const INVERSE_TOL_DEG = 1e-10;
const INVERSE_MAX_STEPS = 10;

export function wgsToGcj(lon, lat) {
  return gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
}

export function gcjToWgs(lon, lat) {
  let [x, y] = gcoord.transform([lon, lat], gcoord.GCJ02, gcoord.WGS84);
  for (let i = 0; i < INVERSE_MAX_STEPS; i += 1) {
    const [gx, gy] = wgsToGcj(x, y);
    const dx = gx - lon;
    const dy = gy - lat;
    x -= dx;
    y -= dy;
    if (Math.abs(dx) < INVERSE_TOL_DEG && Math.abs(dy) < INVERSE_TOL_DEG) break;
  }
  return [x, y];
}

function finite(latlng) {
  return Number.isFinite(latlng.lat) && Number.isFinite(latlng.lng);
}

export const GcjMercator = {
  bounds: MERCATOR.bounds,
  project(latlng) {
    if (!finite(latlng)) return MERCATOR.project(latlng);
    const [lon, lat] = wgsToGcj(latlng.lng, latlng.lat);
    return MERCATOR.project(L.latLng(lat, lon));
  },
  unproject(point) {
    const gcj = MERCATOR.unproject(point);
    if (!finite(gcj)) return gcj;
    const [lon, lat] = gcjToWgs(gcj.lng, gcj.lat);
    return L.latLng(lat, lon);
  },
};

// EPSG:3857's scale, transformation and (WGS84, on the sphere) distance; only the projection differs.
export const GCJ02 = L.extend({}, L.CRS.EPSG3857, { code: 'GCJ02-Mercator', projection: GcjMercator });

export function displayCrs(config) {
  const basemap = config && config.basemap;
  return basemap && basemap.datum === 'gcj02' ? GCJ02 : L.CRS.EPSG3857;
}

export function install(ctx) {
  const crs = displayCrs(ctx.config);
  ctx.crs = crs; // added to ctx (docs/web.md): the CRS the map displays in
  if (ctx.map.options.crs === crs) return;
  ctx.map.options.crs = crs;
  const b = ctx.config.bounds;
  const county = b ? L.latLngBounds([b[1], b[0]], [b[3], b[2]]) : ctx.map.getBounds();
  ctx.map.fitBounds(county, { reset: true });
}
