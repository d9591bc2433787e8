/*
 * visits/patrol.js: patrol mode 巡查 — start, the track drawn as the worker moves
 * (navigator.geolocation.watchPosition), 打卡 check-ins, end.
 *
 * Points are buffered and sent in batches (POST /patrols/{id}/track); a batch that fails stays in
 * the buffer and is sent again with the next one (the server stores a point once per time, so a
 * retry after a lost answer is harmless). Ending sends what is left, then POST /patrols/{id}/end.
 */

import { button, el } from '../core/dom.js';
import { currentPosition, durationText, fromGeolocation, metresText, problemText } from './model.js';

const FLUSH_EVERY = 5; // points
const FLUSH_MS = 20000;
const TRACK_COLOR = '#1f78b4';

export function createPatrol(ctx, { onChange }) {
  const { map } = ctx;
  const line = L.polyline([], { color: TRACK_COLOR, weight: 4, opacity: 0.85, className: 'gm-patrol-track' });
  const checkins = L.featureGroup();
  const state = { patrol: null, watch: null, buffer: [], points: 0, checkins: 0, busy: false, error: null,
    startedAt: null, ended: null, timer: null };

  async function flush() {
    if (!state.patrol || !state.buffer.length) return;
    const batch = state.buffer.slice();
    try {
      await ctx.api(`/patrols/${state.patrol.id}/track`, { json: { points: batch } });
      state.buffer.splice(0, batch.length);
      state.error = null;
    } catch (err) {
      state.error = `轨迹上传失败，稍后重试：${problemText(err)}`;
    }
    onChange();
  }

  function onFix(pos) {
    const fix = fromGeolocation(pos);
    const last = state.buffer[state.buffer.length - 1];
    if (last && last.at === fix.at) return;
    state.buffer.push(fix);
    state.points += 1;
    line.addLatLng([fix.lat, fix.lon]);
    if (state.buffer.length >= FLUSH_EVERY) flush();
    onChange();
  }

  async function start() {
    state.busy = true;
    state.error = null;
    state.ended = null;
    onChange();
    try {
      const patrol = await ctx.api('/patrols', { json: {} });
      Object.assign(state, { patrol, points: 0, checkins: 0, buffer: [], startedAt: Date.now() });
      line.setLatLngs([]);
      checkins.clearLayers();
      line.addTo(map);
      checkins.addTo(map);
      if (navigator.geolocation) {
        state.watch = navigator.geolocation.watchPosition(onFix, () => {
          state.error = '暂时无法定位，轨迹会在定位恢复后继续';
          onChange();
        }, { enableHighAccuracy: true, maximumAge: 2000, timeout: 20000 });
      }
      state.timer = setInterval(flush, FLUSH_MS);
      ctx.messages.success('巡查已开始：移动时会记录轨迹', 'visits');
    } catch (err) {
      state.error = problemText(err);
    }
    state.busy = false;
    onChange();
  }

  async function checkIn() {
    if (!state.patrol) return;
    state.busy = true;
    onChange();
    try {
      const at = await currentPosition();
      const c = await ctx.api(`/patrols/${state.patrol.id}/checkins`, { json: at });
      state.checkins += 1;
      L.circleMarker([at.lat, at.lon], { radius: 8, color: '#ffffff', weight: 2, fillColor: '#ff7f00',
        fillOpacity: 1, className: 'gm-patrol-checkin' }).bindTooltip(el('span', null, `打卡 ${new Date(c.at).toLocaleTimeString('zh-CN')}`))
        .addTo(checkins);
      ctx.messages.success(`已打卡（第${state.checkins}次）`, 'visits');
    } catch (err) {
      ctx.messages.error(`打卡失败：${problemText(err)}`, 'visits');
    }
    state.busy = false;
    onChange();
  }

  async function end() {
    if (!state.patrol) return;
    state.busy = true;
    onChange();
    if (state.watch !== null && navigator.geolocation) navigator.geolocation.clearWatch(state.watch);
    state.watch = null;
    clearInterval(state.timer);
    await flush();
    try {
      const done = await ctx.api(`/patrols/${state.patrol.id}/end`, { json: {} });
      state.ended = done;
      state.patrol = null;
      const took = new Date(done.ended_at) - new Date(done.started_at);
      ctx.messages.success(`巡查结束：${metresText(done.length_m)}，用时${durationText(took)}，打卡${done.checkins.length}次`,
        'visits');
    } catch (err) {
      state.error = `结束失败：${problemText(err)}`;
    }
    state.busy = false;
    onChange();
  }

  // The patrol section of the panel.
  function render(parent) {
    const box = parent.appendChild(el('div', 'gm-patrol'));
    box.appendChild(el('h4', null, '巡查'));
    const row = box.appendChild(el('div', 'gm-patrol-actions'));
    if (!state.patrol) {
      button(row, '开始巡查', start, 'gm-patrol-start', state.busy);
    } else {
      button(row, '打卡', checkIn, 'gm-patrol-checkin-button', state.busy);
      button(row, '结束巡查', end, 'gm-patrol-end', state.busy);
      const took = durationText(Date.now() - state.startedAt);
      const s = box.appendChild(el('div', 'gm-patrol-status', `巡查中：${state.points}个轨迹点，打卡${state.checkins}次，已用${took}`));
      s.dataset.points = String(state.points);
    }
    if (state.ended) {
      const e = box.appendChild(el('div', 'gm-patrol-done',
        `上次巡查：${metresText(state.ended.length_m)}，打卡${state.ended.checkins.length}次`));
      e.dataset.lengthM = String(state.ended.length_m);
    }
    if (state.error) box.appendChild(el('div', 'gm-error', state.error));
  }

  function stop() {
    if (state.watch !== null && navigator.geolocation) navigator.geolocation.clearWatch(state.watch);
    clearInterval(state.timer);
    Object.assign(state, { patrol: null, watch: null, buffer: [], ended: null, error: null });
    map.removeLayer(line);
    map.removeLayer(checkins);
  }

  return { render, stop, state, line };
}
