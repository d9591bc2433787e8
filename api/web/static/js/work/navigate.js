/*
 * work/navigate.js: what a grid worker needs to get to a report: its address, "在地图App中打开" links
 * for AMap and Tencent Maps (GCJ-02 coordinates, as those apps expect; links only, nothing is loaded
 * from their hosts), and the reporter's contact, unmasked only with pii:read and a stated purpose
 * (GET /events/{id}/contact?unmasked=true&purpose=…, audited by the server).
 *
 * Installed into the reports panel's detail (ctx.reports.detailExtras, reports.js); it keeps the
 * contact it fetched per report in memory for the session only and drops it on sign-out.
 */

import { button, el, isBlank } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { wgsToGcj } from '../crs.js';
import { problemText } from '../reports-model.js';

const APP_NAME = 'gridmap';

// Deep links of the two map apps most phones here have; both take GCJ-02 longitude/latitude.
export function mapAppLinks(lon, lat, title) {
  const [x, y] = wgsToGcj(lon, lat).map((v) => v.toFixed(6));
  const amap = new URL('https://uri.amap.com/marker');
  amap.search = new URLSearchParams({ position: `${x},${y}`, name: title, src: APP_NAME, coordinate: 'gaode', callnative: '1' }).toString();
  const tencent = new URL('https://apis.map.qq.com/uri/v1/marker');
  tencent.search = new URLSearchParams({ marker: `coord:${y},${x};title:${title}`, referer: APP_NAME }).toString();
  return { amap: amap.toString(), tencent: tencent.toString(), gcj02: [Number(x), Number(y)] };
}

export function createNavigation(ctx) {
  const contacts = new Map(); // event id → {busy, error, contact, asking, purpose}
  ctx.auth.listeners.add(() => contacts.clear());

  function entry(id) {
    if (!contacts.has(id)) contacts.set(id, { asking: false, purpose: '', busy: false, error: null, contact: null });
    return contacts.get(id);
  }

  async function reveal(id, rerender) {
    const c = entry(id);
    const purpose = c.purpose.trim();
    if (!purpose) {
      c.error = '请写明查看原因（会记入审计）';
      rerender();
      return;
    }
    c.busy = true;
    c.error = null;
    rerender();
    try {
      const params = new URLSearchParams({ unmasked: 'true', purpose });
      c.contact = await ctx.api(`/events/${encodeURIComponent(id)}/contact?${params.toString()}`);
      c.asking = false;
    } catch (err) {
      if (!isQuiet(err)) c.error = err.status === 404 ? '这条上报没有留下联系方式' : `无法查看：${problemText(err)}`;
    } finally {
      c.busy = false;
      rerender();
    }
  }

  // One section below a report's details: address, map-app links, the reporter's contact.
  function render(detail, box, rerender) {
    const loc = detail.location || {};
    const section = box.appendChild(el('div', 'gm-work-nav'));
    section.appendChild(el('div', 'gm-events-subtitle', '去现场'));
    if (!isBlank(loc.address)) section.appendChild(el('div', 'gm-work-address', `地址：${loc.address}`));
    if (Number.isFinite(loc.lon) && Number.isFinite(loc.lat)) {
      const title = `事件${detail.id} ${(detail.category && detail.category.name) || ''}`.trim();
      const links = mapAppLinks(loc.lon, loc.lat, title);
      const row = section.appendChild(el('div', 'gm-work-links'));
      [['gm-work-amap', '在高德地图App中打开', links.amap], ['gm-work-tencent', '在腾讯地图App中打开', links.tencent]]
        .forEach(([cls, text, href]) => {
          const a = row.appendChild(el('a', `gm-work-link ${cls}`, text));
          a.href = href;
          a.target = '_blank';
          a.rel = 'noopener noreferrer';
        });
    }
    renderContact(detail.id, section, rerender);
  }

  function renderContact(id, section, rerender) {
    if (!ctx.auth.can('pii:read')) {
      section.appendChild(el('div', 'gm-events-summary', '您的角色不能查看上报人的联系方式'));
      return;
    }
    const c = entry(id);
    if (c.contact) {
      const box = section.appendChild(el('div', 'gm-work-contact'));
      box.appendChild(el('div', null, `上报人：${isBlank(c.contact.name) ? '未留姓名' : c.contact.name}`));
      if (!isBlank(c.contact.phone)) {
        const tel = box.appendChild(el('a', 'gm-work-tel', `电话：${c.contact.phone}`));
        tel.href = `tel:${c.contact.phone}`;
      }
      return;
    }
    if (!c.asking) {
      button(section, '联系上报人', () => { c.asking = true; rerender(); }, 'gm-events-button gm-work-contact-ask');
      return;
    }
    const form = section.appendChild(el('form', 'gm-work-purpose'));
    const label = form.appendChild(el('label', 'gm-events-field'));
    label.appendChild(el('span', null, '查看原因（必填，记入审计）'));
    const input = label.appendChild(el('input', 'gm-work-purpose-input'));
    input.maxLength = 200;
    input.value = c.purpose;
    input.placeholder = '例如：上门核实情况';
    input.addEventListener('input', () => { c.purpose = input.value; });
    if (c.error) form.appendChild(el('div', 'gm-events-error', c.error));
    const submit = form.appendChild(el('button', 'gm-events-button gm-work-contact-show', c.busy ? '查询中…' : '查看联系方式'));
    submit.type = 'submit';
    submit.disabled = c.busy;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      reveal(id, rerender);
    });
  }

  return { render };
}
