/*
 * work/duration.js: durations as people say them, in days and hours ("3天4小时"), never "8371 h".
 * Used by the "my work" list (work/index.js) for time overdue and time left.
 */

const HOUR_S = 3600;

// `seconds` (its absolute value) in whole days and hours; under an hour is "不到1小时".
export function humanDuration(seconds) {
  const hours = Math.floor(Math.abs(Number(seconds) || 0) / HOUR_S);
  if (hours < 1) return '不到1小时';
  const days = Math.floor(hours / 24);
  const rest = hours % 24;
  if (!days) return `${rest}小时`;
  return rest ? `${days}天${rest}小时` : `${days}天`;
}

// What the list says about a deadline `dueInSeconds` away (negative: overdue).
export function deadlineText(dueInSeconds) {
  if (dueInSeconds === null || dueInSeconds === undefined || !Number.isFinite(Number(dueInSeconds))) return '无期限';
  const s = Number(dueInSeconds);
  return s < 0 ? `超期${humanDuration(s)}` : `剩余${humanDuration(s)}`;
}
