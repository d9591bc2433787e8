/*
 * command/breakglass.js: 破窗 break-glass on the command panel.
 *
 * For roles with pii:break-glass (the emergency officer): with an open incident picked, the
 * officer states a reason and opens a grant (POST /break-glass). While it is open a countdown runs
 * and the households around the incident are listed with their phones unmasked, the vulnerable
 * (独居老人, 残疾人) first (GET /break-glass/{id}/around: every such read is audited on the server
 * as pii.break_glass). "关闭破窗" closes it early (DELETE /break-glass/{id}); when the time is up
 * the list goes and the phones are masked again. Open grants are picked up again after a reload
 * (GET /break-glass). Names and phones go into the page as text only, never into a URL or a log.
 */

import { button, el } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { countdownText, HELP, metres } from './format.js';

const PERMISSION = 'pii:break-glass';
const OWNER = 'break-glass';
const RADIUS_M = 300;

export function createBreakGlass(ctx) {
  const box = el('div', 'gm-command-glass');
  const state = { grant: null, body: null, timer: null, busy: false, event: null };

  const allowed = () => ctx.auth.signedIn() && ctx.auth.can(PERMISSION);
  const left = () => (state.grant ? Math.max(0, (Date.parse(state.grant.expires_at) - Date.now()) / 1000) : 0);

  function stopTimer() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  function drop() {
    stopTimer();
    state.grant = null;
    state.body = null;
    render();
  }

  function tick() {
    const clock = box.querySelector('.gm-glass-countdown');
    if (left() <= 0) {
      ctx.messages.warning('破窗授权已到期，联系方式已重新隐藏', OWNER);
      drop();
      return;
    }
    if (clock) clock.textContent = `剩余 ${countdownText(left())}`;
  }

  async function load() {
    if (!state.grant) return;
    try {
      state.body = await ctx.api(`/break-glass/${state.grant.id}/around?radius=${RADIUS_M}`);
    } catch (err) {
      if (isQuiet(err)) return;
      ctx.messages.error(`破窗查看失败：${err.message}`, OWNER);
      if (err.status === 403 || err.status === 404) drop();
      return;
    }
    render();
  }

  function start(grant) {
    state.grant = grant;
    stopTimer();
    state.timer = setInterval(tick, 1000);
    render();
    load();
  }

  async function open(reason) {
    if (!state.event || state.busy) return;
    state.busy = true;
    try {
      const grant = await ctx.api('/break-glass', { method: 'POST', json: { event_id: state.event.id, reason } });
      ctx.messages.success(`已破窗：事件 ${grant.event_id}，有效 ${countdownText(grant.seconds_left)}（全程留痕审计）`, OWNER);
      start(grant);
    } catch (err) {
      if (!isQuiet(err)) ctx.messages.error(`破窗失败：${err.message}`, OWNER);
    } finally {
      state.busy = false;
      render();
    }
  }

  async function close() {
    if (!state.grant) return;
    try {
      await ctx.api(`/break-glass/${state.grant.id}`, { method: 'DELETE' });
      ctx.messages.success('破窗已关闭，联系方式已重新隐藏', OWNER);
    } catch (err) {
      if (!isQuiet(err)) ctx.messages.error(`关闭破窗失败：${err.message}`, OWNER);
    }
    drop();
  }

  function household(list, h) {
    const row = list.appendChild(el('li', 'gm-glass-household'));
    const needs = (h.needs_help || []).map((n) => HELP[n] || n).join('、');
    row.appendChild(el('span', 'gm-glass-address', `${h.address}（${metres(h.distance_m)}）`));
    if (needs) row.appendChild(el('span', 'gm-glass-needs', ` ${needs}`));
    if (h.contact) {
      row.appendChild(el('span', 'gm-glass-name', ` ${h.contact.name} `));
      const tel = row.appendChild(el('a', 'gm-glass-phone', h.contact.phone));
      tel.href = `tel:${h.contact.phone}`;
    }
  }

  function render() {
    box.replaceChildren();
    if (!allowed()) return;
    box.appendChild(el('h4', null, '破窗（紧急查看联系方式）'));
    if (!state.grant) {
      if (!state.event) {
        box.appendChild(el('p', 'gm-command-hint', '先在地图上选择一个未办结事件，才能破窗。'));
        return;
      }
      box.appendChild(el('p', null, `事件 ${state.event.id}（${state.event.category || ''}）`));
      const reason = box.appendChild(el('textarea', 'gm-glass-reason'));
      reason.rows = 2;
      reason.maxLength = 500;
      reason.placeholder = '破窗理由（必填，至少4个字，将被审计）';
      button(box, '破窗', () => {
        if (reason.value.trim().length < 4) {
          ctx.messages.warning('请填写破窗理由（至少4个字）', OWNER);
          return;
        }
        open(reason.value.trim());
      }, 'gm-glass-open', state.busy);
      return;
    }
    box.appendChild(el('p', 'gm-glass-active', `已破窗：事件 ${state.grant.event_id} · 理由：${state.grant.reason}`));
    box.appendChild(el('p', 'gm-glass-countdown', `剩余 ${countdownText(left())}`));
    button(box, '关闭破窗', close, 'gm-glass-close');
    const homes = state.body && state.body.households;
    if (!homes) return;
    box.appendChild(el('p', null, `周边${RADIUS_M}米：${homes.count}户，需帮扶 ${homes.needs_help_count}户`));
    if (homes.needs_help.length) {
      box.appendChild(el('h5', null, '需帮扶住户（独居老人、残疾人）'));
      const help = box.appendChild(el('ul', 'gm-glass-vulnerable'));
      homes.needs_help.forEach((h) => household(help, h));
    }
    box.appendChild(el('h5', null, '住户联系方式'));
    const all = box.appendChild(el('ul', 'gm-glass-households'));
    homes.items.slice(0, 50).forEach((h) => household(all, h));
  }

  async function restore() {
    if (!allowed()) return;
    try {
      const open = await ctx.api('/break-glass');
      if (open && open.length) start(open[0]);
    } catch (err) {
      if (!isQuiet(err)) ctx.messages.error(`读取破窗授权失败：${err.message}`, OWNER);
    }
  }

  return {
    element: box,
    setEvent(event) {
      state.event = event;
      render();
    },
    reset: drop,
    restore,
    render,
  };
}
