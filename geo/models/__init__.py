"""All tables, one module per family. Importing this package registers them all."""

from geo.models.divisions import Division, DivisionLevel
from geo.models.events import Event, EventContact, EventStatus
from geo.models.grids import Grid, GridCodeCounter, GridLayer, GridLineage, GridVersion
from geo.models.membership import GridMembership, MemberKind
from geo.models.people import Availability, Staff, StaffPosition, StaffRole
from geo.models.points import Camera, HelpNeed, Household, LinkedHouseholdGroup, Resident
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
