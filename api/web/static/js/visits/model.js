/*
 * visits/model.js: the vocabulary of visits and patrols — status colours and their legend, the
 * visit kinds, durations in days and hours, and the worker's position from navigator.geolocation.
 *
 * A household's colour follows the answer of GET /grids/{id}/visit-status: never visited, behind
 * its target (the rule of geo/visits/rules.py, stated by the server), due soon (the last quarter of
 * its target), on time.
 */

export const STATUS = [
  { key: 'never', label: '从未走访', color: '#7a0177' },
  { key: 'behind', label: '超期未访', color: '#e31a1c' },
  { key: 'soon', label: '即将到期', color: '#fd8d3c' },
  { key: 'ok', label: '按期走访', color: '#31a354' },
];

export const KINDS = [
  ['routine', '日常走访'],
  ['care', '关爱帮扶'],
  ['verify', '信息核实'],
  ['mediation', '矛盾调解'],
  ['other', '其他'],
];

// One household's status key from its visit-status properties.
export function statusOf(p) {
  if (p.days_since === null || p.days_since === undefined) return 'never';
  if (p.behind) return 'behind';
  if (p.days_since >= p.target_days * 0.75) return 'soon';
  return 'ok';
}

export function colorOf(key) {
  return (STATUS.find((s) => s.key === key) || STATUS[0]).color;
}

export function statusLabel(key) {
  return (STATUS.find((s) => s.key === key) || STATUS[0]).label;
}

// "从未走访", "今天", "3天前"
export function sinceText(days) {
  if (days === null || days === undefined) return '从未走访';
  if (days === 0) return '今天';
  return `${days}天前`;
}

// A duration in days and hours ("2天3小时", "5小时", "12分钟").
export function durationText(ms) {
  const minutes = Math.max(0, Math.round(ms / 60000));
  if (minutes < 60) return `${minutes}分钟`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}小时`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days}天${hours % 24}小时` : `${days}天`;
}

export function metresText(m) {
  if (m === null || m === undefined) return '—';
  return m >= 1000 ? `${(m / 1000).toFixed(2)}公里` : `${Math.round(m)}米`;
}

// The phone's current position as {lon, lat, accuracy_m, at}, WGS84 (browsers' geolocation is WGS84).
export function currentPosition(timeoutMs) {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error('此设备无法定位'));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve(fromGeolocation(pos)),
      (err) => reject(new Error(err && err.code === 1 ? '未允许定位：请在浏览器中允许位置权限' : '暂时无法定位，请稍后再试')),
      { enableHighAccuracy: true, timeout: timeoutMs || 15000, maximumAge: 5000 },
    );
  });
}

export function fromGeolocation(pos) {
  return {
    lon: pos.coords.longitude,
    lat: pos.coords.latitude,
    accuracy_m: Number.isFinite(pos.coords.accuracy) ? Math.min(pos.coords.accuracy, 100000) : null,
    at: new Date(pos.timestamp || Date.now()).toISOString(),
  };
}

// The server's problem text, or a plain fallback.
export function problemText(err) {
  if (err && err.problem && err.problem.detail) return err.problem.detail;
  return (err && err.message) || '操作失败';
}
