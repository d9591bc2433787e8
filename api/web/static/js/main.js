/*
 * main.js: the web map's boot. Builds the one context object `ctx` every feature gets and
 * installs the features of features.js in order (docs/web.md describes ctx).
 *
 * The folium page (api/web/map.py) creates the Leaflet map, fits it to the county and sets
 * `window.gridmapBoot = {map, config}` in a classic inline script before this module runs
 * (module scripts run after the document is parsed). It embeds no data: every feature fetches
 * what it shows from the JSON API through ctx.api, for the part of the county in view.
 *
 * config = {
 *   layers: [{code, name, color}],   // grid layers in display order; first is on
 *   bounds: [minlon, minlat, maxlon, maxlat],  // the county
 *   pointMinZoom: 14                 // households/cameras/events/staff from here on
 * }
 *
 * `window.gridmapCtx` is the same ctx, for the browser tests (tests/browser/) to read map state
 * from, and for a developer's console; nothing of the page's own code reads it.
 */

import { createEmitter } from './core/events.js';
import { createApiFetch } from './core/http.js';
import { createMessages, createNotes } from './core/messages.js';
import { createPanels } from './core/panels.js';
import { auth } from './core/session.js';
import { FEATURES } from './features.js';

function boot(map, config) {
  map.getContainer().classList.add('gm-map');
  // Leaflet 1.9's default attribution prefix carries a national flag; a county government map
  // shows the library's name only.
  if (map.attributionControl) map.attributionControl.setPrefix('Leaflet');
  // The scale goes in first so the notes stack above it in the corner.
  L.control.scale({ metric: true, imperial: false, position: 'bottomleft' }).addTo(map);

  const emitter = createEmitter();
  const ctx = {
    map,
    config: config || {},
    auth,
    api: createApiFetch(auth),
    messages: createMessages(map),
    notes: createNotes(map),
    panels: createPanels(map),
    on: emitter.on,
    off: emitter.off,
    emit: emitter.emit,
    layersControl: null, // layers.js
    grids: [], // layers.js
    divisions: [], // layers.js
    editor: null, // editor/index.js
  };
  FEATURES.forEach((feature) => feature.install(ctx));
  ctx.panels.attach();
  return ctx;
}

const start = window.gridmapBoot;
if (!start || !start.map) {
  throw new Error('gridmap: window.gridmapBoot = {map, config} must be set before main.js runs');
}
window.gridmapCtx = boot(start.map, start.config);
