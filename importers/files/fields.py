"""Field maps: which column of a county's file holds which gridmap field.

Offices name their columns in Chinese, in a dozen spellings (网格名称, 网格名, 名称; 所属村(社区) with
half- or full-width brackets; a ``*`` where a template marks it required), so each kind has a list of
names recognised by default, tried in order. A field map given by the user (``name=网格名称``, or a
saved profile, importers/files/profiles.py) overrides the defaults for the fields it names; a mapped
column the file does not have is an error naming the file's columns, never a silently empty field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from geo.errors import InvalidInput

_DIVISION = ("所属村(社区)", "所属村社区", "所属社区", "所属村", "村(社区)代码", "村社区代码", "所属区划代码",
             "所属区划", "区划代码", "行政区划代码", "division_code", "division", "village_code")
_PHONE = ("联系电话", "手机号码", "手机号", "手机", "电话号码", "电话", "phone", "mobile", "tel")
_ADDRESS = ("标准地址", "详细地址", "地址", "住址", "家庭住址", "居住地址", "address", "addr")

#: kind -> gridmap field -> the column names recognised by default, best first (compared normalised).
DEFAULT_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "divisions": {
        "code": ("区划代码", "行政区划代码", "统计用区划代码", "区划编码", "代码", "编码", "code", "adcode", "xzqdm"),
        "name": ("区划名称", "行政区划名称", "名称", "村(社区)名称", "乡镇名称", "name", "xzqmc"),
        "level": ("级别", "层级", "区划级别", "level"),
        "parent": ("上级区划代码", "上级代码", "所属乡镇代码", "所属乡镇", "parent_code", "parent"),
    },
    "grids": {
        "code": ("网格编码", "网格代码", "网格编号", "grid_code", "code", "wgbm"),
        "name": ("网格名称", "网格名", "名称", "grid_name", "name", "wgmc"),
        "division": _DIVISION,
        "parent": ("上级网格编码", "上级网格", "所属网格编码", "所属网格", "parent_code", "parent_grid", "parent"),
        "layer": ("网格类型", "网格类别", "网格层", "layer"),
        "notes": ("备注", "说明", "notes", "remark"),
    },
    "households": {
        "external_id": ("户编号", "户号", "房屋编号", "房屋编码", "户籍编号", "household_id", "external_id"),
        "address": _ADDRESS,
        "house_number": ("门牌号", "门牌", "门牌号码", "house_number"),
        "group": ("十联户编号", "十联户", "联户编号", "联户组", "联户", "group_code", "group"),
        "residents": ("户人数", "人口数", "人数", "家庭人口", "residents"),
        "division": _DIVISION,
        "needs_help": ("需帮扶", "帮扶对象", "needs_help"),
    },
    "cameras": {
        "code": ("摄像头编号", "摄像机编号", "设备编号", "设备编码", "点位编号", "国标编码", "camera_code", "code"),
        "name": ("摄像头名称", "点位名称", "设备名称", "名称", "name"),
        "bearing": ("朝向", "方向角", "方位角", "朝向角", "bearing", "direction", "heading"),
        "fov": ("视角", "视场角", "水平视角", "fov"),
        "range_m": ("可视距离", "监控距离", "视距", "照射距离", "range_m", "range"),
        "status": ("状态", "设备状态", "在线状态", "status"),
        "division": _DIVISION,
    },
    "staff": {
        "external_id": ("工号", "人员编号", "员工编号", "staff_id", "external_id"),
        "name": ("姓名", "名字", "name"),
        "role": ("岗位", "职务", "角色", "人员类型", "role"),
        "phone": _PHONE,
        "grid": ("所属网格编码", "所属网格", "网格编码", "负责网格", "grid_code", "grid"),
        "division": _DIVISION,
    },
    "residents": {
        "name": ("姓名", "名字", "name"),
        "id_number": ("公民身份号码", "身份证号码", "身份证号", "身份证", "证件号码", "id_number", "id_card"),
        "phone": _PHONE,
        "household": ("户编号", "户号", "household_id", "household"),
        "address": _ADDRESS,
        "relation": ("与户主关系", "关系", "relation"),
    },
}

#: Coordinate columns of spreadsheets (CSV, XLSX), best first. 东经/北纬 are how survey forms label them.
LON_NAMES = ("经度", "东经", "经度坐标", "lon", "lng", "long", "longitude", "x坐标", "x", "横坐标", "gps经度")
LAT_NAMES = ("纬度", "北纬", "纬度坐标", "lat", "latitude", "y坐标", "y", "纵坐标", "gps纬度")
WKT_NAMES = ("wkt", "geometry", "geom", "几何", "空间信息")

#: Kinds whose rows have a position or a shape.
SPATIAL_KINDS = frozenset({"divisions", "grids", "households", "cameras"})


def normalise(name: str) -> str:
    """A column name as compared: NFKC (full-width brackets and letters become half-width), no spaces,
    no required-marks or trailing colons, lower case."""
    folded = unicodedata.normalize("NFKC", name).strip().lower()
    return re.sub(r"[\s*＊:：]+", "", folded)


def parse_map(text: str) -> dict[str, str]:
    """``"name=网格名称,code=网格编码"`` -> ``{"name": "网格名称", "code": "网格编码"}``.

    Commas (or Chinese commas/semicolons) separate pairs; a pair without ``=`` or with an empty side
    is an error naming it."""
    mapping: dict[str, str] = {}
    for part in re.split(r"[,，;；]", text or ""):
        if not part.strip():
            continue
        field, sep, column = part.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InvalidInput(f"field map: {part.strip()!r} is not field=column (e.g. name=网格名称)", pointer="map")
        if field.strip() in mapping:
            raise InvalidInput(f"field map: {field.strip()!r} is mapped twice", pointer="map")
        mapping[field.strip()] = column.strip()
    return mapping


def resolve(kind: str, columns: Iterable[str], mapping: Mapping[str, str] | None, *,
            file: str, skip: Iterable[str] = ()) -> dict[str, str]:
    """gridmap field -> the file's column, from the defaults for ``kind`` and the user's ``mapping``.

    ``skip`` are columns already taken (coordinates), never offered to a field by default."""
    fields = DEFAULT_FIELDS[kind]
    available = list(columns)
    by_norm: dict[str, str] = {}
    for col in available:
        by_norm.setdefault(normalise(col), col)
    chosen: dict[str, str] = {}
    for field, column in (mapping or {}).items():
        if field not in fields:
            raise InvalidInput(f"field map: {kind} have no field {field!r}; expected one of {', '.join(fields)}",
                               pointer="map")
        found = column if column in available else by_norm.get(normalise(column))
        if found is None:
            raise InvalidInput(f"field map: {file} has no field {column!r} (for {field}); its fields are "
                               f"{', '.join(available) or 'none'}", pointer="map")
        chosen[field] = found
    taken = set(chosen.values()) | set(skip)
    for field, names in fields.items():
        if field in chosen:
            continue
        for name in names:
            col = by_norm.get(normalise(name))
            if col is not None and col not in taken:
                chosen[field] = col
                taken.add(col)
                break
    return chosen


def find_column(columns: Iterable[str], names: Iterable[str]) -> str | None:
    """The first of ``names`` (normalised) among ``columns``."""
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise(col), col)
    for name in names:
        if normalise(name) in by_norm:
            return by_norm[normalise(name)]
    return None
