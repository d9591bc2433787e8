/*
 * editor/forms.js: the in-panel forms for editing the selected grid (planners, grids:edit): rename,
 * split along a line clicked on the map, balanced split (parts count, the server's suggestion shown,
 * then partition), merge (neighbours picked among the merge candidates, which are highlighted; any
 * other grid is refused at once, saying why) and retire (the absorber chosen among the candidates).
 * No browser dialogs: each form ends in confirmEdit (editor/confirm.js), which has the server check
 * the edit and shows what it would do before it asks for the reason.
 *
 *   openForm(ctx, kind, grid, {container, onClose, onApplied}) -> {box, onGridClick(feature, layer, latlng),
 *   onMapClick(latlng), close()}       grid = {id, feature, layer: {code, label, ...}}
 *
 * The click handlers return true when the click was the form's.
 */

import { button, el } from '../core/dom.js';
import { confirmEdit, freshEtags, clearPreview } from './confirm.js';
import { suggestionLabel } from './actions.js';
import { editSummary } from './summary.js';

const PICK_STYLE = { color: '#ffb000', weight: 4, opacity: 1, fillColor: '#ffb000', fillOpacity: 0.25 };
const CANDIDATE_STYLE = { color: '#33a02c', weight: 3, opacity: 1, dashArray: '5 4', fillColor: '#33a02c', fillOpacity: 0.1 };
const LINE_STYLE = { color: '#c51b8a', weight: 3, opacity: 1 };
const PART_STYLE = { color: '#6a3d9a', weight: 3, opacity: 1, dashArray: '8 6', fillColor: '#6a3d9a', fillOpacity: 0.08 };

export const FORMS = {
  rename: '重命名 Rename', split: '画线拆分 Split along a line', partition: '均衡拆分 Balanced split',
  merge: '合并 Merge', retire: '撤销网格 Retire',
};

const title = (g) => `${g.feature.properties.name || ''} ${g.feature.properties.code || ''}`.trim();

function field(parent, label, input) {
  const row = parent.appendChild(el('label', 'gm-form-field', label));
  row.appendChild(input);
  return input;
}

function input(type, className, value) {
  const node = el('input', className);
  node.type = type;
  if (value !== undefined) node.value = value;
  return node;
}

function actions(parent, list) {
  const row = parent.appendChild(el('div', 'gm-edit-actions'));
  return list.map(([label, onClick, className]) => button(row, label, onClick, className || 'gm-edit-button'));
}

const SUMMARY_KIND = { rename: 'rename', split: 'split', partition: 'split', merge: 'merge', retire: 'retire' };

export function openForm(ctx, kind, grid, opts) {
  const box = el('form', `gm-form gm-form-${kind}`);
  box.addEventListener('submit', (e) => e.preventDefault());
  box.appendChild(el('div', 'gm-edit-title', `${FORMS[kind]} · ${title(grid)}`));
  const drawn = L.featureGroup().addTo(ctx.map);
  const confirmBox = el('div', 'gm-form-confirm');
  let closed = false;
  const form = {
    box,
    onGridClick: () => false,
    onMapClick: () => false,
    close() {
      if (closed) return;
      closed = true;
      drawn.remove();
      clearPreview();
      box.remove();
      if (form.onClose) form.onClose();
      if (opts.onClose) opts.onClose();
    },
  };

  // The edit, checked and confirmed; the form closes when it is applied and stays for a correction otherwise.
  async function run(spec, ids) {
    let etags;
    try {
      etags = await freshEtags(ctx, ids);
    } catch (err) {
      ctx.messages.error(`无法读取网格 Cannot read the grid: ${err.message}`, 'editor');
      return;
    }
    const outcome = await confirmEdit(ctx, Object.assign({
      title: FORMS[kind], etags, container: confirmBox, layers: [grid.layer.code],
      successText: (result) => editSummary(SUMMARY_KIND[kind], result),
    }, spec));
    if (!outcome.applied) return;
    form.close();
    if (opts.onApplied) opts.onApplied(outcome.result);
  }

  const builders = { rename: renameForm, split: splitForm, partition: partitionForm, merge: mergeForm, retire: retireForm };
  builders[kind](ctx, grid, box, form, drawn, run);
  box.appendChild(confirmBox);
  actions(box, [['关闭 Close', () => form.close(), 'gm-edit-button gm-form-close']]);
  opts.container.appendChild(box);
  const first = box.querySelector('input, select');
  if (first) first.focus();
  return form;
}

