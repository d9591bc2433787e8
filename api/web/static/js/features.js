/*
 * features.js: the feature modules of the web map, installed in this order by main.js.
 *
 * A new feature is a new module exporting install(ctx) and one line here; it never edits
 * another feature's module. Order matters where one feature uses what another put on ctx:
 * signin before layers (the user badge sits above the layers control), layers before
 * everything that adds an overlay to ctx.layersControl or reads ctx.grids.
 */

import * as crs from './crs.js';
import * as basemap from './basemap.js';
import * as signin from './signin.js';
import * as layers from './layers.js';
import * as live from './live.js';
import * as popups from './popups.js';
import * as editor from './editor/index.js';
import * as history from './editor/history.js';
import * as undo from './editor/undo.js';
import * as draw from './editor/draw.js';
import * as fusion from './fusion.js';
import * as reports from './reports.js';
import * as work from './work/index.js';
import * as labels from './labels.js';
import * as search from './search.js';
import * as visits from './visits/index.js';
import * as command from './command/index.js';

export const FEATURES = [
  crs, // first: the display CRS must be set before anything is projected (crs.js)
  basemap,
  signin,
  layers,
  live, // before the features that listen to ctx.live (reports, command)
  popups,
  editor,
  history,
  undo,
  draw,
  fusion,
  reports,
  work, // after reports: it opens reports there and adds the worker's parts to that panel (ctx.reports)
  labels,
  search,
  visits,
  command, // after editor: it takes map clicks after the editor's turn (command/index.js)
];
