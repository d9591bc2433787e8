/*
 * command/layer.js: what the command map draws around the picked point.
 *
 * One overlay group "指挥 Command" with: the picked point, the nearest responders (coloured by
 * availability and freshness, command/format.js), households around (the vulnerable in orange),
 * the cameras that see the point with their field of view drawn as a sector (bearing ± fov/2 out to
 * range_m: what the server's /around tested, not just distance), and open events nearby, which
 * can be clicked to pick them for dispatch. Coordinates are WGS84 from the server, drawn as is.
 */

import { el, overlayLabel } from '../core/dom.js';
import { availabilityLabel, fixText, metres, responderStyle, roleLabel } from './format.js';

const M_PER_DEG = 111320;

// A camera's field of view as a lat/lng ring (display only: a local flat approximation is enough).
function sector(lon, lat, bearing, fov, range) {
  const ring = [[lat, lon]];
  const half = Math.min(180, (Number(fov) || 360) / 2);
  const steps = Math.max(6, Math.ceil(half / 5));
  for (let i = 0; i <= steps; i += 1) {
    const a = ((Number(bearing) || 0) - half + (2 * half * i) / steps) * (Math.PI / 180);
    const dy = (range * Math.cos(a)) / M_PER_DEG;
    const dx = (range * Math.sin(a)) / (M_PER_DEG * Math.cos(lat * (Math.PI / 180)));
    ring.push([lat + dy, lon + dx]);
  }
  return ring;
}

export function createLayer(ctx, { onEvent }) {
  const group = L.featureGroup();
  const parts = {
    point: L.featureGroup().addTo(group),
    households: L.featureGroup().addTo(group),
    cameras: L.featureGroup().addTo(group),
    events: L.featureGroup().addTo(group),
    responders: L.featureGroup().addTo(group),
  };
  const markers = new Map(); // staff id -> circle marker
  if (ctx.layersControl) ctx.layersControl.addOverlay(group, overlayLabel('指挥 Command', '#d7191c'));
  group.addTo(ctx.map);

  function clear() {
    Object.values(parts).forEach((p) => p.clearLayers());
    markers.clear();
  }

  function point(lon, lat, radius) {
    parts.point.clearLayers();
    L.circle([lat, lon], { radius, color: '#d7191c', weight: 1, fill: false, dashArray: '4 4', interactive: false })
      .addTo(parts.point);
    L.circleMarker([lat, lon], { radius: 5, color: '#000', fillColor: '#fff', fillOpacity: 1, weight: 2 })
      .addTo(parts.point);
  }

  function responders(list) {
    parts.responders.clearLayers();
    markers.clear();
    list.forEach((r) => {
      const m = L.circleMarker([r.lat, r.lon], responderStyle(r));
      m.bindTooltip(el('span', null, `${roleLabel(r.role)} ${r.name || ''} · ${availabilityLabel(r.availability)}`
        + ` · ${metres(r.distance_m)} · ${fixText(r.position_at)}`));
      m.feature = { properties: { kind: 'responder', id: r.id, availability: r.availability } };
      m.addTo(parts.responders);
      markers.set(r.id, m);
    });
  }

  function updateResponder(r) {
    const m = markers.get(r.id);
    if (!m) return;
    if (Number.isFinite(r.lat) && Number.isFinite(r.lon)) m.setLatLng([r.lat, r.lon]);
    m.setStyle(responderStyle(r));
    m.feature.properties.availability = r.availability;
  }

  function around(body) {
    parts.households.clearLayers();
    parts.cameras.clearLayers();
    parts.events.clearLayers();
    const homes = (body && body.households) || {};
    const help = new Set((homes.needs_help || []).map((h) => h.id));
    (homes.items || []).concat(homes.needs_help || []).forEach((h) => {
      if (!Number.isFinite(h.lat)) return;
      L.circleMarker([h.lat, h.lon], {
        radius: help.has(h.id) ? 6 : 3, weight: 1, color: help.has(h.id) ? '#e66101' : '#5e3c99',
        fillOpacity: 0.8, interactive: false,
      }).addTo(parts.households);
    });
    ((body && body.cameras) || []).forEach((c) => {
      L.polygon(sector(c.lon, c.lat, c.bearing, c.fov, c.range_m), {
        color: '#1b7837', weight: 1, fillOpacity: 0.15, interactive: false,
      }).addTo(parts.cameras);
      L.circleMarker([c.lat, c.lon], { radius: 4, color: '#1b7837', fillOpacity: 1 })
        .bindTooltip(el('span', null, `摄像头 ${c.name || c.code || ''} · ${metres(c.distance_m)}`)).addTo(parts.cameras);
    });
    ((body && body.events) || []).forEach((e) => {
      if (!Number.isFinite(e.lat)) return;
      const m = L.circleMarker([e.lat, e.lon], { radius: 7, color: '#000', fillColor: '#fdb863', fillOpacity: 1, weight: 1 });
      m.bindTooltip(el('span', null, `事件 ${e.id} · ${e.category} · ${metres(e.distance_m)}`));
      m.on('click', (ev) => {
        L.DomEvent.stopPropagation(ev);
        onEvent(e);
      });
      m.addTo(parts.events);
    });
  }

  return { group, clear, point, responders, updateResponder, around, markers };
}
