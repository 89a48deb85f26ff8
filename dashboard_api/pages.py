"""The pages vaktrom serves, and who each is for: the server's one list, from which it routes them and tells a
logged-in user (`GET /me`) which to offer in the top bar. A page is static (no data); what it shows comes from API
calls that check the same roles, so the top bar never offers a page whose data the user would be refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.types import Role
from dashboard_api.auth import CLINICAL_ROLES, DEVICE_ROLES

__all__ = ["PAGES", "STATIC_DIR", "Page", "home_page", "pages_for"]

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class Page:
    path: str
    title: str  # as the top bar names it
    file: str  # in STATIC_DIR
    roles: tuple[Role, ...]  # the roles its API calls allow
    in_top_bar: bool = True  # False: opened from a link that names what it shows (a patient page's `?id=`)


PAGES: tuple[Page, ...] = (
    Page("/", "Ward", "index.html", CLINICAL_ROLES),
    Page("/alerts", "Alerts I cover", "alerts.html", CLINICAL_ROLES),
    Page("/worklist", "Worklist", "worklist.html", CLINICAL_ROLES),
    Page("/team", "Team board", "team.html", CLINICAL_ROLES),
    Page("/devices", "Devices", "devices.html", DEVICE_ROLES),
    Page("/patient", "Patient", "patient.html", CLINICAL_ROLES, in_top_bar=False),
)


def pages_for(role: Role) -> list[Page]:
    """The top bar's pages for `role`, in the top bar's order."""
    return [page for page in PAGES if page.in_top_bar and role in page.roles]


# Where a role's login link opens: its own work where it has a page of its own, else the ward.
_HOME: dict[Role, str] = {
    Role.SPECIALIST: "/alerts",  # the alerts of every unit on remote call
    Role.COORDINATOR: "/worklist",
    Role.TECHNICIAN: "/devices",
    Role.ADMIN: "/devices",
}


def home_page(role: Role) -> str:
    """The path a login link for `role` opens (one of `pages_for(role)`)."""
    return _HOME.get(role, "/")
