/*
 * citizen/track.js: the tracking page (/report/track#<查询码>): a report's state by its tracking
 * number, in plain Chinese, with the expected completion date and the steps so far (no staff names,
 * no notes: GET /citizen/reports/{token}). The number travels in the URL's fragment, which the
 * browser never sends to a server; "刷新" asks again.
 */

import { call, dueText, el, formatTime, showError } from './common.js';

const $ = (id) => document.getElementById(id);

async function show(token) {
  const box = $('cz-status');
  try {
    const t = await call(`/citizen/reports/${encodeURIComponent(token)}`);
    showError('');
    box.replaceChildren(
      el('div', { class: 'cz-small', text: `受理编号 ${t.number} · ${t.service_name}` }),
      el('div', { class: 'cz-state', id: 'cz-state', 'data-status': t.status, text: t.status_zh }),
      el('p', { text: dueText(t.due_at, t.closed) }),
      t.merged_into ? el('p', { text: `您的报告已与第 ${t.merged_into} 号报告合并办理，下面是它的进度。` }) : '',
      t.reporters > 1 ? el('p', { text: `共有 ${t.reporters} 人报过这件事。` }) : '',
      t.agency ? el('p', { text: `负责办理：${t.agency}` }) : '',
      t.village ? el('p', { text: `地点：${t.village}` }) : '',
      el('h2', { text: '办理经过' }),
      el('ol', { class: 'cz-steps', id: 'cz-steps' }, t.steps.map((s) => el('li', { 'data-action': s.action },
        el('time', { datetime: s.at, text: formatTime(s.at) }), s.text))),
      el('button', { type: 'button', id: 'cz-refresh', text: '刷新', onclick: () => show(token) }));
    box.hidden = false;
    box.dataset.token = token;
  } catch (err) {
    box.hidden = true;
    showError(err.message);
  }
}

function fromHash() {
  const token = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
  if (token) {
    $('cz-token').value = token;
    show(token);
  }
}

$('cz-track-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('cz-token').value.trim();
  if (!token) { showError('请输入查询码。'); return; }
  if (location.hash !== `#${token}`) location.hash = token; // hashchange shows it
  else show(token);
});
window.addEventListener('hashchange', fromHash);
fromHash();
