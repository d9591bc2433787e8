"""The leaders' statistics as an XLSX workbook (``GET /stats/events.xlsx``), in plain Chinese.

One sheet per table of the page (``stats_tables.leader_tables``: 总体, 按乡镇, 按村（社区）, 按类别, 按周),
the same numbers as the JSON (counts as integers, rates as fractions shown as percentages, times in
hours), and the definitions on the first sheet. Written with openpyxl's write-only mode, as the import
problem lists are (importers/problem_list.py); text cells are typed as text, so a name starting with
"=" is never run as a formula.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from geo.events.stats import BEIJING

# (field, heading) in column order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "编码"),
    ("name", "名称"),
    ("reported", "上报"),
    ("rejected", "无效"),
    ("duplicates", "重复"),
    ("received", "受理"),
    ("handled", "处置"),
    ("handling_rate", "处置率"),
    ("closed", "办结"),
    ("closed_on_time", "按期办结"),
    ("on_time_rate", "按期办结率"),
    ("open_overdue", "超期未办结"),
    ("median_hours_to_close", "办结用时中位数（小时）"),
    ("p90_hours_to_close", "办结用时90%分位（小时）"),
)
SHEETS = {"township": "按乡镇", "village": "按村（社区）", "category": "按类别", "week": "按周"}
_KEY_HEADINGS = {"township": "乡镇编码", "village": "村（社区）编码", "category": "类别编码", "week": "周一日期"}
_RATES = {"handling_rate", "on_time_rate"}
DEFINITIONS_ZH = (
    ("上报", "窗口内上报的全部事件（各渠道）"),
    ("无效", "经筛查不予受理的事件"),
    ("重复", "合并到先前同一事项的事件"),
    ("受理", "上报 − 无效 − 重复，即信息条数"),
    ("处置", "受理事件中截至统计时点已反馈的"),
    ("处置率", "处置 ÷ 受理"),
    ("办结", "受理事件中截至统计时点已办结的"),
    ("按期办结率", "在期限内办结的 ÷ 办结"),
    ("超期未办结", "受理事件中截至统计时点未办结且已过期限的"),
    ("按周", "按上报时间所在的周（北京时间周一至周日）分组，以周一日期命名"),
)


def stats_workbook(answer: dict[str, Any], *, title: str) -> bytes:
    """``answer`` (``leader_tables``'s) as an XLSX file; ``title`` heads the first sheet (the division's name)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)

    def cell(sheet: Any, value: object, field: str = "") -> Any:
        c = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            c.data_type = "s"  # never a formula
        elif field in _RATES and value is not None:
            c.number_format = "0.00%"
        return c

    summary = book.create_sheet("总体")
    summary.append([cell(summary, title)])
    for label, value in (("统计时段起", answer["from"]), ("统计时段止（不含）", answer["to"]),
                         ("统计时点", answer["as_of"])):
        summary.append([cell(summary, label), cell(summary, _beijing(value))])
    summary.append([])
    summary.append([cell(summary, h) for _, h in COLUMNS])
    total = answer["total"]
    summary.append([cell(summary, "合计" if f in ("key", "name") else total.get(f), f) for f, _ in COLUMNS])
    summary.append([])
    summary.append([cell(summary, "指标"), cell(summary, "口径")])
    for label, meaning in DEFINITIONS_ZH:
        summary.append([cell(summary, label), cell(summary, meaning)])

    for table, rows in answer["tables"].items():
        sheet = book.create_sheet(SHEETS[table])
        sheet.append([cell(sheet, _KEY_HEADINGS[table] if f == "key" else h) for f, h in COLUMNS])
        for row in rows:
            sheet.append([cell(sheet, row.get(f), f) for f, _ in COLUMNS])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def file_name(answer: dict[str, Any], place: str) -> str:
    """``花溪区事件统计_2025-12-01至2026-11-30.xlsx``: the place and the window's first and last day (Beijing)."""
    first = answer["from"].astimezone(BEIJING).date()
    last = (answer["to"].astimezone(BEIJING)).date()
    if answer["to"].astimezone(BEIJING).time() == datetime.min.time():  # to is exclusive: midnight ends the day before
        last = last.fromordinal(last.toordinal() - 1)
    return f"{place}事件统计_{first.isoformat()}至{last.isoformat()}.xlsx"


def _beijing(t: datetime) -> str:
    return t.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M（北京时间）")
