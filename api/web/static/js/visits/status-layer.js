/*
 * visits/status-layer.js: a grid's households on the map, coloured by days since the last visit
 * (GET /grids/{id}/visit-status), with a legend and a popup per household holding "记录走访".
 *
 * The layer is its own overlay ("走访情况"); its markers carry data-household (the id) and
 * data-status, so a test can read what the map shows.
 */

import { el, overlayLabel } from '../core/dom.js';
import { STATUS, colorOf, sinceText, statusLabel, statusOf } from './model.js';

export function createStatusLayer(ctx, { onVisit }) {
  const { map } = ctx;
  // Their own pane and SVG renderer, above the shared canvas of grids and points: a tap on a household
  // reaches its marker, not the households overlay drawn at the same spot, nor the grid under it.
  if (!map.getPane('gmVisits')) map.createPane('gmVisits').style.zIndex = '640';
  const renderer = L.svg({ pane: 'gmVisits' });
  const group = L.featureGroup();
  const markers = new Map(); // household id → circle marker
  let answer = null;
  ctx.layersControl.addOverlay(group, overlayLabel('走访情况 Visits', '#7a0177', true));

  function popupFor(feature) {
    const p = feature.properties;
    const key = statusOf(p);
    const root = el('div', 'gm-popup gm-visit-popup');
    root.appendChild(el('div', 'gm-popup-title', p.address || `住户 ${p.id}`));
    root.appendChild(el('div', 'gm-visit-since', `${statusLabel(key)}：${sinceText(p.days_since)}（每${p.target_days}天一次）`));
    const b = root.appendChild(el('button', 'gm-visit-log', '记录走访'));
    b.type = 'button';
    b.dataset.household = String(p.id);
    b.addEventListener('click', (e) => {
      e.preventDefault();
      L.DomEvent.stopPropagation(e);
      map.closePopup();
      onVisit(feature);
    });
    return root;
  }

  function draw(collection) {
    answer = collection;
    group.clearLayers();
    markers.clear();
    collection.features.forEach((f) => {
      const [lon, lat] = f.geometry.coordinates;
      const key = statusOf(f.properties);
      const m = L.circleMarker([lat, lon], {
        radius: 8, color: '#ffffff', weight: 1.5, fillColor: colorOf(key), fillOpacity: 0.95,
        className: `gm-visit-household gm-visit-${key}`, pane: 'gmVisits', renderer, bubblingMouseEvents: false,
      });
      m.feature = f;
      m.bindPopup(() => popupFor(f), { maxWidth: 260 });
      m.on('add', () => {
        const path = m.getElement && m.getElement();
        if (path) {
          path.dataset.household = String(f.id);
          path.dataset.status = key;
        }
      });
      group.addLayer(m);
      markers.set(f.id, m);
    });
    if (!map.hasLayer(group)) group.addTo(map);
  }

  function legend() {
    const box = el('div', 'gm-visit-legend');
    STATUS.forEach((s) => {
      const row = box.appendChild(el('span', 'gm-visit-legend-item'));
      const dot = row.appendChild(el('span', 'gm-visit-dot'));
      dot.style.background = s.color;
      row.appendChild(document.createTextNode(s.label));
    });
    return box;
  }

  return {
    group,
    draw,
    legend,
    answer: () => answer,
    statusOf: (id) => (markers.has(id) ? statusOf(markers.get(id).feature.properties) : null),
    bounds: () => (group.getLayers().length ? group.getBounds() : null),
    clear() {
      answer = null;
      group.clearLayers();
      markers.clear();
    },
  };
}
