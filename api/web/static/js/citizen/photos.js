/*
 * citizen/photos.js: up to 4 photos for a report. Each is sent to POST /photos as soon as it is
 * chosen (the photos part: EXIF stripped on the server); the report then carries their ids. When the
 * answer has `exif_location` (where the photo was taken, a hint for this citizen only), the page
 * offers it as the place: "用照片拍摄的地点？".
 */

import { call, el } from './common.js';

export const MAX_PHOTOS = 4;

export function installPhotos({ input, thumbs, offer, onError, usePlace }) {
  const photos = []; // {id, url}
  let busy = 0;

  function offerPlace(loc) {
    offer.replaceChildren(
      el('span', { text: '照片里带有拍摄地点。' }),
      el('button', { type: 'button', class: 'cz-use-exif', text: '用照片拍摄的地点？',
        onclick: () => { usePlace(loc); offer.hidden = true; } }),
      el('button', { type: 'button', text: '不用', onclick: () => { offer.hidden = true; } }));
    offer.hidden = false;
  }

  async function upload(file) {
    const form = new FormData();
    form.append('file', file, file.name || 'photo.jpg');
    busy += 1;
    try {
      const answer = await call('/photos', { method: 'POST', form });
      const url = URL.createObjectURL(file);
      photos.push({ id: answer.id, url });
      thumbs.append(el('img', { src: url, alt: `照片 ${photos.length}`, 'data-photo-id': answer.id }));
      if (answer.exif_location) offerPlace(answer.exif_location);
    } catch (err) {
      // A refusal of this photo (too big, not an image, too many) says so; anything else means this
      // server takes no photos (no POST /photos): the report can still go without them.
      if (err.status === 415) onError('这种照片格式不支持，请用 JPEG 或 PNG 照片。');
      else if ([413, 422, 429].includes(err.status)) onError(err.message);
      else onError('这里暂时不能上传照片，请不带照片提交。');
    } finally {
      busy -= 1;
    }
  }

  input.addEventListener('change', async () => {
    const files = [...input.files];
    input.value = '';
    const room = MAX_PHOTOS - photos.length;
    if (files.length > room) onError(`最多 ${MAX_PHOTOS} 张照片，多出的没有添加。`);
    for (const file of files.slice(0, Math.max(0, room))) await upload(file); // in order, one at a time
  });

  return {
    ids: () => photos.map((p) => p.id),
    busy: () => busy > 0,
    clear() {
      photos.splice(0).forEach((p) => URL.revokeObjectURL(p.url));
      thumbs.replaceChildren();
      offer.hidden = true;
    },
  };
}
