/*
 * stats/format.js: how the statistics page writes its figures, in plain Chinese.
 *
 * Names of the figures (as geo/events/stats.py defines them), rates as percentages, durations in
 * days and hours (never "8371 h"), dates and times in Beijing time, and the query string of a
 * filter set (from, to, division, category, week) shared by the tables, the lists and the XLSX.
 */

export const FIGURES = {
  reported: '上报',
  rejected: '无效',
  duplicates: '重复',
  received: '受理',
  handled: '处置',
  closed: '办结',
  closed_on_time: '按期办结',
  open_overdue: '超期未办结',
};

export const STATUS = {  // as the map's reports panel names them (reports-model.js), Chinese only
  reported: '上报', screened: '甄别', assigned: '交办', in_progress: '处置中', escalated: '吹哨',
  feedback: '反馈', reopened: '重办', closed: '办结', rejected: '驳回', duplicate: '重复',
};

export const TABLES = { township: '乡镇（街道）', village: '村（社区）', category: '类别', week: '周' };

export function count(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString('zh-CN');
}

export function percent(rate) {
  return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(2)}%`;
}

// 5.5 -> "5小时", 50 -> "2天2小时": whole hours, days once there are 24 of them.
export function duration(hours) {
  if (hours === null || hours === undefined) return '—';
  const h = Math.round(hours);
  const days = Math.floor(h / 24);
  const rest = h % 24;
  if (!days) return `${rest}小时`;
  return rest ? `${days}天${rest}小时` : `${days}天`;
}

const DAY = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });
const TIME = new Intl.DateTimeFormat('sv-SE', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
});

export function beijingDay(iso) {
  return iso ? DAY.format(new Date(iso)) : '';
}

export function beijingTime(iso) {
  return iso ? TIME.format(new Date(iso)) : '—';
}

// The last day a window [from, to) covers: `to` is exclusive, so a Beijing midnight ends the day before.
export function lastDay(toIso) {
  const to = new Date(toIso);
  const day = DAY.format(to);
  const midnight = new Date(`${day}T00:00:00+08:00`).getTime() === to.getTime();
  return midnight ? DAY.format(new Date(to.getTime() - 86400000)) : day;
}

// A date input's YYYY-MM-DD as the start of that day in Beijing, and the day after (an exclusive end).
export function dayStart(day) {
  return `${day}T00:00:00+08:00`;
}

export function dayAfter(day) {
  return DAY.format(new Date(new Date(`${day}T00:00:00+08:00`).getTime() + 86400000)) + 'T00:00:00+08:00';
}

export function query(params) {
  const q = new URLSearchParams();
  Object.entries(params).forEach(([k, v]) => {
    if (v !== null && v !== undefined && v !== '') q.set(k, v);
  });
  return q.toString();
}
