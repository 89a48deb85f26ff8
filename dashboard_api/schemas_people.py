"""Bodies and responses of the people API: users, care-team memberships, the audit log and the access report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.store import PatientAccess
from core.types import AuditEntry, CareTeamMember, CareTeamRole, Role, User
from dashboard_api.auth import ALL_SITES
from dashboard_api.schemas import CareTeamMemberOut

__all__ = [
    "AccessReportOut",
    "AuditPageOut",
    "AuditRowOut",
    "MembershipEndIn",
    "MembershipIn",
    "MembershipOut",
    "UserChangeIn",
    "UserIn",
    "UserOut",
]

_USER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"  # as a token's `sub` and a care-team member id
_SITE = r"^(\*|[A-Za-z0-9][A-Za-z0-9_.:-]{0,63})$"  # a site id (an MQTT topic level), or "*" for an all-sites admin
_TEXT = r"^[^\x00-\x1f\x7f]+$"  # printable: names are shown on pages and in logs of ids, never control characters
_MAX_SITES = 500  # as a token's sites


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


Roles = Annotated[list[Role], Field(min_length=1, max_length=len(Role), description="Roles a token may ask for.")]
Sites = Annotated[
    list[Annotated[str, Field(pattern=_SITE)]],
    Field(max_length=_MAX_SITES, description='Sites the user serves; "*" (admins only) for every site.'),
]


def _check_all_sites(roles: list[Role] | None, site_ids: list[str] | None) -> None:
    if site_ids is not None and ALL_SITES in site_ids and (roles is None or Role.ADMIN not in roles):
        raise ValueError('site_ids: "*" (every site) is for a user holding the admin role only')


class UserIn(_In):
    user_id: str = Field(pattern=_USER_ID, description="The id tokens name as `sub`.")
    name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    organisation: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    roles: Roles
    site_ids: Sites = []

    @model_validator(mode="after")
    def _all_sites_for_admins(self) -> UserIn:
        _check_all_sites(self.roles, self.site_ids)
        return self


class UserChangeIn(_In):
    """The fields to change; roles and site_ids replace the lists whole."""

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT)
    organisation: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT)
    roles: Roles | None = None
    site_ids: Sites | None = None


class UserOut(_Out):
    user_id: str
    name: str
    organisation: str
    roles: list[str]
    site_ids: list[str]
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            user_id=user.user_id,
            name=user.name,
            organisation=user.organisation,
            roles=[r.value for r in user.roles],
            site_ids=list(user.site_ids),
            created_at=user.created_at,
            disabled_at=user.disabled_at,
        )


class MembershipIn(_In):
    member_id: str = Field(pattern=_USER_ID, description="The member's user id: the membership grants that user.")
    role: CareTeamRole
    organisation: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    start_at: datetime | None = Field(default=None, description="Default now; not in the future.")


class MembershipEndIn(_In):
    role: CareTeamRole | None = Field(default=None, description="End only this role's membership (default: all).")


class MembershipOut(CareTeamMemberOut):
    """A care-team membership, with its patient (the admin API answers about any patient)."""

    patient_id: str

    @classmethod
    def of(cls, member: CareTeamMember) -> MembershipOut:
        return cls(patient_id=member.patient_id, **CareTeamMemberOut.of(member).model_dump())


class AuditRowOut(_Out):
    audit_id: int
    at: datetime
    user_id: str
    role: str
    action: str
    subject: str
    detail: str
    patient_id: str | None
    grant: str = Field(description='"site:<id>", "team:<care-team role>", "role:<role>"; "" when refused.')
    source_address: str
    token_id: str

    @classmethod
    def of(cls, audit_id: int, e: AuditEntry) -> AuditRowOut:
        return cls(
            audit_id=audit_id, at=e.at, user_id=e.user_id, role=e.role.value, action=e.action, subject=e.subject,
            detail=e.detail, patient_id=e.patient_id, grant=e.grant, source_address=e.source_address,
            token_id=e.token_id,
        )  # fmt: skip


class AuditPageOut(_Out):
    rows: list[AuditRowOut]
    next_before_id: int | None = Field(description="Pass as before_id for the next (older) page; null at the end.")


class AccessLineOut(_Out):
    user_id: str
    role: str
    grant: str
    refused: bool
    accesses: int
    first_at: datetime
    last_at: datetime

    @classmethod
    def of(cls, a: PatientAccess) -> AccessLineOut:
        return cls(
            user_id=a.user_id, role=a.role.value, grant=a.grant, refused=a.refused, accesses=a.accesses,
            first_at=a.first_at, last_at=a.last_at,
        )  # fmt: skip


class AccessReportOut(_Out):
    """Who has seen (or tried to see) the patient's data: one line per user, role, grant and outcome."""

    patient_id: str
    lines: list[AccessLineOut]


__all__ += ["AccessLineOut"]
