/*
 * citizen/report.js: the public report page (/report), no account, phone first (390×844).
 *
 * 1. Where: a tap on the map, the phone's position (navigator.geolocation: WGS-84 in standard
 *    browsers; WeChat/QQ/UC and phones' map apps often hand out GCJ-02, so such browsers are read as
 *    GCJ-02 by default and a checkbox switches, converted with ../crs.js), an address matched by
 *    POST /citizen/address-match (its quality shown), or where a photo was taken.
 * 2. What: a category from GET /event-categories, words, up to 4 photos (photos.js).
 * 3. Before sending: open reports of the same category nearby (GET /citizen/nearby), each with
 *    "加入它" — the report is still stored, merged into that one, and its count rises.
 * 4. Send (POST /citizen/reports, one Idempotency-Key for every retry): the tracking number, large
 *    and copyable, and the link to /report/track.
 */

import { gcjToWgs } from '../crs.js';
import { STATUS_ZH, call, dueText, el, formatTime, newKey, pageConfig, showError } from './common.js';
import { createPlaceMap } from './map.js';
import { installPhotos } from './photos.js';

const $ = (id) => document.getElementById(id);
const GCJ_BROWSERS = /MicroMessenger|QQ\/|MQQBrowser|UCBrowser|baiduboxapp|AlipayClient|DingTalk/i;

const state = { place: null, join: null, key: newKey(), lastFix: null };
const config = pageConfig();
const placeMap = createPlaceMap($('cz-map'), config, (p) => setPlace({ ...p, label: '地图上选的位置' }));
window.gridmapCitizen = { state, placeMap }; // for the browser tests and a developer's console

function setPlace(place, { zoom } = {}) {
  state.place = place;
  if (place.lon !== undefined) placeMap.setPin(place.lon, place.lat, { zoom: zoom !== false && place.how !== 'map' });
  const line = $('cz-place');
  line.replaceChildren(el('span', { text: `地点：${place.label}` }));
  if (place.match) line.append(el('span', { class: 'cz-quality', 'data-quality': place.match.quality,
    text: `${place.match.quality_zh}（匹配度 ${Math.round(place.match.score * 100)}%）` }));
  state.key = newKey(); // another place is another report
  loadNearby();
}

// -- where ---------------------------------------------------------------------------------------
$('cz-gcj').checked = GCJ_BROWSERS.test(navigator.userAgent);
function placeFromFix() {
  const { lon, lat, accuracy } = state.lastFix;
  const [x, y] = $('cz-gcj').checked ? gcjToWgs(lon, lat) : [lon, lat];
  setPlace({ lon: x, lat: y, how: 'gps', label: `我的位置（误差约 ${Math.round(accuracy)} 米）` });
}
$('cz-gps').addEventListener('click', () => {
  if (!navigator.geolocation) { showError('这个浏览器不能定位，请在地图上点选或输入地址。'); return; }
  navigator.geolocation.getCurrentPosition((pos) => {
    showError('');
    state.lastFix = { lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy: pos.coords.accuracy };
    placeFromFix();
  }, () => showError('没能定位（可能没有开启定位权限），请在地图上点选或输入地址。'),
  { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
});
$('cz-gcj').addEventListener('change', () => { if (state.lastFix && state.place && state.place.how === 'gps') placeFromFix(); });

async function findAddress() {
  const text = $('cz-address').value.trim();
  if (!text) return;
  try {
    const m = await call('/citizen/address-match', { method: 'POST', json: { address: text } });
    showError(m.usable ? '' : `“${m.place}”范围太大，请在地图上点一下具体位置。`);
    setPlace({ lon: m.lon, lat: m.lat, how: m.usable ? 'address' : 'area', address: text, match: m,
      label: `${m.place}${m.near ? `（${m.near}）` : ''}` });
  } catch (err) {
    showError(err.message);
  }
}
$('cz-address-go').addEventListener('click', findAddress);
$('cz-address').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); findAddress(); } });

// -- what ----------------------------------------------------------------------------------------
async function loadCategories() {
  const tree = await call('/event-categories');
  const select = $('cz-category');
  const leaves = (node) => (node.children && node.children.length ? node.children.flatMap(leaves) : [node]);
  tree.forEach((root) => {
    const group = el('optgroup', { label: root.name });
    leaves(root).forEach((c) => group.append(el('option', { value: c.code, text: c.name })));
    select.append(group);
  });
  select.dataset.loaded = 'true';
}
$('cz-category').addEventListener('change', () => { state.join = null; loadNearby(); });

const photos = installPhotos({ input: $('cz-photos'), thumbs: $('cz-thumbs'), offer: $('cz-exif'), onError: showError,
  usePlace: (loc) => setPlace({ lon: loc.lon, lat: loc.lat, how: 'photo', label: '照片拍摄的地点' }) });

