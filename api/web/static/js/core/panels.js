/*
 * core/panels.js: the panel dock, ctx.panels (an addition to docs/web.md's core modules).
 *
 * Every feature's panel (editing, fusion, reports, ...) goes into one column in the map's
 * top-left corner instead of a Leaflet control of its own, so panels stack instead of
 * overlapping, and each folds to its title bar (click the title) to give the map back.
 *
 *   const panel = ctx.panels.add(id, title, element);   // hidden until show()
 *   panel.show(); panel.open(); panel.hide(); panel.remove(); panel.fold(true|false); panel.setTitle(text)
 *   (open = show and unfold; on a screen under 700 px panels start folded and one is open at a time)
 *
 * `element` is the panel's body; the feature renders into it as it likes. Each panel is a
 * <section class="gm-panel" data-panel="<id>"> with a .gm-panel-title button and a .gm-panel-body.
 *
 * On a phone (a map under 700 px wide) the dock is a bottom sheet instead (.gm-dock-sheet, in the
 * bottom-left corner, at most SHEET_SHARE of the map's height): folded panels are a row of title chips
 * and the one open panel spans the sheet below them, so the middle of the map stays free to tap.
 */

import { el, isolate } from './dom.js';

const SHEET_SHARE = 0.45;

export function createPanels(map) {
  const control = L.control({ position: 'topleft' });
  const dock = isolate(el('div', 'gm-dock'));
  control.onAdd = () => dock;
  const panels = new Map();
  // The dock scrolls inside the map: it ends above the scale bar in the bottom-left corner, at
  // whatever height the buttons and search box above it leave (a CSS 100vh guess ran past the
  // window's bottom, where panels were cut off and their buttons could not be clicked).
  const BOTTOM_ROOM_PX = 44;
  function fit() {
    if (!dock.isConnected) return;
    const sheet = narrow();
    if (sheet !== dock.classList.contains('gm-dock-sheet')) {
      dock.classList.toggle('gm-dock-sheet', sheet);
      control.setPosition(sheet ? 'bottomleft' : 'topleft');
    }
    if (sheet) {
      dock.style.maxHeight = `${Math.max(120, Math.round(map.getSize().y * SHEET_SHARE))}px`;
      return;
    }
    const top = dock.getBoundingClientRect().top - map.getContainer().getBoundingClientRect().top;
    dock.style.maxHeight = `${Math.max(120, map.getSize().y - top - BOTTOM_ROOM_PX)}px`;
  }
  // main.js attaches the dock after every feature is installed, so the features' own buttons
  // (the edit toggle, ...) sit above it in the corner.
  const attach = () => {
    if (narrow()) {
      dock.classList.add('gm-dock-sheet');
      control.setPosition('bottomleft');
    }
    control.addTo(map);
    fit();
    map.on('resize', fit);
  };

  // On a phone the unfolded panels would cover the map: there every panel starts folded, and
  // unfolding one folds the others (one open at a time).
  const narrow = () => map.getSize().x < 700;
  function foldOthers(except) {
    panels.forEach((other) => { if (other !== except && !other.folded()) other.fold(true); });
  }

  function add(id, title, element) {
    if (panels.has(id)) panels.get(id).remove();
    const section = dock.appendChild(el('section', 'gm-panel'));
    section.dataset.panel = id;
    section.style.display = 'none';
    const head = section.appendChild(el('button', 'gm-panel-title'));
    head.type = 'button';
    const marker = head.appendChild(el('span', 'gm-panel-fold', '▾'));
    const label = head.appendChild(el('span', 'gm-panel-label', title));
    const body = section.appendChild(el('div', 'gm-panel-body'));
    body.appendChild(element);
    let folded = false;

    function fold(value) {
      folded = value === undefined ? !folded : !!value;
      body.style.display = folded ? 'none' : '';
      marker.textContent = folded ? '▸' : '▾';
      head.setAttribute('aria-expanded', String(!folded));
      section.classList.toggle('gm-panel-open', !folded);
      head.title = folded ? '展开 Show' : '收起 Hide';
    }

    head.addEventListener('click', (e) => {
      e.preventDefault();
      fold();
      if (!folded && narrow()) foldOthers(handle);
      fit();
    });
    fold(narrow());

    const handle = {
      element: section,
      show() { section.style.display = ''; fit(); },
      // shown and unfolded because the user asked for it (the Edit toggle, a grid's history)
      open() {
        section.style.display = '';
        fold(false);
        if (narrow()) foldOthers(handle);
        fit();
      },
      hide() { section.style.display = 'none'; fit(); },
      remove() {
        section.remove();
        if (panels.get(id) === handle) panels.delete(id);
      },
      fold,
      folded: () => folded,
      setTitle(text) { label.textContent = text; },
    };
    panels.set(id, handle);
    return handle;
  }

  return { add, get: (id) => panels.get(id) || null, attach, fit };
}
