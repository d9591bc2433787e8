/*
 * core/dom.js: small DOM helpers shared by every module of the web map.
 *
 * Server strings go into the page as text (`el(tag, class, text)` sets
 * textContent); the one place that builds an HTML string, the layers
 * control's labels (`overlayLabel`), escapes it.
 */

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// A button that runs ``onClick``. Panels are rebuilt by their handlers, which detaches the
// button; Leaflet finds clicks on controls by walking up from the target, so a detached one
// would count as a click on the map (a line point, a popup): the click must not propagate.
export function button(parent, text, onClick, className, disabled) {
  const b = parent.appendChild(el('button', className, text));
  b.type = 'button';
  b.disabled = !!disabled;
  b.addEventListener('click', (e) => {
    e.preventDefault();
    L.DomEvent.stopPropagation(e);
    onClick();
  });
  return b;
}

// Leaflet's layers control inserts overlay names as HTML, so anything that
// came from the server must be escaped before it goes there.
export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

// Colours end up in style attributes; accept only plain hex.
export function safeColor(value, fallback) {
  return /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(value || '') ? value : fallback;
}

export function isBlank(value) {
  return value === undefined || value === null || value === '';
}

export function debounce(fn, ms) {
  let timer = null;
  return function () {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

export function formatValue(value, suffix) {
  if (isBlank(value)) return '—';
  return suffix ? `${value}${suffix}` : String(value);
}

export function formatTime(value) {
  if (isBlank(value)) return '—';
  const date = new Date(value);
  return isNaN(date.getTime()) ? String(value) : date.toLocaleString('zh-CN', { hour12: false });
}

// A layers-control entry: a colour swatch (hex only, see safeColor) and the escaped text.
export function overlayLabel(text, color, round) {
  const cls = round ? 'gm-swatch gm-swatch-dot' : 'gm-swatch';
  const swatch = color
    ? `<span class="${cls}" style="background-color:${color};border-color:${color}"></span>`
    : '';
  return `${swatch}${escapeHtml(text)}`;
}

// Keep the map from panning, zooming or taking keys while the pointer or the
// keyboard is in a panel (Leaflet's keyboard handler listens on the document).
export function isolate(node) {
  L.DomEvent.disableClickPropagation(node);
  L.DomEvent.disableScrollPropagation(node);
  L.DomEvent.on(node, 'keydown keyup keypress', L.DomEvent.stopPropagation);
  return node;
}
