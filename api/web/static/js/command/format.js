/*
 * command/format.js: the command map's words and colours, in plain Chinese.
 *
 * How long ago a fix was taken ("3分钟前", "2小时5分钟前", "1天3小时前": days and hours, never
 * "8371 h"), a distance in metres, the availability and role labels, and the colour of a responder:
 * by availability, washed out with the age of the last fix (grey once stale).
 */

export const AVAILABILITY = {
  available: { label: '空闲', color: '#1a9850' },
  on_duty: { label: '在岗', color: '#2c7bb6' },
  busy: { label: '忙碌', color: '#d7191c' },
  off_duty: { label: '下班', color: '#7f7f7f' },
  out_of_service: { label: '停用', color: '#4d4d4d' },
};

export const ROLES = {
  grid_worker: '网格员',
  grid_assistant: '网格助理',
  grid_head: '网格长',
  grid_instructor: '网格指导员',
  emergency_team: '应急队员',
  department: '部门人员',
};

export const HELP = { elderly_alone: '独居老人', disabled: '残疾人' };

export const STALE_COLOR = '#9e9e9e';

export function availabilityLabel(value) {
  return (AVAILABILITY[value] || { label: String(value || '未知') }).label;
}

export function roleLabel(value) {
  return ROLES[value] || String(value || '');
}

// minutes -> "刚刚", "3分钟前", "2小时5分钟前", "1天3小时前"
export function agoText(minutes) {
  const m = Math.max(0, Math.floor(minutes));
  if (m < 1) return '刚刚';
  if (m < 60) return `${m}分钟前`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}小时${m % 60}分钟前` : `${h}小时前`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}天${h % 24}小时前` : `${d}天前`;
}

export function minutesSince(iso, now = Date.now()) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? (now - t) / 60000 : Infinity;
}

export function fixText(iso) {
  const m = minutesSince(iso);
  return Number.isFinite(m) ? `定位于${agoText(m)}` : '无定位时间';
}

export function metres(value) {
  const v = Number(value);
  if (!Number.isFinite(v)) return '';
  return v >= 1000 ? `${(v / 1000).toFixed(1)}公里` : `${Math.round(v)}米`;
}

// seconds -> "1小时59分30秒" (the break-glass countdown)
export function countdownText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h ? `${h}小时` : ''}${h || m ? `${m}分` : ''}${r}秒`;
}

// The marker's look: availability colour, fading as the fix ages; grey when stale (or unknown).
export function responderStyle(r, staleMinutes = 30) {
  const age = minutesSince(r.position_at);
  const stale = r.stale || !(age < staleMinutes);
  const color = stale ? STALE_COLOR : (AVAILABILITY[r.availability] || AVAILABILITY.off_duty).color;
  const fresh = stale ? 0.35 : Math.max(0.45, 1 - age / staleMinutes);
  return { color, fillColor: color, fillOpacity: fresh, opacity: 1, weight: 2, radius: 8, dashArray: stale ? '3 3' : null };
}

export function freshnessLabel(r, staleMinutes = 30) {
  const age = minutesSince(r.position_at);
  if (r.stale || !(age < staleMinutes)) return '定位过期';
  return age < 5 ? '定位新鲜' : '定位较旧';
}
