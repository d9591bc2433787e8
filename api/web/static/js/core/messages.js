/*
 * core/messages.js: the one message area at the top of the map, and the quiet notes corner.
 *
 * ctx.messages.success / warning / error(text, owner?) show one line that looks like what it
 * is (classes gm-msg-success, gm-msg-warning, gm-msg-error). Each owner (an overlay key, a
 * panel, 'editor', ...; '' when none is given) has at most one message: a new one replaces the
 * previous, so nothing piles up. The same text again counts (×2) instead of stacking, since every
 * pan can fail the same way. clear(owner) takes an owner's message back (switched off, loaded
 * fine); clear() takes them all. Messages fade after a while; errors stay longer.
 *
 * ctx.notes.set(key, text|null): short status lines in a map corner ("first 2000 shown", ...).
 */

import { el } from './dom.js';

const TIMEOUT_MS = { success: 6000, warning: 10000, error: 15000 };

export function createMessages(map) {
  const box = el('div', 'gm-messages');
  map.getContainer().appendChild(box);
  L.DomEvent.disableClickPropagation(box);
  const shown = new Map(); // owner -> {node, text, kind, count, counter, timer}

  function clear(owner) {
    if (owner === undefined) {
      Array.from(shown.keys()).forEach((key) => clear(key));
      return;
    }
    const entry = shown.get(owner);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.node.remove();
    shown.delete(owner);
  }

  function show(kind, text, owner) {
    const key = owner || '';
    let entry = shown.get(key);
    if (entry && entry.text === text && entry.kind === kind) {
      entry.count += 1;
      entry.counter.textContent = ` ×${entry.count}`;
      clearTimeout(entry.timer);
    } else {
      clear(key);
      const node = el('div', `gm-message gm-msg-${kind}`);
      // Errors interrupt (alert); success and warnings are announced politely.
      node.setAttribute('role', kind === 'error' ? 'alert' : 'status');
      node.dataset.owner = key;
      node.appendChild(el('span', 'gm-message-text', text));
      const counter = node.appendChild(el('span', 'gm-message-count'));
      const close = node.appendChild(el('button', 'gm-message-close', '×'));
      close.type = 'button';
      close.title = 'Dismiss 关闭';
      close.addEventListener('click', () => {
        if (shown.get(key) === entry) clear(key);
      });
      box.appendChild(node);
      entry = { node, text, kind, count: 1, counter, timer: null };
      shown.set(key, entry);
    }
    const mine = entry;
    entry.timer = setTimeout(() => {
      if (shown.get(key) === mine) clear(key);
    }, TIMEOUT_MS[kind]);
  }

  return {
    success: (text, owner) => show('success', text, owner),
    warning: (text, owner) => show('warning', text, owner),
    error: (text, owner) => show('error', text, owner),
    clear,
  };
}

// Short status lines in a map corner (zoom hints, "first 2000 shown", ...),
// keyed so each part of the app can set or clear its own line.
export function createNotes(map) {
  const lines = new Map();
  const control = L.control({ position: 'bottomleft' });
  let container = null;
  control.onAdd = function () {
    container = el('div', 'gm-notes');
    render();
    return container;
  };

  function render() {
    if (!container) return;
    container.textContent = '';
    lines.forEach((text) => container.appendChild(el('div', 'gm-note', text)));
    container.style.display = lines.size ? '' : 'none';
  }

  function set(key, text) {
    if (text) lines.set(key, text);
    else lines.delete(key);
    render();
  }

  control.addTo(map);
  return { set };
}
