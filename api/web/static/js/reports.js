/*
 * reports.js: the grid workers' daily loop 闭环 on the web map (was gridmap-events.js).
 *
 * For signed-in users with events:read it adds a panel "事件 Reports" to the dock:
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
 * What the panel shows is reports-view.js; the vocabulary is reports-model.js.
 * Other features use it through ctx.reports: open(id, hint) shows a report here (the worker's
 * "my work", js/work/); detailExtras (fn(detail, box, rerender)) add to a report's details;
 * formExtras[action] (fn(formEl, formState, rerender)) add fields to an action's form. A
 * successful action emits 'report-changed' {id, action, status}.
 *
 * Server strings go into the page as text only.
 */

import { button as domButton, debounce, el, isBlank, overlayLabel } from './core/dom.js';
import { isQuiet } from './core/http.js';
import { ACTIONS, hoursPast, problemText, statusLabel, stepBody } from './reports-model.js';
import { render as renderView } from './reports-view.js';

const READ_PERMISSION = 'events:read';
const LIST_LIMIT = 200;
const DETAIL_ZOOM = 17;
const COLOR = '#d94801';
const SELECTED_COLOR = '#08519c';

export function install(ctx) {
  const { map, auth } = ctx;
  const apiFetch = ctx.api;
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
    epoch: 0,
  };
  let categories = null; // code → label, from GET /event-categories
  let departments = null; // GET /departments, per session

  ctx.layersControl.addOverlay(overlay, overlayLabel('事件待办 Report worklist', COLOR, true));

  // Typing a note must not pan the map: the dock keeps keys and clicks to itself.
  const box = el('div', 'gm-events');
  const panel = ctx.panels.add('reports', '事件 Reports', box);
  let shown = false;

  const can = (permission) => auth.can(permission);

  function categoryLabel(code, name) {
    const known = categories && categories.get(code);
    if (known) return known;
    return isBlank(name) ? String(isBlank(code) ? '—' : code) : `${name}`;
  }

  const button = (parent, text, onClick, className, disabled) =>
    domButton(parent, text, onClick, className || 'gm-events-button', disabled);

  // What reports-view.js renders from, and the handlers its buttons call.
  const rp = {
    ctx, state, box, button, categoryLabel, can, switchView, loadList, openEvent, closeEvent, openForm, closeForm,
    perform,
  };
  const render = () => {
    if (shown) renderView(rp);
  };
  ctx.reports = {
    open(id, hint) {
      panel.open();
      openEvent(id, hint);
    },
    detailExtras: [],
    formExtras: {},
  };


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

  const quiet = isQuiet;

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

  async function perform(name) {
    if (state.actionBusy || state.detailId === null) return;
    const { body, error } = stepBody(name, state.form);
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
      ctx.messages.success(`#${id} ${ACTIONS[name].label}${to ? ` → ${statusLabel(to)}` : ''}`, 'reports');
      ctx.emit('report-changed', { id, action: name, status: to });
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
    if (wanted && !shown) {
      shown = true;
      panel.show();
      render();
      loadCategories();
      if (!state.list && !state.listBusy) loadList();
    } else if (!wanted && shown) {
      reset();
      shown = false;
      box.replaceChildren();
      panel.hide();
    }
  }

  function onAuth(event) {
    if (event === 'signin' || event === 'signout' || event === 'expired') {
      reset();
      shown = false;
      box.replaceChildren();
      panel.hide();
    }
    sync(); // 'user': /auth/me may have changed the permissions
  }
  auth.listeners.add(onAuth);
  sync();

  // Live (js/live.js): a new or changed report in the territory refreshes the list, without a reload.
  if (ctx.live) {
    // Not while the user fills in an action's form or waits for its answer: the list's re-render
    // would rebuild the form under their fingers; it follows once they are done.
    const refresh = debounce(function again() {
      if (!shown) return;
      if (state.action || state.actionBusy) { setTimeout(again, 2000); return; }
      loadList();
    }, 300);
    ctx.live.on('event', refresh);
    ctx.live.on('resync', refresh);
  }
}
