/*
 * editor/index.js: grid editing on the map, for planners (permission grids:edit).
 *
 * A toggle "编辑 Edit" (top left) enters edit mode; a click on a grid then
 * selects it and the editing panel (in the panel dock) offers rename, split
 * along a line, balanced split, merge and retire, each an in-panel form
 * (editor/forms.js) that has the server check the edit before it asks for the
 * reason (editor/confirm.js). Nothing here is shown or enabled for anybody else, and the
 * server checks the permission again on every write. Sets ctx.editor =
 * {onGridClick, onMapClick, update, leave} (layers.js and popups.js hand it
 * their clicks first); emits 'grid-selected' when a grid is selected.
 */

import { el, button, formatValue, isBlank } from '../core/dom.js';
import { SELECTED_STYLE, gridId } from './actions.js';
import { FORMS, openForm } from './forms.js';

export const EDIT_PERMISSION = 'grids:edit';

export function install(ctx) {
  const { map, auth } = ctx;
  const state = {
    enabled: false,
    active: false,
    busy: false,
    mode: null,
    selected: null, // {id, feature, layer}
    form: null, // the open form (editor/forms.js), if any
    points: [],
    suggestion: null,
    epoch: 0, // bumped on leaving, so late answers are dropped
  };
  // The editor as the action modules see it.
  const ed = {
    ctx,
    map,
    state,
    highlight: L.featureGroup().addTo(map),
    drawing: L.featureGroup().addTo(map),
    conflicts: L.featureGroup().addTo(map),
    dblZoomWas: null,
    render,
    select,
    clearDrawing,
  };

  // --- the toggle
  const toggle = L.control({ position: 'topleft' });
  const toggleBox = el('div', 'gm-edit-toggle leaflet-bar');
  const toggleButton = toggleBox.appendChild(el('button', 'gm-edit-toggle-button', '编辑 Edit'));
  toggleButton.type = 'button';
  toggleButton.setAttribute('aria-pressed', 'false');
  toggleButton.addEventListener('click', () => (state.active ? leave() : enter()));
  L.DomEvent.disableClickPropagation(toggleBox);
  toggle.onAdd = () => toggleBox;
  toggle.addTo(map);
  toggleBox.style.display = 'none';

  // --- the panel
  const panelBox = el('div', 'gm-edit-panel');
  panelBox.setAttribute('aria-label', '网格编辑 Grid editing');
  const panel = ctx.panels.add('editor', '网格编辑 Grid editing', panelBox);

  const editButton = (parent, text, onClick, className) =>
    button(parent, text, onClick, className || 'gm-edit-button', state.busy);

  function render() {
    panelBox.textContent = '';
    if (state.active) panel.open();
    else panel.hide();
    toggleBox.style.display = state.enabled ? '' : 'none';
    toggleButton.classList.toggle('gm-edit-on', state.active);
    toggleButton.setAttribute('aria-pressed', String(state.active));
    if (!state.active) return;
    const sel = state.selected;
    if (!sel) {
      panelBox.appendChild(el('div', 'gm-edit-hint', '点击网格以选择 Click a grid to select it'));
    } else {
      panelBox.appendChild(el('div', 'gm-edit-name', sel.feature.properties.name || '—'));
      panelBox.appendChild(el('div', 'gm-edit-code',
        `${formatValue(sel.feature.properties.code)} · ${sel.layer.label}`));
    }
    if (sel && state.form) {
      panelBox.appendChild(state.form.box); // the same node each time: what was typed stays
      return;
    }
    if (state.busy) panelBox.appendChild(el('div', 'gm-edit-hint', '处理中… Working…'));
    const row = panelBox.appendChild(el('div', 'gm-edit-actions'));
    if (sel) {
      editButton(row, FORMS.rename, () => openEditForm('rename'));
      editButton(row, FORMS.split, () => openEditForm('split'));
      editButton(row, FORMS.partition, () => openEditForm('partition'));
      editButton(row, '合并 Merge with…', () => openEditForm('merge'));
      editButton(row, FORMS.retire, () => openEditForm('retire'), 'gm-edit-button gm-edit-danger');
      editButton(row, '取消选择 Deselect', () => select(null));
    }
    if (ed.conflicts.getLayers().length) {
      const box = panelBox.appendChild(el('div', 'gm-edit-conflict'));
      box.appendChild(el('span', null, '红色区域为冲突 Conflicts shown in red '));
      editButton(box, '清除 Dismiss', () => { ed.conflicts.clearLayers(); render(); });
    }
  }

  // --- forms and drawings

  // One form at a time, in the panel; an applied edit deselects the grid (it changed or is gone).
  function openEditForm(kind) {
    if (state.form) state.form.close();
    const sel = state.selected;
    state.form = openForm(ctx, kind, sel, {
      container: panelBox,
      onClose: () => {
        state.form = null;
        render();
      },
      onApplied: () => select(null),
    });
    render();
  }

  function clearDrawing() {
    if (state.form) state.form.close();
    ed.drawing.clearLayers();
    state.points = [];
    state.suggestion = null;
    if (ed.dblZoomWas !== null) {
      if (ed.dblZoomWas) map.doubleClickZoom.enable();
      ed.dblZoomWas = null;
    }
  }

  function cancelMode() {
    clearDrawing();
    state.mode = null;
    render();
  }

  function select(pick) {
    clearDrawing();
    state.mode = null;
    ed.highlight.clearLayers();
    state.selected = pick;
    if (pick) {
      L.geoJSON(pick.feature.geometry, { interactive: false, style: () => SELECTED_STYLE }).addTo(ed.highlight);
      ctx.emit('grid-selected', { feature: pick.feature, layer: pick.layer });
    }
    render();
  }

  function enter() {
    if (!state.enabled) return;
    state.active = true;
    map.closePopup();
    render();
  }

  // Leaving edit mode (or losing the session) forgets everything.
  function leave() {
    state.epoch += 1;
    state.active = false;
    state.busy = false;
    select(null);
    ed.conflicts.clearLayers();
    render();
  }

  function update(user) {
    state.enabled = !!(user && Array.isArray(user.permissions) && user.permissions.includes(EDIT_PERMISSION));
    if (!state.enabled && state.active) leave();
    render();
  }

  // --- map input

  // Returns true when the click was the editor's.
  function onGridClick(feature, layer, e) {
    if (!state.active) return false;
    if (state.busy) return true;
    if (state.form) return state.form.onGridClick(feature, layer, e.latlng) || true;
    const id = gridId(feature);
    if (isBlank(id)) return false;
    select({ id, feature, layer });
    return true;
  }

  function onMapClick(e) {
    if (!state.active) return false;
    if (state.form && !state.busy) state.form.onMapClick(e.latlng);
    return true; // no division popups while editing
  }

  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !state.active) return;
    if (state.form) state.form.close();
    else if (state.mode) cancelMode();
  });

  // Signing out (or in as someone else) drops the editor state too.
  auth.listeners.add((event) => {
    if (event === 'signin' || event === 'signout' || event === 'expired') leave();
    update(auth.user()); // 'user': /auth/me may have changed the permissions
  });

  ctx.editor = { onGridClick, onMapClick, update, leave };
  update(auth.user());
}