function renameForm(ctx, grid, box, form, drawn, run) {
  const name = field(box, '新名称 New name ', input('text', 'gm-form-name', grid.feature.properties.name || ''));
  name.maxLength = 100;
  const [check] = actions(box, [['检查 Check', () => {
    const value = name.value.trim();
    if (!value) return;
    run({ method: 'PATCH', url: `/grids/${grid.id}`, body: { name: value } }, [grid.id]);
  }, 'gm-edit-button gm-form-check']]);
  name.addEventListener('input', () => { check.disabled = !name.value.trim(); });
}

function splitForm(ctx, grid, box, form, drawn, run) {
  const points = [];
  const hint = box.appendChild(el('div', 'gm-edit-hint gm-form-points'));
  const dblZoom = ctx.map.doubleClickZoom.enabled();
  ctx.map.doubleClickZoom.disable();
  form.onClose = () => { if (dblZoom) ctx.map.doubleClickZoom.enable(); };
  const [check, undo] = actions(box, [
    ['检查 Check', () => run({ url: `/grids/${grid.id}/split`, body: {
      line: { type: 'LineString', coordinates: points.map((p) => [p.lng, p.lat]) } } }, [grid.id]),
    'gm-edit-button gm-form-check'],
    ['撤销上一点 Undo last point', () => { points.pop(); redraw(); }],
  ]);
  function redraw() {
    drawn.clearLayers();
    if (points.length) L.polyline(points, Object.assign({ interactive: false, className: 'gm-form-line' }, LINE_STYLE)).addTo(drawn);
    points.forEach((p) => L.circleMarker(p, { interactive: false, radius: 3, color: LINE_STYLE.color, fillOpacity: 1 }).addTo(drawn));
    hint.textContent = `在地图上点击画线，穿过网格（已 ${points.length} 点） `
      + `Click points on the map across the grid, from outside to outside (${points.length} so far)`;
    check.disabled = points.length < 2;
    undo.disabled = !points.length;
  }
  form.onMapClick = (latlng) => {
    const last = points[points.length - 1];
    if (last && ctx.map.latLngToContainerPoint(last).distanceTo(ctx.map.latLngToContainerPoint(latlng)) < 4) return true;
    points.push(latlng);
    redraw();
    return true;
  };
  form.onGridClick = (feature, layer, latlng) => (latlng ? form.onMapClick(latlng) : true);
  redraw();
}

function partitionForm(ctx, grid, box, form, drawn, run) {
  const parts = field(box, '部分数 Parts (2–10) ', input('number', 'gm-form-parts', '2'));
  parts.min = '2';
  parts.max = '10';
  const list = el('ol', 'gm-edit-parts');
  let suggestion = null;
  const [suggest, check] = actions(box, [
    ['建议 Suggest', async () => {
      const n = Number(parts.value);
      if (!Number.isInteger(n) || n < 2 || n > 10) {
        ctx.messages.warning('请输入 2 到 10 之间的整数 Enter a whole number from 2 to 10', 'editor');
        return;
      }
      suggest.disabled = true;
      try {
        suggestion = await ctx.api(`/grids/${grid.id}/split-suggestion?parts=${n}`);
      } catch (err) {
        ctx.messages.error(`无法建议 No suggestion: ${(err.problem && err.problem.detail) || err.message}`, 'editor');
        return;
      } finally {
        suggest.disabled = false;
      }
      drawn.clearLayers();
      list.textContent = '';
      L.geoJSON(suggestion, {
        interactive: false,
        className: 'gm-form-part', style: () => PART_STYLE,
        onEachFeature(feature, layer) {
          list.appendChild(el('li', null, suggestionLabel(feature)));
          layer.bindTooltip(el('span', null, suggestionLabel(feature)), {
            permanent: true, direction: 'center', className: 'gm-edit-part-label',
          });
        },
      }).addTo(drawn);
      check.disabled = false;
    }, 'gm-edit-button gm-form-suggest'],
    ['检查 Check', () => run({ url: `/grids/${grid.id}/partition`,
      body: { parts: suggestion.features.map((f) => f.geometry) } }, [grid.id]), 'gm-edit-button gm-form-check'],
  ]);
  box.appendChild(list);
  check.disabled = true;
  parts.addEventListener('input', () => { check.disabled = true; drawn.clearLayers(); list.textContent = ''; });
}

