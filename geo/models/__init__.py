"""All tables, one module per family. Importing this package registers them all."""

from geo.models.divisions import Division, DivisionLevel
from geo.models.events import Event, EventContact, EventStatus
from geo.models.fusion import FusionRule
from geo.models.grids import Grid, GridCodeCounter, GridLayer, GridLineage, GridVersion
from geo.models.membership import GridMembership, MemberKind
from geo.models.people import Availability, Staff, StaffRole
from geo.models.points import Camera, Household, LinkedHouseholdGroup, Resident
from geo.models.users import AppSecret, AppUser, AuditLog

__all__ = [
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
    "Household",
    "LinkedHouseholdGroup",
    "MemberKind",
    "Resident",
    "Staff",
    "StaffRole",
]
