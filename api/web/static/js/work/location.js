/*
 * work/location.js: "我的位置" on the map: the browser's position (navigator.geolocation) as a dot with
 * its accuracy circle, and a switch to share it with the service (POST /staff/me/position) while it is
 * on. Sharing is off by default, is for accounts with positions:report only, stops on sign-out, and the
 * control says plainly while the position is being shared.
 *
 * The position itself stays in the page (it is personal data 行踪轨迹): it is sent only while sharing is
 * on, to the one endpoint that records it under its retention rules.
 */

import { el, isolate } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { problemText } from '../reports-model.js';

const SHARE_EVERY_MS = 30000; // at most one fix every 30 s, unless the worker moved
const SHARE_MOVED_M = 25;
const ZOOM = 17;

export function install(ctx) {
  const { map, auth } = ctx;
  const layer = L.layerGroup();
  const state = { watch: null, fix: null, sharing: false, lastSent: null, error: null, centred: false };

  const control = L.control({ position: 'topright' });
  const box = isolate(el('div', 'gm-work-location leaflet-bar'));
  control.onAdd = () => box;
  control.addTo(map);

  function render() {
    box.replaceChildren();
    box.style.display = auth.signedIn() ? '' : 'none';
    const locate = box.appendChild(el('button', 'gm-work-locate', state.watch === null ? '我的位置' : '隐藏我的位置'));
    locate.type = 'button';
    locate.addEventListener('click', () => (state.watch === null ? start() : stop()));
    if (auth.can('positions:report')) {
      const label = box.appendChild(el('label', 'gm-work-share'));
      const check = label.appendChild(el('input', 'gm-work-share-input'));
      check.type = 'checkbox';
      check.checked = state.sharing;
      label.appendChild(el('span', null, '共享我的位置'));
      check.addEventListener('change', () => setSharing(check.checked));
    }
    let note = null;
    if (state.sharing) note = el('div', 'gm-work-share-on', '正在共享：指挥中心能看到您的位置');
    else if (state.watch !== null) note = el('div', 'gm-work-share-off', '位置只显示在本机，未共享');
    if (note) box.appendChild(note);
    if (state.error) box.appendChild(el('div', 'gm-events-error', state.error));
  }

  function start() {
    if (!navigator.geolocation) {
      state.error = '这个浏览器不能定位';
      render();
      return;
    }
    state.error = null;
    state.centred = false;
    state.watch = navigator.geolocation.watchPosition(onFix, onError, { enableHighAccuracy: true, maximumAge: 10000 });
    render();
  }

  function stop() {
    if (state.watch !== null && navigator.geolocation) navigator.geolocation.clearWatch(state.watch);
    state.watch = null;
    state.fix = null;
    state.sharing = false;
    state.lastSent = null;
    layer.clearLayers();
    layer.remove();
    render();
  }

  function onFix(pos) {
    const { longitude: lon, latitude: lat, accuracy } = pos.coords;
    state.fix = { lon, lat, accuracy, at: new Date(pos.timestamp || Date.now()) };
    state.error = null;
    layer.clearLayers();
    if (Number.isFinite(accuracy)) {
      L.circle([lat, lon], { radius: accuracy, color: '#1a73e8', weight: 1, fillOpacity: 0.12, interactive: false })
        .addTo(layer);
    }
    L.circleMarker([lat, lon], { radius: 7, color: '#fff', weight: 2, fillColor: '#1a73e8', fillOpacity: 1, interactive: false
    }).addTo(layer);
    if (!map.hasLayer(layer)) layer.addTo(map);
    if (!state.centred) {
      state.centred = true;
      map.setView([lat, lon], Math.max(map.getZoom(), ZOOM));
    }
    if (state.sharing) share();
    render();
  }

  function onError(err) {
    state.error = err && err.code === 1 ? '没有定位权限：请在浏览器设置中允许' : '暂时无法定位';
    render();
  }

  function setSharing(on) {
    state.sharing = on;
    state.lastSent = null;
    if (on && state.watch === null) start();
    else if (on) share();
    render();
  }

  async function share() {
    const fix = state.fix;
    if (!fix || !state.sharing) return;
    const last = state.lastSent;
    if (last && Date.now() - last.time < SHARE_EVERY_MS && map.distance([last.lat, last.lon], [fix.lat, fix.lon]) < SHARE_MOVED_M) return;
    state.lastSent = { time: Date.now(), lon: fix.lon, lat: fix.lat };
    try {
      await ctx.api('/staff/me/position', { method: 'POST', json: {
        lon: fix.lon, lat: fix.lat, crs: 'wgs84', accuracy_m: Number.isFinite(fix.accuracy) ? fix.accuracy : null,
        at: fix.at.toISOString(),
      } });
      state.error = null;
    } catch (err) {
      if (isQuiet(err)) return;
      state.sharing = false;
      state.error = `共享失败，已停止共享：${problemText(err)}`;
    }
    render();
  }

  auth.listeners.add((event) => {
    if (event === 'signin' || event === 'signout' || event === 'expired') stop();
    render();
  });
  // For the browser tests and other features: the last fix, whether it is shared, whether the dot is drawn.
  ctx.location = {
    fix: () => state.fix,
    sharing: () => state.sharing,
    shown: () => map.hasLayer(layer) && layer.getLayers().length > 0,
  };
  render();
}
