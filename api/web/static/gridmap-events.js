/*
 * gridmap-events.js: the grid workers' daily loop 闭环 on the web map.
 *
 * Loaded after gridmap.js, which hands it a context (map, layers control,
 * apiFetch, auth, ...) from `gridmap.init`. For signed-in users with
 * events:read it adds a panel "事件 Reports":
 * - two lists: overdue reports (GET /events/overdue, most overdue first) and
 *   open reports of one status in the user's territory (GET /events?status=),
 *   each item with id, category, status and hours overdue; the listed reports
 *   are an overlay of their own ("事件待办 Report worklist");
 * - a click on a report zooms to it and shows its details
 *   (GET /events/{id}/history): category, status, deadline, grids, assignee
 *   and every transition (action, actor, time, note);
 * - buttons for the actions the report allows (`allowed_actions`) that the
 *   user's permissions allow (events:handle, events:assign); each opens a
 *   small form (note, department, original report, handler) and sends
 *   POST /events/{id}/{action}. A refusal (409, 422) is shown in the panel
 *   with the server's `detail`; a success reloads the report and the list.
 *
 * Server strings go into the page as text only. Plain ES2017, Leaflet 1.9.
 */
(function (global) {
  'use strict';

  const READ_PERMISSION = 'events:read';
  const LIST_LIMIT = 200;
  const DETAIL_ZOOM = 17;
  const COLOR = '#d94801';
  const SELECTED_COLOR = '#08519c';

  // The loop's states, open ones in the order a report passes through them.
  const STATUSES = {
    reported: '上报 Reported',
    screened: '甄别 Screened',
    assigned: '交办 Assigned',
    in_progress: '处置 In progress',
    escalated: '吹哨 Escalated',
    feedback: '反馈 Feedback',
    reopened: '重办 Reopened',
    closed: '办结 Closed',
    rejected: '驳回 Rejected',
    duplicate: '重复 Duplicate',
  };
  const OPEN_STATUSES = ['reported', 'screened', 'assigned', 'in_progress', 'escalated', 'feedback', 'reopened'];

  // One entry per action of POST /events/{id}/{action}: label, permission and
  // what its form asks for (the server checks all of it again).
  const ACTIONS = {
    accept: { label: '受理 Accept', permission: 'events:handle' },
    reject: { label: '驳回 Reject', permission: 'events:handle', noteRequired: true },
    duplicate: { label: '重复 Duplicate', permission: 'events:handle', duplicateOf: true },
    assign: { label: '交办 Assign', permission: 'events:assign', handler: true },
    start: { label: '开始处置 Start', permission: 'events:handle' },
    escalate: { label: '吹哨 Escalate', permission: 'events:assign', department: true },
    feedback: { label: '反馈 Feedback', permission: 'events:handle', noteRequired: true },
    close: { label: '办结 Close', permission: 'events:assign' },
    reopen: { label: '重办 Reopen', permission: 'events:assign', noteRequired: true },
  };
  // Transitions that are not actions of the loop.
  const OTHER_STEPS = { report: '上报 Reported', rerouted: '改派 Rerouted' };

  const ASSIGNEE_KINDS = { staff: '人员 staff', division: '村/社区 village', department: '部门 department' };

  function isBlank(value) {
    return value === undefined || value === null || value === '';
  }

  function statusLabel(status) {
    return STATUSES[status] || String(isBlank(status) ? '—' : status);
  }

  function stepLabel(action) {
    if (ACTIONS[action]) return ACTIONS[action].label;
    return OTHER_STEPS[action] || String(action);
  }

  function formatTime(value) {
    if (isBlank(value)) return '—';
    const date = new Date(value);
    return isNaN(date.getTime()) ? String(value) : date.toLocaleString('zh-CN', { hour12: false });
  }

  // Whole hours past `due` (ISO time), or null when not yet due.
  function hoursPast(due) {
    const t = new Date(due).getTime();
    if (isBlank(due) || isNaN(t) || t >= Date.now()) return null;
    return Math.round((Date.now() - t) / 3600000);
  }

  // The server's own words for a refused request: problem+json `detail`, and
  // the actions a 409 says are allowed now (or a 422's choices).
  function problemText(err) {
    const problem = err && err.problem;
    if (!problem || typeof problem.detail !== 'string' || !problem.detail) return (err && err.message) || String(err);
    if (Array.isArray(problem.allowed)) {
      return `${problem.detail} — 可执行 allowed now: ${problem.allowed.length ? problem.allowed.join(', ') : '—'}`;
    }
    if (Array.isArray(problem.choices) && problem.choices.length) {
      return `${problem.detail} — 可选 choices: ${problem.choices.join(', ')}`;
    }
    return problem.detail;
  }

  function createEvents(ctx) {
    const { map, el, apiFetch, auth } = ctx;
    const overlay = L.featureGroup();
    const selected = L.featureGroup();
    const state = {
      view: 'overdue', // 'overdue' | 'open'
      status: 'reported', // the open list's status
      list: null, // {items: [{id, category, status, hours, lat, lon}], total, more}
      listBusy: false,
      listError: null,
      detail: null, // GET /events/{id}/history
      detailId: null,
      detailBusy: false,
      detailError: null,
      action: null, // the action whose form is open
      form: {}, // {note, department, duplicateOf, handler}
      choices: null, // {departments, duplicates, staff} for the open form, once loaded
      actionBusy: false,
      actionError: null,
      folded: false,
      epoch: 0,
    };
    let categories = null; // code → label, from GET /event-categories
    let departments = null; // GET /departments, per session

    ctx.control.addOverlay(overlay, ctx.overlayLabel('事件待办 Report worklist', COLOR, true));

    const panel = L.control({ position: 'topleft' });
    let box = null;
    panel.onAdd = function () {
      box = el('div', 'gm-events');
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      // Typing a note must not pan the map (Leaflet's keyboard handler).
      L.DomEvent.on(box, 'keydown keyup keypress', L.DomEvent.stopPropagation);
      render();
      return box;
    };
    panel.onRemove = function () {
      box = null;
    };

    function can(permission) {
      const user = auth.user();
      return !!(user && Array.isArray(user.permissions) && user.permissions.includes(permission));
    }

    function categoryLabel(code, name) {
      const known = categories && categories.get(code);
      if (known) return known;
      return isBlank(name) ? String(isBlank(code) ? '—' : code) : `${name}`;
    }

    const button = (parent, text, onClick, className, disabled) =>
      ctx.button(parent, text, onClick, className || 'gm-events-button', disabled);

    // ------------------------------------------------------------ render

    function render() {
      if (!box) return;
      box.replaceChildren();
      // The title folds the panel away (the map stays usable on small screens).
      const title = box.appendChild(el('div', 'gm-events-title', `${state.folded ? '▸' : '▾'} 事件 Reports`));
      title.setAttribute('role', 'button');
      title.title = state.folded ? '展开 Show' : '收起 Hide';
      title.addEventListener('click', () => {
        state.folded = !state.folded;
        render();
      });
      if (state.folded) return;
      if (state.detailId !== null) renderDetail();
      else renderList();
    }

    function renderList() {
      const tabs = box.appendChild(el('div', 'gm-events-tabs'));
      [['overdue', '超期 Overdue'], ['open', '我的辖区 Open in my territory']].forEach(([view, text]) => {
        const b = button(tabs, text, () => switchView(view), 'gm-events-tab', state.listBusy);
        if (state.view === view) b.classList.add('gm-events-tab-on');
      });
      const bar = box.appendChild(el('div', 'gm-events-bar'));
      if (state.view === 'open') {
        const select = bar.appendChild(el('select', 'gm-events-status'));
        select.setAttribute('aria-label', '状态 Status');
        OPEN_STATUSES.forEach((s) => {
          const option = select.appendChild(el('option', null, statusLabel(s)));
          option.value = s;
        });
        select.value = state.status;
        select.disabled = state.listBusy;
        select.addEventListener('change', () => {
          state.status = select.value;
          loadList();
        });
      }
      button(bar, state.listBusy ? '加载中… Loading…' : '刷新 Refresh', loadList, 'gm-events-button', state.listBusy);
      if (state.listError) box.appendChild(el('div', 'gm-events-error', state.listError));
      const list = state.list;
      if (!list) return;
      const shown = list.items.length;
      let summary;
      if (!shown) summary = state.view === 'overdue' ? '没有超期事件 No overdue reports' : '没有事件 No reports';
      else if (list.total !== null && list.total > shown) summary = `显示 ${shown} / 共 ${list.total} Showing ${shown} of ${list.total}`;
      else if (list.more) summary = `显示前 ${shown} 条 Showing the first ${shown}`;
      else summary = `共 ${shown} 条 ${shown} reports`;
      box.appendChild(el('div', 'gm-events-summary', summary));
      const ol = box.appendChild(el('ol', 'gm-events-list'));
      list.items.forEach((item) => {
        const li = ol.appendChild(el('li', 'gm-events-item'));
        const link = li.appendChild(el('a', 'gm-events-link', `#${item.id} ${categoryLabel(item.category)}`));
        link.href = '#';
        link.addEventListener('click', (e) => {
          e.preventDefault();
          openEvent(item.id, item);
        });
        li.appendChild(el('span', 'gm-events-meta', ` · ${statusLabel(item.status)}`));
        if (item.hours !== null) li.appendChild(el('span', 'gm-events-late', ` · 超期 ${item.hours} h overdue`));
      });
    }

    function renderDetail() {
      const back = box.appendChild(el('div', 'gm-events-bar'));
      button(back, '← 列表 List', closeEvent, 'gm-events-button', state.actionBusy);
      button(back, '刷新 Refresh', () => openEvent(state.detailId), 'gm-events-button',
        state.detailBusy || state.actionBusy);
      if (state.detailError) box.appendChild(el('div', 'gm-events-error', state.detailError));
      const d = state.detail;
      if (!d) {
        if (state.detailBusy) box.appendChild(el('div', 'gm-events-summary', '加载中… Loading…'));
        return;
      }
      const category = d.category || {};
      box.appendChild(el('div', 'gm-events-subtitle', `#${d.id} ${categoryLabel(category.code, category.name)}`));
      const table = box.appendChild(el('table', 'gm-props gm-events-props'));
      const row = (label, text, className) => {
        const tr = table.appendChild(el('tr'));
        tr.appendChild(el('th', null, label));
        const td = tr.appendChild(el('td', className, text));
        return td;
      };
      row('状态 Status', statusLabel(d.status));
      const late = d.overdue ? hoursPast(d.due_at) : null;
      row('期限 Deadline', formatTime(d.due_at)
        + (d.overdue ? ` · 超期 overdue${late !== null ? ` ${late} h` : ''}` : ''), d.overdue ? 'gm-events-late' : null);
      row('上报 Reported', formatTime(d.reported_at));
      // In the map's layer order and with its labels; a layer the map does not show goes last, by code.
      const memberships = Object.entries(d.grids || {});
      const label = (code) => (ctx.layers.find((l) => l.code === code) || { label: code }).label;
      const rank = (code) => {
        const i = ctx.layers.findIndex((l) => l.code === code);
        return i < 0 ? ctx.layers.length : i;
      };
      const grids = memberships.sort(([a], [b]) => rank(a) - rank(b)).map(([code, grid]) => `${label(code)}: ${grid}`);
      row('网格 Grids', grids.length ? grids.join('\n') : '—', 'gm-events-grids');
      row('承办 Assignee', assigneeText(d.assignee));
      if (!isBlank(d.escalated_to)) row('吹哨 Escalated to', d.escalated_to);
      if (!isBlank(d.duplicate_of)) row('重复于 Duplicate of', `#${d.duplicate_of}`);
      if (!isBlank(d.description)) row('描述 Description', d.description);
      if (d.location && !isBlank(d.location.address)) row('地址 Address', d.location.address);

      box.appendChild(el('div', 'gm-events-subtitle', '流转 Transitions'));
      const steps = box.appendChild(el('ol', 'gm-events-steps'));
      (d.transitions || []).forEach((t) => {
        const li = steps.appendChild(el('li', 'gm-events-step'));
        li.appendChild(el('span', 'gm-events-step-action', stepLabel(t.action)));
        li.appendChild(el('span', 'gm-events-meta',
          `${t.from && t.from !== t.to ? ` ${statusLabel(t.from)} → ${statusLabel(t.to)}` : ''} · ${t.actor || '—'}`
          + ` · ${formatTime(t.at)}`));
        if (!isBlank(t.note)) li.appendChild(el('div', 'gm-events-note', t.note));
      });

      renderActions(d);
    }

    function assigneeText(a) {
      if (!a) return '—';
      const who = a.name || a.code || (isBlank(a.id) ? '' : `#${a.id}`);
      return `${who} (${ASSIGNEE_KINDS[a.kind] || a.kind})`;
    }

    function renderActions(d) {
      const allowed = (d.allowed_actions || []).filter((a) => ACTIONS[a]);
      const mine = allowed.filter((a) => can(ACTIONS[a].permission));
      if (!allowed.length) return;
      if (!mine.length) {
        box.appendChild(el('div', 'gm-events-summary', '您的角色无可执行操作 No actions for your role'));
        return;
      }
      const bar = box.appendChild(el('div', 'gm-events-actions'));
      mine.forEach((name) => {
        const b = button(bar, ACTIONS[name].label, () => openForm(name), 'gm-events-action',
          state.actionBusy || state.detailBusy);
        if (state.action === name) b.classList.add('gm-events-tab-on');
      });
      if (state.action) renderForm(state.action);
      else if (state.actionError) box.appendChild(el('div', 'gm-events-error', state.actionError));
    }

    function renderForm(name) {
      const spec = ACTIONS[name];
      const form = box.appendChild(el('form', 'gm-events-form'));
      form.noValidate = true;
      form.appendChild(el('div', 'gm-events-form-title', spec.label));
      const choices = state.choices || {};

      function selectField(label, key, options, emptyText) {
        const wrap = form.appendChild(el('label', 'gm-events-field'));
        wrap.appendChild(el('span', null, label));
        const select = wrap.appendChild(el('select'));
        if (emptyText !== null) {
          const empty = select.appendChild(el('option', null, emptyText));
          empty.value = '';
        }
        options.forEach(([value, text]) => {
          const option = select.appendChild(el('option', null, text));
          option.value = String(value);
        });
        select.value = state.form[key] || '';
        if (select.value !== (state.form[key] || '')) state.form[key] = select.value;
        select.addEventListener('change', () => {
          state.form[key] = select.value;
        });
        return select;
      }

      if (!state.choices && (spec.department || spec.duplicateOf || spec.handler)) {
        form.appendChild(el('div', 'gm-events-summary', '加载选项… Loading choices…'));
      }
      if (spec.department && choices.departments) {
        selectField('部门 Department', 'department', choices.departments.map((p) => [p.code, `${p.name} (${p.code})`]),
          '— 请选择 choose —');
      }
      if (spec.handler && choices.departments) {
        const options = [];
        (choices.staff || []).forEach((s) => options.push([`staff:${s.id}`, `${s.name} (${s.role || '人员 staff'})`]));
        choices.departments.forEach((p) => options.push([`dep:${p.code}`, `${p.name} (${p.code})`]));
        selectField('承办 Handler', 'handler', options, '默认 Default: the category\'s handler');
      }
      if (spec.duplicateOf && choices.duplicates) {
        const dups = choices.duplicates;
        if (dups.length) {
          selectField('原事件 Original report', 'duplicateOf', dups.map((o) => [o.id,
            `#${o.id} ${categoryLabel(o.category)} · ${statusLabel(o.status)} · ${Math.round(o.distance_m)} m`]),
          '— 请选择 choose —');
        } else {
          form.appendChild(el('div', 'gm-events-summary', '附近没有可能重复的事件 No possible originals nearby'));
        }
      }
      const noteWrap = form.appendChild(el('label', 'gm-events-field'));
      noteWrap.appendChild(el('span', null, spec.noteRequired ? '说明 Note (必填 required)' : '说明 Note (可选 optional)'));
      const note = noteWrap.appendChild(el('textarea', 'gm-events-note-input'));
      note.rows = 2;
      note.maxLength = 2000;
      note.value = state.form.note || '';
      note.addEventListener('input', () => {
        state.form.note = note.value;
      });
      if (state.actionError) form.appendChild(el('div', 'gm-events-error', state.actionError));
      const bar = form.appendChild(el('div', 'gm-events-bar'));
      const submit = bar.appendChild(el('button', 'gm-events-button gm-events-confirm',
        state.actionBusy ? '提交中… Sending…' : '确认 Confirm'));
      submit.type = 'submit';
      submit.disabled = state.actionBusy;
      button(bar, '取消 Cancel', closeForm, 'gm-events-button', state.actionBusy);
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        perform(name);
      });
    }

    // ------------------------------------------------------------ map

    function drawList(items) {
      overlay.clearLayers();
      items.forEach((item) => {
        if (!Number.isFinite(item.lat) || !Number.isFinite(item.lon)) return;
        const marker = L.circleMarker([item.lat, item.lon], {
          radius: 6, color: '#ffffff', weight: 1.5, fillColor: item.hours !== null ? '#a50f15' : COLOR, fillOpacity: 0.9,
        });
        marker.bindTooltip(el('span', null, `#${item.id} ${categoryLabel(item.category)} · ${statusLabel(item.status)}`));
        marker.on('click', (e) => {
          L.DomEvent.stopPropagation(e);
          openEvent(item.id, item);
        });
        overlay.addLayer(marker);
      });
    }

    function showSelected(lat, lon) {
      selected.clearLayers();
      if (!Number.isFinite(lat) || !Number.isFinite(lon)) return;
      L.circleMarker([lat, lon], {
        radius: 11, color: SELECTED_COLOR, weight: 3, fill: false, interactive: false,
      }).addTo(selected);
      if (!map.hasLayer(selected)) selected.addTo(map);
      map.setView([lat, lon], Math.max(map.getZoom(), DETAIL_ZOOM));
    }

    // ------------------------------------------------------------ requests

    function quiet(err) {
      return err.name === 'AuthRequiredError' || err.name === 'AbortError';
    }

    async function loadCategories() {
      if (categories) return;
      try {
        const roots = await apiFetch('/event-categories');
        const found = new Map();
        const walk = (nodes) => (nodes || []).forEach((c) => {
          found.set(c.code, [c.name, c.name_en].filter((v) => !isBlank(v)).join(' ') || c.code);
          walk(c.children);
        });
        walk(roots);
        categories = found;
        render();
      } catch (_) {
        // codes are shown instead
      }
    }

    function switchView(view) {
      if (state.view === view) return;
      state.view = view;
      loadList();
    }

    async function loadList() {
      const epoch = state.epoch;
      state.listBusy = true;
      state.listError = null;
      render();
      try {
        let list;
        if (state.view === 'overdue') {
          const data = await apiFetch(`/events/overdue?limit=${LIST_LIMIT}`);
          list = {
            items: ((data && data.items) || []).map((i) => ({
              id: i.id, category: i.category, status: i.status, hours: Number.isFinite(i.hours_overdue) ? i.hours_overdue : hoursPast(i.due_at),
              lat: i.lat, lon: i.lon,
            })),
            total: Number.isFinite(data && data.count) ? data.count : null,
            more: false,
          };
        } else {
          const params = new URLSearchParams({ status: state.status, limit: String(LIST_LIMIT) });
          const data = await apiFetch(`/events?${params.toString()}`);
          const links = (data && data.links) || [];
          list = {
            items: ((data && data.features) || []).map((f) => {
              const p = f.properties || {};
              const c = (f.geometry && f.geometry.coordinates) || [];
              return {
                id: isBlank(f.id) ? p.id : f.id, category: p.category, status: p.status, hours: hoursPast(p.due_at),
                lat: c[1], lon: c[0],
              };
            }),
            total: null,
            more: links.some((l) => l && l.rel === 'next'),
          };
        }
        if (epoch !== state.epoch) return;
        state.list = list;
        drawList(list.items);
        if (!map.hasLayer(overlay)) map.addLayer(overlay);
      } catch (err) {
        if (epoch === state.epoch && !quiet(err)) state.listError = `加载失败 Could not load: ${problemText(err)}`;
      } finally {
        if (epoch === state.epoch) {
          state.listBusy = false;
          render();
        }
      }
    }

    // `hint` (a list item) places the map at once, before the details arrive.
    async function openEvent(id, hint) {
      const epoch = state.epoch;
      const again = state.detailId === id;
      state.detailId = id;
      if (!again) {
        state.detail = null;
        closeForm(true);
        state.actionError = null;
      }
      state.detailBusy = true;
      state.detailError = null;
      if (hint) showSelected(hint.lat, hint.lon);
      render();
      try {
        const detail = await apiFetch(`/events/${encodeURIComponent(id)}/history`);
        if (epoch !== state.epoch || state.detailId !== id) return;
        state.detail = detail;
        const loc = detail.location || {};
        if (!hint && !again) showSelected(loc.lat, loc.lon);
        if (state.action && !(detail.allowed_actions || []).includes(state.action)) closeForm(true);
      } catch (err) {
        if (epoch === state.epoch && state.detailId === id && !quiet(err)) {
          state.detailError = `加载失败 Could not load: ${problemText(err)}`;
        }
      } finally {
        if (epoch === state.epoch && state.detailId === id) {
          state.detailBusy = false;
          render();
        }
      }
    }

    function closeEvent() {
      state.detailId = null;
      state.detail = null;
      state.detailError = null;
      state.actionError = null;
      closeForm(true);
      selected.clearLayers();
      render();
    }

    async function openForm(name) {
      const epoch = state.epoch;
      const id = state.detailId;
      state.action = name;
      state.form = {};
      state.choices = null;
      state.actionError = null;
      render();
      const spec = ACTIONS[name];
      if (!spec.department && !spec.duplicateOf && !spec.handler) {
        state.choices = {};
        return;
      }
      const choices = {};
      try {
        if (spec.department || spec.handler) {
          if (!departments) departments = await apiFetch('/departments');
          choices.departments = Array.isArray(departments) ? departments : [];
        }
        if (spec.duplicateOf) {
          const dups = await apiFetch(`/events/${encodeURIComponent(id)}/duplicates`);
          choices.duplicates = Array.isArray(dups) ? dups : [];
        }
        if (spec.handler) choices.staff = await loadStaff();
      } catch (err) {
        if (epoch === state.epoch && !quiet(err)) state.actionError = `加载失败 Could not load: ${problemText(err)}`;
      }
      if (epoch !== state.epoch || state.action !== name || state.detailId !== id) return;
      state.choices = choices;
      render();
    }

    // The people of the report's comprehensive grid, to assign by name; none
    // when the role may not read staff (the default handler still works).
    async function loadStaff() {
      const grid = state.detail && state.detail.grids && state.detail.grids.comprehensive;
      if (isBlank(grid)) return [];
      try {
        const data = await apiFetch(`/staff?${new URLSearchParams({ grid, limit: '50' }).toString()}`);
        return ((data && data.features) || []).map((f) => {
          const p = f.properties || {};
          return { id: isBlank(f.id) ? p.id : f.id, name: p.name, role: p.role, availability: p.availability };
        }).filter((s) => !isBlank(s.id) && s.availability !== 'out_of_service');
      } catch (err) {
        if (quiet(err)) throw err;
        return [];
      }
    }

    function closeForm(silent) {
      state.action = null;
      state.form = {};
      state.choices = null;
      if (silent !== true) {
        state.actionError = null;
        render();
      }
    }

    function stepBody(name) {
      const spec = ACTIONS[name];
      const form = state.form;
      const note = (form.note || '').trim();
      if (spec.noteRequired && !note) return { error: '请填写说明 A note is required' };
      const body = {};
      if (note) body.note = note;
      if (spec.department) {
        if (!form.department) return { error: '请选择部门 Choose a department' };
        body.department = form.department;
      }
      if (spec.duplicateOf) {
        const original = Number(form.duplicateOf);
        if (!Number.isInteger(original) || original < 1) return { error: '请选择原事件 Choose the original report' };
        body.duplicate_of = original;
      }
      if (spec.handler && form.handler) {
        const cut = form.handler.indexOf(':'); // 'staff:<id>' or 'dep:<code>'
        const value = form.handler.slice(cut + 1);
        if (form.handler.startsWith('staff:')) body.staff_id = Number(value);
        else if (form.handler.startsWith('dep:')) body.department = value;
      }
      return { body };
    }

    async function perform(name) {
      if (state.actionBusy || state.detailId === null) return;
      const { body, error } = stepBody(name);
      if (error) {
        state.actionError = error;
        render();
        return;
      }
      const epoch = state.epoch;
      const id = state.detailId;
      state.actionBusy = true;
      state.actionError = null;
      render();
      let reload = false;
      try {
        const result = await apiFetch(`/events/${encodeURIComponent(id)}/${name}`, { method: 'POST', json: body });
        if (epoch !== state.epoch) return;
        closeForm(true);
        reload = true;
        const to = result && result.event ? result.event.status : null;
        ctx.ui.messages.show(`#${id} ${ACTIONS[name].label}${to ? ` → ${statusLabel(to)}` : ''}`);
      } catch (err) {
        if (epoch !== state.epoch || quiet(err)) return;
        state.actionError = `${ACTIONS[name].label}: ${problemText(err)}`;
        if (err.status === 409) {
          // Someone else moved the report on: close the form and show where it is now.
          closeForm(true);
          reload = true;
        }
      } finally {
        if (epoch === state.epoch) {
          state.actionBusy = false;
          render();
        }
      }
      if (reload && epoch === state.epoch && state.detailId === id) {
        openEvent(id);
        loadList();
      }
    }

    // ------------------------------------------------------------ session

    function reset() {
      state.epoch += 1;
      state.list = null;
      state.listBusy = false;
      state.listError = null;
      state.detailId = null;
      state.detail = null;
      state.detailBusy = false;
      state.detailError = null;
      state.actionBusy = false;
      state.actionError = null;
      state.view = 'overdue';
      closeForm(true);
      departments = null;
      overlay.clearLayers();
      selected.clearLayers();
    }

    // The panel is there exactly while someone who may read reports is signed in.
    function sync() {
      const wanted = auth.signedIn() && can(READ_PERMISSION);
      if (wanted && !box) {
        panel.addTo(map);
        loadCategories();
        if (!state.list && !state.listBusy) loadList();
      } else if (!wanted && box) {
        reset();
        panel.remove();
      }
    }

    function onAuth(event) {
      if (event === 'signin' || event === 'signout' || event === 'expired') {
        reset();
        if (box) panel.remove();
      }
      sync(); // 'user': /auth/me may have changed the permissions
    }
    auth.listeners.add(onAuth);
    sync();
  }

  global.gridmap.plugins.push(createEvents);
})(window);
