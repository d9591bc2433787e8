/*
 * editor/preview.js: what an edit would do (the server's dry-run answer, docs/web.md), on the map:
 * the shapes every written grid would get outlined in blue (labelled with name and area), the pieces
 * of a drawing that would be cut away in grey, dashed (outside the parent, or on a neighbour), and a
 * refused edit's conflicts (overlaps, a gap, area outside the parent) in red with their m² as labels.
 * movesTable(answer) is the table of what moves from which grid to which, by kind. Used by confirm.js.
 */

import { el } from '../core/dom.js';

const NEW_STYLE = { color: '#1f78b4', weight: 3, opacity: 1, dashArray: '6 4', fillColor: '#1f78b4', fillOpacity: 0.12 };
const CLIPPED_STYLE = { color: '#636363', weight: 1, opacity: 1, dashArray: '3 3', fillColor: '#969696', fillOpacity: 0.45 };
const CONFLICT_STYLE = { color: '#e31a1c', weight: 3, opacity: 1, fillColor: '#e31a1c', fillOpacity: 0.35 };

export const MOVE_KINDS = {
  household: '户 households', camera: '摄像头 cameras', event: '事件 events', staff: '人员 staff',
};

export function formatArea(m2) {
  if (!Number.isFinite(m2)) return '';
  return m2 >= 100000 ? `${(m2 / 1e6).toLocaleString('zh-CN', { maximumFractionDigits: 2 })} km²`
    : `${Math.round(m2).toLocaleString('zh-CN')} m²`;
}

// One preview layer group on the map; show() replaces what it showed before.
export function createPreview(map) {
  const group = L.featureGroup().addTo(map);

  function add(geometry, style, className, label) {
    if (!geometry || typeof geometry !== 'object') return;
    try {
      const layer = L.geoJSON(geometry, { interactive: false, className, style: () => style });
      if (label) {
        layer.eachLayer((l) => l.bindTooltip(el('span', null, label), {
          permanent: true, direction: 'center', className: `gm-preview-label ${className}-label`,
        }));
      }
      layer.addTo(group);
    } catch (_) {
      // not drawable: the panel's text still says what happens
    }
  }

  return {
    group,
    clear() { group.clearLayers(); },

    // The dry-run answer: new shapes outlined (labelled with name and area), clipped pieces grey.
    show(answer) {
      group.clearLayers();
      (answer.grids || []).forEach((g) => add(g.geometry, NEW_STYLE, 'gm-preview-grid',
        `${g.name || g.code || ''} · ${formatArea(g.area_m2)}`));
      (answer.clipped || []).forEach((c) => add(c.geometry, CLIPPED_STYLE, 'gm-preview-clipped',
        `${c.why === 'parent' ? '超出上级 outside the parent' : '与相邻重叠 on a neighbour'} ${formatArea(c.area_m2)}`));
      const bounds = group.getBounds();
      if (bounds.isValid() && !map.getBounds().contains(bounds)) map.fitBounds(bounds, { padding: [20, 20] });
    },

    // A 409's problem: overlaps (conflicts), a gap, or what lies outside the parent, in red with m².
    // Returns the labels drawn, for the message.
    conflicts(problem) {
      group.clearLayers();
      const labels = [];
      (Array.isArray(problem.conflicts) ? problem.conflicts : []).forEach((c) => {
        const label = `${c.code || ''} ${formatArea(c.area_m2)}`.trim();
        add(c.geometry, CONFLICT_STYLE, 'gm-preview-conflict', label);
        labels.push(`重叠 overlap ${label}`);
      });
      if (problem.gap && problem.gap.geometry) {
        const label = formatArea(problem.gap.area_m2);
        add(problem.gap.geometry, CONFLICT_STYLE, 'gm-preview-conflict', `空隙 gap ${label}`);
        labels.push(`空隙 gap ${label}`);
      }
      if (problem.outside) {
        const label = formatArea(problem.area_m2);
        add(problem.outside, CONFLICT_STYLE, 'gm-preview-conflict', `超出上级 outside ${label}`);
        labels.push(`超出上级 outside the parent ${label}`);
      }
      return labels;
    },
  };
}

// The table of moves: kind, from (code and name), to, count. Moves to no grid are flagged.
export function movesTable(answer) {
  const moves = answer.moves || [];
  if (!moves.length) return el('div', 'gm-edit-hint gm-moves-none', '无迁移 Nothing moves');
  const table = el('table', 'gm-moves');
  const head = table.appendChild(el('tr'));
  ['类别 Kind', '从 From', '到 To', '数量 Count'].forEach((t) => head.appendChild(el('th', null, t)));
  const grid = (code, name) => (code ? `${name || ''} ${code}`.trim() : '（无网格 no grid）');
  moves.forEach((m) => {
    const row = table.appendChild(el('tr', m.to ? 'gm-move' : 'gm-move gm-move-orphan'));
    row.appendChild(el('td', null, MOVE_KINDS[m.kind] || m.kind));
    row.appendChild(el('td', null, grid(m.from, m.from_name)));
    row.appendChild(el('td', null, grid(m.to, m.to_name)));
    row.appendChild(el('td', 'gm-move-count', String(m.count)));
  });
  return table;
}
