/*
 * citizen/common.js: what the public report and tracking pages share — the page config, calls to the
 * public API (no token, ever), and turning answers into plain Chinese: states, dates, durations in
 * days and hours, and refusals the citizen can act on (the API's problem details are for developers).
 */

export const STATUS_ZH = {
  reported: '已上报，待受理', screened: '已受理', assigned: '已交办，待处理', in_progress: '处理中',
  escalated: '处理中（已转交职能部门）', feedback: '已处理，待核实办结', closed: '已办结', rejected: '不予受理',
  duplicate: '已合并到其他报告', reopened: '重新办理中',
};

export function pageConfig() {
  try {
    return JSON.parse(document.body.dataset.config || '{}');
  } catch (e) {
    return {};
  }
}

// What to tell a citizen when the server refused: by the field it named, never its English detail.
function plainReason(status, problem) {
  const pointer = (problem && problem.pointer) || '';
  if (status === 429) {
    const wait = problem && problem.retry_after;
    return `提交太频繁了，请${wait ? ` ${wait} 秒` : '稍等一会儿'}后再试。`;
  }
  if (status === 404 && pointer === 'token') return '没有找到这个查询码对应的报告，请核对后再输入。';
  if (pointer.endsWith('address')) {
    if (problem && problem.match) return `地址只匹配到“${problem.match.quality_zh}”，范围太大：请写上村（社区）和组，或在地图上点一下。`;
    return '没有找到这个地址：请写上村（社区）、组和门牌号，或直接在地图上点一下。';
  }
  if (pointer === 'location' || pointer === 'lon' || pointer === 'lat') return '这个地点不在本县（区）的服务范围内，请重新选择地点。';
  if (pointer === 'category') return '请选择一个具体的类别。';
  if (pointer.startsWith('photo')) return '照片没能用上，请去掉照片后再提交，或换一张。';
  if (pointer === 'join') return '那条报告已经不能加入了（可能已办结），请直接提交您的报告。';
  if (pointer === 'description') return '描述太长或含有无法识别的字符，请修改后再提交。';
  if (pointer.startsWith('contact') || pointer === 'phone') return '联系电话的格式不对，请检查，或者不填。';
  if (status === 413) return '照片太大了，请换一张小一些的。';
  if (status >= 500) return '服务暂时不可用，请稍后再试。';
  return '提交没有成功，请检查填写的内容后再试。';
}

export class PublicError extends Error {
  constructor(status, problem) {
    super(plainReason(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

export async function call(url, { method = 'GET', json, form, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'omit' };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new PublicError(0, { detail: 'network' });
  }
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok) throw new PublicError(response.status, body);
  return body;
}

const pad = (n) => String(n).padStart(2, '0');

export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}年${d.getMonth() + 1}月${d.getDate()}日 ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// 3 天 5 小时, 7 小时, 不到 1 小时: never "77 h".
export function formatDuration(ms) {
  const hours = Math.floor(Math.abs(ms) / 3600000);
  const days = Math.floor(hours / 24);
  const rest = hours % 24;
  if (days && rest) return `${days} 天 ${rest} 小时`;
  if (days) return `${days} 天`;
  return hours ? `${hours} 小时` : '不到 1 小时';
}

export function dueText(dueIso, closed) {
  if (!dueIso) return '';
  const left = new Date(dueIso).getTime() - Date.now();
  const when = formatTime(dueIso);
  if (closed) return `办理期限：${when}`;
  return left >= 0 ? `预计 ${when} 前办结（还有 ${formatDuration(left)}）` : `应于 ${when} 前办结，已超期 ${formatDuration(left)}`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  });
  children.flat().forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
  return node;
}

export function showError(text) {
  const box = document.getElementById('cz-error');
  if (!box) return;
  box.textContent = text || '';
  box.hidden = !text;
}

// An Idempotency-Key: the same for every retry of one report, so a flaky network never makes two.
export function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}
