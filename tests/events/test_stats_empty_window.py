"""An empty window is an answer, not an error: zeros in the total and no groups, for every grouping."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from geo.events.stats import GROUPS

EMPTY = {"from": "1990-01-01", "to": "1990-02-01T00:00:00+08:00"}  # before any demo report


@pytest.mark.parametrize("group_by", list(GROUPS))
def test_an_empty_window_answers_zeros(client: TestClient, group_by: str) -> None:
    r = client.get("/stats/events", params={**EMPTY, "group_by": group_by})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["groups"] == []
    total = body["total"]
    assert total["reported"] == total["received"] == total["closed"] == total["open_overdue"] == 0
    assert total["handling_rate"] is None and total["on_time_rate"] is None and total["median_hours_to_close"] is None


def test_iso_dates_and_date_times_are_read_as_written(client: TestClient) -> None:
    """A date is midnight Beijing time; a date-time keeps its offset; Z is UTC."""
    r = client.get("/stats/events", params={"from": "2026-01-01", "to": "2026-02-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["from"].startswith("2026-01-01T00:00:00+08") and r.json()["to"] == "2026-02-01T00:00:00+00:00"
