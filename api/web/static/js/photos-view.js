/*
 * photos-view.js: a report's photos in the reports panel: thumbnails that open full size.
 * The bytes need the bearer token, so each photo is fetched with ctx.api (raw → Blob) and shown
 * through a blob: URL (the page's CSP allows img-src blob:), never by a URL carrying a token.
 * The blobs of one report are kept while it stays open (the panel re-renders on every change)
 * and released when another report is opened.
 */

import { el } from './core/dom.js';

const STAGES = { report: '上报照片', before: '处置前', after: '处置后' };
let current = { eventId: null, loading: null, urls: [] };

function load(ctx, eventId) {
  if (current.eventId === eventId && current.loading) return current.loading;
  current.urls.forEach((u) => URL.revokeObjectURL(u));
  const entry = { eventId, loading: null, urls: [] };
  entry.loading = ctx.api(`/events/${eventId}/photos`).then((list) => Promise.all(list.map(async (p) => {
    const blob = await ctx.api(`/photos/${p.id}`, { raw: true });
    const url = URL.createObjectURL(blob);
    entry.urls.push(url);
    return { ...p, url };
  })));
  entry.loading.catch(() => { if (current === entry) current = { eventId: null, loading: null, urls: [] }; });
  current = entry;
  return entry.loading;
}

function openFull(photo) {
  const cover = document.body.appendChild(el('div', 'gm-photo-full'));
  Object.assign(cover.style, {
    position: 'fixed', inset: '0', background: 'rgba(0,0,0,0.85)', zIndex: '10000',
    display: 'flex', alignItems: 'center', justifyContent: 'center', cursor: 'zoom-out',
  });
  cover.setAttribute('role', 'dialog');
  cover.setAttribute('aria-label', `${STAGES[photo.stage] || '照片'}（点击关闭）`);
  const img = cover.appendChild(el('img', 'gm-photo-full-img'));
  img.src = photo.url;
  img.alt = STAGES[photo.stage] || '照片';
  Object.assign(img.style, { maxWidth: '96vw', maxHeight: '92vh', objectFit: 'contain' });
  const close = () => { cover.remove(); document.removeEventListener('keydown', onKey); };
  const onKey = (e) => { if (e.key === 'Escape') close(); };
  cover.addEventListener('click', close);
  document.addEventListener('keydown', onKey);
}

// A strip under the report's details; empty (and invisible) when the report has no photos.
export function photoStrip(ctx, eventId) {
  const box = el('div', 'gm-photos');
  load(ctx, eventId).then((photos) => {
    if (!photos.length) return;
    box.appendChild(el('div', 'gm-events-subtitle', `照片 ${photos.length} 张`));
    const row = box.appendChild(el('div', 'gm-photos-row'));
    Object.assign(row.style, { display: 'flex', flexWrap: 'wrap', gap: '6px' });
    photos.forEach((p) => {
      const thumb = row.appendChild(el('button', 'gm-photo-thumb'));
      thumb.type = 'button';
      thumb.title = `${STAGES[p.stage] || '照片'}：点击查看大图`;
      Object.assign(thumb.style, { padding: '0', border: '1px solid #bbb', background: '#fff', cursor: 'zoom-in' });
      const img = thumb.appendChild(el('img'));
      img.src = p.url;
      img.alt = STAGES[p.stage] || '照片';
      Object.assign(img.style, { width: '72px', height: '72px', objectFit: 'cover', display: 'block' });
      thumb.appendChild(el('span', 'gm-photo-stage', STAGES[p.stage] || '')).style.fontSize = '11px';
      thumb.addEventListener('click', (e) => { e.preventDefault(); e.stopPropagation(); openFull(p); });
    });
  }).catch(() => {
    box.appendChild(el('div', 'gm-events-error', '照片加载失败，请刷新重试'));
  });
  return box;
}
