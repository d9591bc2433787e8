/*
 * editor/index.js: grid editing on the map, for planners (permission grids:edit).
 *
 * A toggle "编辑 Edit" (top left) enters edit mode; a click on a grid then
 * selects it and the editing panel (in the panel dock) offers rename, split
 * along a line, balanced split, merge and retire (editor/actions.js, sent by
 * editor/write.js). Nothing here is shown or enabled for anybody else, and the
 * server checks the permission again on every write. Sets ctx.editor =
 * {onGridClick, onMapClick, update, leave} (layers.js and popups.js hand it
 * their clicks first); emits 'grid-selected' when a grid is selected.
 */

import { el, button, formatValue, isBlank } from '../core/dom.js';
import {
  SELECTED_STYLE, addPoint, applySuggestion, finishLine, gridId, pickMergePartner, redrawLine, rename, retire,
  startMerge, startSplit, startSuggest, suggestionLabel,
} from './actions.js';

export const EDIT_PERMISSION = 'grids:edit';

export function install(ctx) {
  const { map, auth } = ctx;
  const state = {
    enabled: false,
    active: false,
    busy: false,
    mode: null, // null | 'split' | 'suggest' | 'merge'
    selected: null, // {id, feature, layer}
    points: [], // split line being drawn
    suggestion: null, // FeatureCollection under review
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
    if (state.active) panel.show();
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
    if (state.busy) panelBox.appendChild(el('div', 'gm-edit-hint', '处理中… Working…'));
    if (sel && state.mode === 'split') {
      panelBox.appendChild(el('div', 'gm-edit-hint',
        `在地图上点击画线（已 ${state.points.length} 点），双击或“完成”结束，Esc 取消 `
        + 'Click points across the grid; double-click or Finish to end, Esc cancels'));
    }
    const row = panelBox.appendChild(el('div', 'gm-edit-actions'));
    if (sel && state.mode === 'split') {
      editButton(row, '完成 Finish', () => finishLine(ed)).disabled = state.busy || state.points.length < 2;
      editButton(row, '取消 Cancel', cancelMode);
    } else if (sel && state.mode === 'suggest') {
      const list = panelBox.insertBefore(el('ol', 'gm-edit-parts'), row);
      ((state.suggestion && state.suggestion.features) || []).forEach((f) => {
        list.appendChild(el('li', null, suggestionLabel(f)));
      });
      editButton(row, '应用 Apply', () => applySuggestion(ed));
      editButton(row, '取消 Cancel', cancelMode);
    } else if (sel && state.mode === 'merge') {
      panelBox.insertBefore(el('div', 'gm-edit-hint',
        '点击同一图层中相邻的另一个网格 Click a neighbouring grid of the same layer'), row);
      editButton(row, '取消 Cancel', cancelMode);
    } else if (sel) {
      editButton(row, '重命名 Rename', () => rename(ed));
      editButton(row, '画线拆分 Split along a line', () => startSplit(ed));
      editButton(row, '均衡拆分 Balanced split', () => startSuggest(ed));
      editButton(row, '合并 Merge with…', () => startMerge(ed));
      editButton(row, '撤销网格 Retire', () => retire(ed), 'gm-edit-button gm-edit-danger');
      editButton(row, '取消选择 Deselect', () => select(null));
    }
    if (ed.conflicts.getLayers().length) {
      const box = panelBox.appendChild(el('div', 'gm-edit-conflict'));
      box.appendChild(el('span', null, '红色区域为冲突 Conflicts shown in red '));
      editButton(box, '清除 Dismiss', () => { ed.conflicts.clearLayers(); render(); });
    }
  }

  // --- modes and drawings

  function clearDrawing() {
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
    if (state.mode === 'split') {
      addPoint(ed, e.latlng);
      return true;
    }
    if (state.mode === 'suggest') return true;
    if (state.mode === 'merge') {
      pickMergePartner(ed, feature, layer);
      return true;
    }
    const id = gridId(feature);
    if (isBlank(id)) return false;
    select({ id, feature, layer });
    return true;
  }

  function onMapClick(e) {
    if (!state.active) return false;
    if (state.mode === 'split' && !state.busy) addPoint(ed, e.latlng);
    return true; // no division popups while editing
  }

  map.on('mousemove', (e) => {
    if (state.mode === 'split' && state.points.length) redrawLine(ed, e.latlng);
  });
  map.on('dblclick', () => {
    if (state.mode === 'split') finishLine(ed);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !state.active) return;
    if (state.mode) cancelMode();
  });

  // Signing out (or in as someone else) drops the editor state too.
  auth.listeners.add((event) => {
    if (event === 'signin' || event === 'signout' || event === 'expired') leave();
    update(auth.user()); // 'user': /auth/me may have changed the permissions
  });

  ctx.editor = { onGridClick, onMapClick, update, leave };
  update(auth.user());
}
