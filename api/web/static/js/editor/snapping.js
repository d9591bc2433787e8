/*
 * editor/snapping.js: what a planner's vertices snap to while drawing or reshaping, and a quiet
 * map meanwhile.
 *
 * leaflet-geoman snaps a vertex to the nearest vertex or edge of the layers in its snap list
 * (within SNAP_PX screen pixels). It runs opt-in here (L.PM.setOptIn(true)): only layers made
 * with `pmIgnore: false` are edited or snapped to, so the thousands of grid polygons on the map
 * neither get a geoman editor each nor all become snap targets. The snap targets are *guides*:
 * copies of the neighbours' and the parent's outlines, drawn dashed in a pane of their own with
 * an SVG renderer (the map prefers Canvas; geoman's snapping only needs the latlngs, but the
 * guides and the shape being edited stay crisp SVG over the canvas and take no clicks), and a
 * ring marks the point a vertex snapped to. Guide coordinates are the server's own, so a
 * snapped vertex is sent exactly as the neighbour has it.
 *
 * While a shape is being drawn the grid overlays take no clicks (muteGrids): a click on a
 * canvas grid would otherwise select it or open its popup instead of placing a vertex.
 */

export const SNAP_PX = 12;
const PANE = 'gmSnapGuides';
const GUIDE_STYLE = {
  neighbour: { color: '#e7298a', weight: 1.5, opacity: 0.9, dashArray: '4 3', fill: false },
  parent: { color: '#000000', weight: 2.5, opacity: 0.8, dashArray: '8 4', fill: false },
};

// geoman is loaded by map.py as a classic script; this module is its only user and turns on
// opt-in once, before any layer of its own is made.
export function geoman(map) {
  if (!window.L || !L.PM || !map.pm) throw new Error('leaflet-geoman is not loaded');
  if (!L.PM.optIn) L.PM.setOptIn(true);
  return map.pm;
}

// Options for map.pm.enableDraw('Polygon', …) and layer.pm.enable(…): snapping to vertices and
// edges, no self-intersections, right-click removes a vertex.
export function snapOptions() {
  return {
    snappable: true,
    snapDistance: SNAP_PX,
    snapVertex: true,
    snapSegment: true,
    snapMiddle: false,
    allowSelfIntersection: false,
    removeVertexOn: 'contextmenu',
    draggable: false,
  };
}

function guidePane(map) {
  let pane = map.getPane(PANE);
  if (!pane) {
    pane = map.createPane(PANE);
    pane.style.zIndex = '470'; // above the grids (400) and the division outlines (450, 460)
    pane.style.pointerEvents = 'none';
  }
  return PANE;
}

// Leaflet latlngs of a GeoJSON Polygon or MultiPolygon, coordinates as they are.
export function latLngsOf(geometry) {
  if (!geometry) return [];
  if (geometry.type === 'Polygon') return L.GeoJSON.coordsToLatLngs(geometry.coordinates, 1);
  if (geometry.type === 'MultiPolygon') return L.GeoJSON.coordsToLatLngs(geometry.coordinates, 2);
  return [];
}

// The snap guides of one drawing session: add(geometry, 'neighbour'|'parent'), mark(latlng)
// for the snapped point, clear(). Also an SVG renderer in the guide pane for the session's
// own shapes (renderer(), pane).
export function createGuides(map) {
  const pane = guidePane(map);
  const svg = L.svg({ pane });
  const group = L.layerGroup().addTo(map);
  const ring = L.circleMarker([0, 0], {
    pane, renderer: svg, radius: 7, color: '#e7298a', weight: 2, fill: false, interactive: false,
    className: 'gm-snap-ring',
  });
  let count = 0;

  return {
    pane,
    renderer: () => svg,
    add(geometry, kind) {
      const latlngs = latLngsOf(geometry);
      if (!latlngs.length) return null;
      count += 1;
      return L.polygon(latlngs, Object.assign({
        pane, renderer: svg, interactive: false, pmIgnore: false, snapIgnore: false,
        className: `gm-snap-guide gm-snap-${kind}`,
      }, GUIDE_STYLE[kind] || GUIDE_STYLE.neighbour)).addTo(group);
    },
    count: () => count,
    // Follow geoman's pm:snap / pm:unsnap on the shape being drawn or edited.
    follow(layer) {
      layer.on('pm:snap', (e) => ring.setLatLng(e.snapLatLng).addTo(map));
      layer.on('pm:unsnap', () => ring.remove());
    },
    clear() {
      group.clearLayers();
      ring.remove();
      count = 0;
    },
    remove() {
      group.remove();
      ring.remove();
    },
  };
}

// Every polygon of the grid overlays stops taking clicks (and hover) until the returned
// function is called; polygons loaded meanwhile (the view moved) too. Canvas paths read
// options.interactive on each event; SVG paths also need their class.
export function muteGrids(ctx) {
  const muted = [];
  const mute = (layer) => {
    if (layer instanceof L.LayerGroup) {
      layer.eachLayer(mute);
      return;
    }
    if (!layer.options || layer.options.interactive === false) return;
    layer.options.interactive = false;
    if (layer._path) L.DomUtil.removeClass(layer._path, 'leaflet-interactive');
    muted.push(layer);
  };
  const onAdd = (e) => mute(e.layer);
  const groups = (ctx.grids || []).map((g) => g.group);
  groups.forEach((group) => {
    group.eachLayer(mute);
    group.on('layeradd', onAdd);
  });
  return function unmute() {
    groups.forEach((group) => group.off('layeradd', onAdd));
    muted.forEach((layer) => {
      layer.options.interactive = true;
      if (layer._path) L.DomUtil.addClass(layer._path, 'leaflet-interactive');
    });
    muted.length = 0;
  };
}
