/*
 * core/http.js: the one transport to the JSON API, and its errors.
 *
 * Every data request goes through `apiFetch` (ctx.api): same origin, the
 * session's bearer token, one shared renewal on a 401, problem+json errors
 * kept as err.problem. Also: following `next` links, and the bbox of a view.
 * Tokens are never put in a URL or logged.
 */

// `problem` is the parsed problem+json body, when there was one (grid
// edits carry conflict geometries in it).
export class HttpError extends Error {
  constructor(message, status, problem) {
    super(message);
    this.name = 'HttpError';
    this.status = status || 0;
    this.problem = problem && typeof problem === 'object' ? problem : null;
  }
}

// The signed-in user's role lacks the permission (403). Not retried: asking
// again gives the same answer.
export class ForbiddenError extends HttpError {
  constructor(message) {
    super(message, 403);
    this.name = 'ForbiddenError';
  }
}

// There is no usable session (never signed in, signed out, or the refresh
// token was refused). The login panel is already on screen when this is
// thrown, so callers drop it silently.
export class AuthRequiredError extends Error {
  constructor() {
    super('sign-in required 请登录');
    this.name = 'AuthRequiredError';
  }
}

// Parse a response body as JSON, or null when it is not JSON.
export async function readJson(resp) {
  try {
    return await resp.json();
  } catch (_) {
    return null; // not JSON (proxy error page, empty body)
  }
}

export function describeProblem(resp, body) {
  if (body && (body.title || body.detail)) {
    let detail = body.detail;
    if (detail && typeof detail !== 'string') detail = JSON.stringify(detail);
    return [body.title, detail].filter(Boolean).join(': ');
  }
  return `HTTP ${resp.status} ${resp.statusText || ''}`.trim();
}

// Turn an error response into one readable line. The API answers errors
// with problem+json ({title, detail}); anything else gets the status line.
export async function describeErrorResponse(resp) {
  return describeProblem(resp, await readJson(resp));
}

// An HttpError for a failed answer, keeping its problem+json body.
export async function problemError(resp) {
  const body = await readJson(resp);
  return new HttpError(describeProblem(resp, body), resp.status, body);
}

// POST to an /auth endpoint; the credentials travel in the body only.
export async function postAuth(url, headers, body) {
  try {
    return await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: Object.assign({ Accept: 'application/json' }, headers),
      body,
    });
  } catch (_) {
    throw new HttpError('network error, the server could not be reached');
  }
}

// request: {method, headers, body} for writes; a plain GET without it.
async function sendWithToken(url, token, signal, request) {
  const req = request || {};
  try {
    return await fetch(url, {
      signal,
      method: req.method || 'GET',
      credentials: 'same-origin',
      // Writes and ETag reads must never come from the HTTP cache.
      cache: request ? 'no-store' : 'default',
      headers: Object.assign({ Accept: 'application/geo+json, application/json' }, req.headers, {
        Authorization: `Bearer ${token}`,
      }),
      body: req.body,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new HttpError('network error, the server could not be reached');
  }
}

function abortError() {
  const err = new Error('aborted');
  err.name = 'AbortError';
  return err;
}

// The transport bound to one `auth` (core/session.js); main.js makes ctx.api with it.
//
// * 401: renew the access token once (shared with any other request that
//   hit 401 at the same time) and retry once. If the refresh token is
//   refused the session ends, the login panel appears and this throws
//   AuthRequiredError; a second 401 right after a successful renewal ends
//   the session as well, so there is never a loop.
// * 403: ForbiddenError, for the caller to show quietly.
// * anything else not ok: HttpError with the server's problem text (and
//   its problem+json body as err.problem).
//
// options: {signal, method, headers, json, body, withEtag, raw}. `json` is sent as a
// JSON body (writes: method POST/PATCH and an If-Match header); `body` as it is (a FormData
// upload: the browser sets its multipart Content-Type); with
// `withEtag` the answer is {data, etag} (the ETag header, for a write); with
// `raw` it is the body as a Blob (an export to download).
export function createApiFetch(auth) {
  return async function apiFetch(url, options) {
    const opts = options || {};
    const signal = opts.signal;
    let request = null;
    if (opts.method || opts.json !== undefined || opts.body !== undefined || opts.withEtag || opts.headers) {
      const headers = Object.assign({}, opts.headers);
      if (opts.json !== undefined) headers['Content-Type'] = 'application/json';
      request = {
        method: opts.method || (opts.json !== undefined ? 'POST' : 'GET'),
        headers,
        body: opts.json !== undefined ? JSON.stringify(opts.json) : opts.body,
      };
    }
    let token = await auth.accessToken();
    if (signal && signal.aborted) throw abortError();
    let resp = await sendWithToken(url, token, signal, request);
    if (resp.status === 401) {
      token = await auth.renew(token);
      if (signal && signal.aborted) throw abortError();
      resp = await sendWithToken(url, token, signal, request);
      if (resp.status === 401) {
        // A brand-new token refused too: the account was disabled or its
        // tokens revoked. Sign out (unless the session changed meanwhile).
        if (auth.session && auth.session.access_token === token) auth.end('expired');
        throw new AuthRequiredError();
      }
    }
    if (resp.status === 403) throw new ForbiddenError(await describeErrorResponse(resp));
    if (!resp.ok) throw await problemError(resp);
    if (opts.withEtag) return { data: await readJson(resp), etag: resp.headers.get('ETag') };
    if (opts.raw) return resp.blob();
    return resp.json();
  };
}

// True for errors a caller drops silently: no session (the login panel is up) or aborted.
export function isQuiet(err) {
  return !!err && (err instanceof AuthRequiredError || err.name === 'AuthRequiredError' || err.name === 'AbortError');
}

// `links` may hold absolute URLs built from the server's idea of its host
// (which can differ behind a proxy); keep only path and query so every
// request stays same-origin.
export function nextLink(collection) {
  const links = (collection && collection.links) || [];
  const next = links.find((link) => link && link.rel === 'next' && link.href);
  if (!next) return null;
  const url = new URL(next.href, window.location.href);
  return url.pathname + url.search;
}

function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

// Padded views can run past the poles/antimeridian when zoomed far out;
// the API wants a valid WGS84 box.
export function clampBounds(bounds) {
  const sw = bounds.getSouthWest();
  const ne = bounds.getNorthEast();
  return L.latLngBounds(
    [clamp(sw.lat, -90, 90), clamp(sw.lng, -180, 180)],
    [clamp(ne.lat, -90, 90), clamp(ne.lng, -180, 180)]
  );
}

export function bboxParam(bounds) {
  return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
    .map((v) => v.toFixed(6))
    .join(',');
}
