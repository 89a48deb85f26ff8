"""Response models for the holes in a site's on-call roster (never rows)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OnCallGapOut", "OnCallGapsOut", "RoleGapsOut"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class OnCallGapOut(_Out):
    starts_at: datetime = Field(description="UTC; the window's start when the gap was already open then.")
    ends_at: datetime = Field(description="UTC, exclusive: somebody is on call from here (or the window ends).")
    duration_s: int

    @classmethod
    def of(cls, starts_at: datetime, ends_at: datetime) -> OnCallGapOut:
        return cls(starts_at=starts_at, ends_at=ends_at, duration_s=int((ends_at - starts_at).total_seconds()))


class RoleGapsOut(_Out):
    role: str
    paged_for: list[str] = Field(description="The priorities whose escalation policy at the site pages this role.")
    rotation_ids: list[int] = Field(description="The rotations for this role covering the site; empty: none at all.")
    gaps: list[OnCallGapOut] = Field(description="When nobody is on call for the role, in order; empty: covered.")


class OnCallGapsOut(_Out):
    """When nobody holds an on-call role the site's escalation policies page, within [starts_at, ends_at). An
    alert whose step reaches such a role then pages nobody for it (docs/ALERTS.md, "A roster gap is tried again")."""

    site_id: str
    starts_at: datetime
    ends_at: datetime
    roles: list[RoleGapsOut] = Field(description="Every on-call role a policy of the site pages, in escalation order.")