// The merge candidates of the grid, drawn on the map; resolves to {etag, candidates}.
async function candidatesOf(ctx, grid, drawn, box) {
  const note = box.appendChild(el('div', 'gm-edit-hint', '正在读取可合并的相邻网格… Reading the neighbours…'));
  try {
    const answer = await ctx.api(`/grids/${grid.id}/merge-candidates`);
    note.textContent = answer.candidates.length ? '可合并的相邻网格（绿色） Neighbours that may be merged (green):'
      : '没有可合并的相邻网格 No neighbour may be merged with this grid';
    const list = note.appendChild(el('ul', 'gm-form-candidates'));
    answer.candidates.forEach((c) => list.appendChild(el('li', null, `${c.name} ${c.code}`)));
    answer.candidates.forEach((c) => L.geoJSON(c.geometry, {
      interactive: false, className: 'gm-form-candidate', style: () => CANDIDATE_STYLE,
    }).addTo(drawn));
    return answer.candidates;
  } catch (err) {
    note.textContent = `无法读取 Cannot read the candidates: ${(err.problem && err.problem.detail) || err.message}`;
    return [];
  }
}

function mergeForm(ctx, grid, box, form, drawn, run) {
  box.appendChild(el('div', 'gm-edit-hint',
    '点击地图上绿色的相邻网格以加入合并 Click the green neighbours to add them to the merge'));
  const picked = box.appendChild(el('ul', 'gm-form-picked'));
  const why = box.appendChild(el('div', 'gm-edit-hint gm-form-refused'));
  const name = field(box, '合并后名称 Name of the merged grid ', input('text', 'gm-form-name', grid.feature.properties.name || ''));
  name.maxLength = 100;
  const picks = new Map(); // id -> {candidate, layer}
  let candidates = [];
  const [check] = actions(box, [['检查 Check', () => {
    const body = { grids: [Number(grid.id), ...picks.keys()] };
    if (name.value.trim()) body.name = name.value.trim();
    run({ url: '/grids/merge', body }, body.grids);
  }, 'gm-edit-button gm-form-check']]);
  check.disabled = true;
  const highlight = L.featureGroup().addTo(drawn);
  function redraw() {
    picked.textContent = '';
    highlight.clearLayers();
    picks.forEach((c) => {
      picked.appendChild(el('li', null, `${c.name} ${c.code}`));
      L.geoJSON(c.geometry, { interactive: false, className: 'gm-form-pick', style: () => PICK_STYLE }).addTo(highlight);
    });
    check.disabled = picks.size === 0;
  }
  // Only the grid's merge candidates may join; anything else is refused at once, saying why.
  form.onGridClick = (feature, layer) => {
    const p = feature.properties || {};
    const id = Number(feature.id !== undefined ? feature.id : p.id);
    if (id === Number(grid.id)) return true;
    if (picks.has(id)) { picks.delete(id); redraw(); return true; }
    const c = candidates.find((x) => x.id === id);
    const own = grid.feature.properties;
    if (c) {
      why.textContent = '';
      picks.set(id, c);
      redraw();
      return true;
    }
    const reason = layer && layer.code !== grid.layer.code ? `它属于另一图层 it is in another layer (${p.layer_name || layer.code})`
      : p.division_code && p.division_code !== own.division_code
        ? `它属于另一村/社区 it is in another village (${p.division_name || p.division_code}, not ${own.division_name || own.division_code})`
        : '它与该网格不相邻（没有公共边） it is not adjacent: it shares no edge with the grid';
    why.textContent = `不能合并 Cannot merge ${p.name || ''} ${p.code || ''}: ${reason}`;
    ctx.messages.warning(why.textContent, 'editor');
    return true;
  };
  candidatesOf(ctx, grid, drawn, box).then((list) => { candidates = list; });
}

function retireForm(ctx, grid, box, form, drawn, run) {
  box.appendChild(el('div', 'gm-edit-hint', '选择接收其区域的相邻网格 Choose the neighbour that takes its area'));
  const select = field(box, '接收网格 Absorber ', el('select', 'gm-form-absorber'));
  const auto = select.appendChild(el('option', null, '自动（公共边最长）Automatic (longest shared border)'));
  auto.value = '';
  candidatesOf(ctx, grid, drawn, box).then((list) => list.forEach((c) => {
    const option = select.appendChild(el('option', null, `${c.name} ${c.code} · ${Math.round(c.shared_edge_m)} m`));
    option.value = c.code;
  }));
  actions(box, [['检查 Check', () => run({ url: `/grids/${grid.id}/retire`,
    body: select.value ? { absorber: select.value } : {} }, [grid.id]), 'gm-edit-button gm-form-check gm-edit-danger']]);
}
