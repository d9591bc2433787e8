/*
 * citizen/map.js: the report page's map — the app's own look (townships and villages from the public
 * GET /citizen/places) or the configured basemap (../basemap.js), in the display CRS of ../crs.js
 * (GCJ-02-shifted for AMap-style tiles), and one pin where the citizen says the matter is.
 * Every coordinate handed out is WGS-84, as the API stores it.
 */

import { basemapLayer } from '../basemap.js';
import { displayCrs } from '../crs.js';
import { call } from './common.js';

const TOWNSHIP_FILLS = ['#f1e3c6', '#dcebd5', '#d8e6ef', '#efdbe0', '#e6e0f0', '#e9ecd0', '#d5ece8', '#f3dccb'];
const PIN = { radius: 10, color: '#a4161a', weight: 3, fillColor: '#e63946', fillOpacity: 0.9 };

async function drawPlaces(map) {
  const places = await call('/citizen/places');
  let i = 0;
  L.geoJSON(places, {
    interactive: false,
    style: (f) => (f.properties.level === 'township'
      ? { stroke: true, color: '#9c8466', weight: 1.5, fillColor: TOWNSHIP_FILLS[(i += 1) % TOWNSHIP_FILLS.length], fillOpacity: 0.8 }
      : { color: '#b7ab97', weight: 0.8, fill: false }),
  }).addTo(map);
  return places.features.length;
}

export function createPlaceMap(element, config, onPick) {
  const map = L.map(element, { crs: displayCrs(config), zoomControl: true, attributionControl: true, tap: true });
  map.attributionControl.setPrefix('Leaflet');
  const b = config.bounds;
  if (b) map.fitBounds(L.latLngBounds([b[1], b[0]], [b[3], b[2]]));
  const state = { map, pin: null, places: 0 };
  const layer = basemapLayer(config.basemap);
  if (layer) layer.addTo(map);
  else drawPlaces(map).then((n) => { state.places = n; }).catch(() => { state.places = -1; });

  state.setPin = (lon, lat, { zoom = true } = {}) => {
    if (state.pin) state.pin.setLatLng([lat, lon]);
    else state.pin = L.circleMarker([lat, lon], PIN).addTo(map);
    if (zoom) map.setView([lat, lon], Math.max(map.getZoom(), 16));
  };
  state.pinned = () => (state.pin ? { lon: state.pin.getLatLng().lng, lat: state.pin.getLatLng().lat } : null);
  map.on('click', (e) => {
    state.setPin(e.latlng.lng, e.latlng.lat, { zoom: false });
    onPick({ lon: e.latlng.lng, lat: e.latlng.lat, how: 'map' });
  });
  return state;
}
