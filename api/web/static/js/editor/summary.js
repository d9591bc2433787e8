/*
 * editor/summary.js: the one line the editor says about an applied edit ("split into 2 grids;
 * moved 241 households"), from the API's answer. confirmEdit shows it as the success message.
 */

const MOVE_KINDS = {
  household: '户 households', camera: '摄像头 cameras', event: '事件 events', staff: '人员 staff',
};

// A short line about a successful edit, from the API's answer.
export function editSummary(kind, result) {
  const grids = (result && Array.isArray(result.grids)) ? result.grids : [];
  const retired = (result && Array.isArray(result.retired)) ? result.retired : [];
  const first = grids[0] || {};
  const parts = [];
  if (kind === 'split') parts.push(`拆分为 ${grids.length} 个网格 split into ${grids.length} grids`);
  else if (kind === 'merge') parts.push(`已合并为 merged into ${first.name || first.code || ''}`.trim());
  else if (kind === 'rename') parts.push(`已重命名为 renamed to ${first.name || ''}`.trim());
  else if (kind === 'retire') parts.push(`已撤销 retired ${retired.join(', ')}`.trim());
  const totals = new Map();
  ((result && result.moves) || []).forEach((move) => {
    if (!move || !Number.isFinite(move.count)) return;
    totals.set(move.kind, (totals.get(move.kind) || 0) + move.count);
  });
  if (totals.size) {
    const moved = Array.from(totals, ([k, n]) => `${n} ${MOVE_KINDS[k] || k}`).join('、');
    parts.push(`迁移 moved ${moved}`);
  } else if (Number.isFinite(result && result.moved)) {
    parts.push(`迁移 moved ${result.moved}`);
  }
  return parts.join('；');
}
