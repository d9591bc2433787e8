"""Write a generated demo district into the database, then assign everything to its grids.

All rows go in with COPY and explicit ids inside the caller's transaction, so a
failed load leaves nothing behind. ``load_demo`` is what ``gridmap demo``, the
test suite and the benchmarks call, at any scale.

Several counties live side by side (migration 0011): a county's ids start past
the largest id already in each table, its rows carry their ``county_code``
(set here, so the triggers that would derive it skip the lookup), and
``clear_county`` removes one county without touching the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bulk import copy_rows, hex_ewkb, sync_sequence
from geo.events.routing import route
from geo.locating.assign import assign_all
from importers.boundary import county_name, load_county_wgs84
from importers.demo import names, population
from importers.demo.plan import DistrictPlan, PlanParams, build_plan
from importers.demo.territory import LocalProjection, reading_order
from importers.demo.visits import load_visits

Progress = Callable[[str], None]

DATA_TABLES = (
    "app_user", "visit", "patrol_checkin", "patrol_point", "patrol", "grid_membership", "resident", "idempotency_key", "event_transition", "event_contact", "event", "household",
    "linked_household_group", "camera",
    "staff",
    "grid_code_counter", "grid_edit", "grid_version", "grid", "division",
)


@dataclass(frozen=True)
class DemoSummary:
    county: str
    townships: int
    villages: int
    grids: dict[str, int]
    households: int
    residents: int
    cameras: int
    events: int
    staff: int
    misaligned_party_grids: list[str]


# What ``clear_county`` deletes, children first (foreign keys); every one carries county_code.
COUNTY_TABLES = (
    "visit", "patrol_checkin", "patrol_point", "patrol", "grid_membership", "resident", "idempotency_key", "event_transition", "event_contact", "event", "household",
    "linked_household_group", "camera", "staff_position", "staff", "grid_code_counter", "grid_lineage", "grid_edit",
    "grid_version", "grid", "division",
)


def clear_district(session: Session) -> None:
    """Remove every district row of every county and every account (layers stay): ``--replace``."""
    session.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))


def clear_county(session: Session, county: str) -> None:
    """Remove one county's rows, and the accounts whose jurisdiction lies in it; other counties stay.

    Accounts go because their division or grid goes (the demo recreates its own). A DELETE per
    table on the county-leading indexes: rerunning ``gridmap demo`` for a county reloads it alone.
    """
    params = {"c": county}
    session.execute(text("""
        DELETE FROM app_user u WHERE u.division_id IN (SELECT id FROM division WHERE county_code = :c)
            OR u.grid_id IN (SELECT id FROM grid WHERE county_code = :c)"""), params)
    session.execute(text("UPDATE event SET duplicate_of = NULL WHERE county_code <> :c AND duplicate_of IN"
                         " (SELECT id FROM event WHERE county_code = :c)"), params)
    for table in COUNTY_TABLES:
        session.execute(text(f"DELETE FROM {table} WHERE county_code = :c"), params)


def load_demo(
    session: Session,
    *,
    county: str = "520111",
    seed: int = 20261123,
    params: PlanParams = PlanParams(),
    cameras_per_township: int = 200,
    events: int = 14_000,
    residents: bool = True,
    assign: bool = True,
    anchor: datetime | None = None,
    progress: Progress = lambda _msg: None,
) -> DemoSummary:
    # Responders' last fixes are as of the load (a demo served right after loading has fresh positions);
    # events are a year up to ``anchor``. Tests pass an anchor and get a fixed, reproducible district.
    fixes_at = anchor or datetime.now(UTC)
    anchor = anchor or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = np.random.default_rng(seed + 1)
    progress("boundary")
    boundary = load_county_wgs84(county)
    centre = boundary.centroid
    proj = LocalProjection(round(centre.x, 4), round(centre.y, 4))
    progress("territory")
    plan = build_plan(proj.to_metres(boundary), proj, params, seed)
    progress("divisions")
    writer = _Writer(session, plan, county, county_name(county), _id_bases(session))
    writer.divisions()
    progress("grids")
    writer.grids()
    progress("households")
    writer.households(rng, with_residents=residents)
    progress("cameras, events, staff")
    writer.cameras(rng, cameras_per_township)
    writer.events(rng, events, anchor)
    writer.staff(rng, fixes_at)
    for table in ("division", "grid", "household", "linked_household_group", "resident", "camera", "event", "staff"):
        sync_sequence(session, table)
    session.execute(text("ANALYZE"))  # for the assignment and routing below, inside this transaction
    if assign:
        progress("assigning to grids")
        assign_all(session, county=county)
        progress("routing events")
        route(session, list(session.execute(
            text("SELECT id FROM event WHERE county_code = :c ORDER BY id"), {"c": county}).scalars()))
        # What was written after that ANALYZE (grid_membership was empty then): statistics taken in
        # this transaction are committed with it, so every caller gets a planner that knows the
        # tables. Callers that commit should still run geo.bulk.analyze_after_load (issue 11).
        session.execute(text("ANALYZE grid_membership, event"))
        progress("visits")
        load_visits(session, county=county, anchor=fixes_at, seed=seed)  # needs the grid memberships above
    return writer.summary()


def _id_bases(session: Session) -> dict[str, int]:
    """The largest id in each table the loader writes: a county loaded beside others numbers after them."""
    tables = ("division", "grid", "household", "linked_household_group", "resident", "camera", "event", "staff")
    row = session.execute(text("SELECT " + ", ".join(
        f"(SELECT coalesce(max(id), 0) FROM {t})" for t in tables))).one()
    return dict(zip(tables, row, strict=True))


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _degrees(proj: LocalProjection, geoms: list[MultiPolygon]) -> list[MultiPolygon]:
    out = shapely.orient_polygons(proj.to_degrees(np.asarray(geoms, dtype=object)))
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = [shapely.orient_polygons(shapely.make_valid(g)) for g in out[bad]]
    return list(out)


class _Writer:
    """Turns a plan into rows; keeps the id maps the later tables need."""

    def __init__(self, session: Session, plan: DistrictPlan, county: str, county_label: str,
                 base: dict[str, int]) -> None:
        self.s = session
        self.base = base  # ids of this county start after these
        self.plan = plan
        self.county = county
        self.county_label = county_label
        self.layers = dict(session.execute(text("SELECT code, id FROM grid_layer")).all())
        self.prefix = dict(session.execute(text("SELECT code, code_prefix FROM grid_layer")).all())
        self.counts: dict[str, int] = {}
        self.misaligned: list[str] = []

    # -- divisions ---------------------------------------------------------------
    def divisions(self) -> None:
        p = self.plan
        self.town_code: list[str] = [""] * len(p.townships)
        taken: dict[str, int] = {}  # code numbers by kind: 街道 001–, 镇 101–, 乡 201– (names.CODE_RANGES)
        for ti in reading_order(p.townships):
            seq = names.next_division_number(p.township_names[ti], taken)
            self.town_code[ti] = f"{self.county}{seq:03d}000"
        self.village_code: list[str] = [""] * len(p.villages)
        for ti in range(len(p.townships)):
            members = [i for i, v in enumerate(p.villages) if v.township == ti]
            taken = {}  # 社区 001–, 村 201–
            for k in reading_order([p.villages[i].geom for i in members]):
                vi = members[k]
                seq = names.next_division_number(p.villages[vi].name, taken)
                self.village_code[vi] = self.town_code[ti][:9] + f"{seq:03d}"
        d0 = self.base["division"]
        self.county_id = d0 + 1
        rows = [(self.county_id, f"{self.county}000000", self.county_label, "county", None)]
        self.town_id = {ti: d0 + 2 + ti for ti in range(len(p.townships))}
        rows += [(self.town_id[ti], self.town_code[ti], p.township_names[ti], "township", self.county_id)
                 for ti in self.town_id]
        base = d0 + 2 + len(p.townships)
        self.village_id = {vi: base + vi for vi in range(len(p.villages))}
        rows += [
            (self.village_id[vi], self.village_code[vi], v.name, "village", self.town_id[v.township])
            for vi, v in enumerate(p.villages)
        ]
        geoms = _degrees(p.proj, [p.county, *p.townships, *(v.geom for v in p.villages)])
        ewkb = hex_ewkb(geoms)
        copy_rows(self.s, "division", ["id", "code", "name", "level", "parent_id", "geom", "county_code"],
                  (r + (g, self.county) for r, g in zip(rows, ewkb, strict=True)))

    # -- grids -------------------------------------------------------------------
    def grids(self) -> None:
        p = self.plan
        self.grid_rows: list[tuple] = []
        self.comprehensive_id: dict[int, int] = {}
        counters: dict[tuple[int, str], int] = {}
        village_name = {vi: v.name for vi, v in enumerate(p.villages)}

        def add(layer: str, division_id: int, division_code: str, items: list[tuple[int, str, MultiPolygon]],
                parents: dict[int, int] | None = None) -> list[int]:
            ids = []
            if len(items) > 999:
                raise ValueError(f"{len(items)} {layer} grids in division {division_code}: codes allow 999")
            order = reading_order([g for _, _, g in items])
            for seq, k in enumerate(order, start=1):
                key, name, geom = items[k]
                gid = self.base["grid"] + len(self.grid_rows) + 1
                code = f"{division_code}{self.prefix[layer]}{seq:03d}"
                parent = parents.get(key) if parents else None
                self.grid_rows.append(
                    (gid, code, self.layers[layer], division_id, name.format(n=seq), geom, key, layer, parent))
                ids.append(gid)
            counters[(division_id, layer)] = len(items)
            return ids

        for vi in range(len(p.villages)):
            vid, vcode = self.village_id[vi], self.village_code[vi]
            members = [int(i) for i in np.flatnonzero(p.grid_village == vi)]
            items = [(i, village_name[vi] + "第{n}网格", p.grids[i]) for i in members]
            order = reading_order([g for _, _, g in items])
            ids = add("comprehensive", vid, vcode, items)
            for k, gid in zip(order, ids, strict=True):
                self.comprehensive_id[items[k][0]] = gid
            parties = [(pi, village_name[vi] + "第{n}党建网格", q.geom) for pi, q in enumerate(p.party) if q.village == vi]
            add("party", vid, vcode, parties)
            dedicated = [(di, name, geom) for di, (v, name, geom) in enumerate(p.dedicated) if v == vi]
            if dedicated:
                add("dedicated", vid, vcode, dedicated)
        self._micro_grids(add)
        for ti in range(len(p.townships)):
            items = [(ei, p.township_names[ti] + "应急网格{n}", geom) for ei, (t, _, geom) in enumerate(p.emergency) if t == ti]
            add("emergency", self.town_id[ti], self.town_code[ti], items)

        geoms = _degrees(p.proj, [r[5] for r in self.grid_rows])
        ewkb = hex_ewkb(geoms)
        # Micro-grids reference their comprehensive grid, inserted earlier in the same COPY.
        self.s.execute(text("SELECT set_config('gridmap.actor', 'demo generator', true),"
                            " set_config('gridmap.reason', 'initial demo district', true)"))
        copy_rows(self.s, "grid",
                  ["id", "code", "layer_id", "division_id", "name", "notes", "geom", "version", "parent_grid_id",
                   "county_code"],
                  ((r[0], r[1], r[2], r[3], r[4], self._note(r), g, 1, r[8], self.county)
                   for r, g in zip(self.grid_rows, ewkb, strict=True)))
        copy_rows(self.s, "grid_code_counter", ["division_id", "layer_id", "last_seq", "county_code"],
                  ((d, self.layers[layer], n, self.county) for (d, layer), n in counters.items()))
        # Micro-grids nest in comprehensive grids; party grids stand beside them.
        self.counts["grids"] = len(self.grid_rows)

    def _micro_grids(self, add: Callable[..., list[int]]) -> None:
        """One micro-grid 微网格 per linked-household group, coded under its village, child of its grid."""
        p = self.plan
        if not p.micro:
            return
        homes = p.households
        first = np.unique(homes.group, return_index=True)[1]
        group_grid = homes.grid[first]
        group_village = homes.village[first]
        for vi in range(len(p.villages)):
            ks = np.flatnonzero(group_village == vi)
            items = [(int(k), p.villages[vi].name + "第{n}微网格", p.micro[k]) for k in ks if not p.micro[k].is_empty]
            parents = {int(k): self.comprehensive_id[int(group_grid[k])] for k in ks}
            if items:
                add("micro", self.village_id[vi], self.village_code[vi], items, parents)

    def _note(self, row: tuple) -> str:
        key, layer = row[6], row[7]
        if layer == "party" and self.plan.party[key].misaligned_with is not None:
            self.misaligned.append(row[1])
            return "demo: deliberately misaligned with its comprehensive grids (多网融合 test case)"
        return ""

    # -- households, groups, residents -------------------------------------------
    def households(self, rng: np.random.Generator, *, with_residents: bool = True) -> None:
        p = self.plan
        xy, village, grid_of, group = p.households.xy, p.households.village, p.households.grid, p.households.group
        lon, lat = p.proj.xy_to_degrees(xy[:, 0], xy[:, 1])
        ewkb = hex_ewkb(shapely.points(lon, lat))
        residents = rng.choice([1, 2, 3, 4, 5, 6], len(xy), p=[0.12, 0.22, 0.26, 0.22, 0.12, 0.06])
        # Household numbers run within each village group 组 (one group ≈ one settlement block).
        addresses = []
        counters: dict[int, int] = {}
        for v in village:
            counters[v] = counters.get(v, 0) + 1
            n = counters[v]
            vi = int(v)
            addresses.append(
                f"{self.county_label}{p.township_names[p.villages[vi].township]}{p.villages[vi].name}"
                f"{(n - 1) // 40 + 1}组{(n - 1) % 40 + 1}号"
            )
        n_groups = int(group.max()) + 1
        heads = np.full(n_groups, -1)
        heads[group[::-1]] = np.arange(len(xy))[::-1]  # first household of each group leads it
        group_village = village[heads]
        h0, g0, c = self.base["household"], self.base["linked_household_group"], self.county
        copy_rows(self.s, "linked_household_group", ["id", "code", "division_id", "head_household_id", "county_code"],
                  ((g0 + g + 1, f"{self.village_code[group_village[g]]}LH{g + 1:05d}",
                    self.village_id[int(group_village[g])], h0 + int(heads[g]) + 1, c) for g in range(n_groups)))
        needs = population.help_needs(residents, rng.spawn(1)[0])  # spawn: the main stream is not advanced
        copy_rows(self.s, "household",
                  ["id", "address", "division_id", "group_id", "residents", "needs_help", "geom", "county_code"],
                  ((h0 + i + 1, addresses[i], self.village_id[int(village[i])], g0 + int(group[i]) + 1,
                    int(residents[i]), needs[i], ewkb[i], c) for i in range(len(xy))))
        total = int(residents.sum())
        self.counts.update(households=len(xy), residents=total if with_residents else 0)
        self.household_xy = xy
        self.household_grid = grid_of
        if not with_residents:
            return
        owner = np.repeat(np.arange(len(xy)) + h0 + 1, residents)
        r0 = self.base["resident"]
        res_names = names.person_names(rng, total)
        ids = names.id_numbers(rng, total, self.county)
        tel = names.phones(rng, total)
        copy_rows(self.s, "resident", ["id", "household_id", "name", "id_number", "phone", "county_code"],
                  ((r0 + k + 1, int(owner[k]), res_names[k], ids[k], tel[k], c) for k in range(total)))

    # -- cameras, events, staff --------------------------------------------------
    def cameras(self, rng: np.random.Generator, per_township: int) -> None:
        p = self.plan
        rows = []
        for ti in range(len(p.townships)):
            centres = np.concatenate([v.settlements for v in p.villages if v.township == ti])
            xy = centres[rng.integers(0, len(centres), per_township)] + rng.normal(0, 180, (per_township, 2))
            shapely.prepare(p.townships[ti])
            xy = xy[shapely.contains_xy(p.townships[ti], xy[:, 0], xy[:, 1])]
            lon, lat = p.proj.xy_to_degrees(xy[:, 0], xy[:, 1])
            fov = rng.choice([60.0, 90.0, 120.0, 360.0], len(xy), p=[0.35, 0.35, 0.2, 0.1])
            status = rng.choice(["online", "offline", "maintenance"], len(xy), p=[0.92, 0.05, 0.03])
            for k, g in enumerate(hex_ewkb(shapely.points(lon, lat))):
                cid = self.base["camera"] + len(rows) + 1
                rows.append((cid, f"CAM{self.town_code[ti][:9]}{k + 1:04d}", f"{p.township_names[ti]}雪亮{k + 1:03d}",
                             float(rng.uniform(0, 360)), fov[k], float(rng.uniform(30, 120)), status[k], g,
                             self.county))
        copy_rows(self.s, "camera", ["id", "code", "name", "bearing", "fov", "range_m", "status", "geom", "county_code"],
                  rows)
        self.counts["cameras"] = len(rows)

    def events(self, rng: np.random.Generator, n: int, anchor: datetime) -> None:
        ev = population.events(self.household_xy, n, anchor, rng)
        lon, lat = self.plan.proj.xy_to_degrees(ev.xy[:, 0], ev.xy[:, 1])
        ewkb = hex_ewkb(shapely.points(lon, lat))
        who = names.person_names(rng, n)
        tel = names.phones(rng, n)
        e0 = self.base["event"]
        copy_rows(
            self.s, "event",
            ["id", "category", "description", "status", "source", "reported_at", "handled_at", "closed_at",
             "updated_at", "geom", "county_code"],
            ((e0 + i + 1, ev.category[i], ev.description[i], ev.status[i], ev.source[i],
              ev.reported_at[i].isoformat(), _iso(ev.handled_at[i]), _iso(ev.closed_at[i]),
              ev.updated_at[i].isoformat(), ewkb[i], self.county)
             for i in range(n)),
        )
        self.s.execute(text("""
            UPDATE event e SET due_at = e.reported_at + make_interval(hours => c.deadline_hours)
            FROM event_category c WHERE c.code = e.category AND e.county_code = :county"""), {"county": self.county})
        copy_rows(self.s, "event_contact", ["event_id", "name", "phone", "county_code"],
                  ((e0 + i + 1, who[i], tel[i], self.county) for i in range(n) if ev.with_reporter[i]))
        self.counts["events"] = n

    def staff(self, rng: np.random.Generator, anchor: datetime) -> None:
        """A grid worker and an assistant per comprehensive grid, a head per village,
        an instructor and an emergency team per township."""
        p = self.plan
        rows: list[tuple] = []
        hh_by_grid: dict[int, np.ndarray] = {}
        for g in np.unique(self.household_grid):
            hh_by_grid[int(g)] = self.household_xy[self.household_grid == g]

        def home_in(geom: MultiPolygon, grid: int | None = None) -> np.ndarray:
            pool = hh_by_grid.get(grid) if grid is not None else None
            if pool is not None and len(pool):
                return pool[rng.integers(0, len(pool))]
            return np.asarray(shapely.get_coordinates(geom.representative_point())[0])

        def add(role: str, grid_id: int | None, division_id: int, xy: np.ndarray) -> None:
            rows.append((self.base["staff"] + len(rows) + 1, role, grid_id, division_id, xy))

        for gi, geom in enumerate(p.grids):
            vid = self.village_id[int(p.grid_village[gi])]
            add("grid_worker", self.comprehensive_id[gi], vid, home_in(geom, gi))
            add("grid_assistant", self.comprehensive_id[gi], vid, home_in(geom, gi))
        for vi, v in enumerate(p.villages):
            first = int(np.flatnonzero(p.grid_village == vi)[0])
            add("grid_head", self.comprehensive_id[first], self.village_id[vi], home_in(v.geom, first))
        for ti, town in enumerate(p.townships):
            add("grid_instructor", None, self.town_id[ti], home_in(town))
            for _ in range(6):
                add("emergency_team", None, self.town_id[ti], home_in(town) + rng.normal(0, 300, 2))
        for _ in range(20):
            add("department", None, self.county_id, home_in(p.county) + rng.normal(0, 2000, 2))
        homes = np.array([r[4] for r in rows])
        shapely.prepare(p.county)
        outside = ~shapely.contains_xy(p.county, homes[:, 0], homes[:, 1])
        if outside.any():
            homes[outside] = [home_in(p.county) for _ in range(int(outside.sum()))]
        pos = homes + rng.normal(0, 400, homes.shape)
        hlon, hlat = p.proj.xy_to_degrees(homes[:, 0], homes[:, 1])
        plon, plat = p.proj.xy_to_degrees(pos[:, 0], pos[:, 1])
        home_wkb = hex_ewkb(shapely.points(hlon, hlat))
        pos_wkb = hex_ewkb(shapely.points(plon, plat))
        n = len(rows)
        who = names.person_names(rng, n)
        tel = names.phones(rng, n)
        avail = rng.choice(["available", "on_duty", "busy", "off_duty", "out_of_service"], n,
                           p=[0.45, 0.25, 0.12, 0.15, 0.03])
        seen_minutes = rng.exponential(20, n)
        copy_rows(
            self.s, "staff",
            ["id", "name", "role", "phone", "grid_id", "division_id", "availability", "home", "position", "position_at",
             "county_code"],
            ((r[0], who[k], r[1], tel[k], r[2], r[3], avail[k], home_wkb[k], pos_wkb[k],
              (anchor - np.timedelta64(int(seen_minutes[k] * 60), "s").astype(object)).isoformat(), self.county)
             for k, r in enumerate(rows)),
        )
        self.counts["staff"] = n

    def summary(self) -> DemoSummary:
        by_layer: dict[str, int] = {}
        for r in self.grid_rows:
            by_layer[r[7]] = by_layer.get(r[7], 0) + 1
        return DemoSummary(
            county=f"{self.county} {self.county_label}",
            townships=len(self.plan.townships),
            villages=len(self.plan.villages),
            grids=by_layer,
            households=self.counts["households"],
            residents=self.counts["residents"],
            cameras=self.counts["cameras"],
            events=self.counts["events"],
            staff=self.counts["staff"],
            misaligned_party_grids=sorted(self.misaligned),
        )
