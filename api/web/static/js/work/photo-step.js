/*
 * work/photo-step.js: the photo step of a worker's feedback 反馈: the phone's camera (a file input with
 * capture="environment"), each photo uploaded at once to POST /photos (the photos part, docs/roles.md),
 * its id sent with the feedback as photo_ids (stage "after"). 自办自结 needs at least one such photo.
 *
 * Installed as the feedback form's extra field (ctx.reports.formExtras.feedback, reports.js); what it
 * collects lives in the form's state (`form.photos`), which reports.js turns into photo_ids.
 */

import { el } from '../core/dom.js';
import { isQuiet } from '../core/http.js';
import { problemText } from '../reports-model.js';

const MAX_PHOTOS = 4;

export function createPhotoStep(ctx) {
  async function upload(file, form, rerender) {
    const item = { name: file.name || '照片', id: null, error: null };
    form.photos = (form.photos || []).concat([item]);
    rerender();
    try {
      const body = new FormData();
      body.append('file', file, file.name || 'photo.jpg');
      const stored = await ctx.api('/photos', { method: 'POST', body });
      item.id = stored && stored.id;
    } catch (err) {
      if (!isQuiet(err)) item.error = `上传失败：${problemText(err)}`;
    }
    rerender();
  }

  // The field, inside the feedback form (`formEl`), for that form's state `form`.
  function render(formEl, form, rerender) {
    const wrap = formEl.appendChild(el('label', 'gm-events-field gm-work-photos'));
    wrap.appendChild(el('span', null, '处理后的照片（自办自结至少一张）'));
    const input = wrap.appendChild(el('input', 'gm-work-photo-input'));
    input.type = 'file';
    input.accept = 'image/jpeg,image/png,image/webp';
    input.setAttribute('capture', 'environment');
    input.multiple = true;
    const photos = form.photos || [];
    input.disabled = photos.length >= MAX_PHOTOS;
    input.addEventListener('change', () => {
      const room = MAX_PHOTOS - (form.photos || []).length;
      [...input.files].slice(0, room).forEach((file) => upload(file, form, rerender));
      input.value = '';
    });
    if (!photos.length) return;
    const list = formEl.appendChild(el('ul', 'gm-work-photo-list'));
    photos.forEach((p) => {
      let text = `${p.name}：上传中…`;
      if (p.error) text = `${p.name}：${p.error}`;
      else if (p.id) text = `${p.name}：已上传`;
      const li = list.appendChild(el('li', p.error ? 'gm-events-error' : 'gm-work-photo', text));
      if (p.id) li.dataset.photoId = p.id;
    });
  }

  return { render };
}

// The ids of the uploaded photos of a form's state, for photo_ids.
export function photoIds(form) {
  return ((form && form.photos) || []).map((p) => p.id).filter(Boolean);
}