// -- nearby: already reported? --------------------------------------------------------------------
let nearbyAbort = null;
async function loadNearby() {
  const box = $('cz-nearby');
  const category = $('cz-category').value;
  const p = state.place;
  if (nearbyAbort) nearbyAbort.abort();
  if (!category || !p || p.lon === undefined) { box.hidden = true; return; }
  const params = new URLSearchParams({ category, lon: p.lon.toFixed(7), lat: p.lat.toFixed(7) });
  try {
    const { reports } = await call(`/citizen/nearby?${params}`);
    renderNearby(reports);
  } catch (err) {
    box.hidden = true;
  }
}

function renderNearby(reports) {
  const box = $('cz-nearby');
  if (!reports.length) { box.hidden = true; state.join = null; return; }
  box.replaceChildren(el('h2', { text: '已经有人报过了？' }),
    el('p', { class: 'cz-hint', text: '附近已有同类报告正在处理。加入它：您的报告照样保存，并合并到那条报告里一起办理，'
      + '您可以用自己的查询码看到它的进度，它的“报过的人数”会加一。' }));
  reports.forEach((r) => {
    const chosen = state.join === r.id;
    box.append(el('div', { class: 'cz-nearby-item', 'data-event': r.id },
      el('strong', { text: `${r.service_name} · ${STATUS_ZH[r.status] || r.status}` }),
      el('div', { class: 'cz-small', text: `${r.village || ''} 约 ${r.distance_m} 米 · ${formatTime(r.reported_at)} 上报 · ${1 + r.me_too} 人报过` }),
      r.description ? el('div', { text: r.description }) : '',
      el('button', { type: 'button', class: 'cz-join', text: chosen ? '✓ 已选择加入（点此取消）' : '加入它',
        onclick: () => { state.join = chosen ? null : r.id; renderNearby(reports); } })));
  });
  box.hidden = false;
}

// -- send ----------------------------------------------------------------------------------------
function placeBody() {
  const p = state.place;
  if (!p) return null;
  if (p.how === 'address') return { address: p.address };
  if (p.how === 'area') return null;
  const words = $('cz-address').value.trim();
  return { lon: Number(p.lon.toFixed(7)), lat: Number(p.lat.toFixed(7)), crs: 'wgs84', ...(words ? { address: words } : {}) };
}

async function submit() {
  const category = $('cz-category').value;
  const where = placeBody();
  if (!where) { showError('请先选择地点：在地图上点一下、用定位或输入地址。'); return; }
  if (!category) { showError('请选择类别。'); return; }
  if (photos.busy()) { showError('照片还在上传，请稍等。'); return; }
  showError('');
  const button = $('cz-submit');
  button.disabled = true;
  button.textContent = '正在提交…';
  const body = { category, description: $('cz-description').value, location: where, photo_ids: photos.ids(),
    ...(state.join ? { join: state.join } : {}), ...($('cz-phone').value.trim() ? { phone: $('cz-phone').value.trim() } : {}) };
  try {
    const receipt = await call('/citizen/reports', { method: 'POST', json: body, headers: { 'Idempotency-Key': state.key } });
    done(receipt);
  } catch (err) {
    showError(err.message);
  } finally {
    button.disabled = false;
    button.textContent = '提交';
  }
}
$('cz-submit').addEventListener('click', submit);

function done(r) {
  const box = $('cz-done');
  const copy = el('button', { type: 'button', class: 'cz-copy', text: '复制查询码' });
  copy.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(r.token); copy.textContent = '已复制'; } catch (e) {
      window.getSelection().selectAllChildren(box.querySelector('.cz-number'));
      copy.textContent = '请长按上面的查询码复制';
    }
  });
  const matched = { exact: '门牌', normalised: '门牌', anchored: '门牌', fuzzy: '门牌（近似）', group: '村民小组', village: '村（社区）' };
  const q = r.location && r.location.match_quality;
  const place = q ? `（地址匹配到${matched[q] || q}）` : '';
  box.replaceChildren(
    el('h2', { text: '提交成功，谢谢您！' }),
    el('p', { text: `受理编号 ${r.number}。请保存下面的查询码，用它查看办理进度：` }),
    el('div', { class: 'cz-number', id: 'cz-track-number', text: r.token }), copy,
    el('p', { text: `${STATUS_ZH[r.status] || r.status}。${dueText(r.due_at, false)}${place}` }),
    r.joined ? el('p', { text: `已加入第 ${r.joined.joined} 号报告，现在共有 ${r.joined.me_too + 1} 人报过这件事。` }) : '',
    r.agency_responsible ? el('p', { text: `负责办理：${r.agency_responsible}` }) : '',
    el('a', { href: r.track_url, id: 'cz-track-link', text: '查看办理进度 →' }));
  box.hidden = false;
  $('cz-submit').hidden = true;
  box.scrollIntoView({ behavior: 'smooth' });
}

loadCategories().catch((err) => showError(err.message));
