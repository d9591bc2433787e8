/*
 * editor/geodesic.js: the live figures shown while a planner draws or reshapes: vertex count
 * and geodesic area in m².
 *
 * The area is the spherical-excess formula for a polygon on a sphere of the WGS84 semi-major
 * axis (Chamberlain & Duquette, "Some algorithms for polygons on a sphere", JPL 2007), the one
 * @turf/area and Leaflet.draw use. Written here (a dozen lines) rather than taken from
 * @turf/area because that package ships ES modules with bare imports (@turf/helpers,
 * @turf/meta) that a browser cannot resolve without a bundler or an import map, and the front
 * end has no build step. It is a display figure: within about half a percent of the server's
 * ellipsoidal ST_Area(geography) in Guizhou (0.4% for a 1 km² square at 26°N, against pyproj's
 * Geod), and the server's answer (area_m2 in the dry run) is the one that counts.
 */

const RADIUS_M = 6378137;
const RAD = Math.PI / 180;

// Area in m² of one closed ring of {lat, lng} (closing point optional), always >= 0.
export function ringArea(ring) {
  const points = ring.length > 1 && sameLatLng(ring[0], ring[ring.length - 1]) ? ring.slice(0, -1) : ring;
  const n = points.length;
  if (n < 3) return 0;
  let sum = 0;
  for (let i = 0; i < n; i += 1) {
    const lower = points[i];
    const middle = points[(i + 1) % n];
    const upper = points[(i + 2) % n];
    sum += (upper.lng - lower.lng) * RAD * Math.sin(middle.lat * RAD);
  }
  return Math.abs((sum * RADIUS_M * RADIUS_M) / 2);
}

function sameLatLng(a, b) {
  return a.lat === b.lat && a.lng === b.lng;
}

// Leaflet's polygon latlngs are [ring] or [[ring]] (multi) with holes after the outer ring;
// normalise to a list of polygons, each a list of rings.
function polygonsOf(latlngs) {
  if (!latlngs.length) return [];
  if (!Array.isArray(latlngs[0])) return [[latlngs]];
  if (!Array.isArray(latlngs[0][0])) return [latlngs];
  return latlngs;
}

// Geodesic area in m² of Leaflet polygon latlngs: outer rings minus holes.
export function latLngsArea(latlngs) {
  return polygonsOf(latlngs).reduce((total, rings) => total + rings.reduce(
    (sum, ring, i) => sum + (i === 0 ? ringArea(ring) : -ringArea(ring)), 0), 0);
}

// Number of distinct vertices (a ring's closing point is not counted twice).
export function vertexCount(latlngs) {
  return polygonsOf(latlngs).reduce((total, rings) => total + rings.reduce((sum, ring) => {
    const closed = ring.length > 1 && sameLatLng(ring[0], ring[ring.length - 1]);
    return sum + ring.length - (closed ? 1 : 0);
  }, 0), 0);
}

// "1,234 m²" below a hectare, "12.35 ha (123,456 m²)" from one on.
export function formatArea(m2) {
  const rounded = Math.round(m2).toLocaleString('en-US');
  if (m2 < 10000) return `${rounded} m²`;
  return `${(m2 / 10000).toFixed(2)} ha (${rounded} m²)`;
}

// GeoJSON Polygon/MultiPolygon of Leaflet latlngs, rings closed, coordinates untouched: a
// vertex snapped onto a neighbour's vertex is sent exactly as the neighbour has it.
export function toGeoJson(latlngs) {
  const polygons = polygonsOf(latlngs).map((rings) => rings.map((ring) => {
    const coords = ring.map((p) => [p.lng, p.lat]);
    if (coords.length && !sameLatLng(ring[0], ring[ring.length - 1])) coords.push(coords[0].slice());
    return coords;
  }));
  return polygons.length === 1
    ? { type: 'Polygon', coordinates: polygons[0] }
    : { type: 'MultiPolygon', coordinates: polygons };
}
