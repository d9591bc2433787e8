"""The demo district generator: a real county boundary, invented but plausible contents."""

from importers.demo.loader import DemoSummary, clear_district, load_demo
from importers.demo.plan import PlanParams

__all__ = ["DemoSummary", "PlanParams", "clear_district", "load_demo"]
