/*
 * editor/submit.js: how drawing and reshaping hand an edit to editor/confirm.js.
 *
 * The one place that knows confirmEdit's signature (edit-api's confirm.js):
 *   confirmEdit(ctx, {title, method, url, body, etags, layers, ...}) -> {applied, result, conflict?}
 * It runs the edit as docs/web.md says: dry run -> the preview on the map (conflicts in red with
 * their m², what moves from which grid to which) -> the reason -> the real request; it shows the
 * success and emits 'grids-changed' itself, and a 412 offers to reload and redo. runEdit resolves
 * to the applied answer, or null when the planner cancelled or the server refused (a refusal stays
 * on screen, in red, until closed). confirm.js is loaded when first needed, so a missing or
 * broken one shows an error instead of taking the map down.
 */

let confirmModule = null;

async function confirmEdit() {
  if (!confirmModule) confirmModule = import('./confirm.js');
  try {
    return (await confirmModule).confirmEdit;
  } catch (err) {
    confirmModule = null;
    throw err;
  }
}

// request: {title, method, url, body, etags: ['"g12v3"', ...], layers: [layer code], owner}
export async function runEdit(ctx, request) {
  let run;
  try {
    run = await confirmEdit();
  } catch (err) {
    ctx.messages.error(`编辑确认未加载 The edit confirmation could not be loaded: ${err.message}`, request.owner);
    return null;
  }
  const { title, method, url, body, etags, layers } = request;
  const outcome = await run(ctx, { title, method, url, body, etags: etags || [], layers });
  return outcome && outcome.applied ? outcome.result : null;
}

// The dry run alone, for a check drawing makes before confirmEdit (a full-cover layer's gap, to
// offer a neighbour to take it). Resolves to the answer; rejects with the HttpError (its
// problem+json in err.problem) for a 409/412/422.
export function dryRun(ctx, request) {
  const sep = request.url.includes('?') ? '&' : '?';
  const headers = request.etags && request.etags.length ? { 'If-Match': request.etags.join(', ') } : undefined;
  return ctx.api(`${request.url}${sep}dry_run=true`, { method: request.method, json: request.body, headers });
}
