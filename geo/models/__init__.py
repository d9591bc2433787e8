"""All tables, one module per family. Importing this package registers them all."""

from geo.models.divisions import Division, DivisionLevel
from geo.models.events import (
    AssigneeKind,
    Department,
    Event,
    EventCategory,
    EventContact,
    EventStatus,
    EventTransition,
    HandlerKind,
    IdempotencyKey,
    Triage,
)
from geo.models.fusion import FusionRule
from geo.models.grids import Grid, GridCodeCounter, GridLayer, GridLineage, GridVersion
from geo.models.membership import GridMembership, MemberKind
from geo.models.people import Availability, Staff, StaffPosition, StaffRole
from geo.models.points import Camera, HelpNeed, Household, LinkedHouseholdGroup, Resident
from geo.models.users import AppSecret, AppUser, AuditLog

__all__ = [
    "Triage",
    "IdempotencyKey",
    "HandlerKind",
    "EventTransition",
    "EventCategory",
    "Department",
    "AssigneeKind",
    "AppSecret",
    "AppUser",
    "AuditLog",
    "Availability",
    "Camera",
    "Division",
    "DivisionLevel",
    "Event",
    "EventContact",
    "EventStatus",
    "FusionRule",
    "Grid",
    "GridCodeCounter",
    "GridLayer",
    "GridLineage",
    "GridMembership",
    "GridVersion",
    "HelpNeed",
    "Household",
    "LinkedHouseholdGroup",
    "MemberKind",
    "Resident",
    "Staff",
    "StaffPosition",
    "StaffRole",
]
