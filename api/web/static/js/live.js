/*
 * live.js: the live stream (GET /live, server-sent events) for every feature of the map: ctx.live.
 *
 *   ctx.live.on('event' | 'responder' | 'resync', handler)   handler(data, message)
 *   ctx.live.off(type, handler);  ctx.live.state()  'off' | 'connecting' | 'connected' | 'reconnecting'
 *
 * Read with fetch and a small SSE parser (not EventSource, which cannot send an Authorization header:
 * the token would have to go into the URL, and so into logs). The parser is the WHATWG one in ~30 lines,
 * which is less than wiring @microsoft/fetch-event-source into a page without a build step.
 * - Reconnects with back-off (1 s, 2 s, 4 s … 30 s, with jitter) and the Last-Event-ID of the last
 *   message, so nothing committed meanwhile is lost; the server answers 'resync' when it cannot replay.
 * - The token is renewed when the server says it expired (or answers 401), then the stream resumes.
 * - A small "实时" badge in a corner says whether the stream is connected or reconnecting.
 * - Reloads the events and staff point overlays (when shown) as messages arrive, a second apart at most.
 * Features must work without it (their own refresh): ctx.live may be absent.
 */

import { debounce } from './core/dom.js';

const URL_PATH = '/live';
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const LABELS = {
  off: '实时：未连接',
  connecting: '实时：正在连接…',
  connected: '实时：已连接',
  reconnecting: '实时：连接中断，正在重连…',
};

// The WHATWG event-stream parser: feed() text chunks, onMessage({type, data, id}) per event.
export function createParser(onMessage, onRetry) {
  let buffer = '';
  let pendingCR = false; // the last chunk ended with '\r': a '\n' opening the next belongs to it
  let data = [];
  let type = '';
  let id = null;
  function line(text) {
    if (text === '') {
      if (data.length) onMessage({ type: type || 'message', data: data.join('\n'), id });
      data = [];
      type = '';
      return;
    }
    if (text[0] === ':') return; // a comment: the heartbeat
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value) && onRetry) onRetry(Number(value));
  }
  return {
    feed(text) {
      const chunk = pendingCR && text[0] === '\n' ? text.slice(1) : text;
      pendingCR = chunk.endsWith('\r');
      buffer += chunk;
      const parts = buffer.split(/\r\n|\r|\n/);
      buffer = parts.pop(); // an unfinished line waits for the next chunk
      parts.forEach(line);
    },
  };
}

export function install(ctx) {
  const { auth } = ctx;
  const handlers = new Map(); // type -> Set of handlers
  let state = 'off';
  let lastId = null;
  let attempt = 0;
  let controller = null;
  let timer = null;
  let generation = 0; // bumps on every stop, so a stale loop ends quietly
  let expired = false; // the server ended the stream because the token ran out

  const badge = createBadge(ctx.map);

  function setState(next) {
    state = next;
    badge.show(auth.signedIn() ? next : 'off');
  }

  function emit(type, data, message) {
    (handlers.get(type) || new Set()).forEach((fn) => {
      try {
        fn(data, message);
      } catch (err) {
        // One feature's failing handler must not starve the others; the browser still reports it.
        setTimeout(() => { throw err; });
      }
    });
  }

  function onMessage(message) {
    if (message.id) lastId = message.id;
    if (message.type === 'ready') {
      attempt = 0;
      setState('connected');
      return;
    }
    let data = null;
    try {
      data = JSON.parse(message.data);
    } catch (_) {
      return;
    }
    if (message.type === 'expired') {
      expired = true;
      return;
    }
    emit(message.type, data, message);
  }

  async function connect(gen) {
    if (gen !== generation || !auth.signedIn()) return;
    setState(attempt ? 'reconnecting' : 'connecting');
    controller = new AbortController();
    expired = false;
    let renewAfter = false;
    try {
      let token = await auth.accessToken();
      let resp = await open(token, controller.signal);
      if (resp.status === 401) {
        token = await auth.renew(token);
        resp = await open(token, controller.signal);
      }
      if (resp.ok && resp.body) {
        const parser = createParser(onMessage);
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
        renewAfter = expired;
      } else if (resp.status === 401) {
        return; // a brand-new token refused: auth ends the session, onAuth stops us
      }
    } catch (err) {
      if (err && err.name === 'AbortError') return;
    }
    if (gen !== generation || !auth.signedIn()) return;
    if (renewAfter) {
      try {
        await auth.renew(await auth.accessToken());
      } catch (_) {
        return;
      }
      attempt = 0;
      schedule(gen, 0);
      return;
    }
    setState('reconnecting');
    const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
    attempt += 1;
    schedule(gen, base / 2 + Math.random() * base / 2);
  }

  function open(token, signal) {
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${token}` };
    if (lastId) headers['Last-Event-ID'] = lastId;
    return fetch(URL_PATH, { headers, signal, cache: 'no-store', credentials: 'same-origin' });
  }

  function schedule(gen, ms) {
    clearTimeout(timer);
    timer = setTimeout(() => connect(gen), ms);
  }

  function start() {
    stop();
    attempt = 0;
    schedule(generation, 0);
  }

  function stop() {
    generation += 1;
    clearTimeout(timer);
    if (controller) controller.abort();
    controller = null;
    setState('off');
  }

  ctx.live = {
    on(type, fn) {
      if (!handlers.has(type)) handlers.set(type, new Set());
      handlers.get(type).add(fn);
    },
    off(type, fn) {
      if (handlers.has(type)) handlers.get(type).delete(fn);
    },
    state: () => state,
    lastId: () => lastId,
  };

  // The events and staff markers follow the stream (a reload of what the view shows).
  for (const [type, key] of [['event', 'events'], ['responder', 'staff']]) {
    const reload = debounce(() => {
      (ctx.points || []).forEach((p) => {
        if (p.kind && p.kind.key === key && ctx.map.hasLayer(p.group)) p.reload();
      });
    }, 1000);
    ctx.live.on(type, reload);
    ctx.live.on('resync', reload);
  }

  function onAuth(event) {
    if (event === 'signout' || event === 'expired') {
      lastId = null;
      stop();
    } else if (event === 'signin') {
      lastId = null;
      start();
    }
  }
  auth.listeners.add(onAuth);
  if (auth.signedIn()) start();
}

function createBadge(map) {
  const control = L.control({ position: 'bottomleft' });
  let box = null;
  control.onAdd = function () {
    box = document.createElement('div');
    box.className = 'gm-live';
    box.textContent = '实时';
    box.style.display = 'none';
    return box;
  };
  control.addTo(map);
  return {
    show(state) {
      if (!box) return;
      box.style.display = state === 'off' ? 'none' : '';
      box.dataset.state = state;
      box.title = LABELS[state] || '';
      box.setAttribute('aria-label', LABELS[state] || '');
    },
  };
}
