/*
 * editor/actions.js: what the editor's modules share about grids: the selection's style, a
 * feature's grid id, and the label of a part of a balanced-split suggestion.
 *
 * The edits themselves are the in-panel forms of editor/forms.js, each checked by the server
 * before the planner confirms it (editor/confirm.js); the dialogs the first port kept are gone.
 */

import { isBlank } from '../core/dom.js';

export const SELECTED_STYLE = { color: '#ffb000', weight: 4, opacity: 1, fill: false };

export function gridId(feature) {
  const p = (feature && feature.properties) || {};
  return isBlank(p.id) ? feature.id : p.id;
}

export function suggestionLabel(feature) {
  const p = feature.properties || {};
  const area = Number.isFinite(p.area_m2) ? `${Math.round(p.area_m2).toLocaleString('zh-CN')} m²` : '';
  const part = isBlank(p.part) ? '—' : String(p.part);
  const households = isBlank(p.households) ? '—' : String(p.households);
  return `${part}: ${households} 户 households${area ? ` · ${area}` : ''}`;
}
