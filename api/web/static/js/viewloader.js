/*
 * viewloader.js: keeps one overlay filled for the part of the map in view (used by layers.js).
 *
 * A loader asks the API for the view padded by `pad`, follows `next` links up to
 * `maxPages`, and reloads only when the view leaves the area already loaded. It
 * notes quietly what the user should know (403, nothing here, cut short) and puts
 * request errors in ctx.messages under its own key.
 */

import { ForbiddenError, bboxParam, clampBounds, isQuiet, nextLink } from './core/http.js';
import { FORBIDDEN_TEXT } from './popups.js';

// Quiet notes for an overlay that is on but came back empty: for the whole
// of the user's territory, or (when the loaded area does not cover it) for
// the part of the map in view.
const EMPTY_AREA_TEXT = 'none in your area 您的辖区内没有';
const EMPTY_VIEW_TEXT = 'none in this view 当前视图内没有';

// Keeps one overlay filled for the current view.
//
// Each load asks for the view padded by `pad`, so small pans and zooming in
// need no new request: we reload only when the view leaves the area already
// loaded. At the initial (county-wide) view the padded box covers the whole
// county, so a grid layer of a few thousand polygons is fetched once and
// never again. A load cut short by the page cap is not trusted as covering
// its area, so the next move loads again (by then usually a smaller view).
//
// A view still being loaded is not asked for again while the request in
// flight covers it (the moveend after a fitBounds, say); a view outside it
// aborts that request and loads afresh.
//
// Nothing is requested without a session. A 403 marks the overlay as not
// permitted for this session: one quiet note, and no further requests until
// the user signs in again (a role does not change by panning).
//
// With spec.noteEmpty, a complete load without a single feature leaves a
// quiet note too ("none in your area" when the loaded area covers the
// user's territory, ctx.territory; "none in this view" when it does not).
// Errors go to the message box under the overlay's key, and are taken back
// when the overlay is switched off, leaves its zoom range or loads fine.
//
// spec: {key, label, group, url(bbox), minZoom, pad, maxPages, truncatedNote, noteEmpty}
export function createViewLoader(ctx, spec) {
  const { map } = ctx;
  let loaded = null; // L.LatLngBounds fully loaded, or null
  let loading = null; // L.LatLngBounds of the request in flight, or null
  let controller = null;
  let forbidden = false;
  let emptyArea = null; // L.LatLngBounds of the last load, when it held nothing

  function abort() {
    if (controller) controller.abort();
    controller = null;
    loading = null;
  }

  // (Re)write the "none here" note; called again when ctx.territory arrives.
  function renote() {
    let text = null;
    if (emptyArea) {
      const territory = ctx.territory;
      const whole = !territory || emptyArea.contains(territory);
      text = `${spec.label}: ${whole ? EMPTY_AREA_TEXT : EMPTY_VIEW_TEXT}`;
    }
    ctx.notes.set(`${spec.key}:empty`, text);
  }

  function setEmpty(area) {
    emptyArea = spec.noteEmpty ? area : null;
    renote();
  }

  function stop() {
    abort();
    ctx.notes.set(`${spec.key}:truncated`, null);
    ctx.notes.set(`${spec.key}:forbidden`, null);
    setEmpty(null);
    ctx.messages.clear(spec.key);
  }

  // Forget everything loaded for the session that just ended.
  function reset() {
    stop();
    spec.group.clearLayers();
    loaded = null;
    forbidden = false;
  }

  function active() {
    return map.hasLayer(spec.group);
  }

  async function refresh() {
    if (!active() || !ctx.auth.signedIn()) return stop();
    if (forbidden) {
      ctx.notes.set(`${spec.key}:forbidden`, `${spec.label}: ${FORBIDDEN_TEXT}`);
      return;
    }
    if (map.getZoom() < spec.minZoom) {
      // Drop what is shown: stale points from another area would mislead.
      stop();
      spec.group.clearLayers();
      loaded = null;
      return;
    }
    const view = map.getBounds();
    if (loaded && loaded.contains(view)) return;
    if (controller && loading && loading.contains(view)) return; // on its way

    abort(); // the view moved on: the previous answer is no longer wanted
    const mine = new AbortController();
    controller = mine;
    loaded = null;
    const area = clampBounds(view.pad(spec.pad));
    loading = area;
    let url = spec.url(bboxParam(area));
    let pages = 0;
    let features = 0;
    let truncated = false;
    try {
      while (url) {
        const data = await ctx.api(url, { signal: mine.signal });
        if (mine.signal.aborted) return; // superseded while the body was parsed
        // Swap contents only once the first page is in, so the old
        // features stay visible while the request is in flight.
        if (pages === 0) spec.group.clearLayers();
        const page = (data && data.features) || [];
        spec.group.addData(page);
        features += page.length;
        pages += 1;
        url = nextLink(data);
        if (url && pages >= spec.maxPages) {
          truncated = true;
          break;
        }
      }
      loaded = truncated ? null : area;
      ctx.notes.set(`${spec.key}:truncated`, truncated ? spec.truncatedNote : null);
      setEmpty(features === 0 && !truncated ? area : null);
      ctx.messages.clear(spec.key);
      ctx.restack();
    } catch (err) {
      if (err.name === 'AbortError' || mine.signal.aborted) return;
      if (isQuiet(err)) return; // the login panel is up
      if (err instanceof ForbiddenError) {
        forbidden = true;
        spec.group.clearLayers();
        ctx.notes.set(`${spec.key}:truncated`, null);
        setEmpty(null);
        ctx.notes.set(`${spec.key}:forbidden`, `${spec.label}: ${FORBIDDEN_TEXT}`);
        return;
      }
      ctx.messages.error(`${spec.label}: ${err.message}`, spec.key);
    } finally {
      if (controller === mine) {
        controller = null;
        loading = null;
      }
    }
  }

  // Drop the cache and load the view again (after a grid edit); the old
  // features stay until the first page of the new answer is in.
  function reload() {
    abort();
    loaded = null;
    refresh();
  }

  return { refresh, stop, reset, renote, reload, group: spec.group };
}
