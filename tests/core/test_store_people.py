"""The user registry, care-team grants, the access-change feed and the append-only audit log, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.errors import Conflict, NotFound
from core.store import AuditFilter, Store
from core.store import schema as s
from core.store.postgres import PostgresStore
from core.types import AuditEntry, CareTeamMember, CareTeamRole, Role, User

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _anne(**changes: object) -> User:
    fields: dict[str, object] = {
        "user_id": "nurse-anne",
        "name": "Anne Lie",
        "roles": (Role.NURSE, Role.COORDINATOR, Role.NURSE),
        "organisation": "Demo kommune",
        "site_ids": ("s2", "s1"),
        "created_at": T0,
    }
    fields.update(changes)
    return User(**fields)  # type: ignore[arg-type]


async def test_a_registered_user_reads_back_with_sorted_roles_and_sites(store: Store) -> None:
    added = await store.add_user(_anne())
    assert added == User("nurse-anne", "Anne Lie", (Role.COORDINATOR, Role.NURSE), "Demo kommune", ("s1", "s2"), T0)
    assert await store.get_user("nurse-anne") == added
    assert await store.get_user("nobody") is None
    assert await store.list_users() == [added]


async def test_registering_a_taken_user_id_is_a_conflict_and_keeps_the_first(store: Store) -> None:
    await store.add_user(_anne())
    with pytest.raises(Conflict, match="already registered"):
        await store.add_user(_anne(name="Someone Else"))
    user = await store.get_user("nurse-anne")
    assert user is not None and user.name == "Anne Lie"


async def test_disabling_a_user_keeps_its_first_time_and_is_an_access_change(store: Store) -> None:
    await store.add_user(_anne())
    before = await store.last_access_change_id()
    disabled = await store.change_user("nurse-anne", at=T0 + timedelta(hours=1), disabled=True)
    again = await store.change_user("nurse-anne", at=T0 + timedelta(hours=2), disabled=True)
    assert disabled.disabled_at == again.disabled_at == T0 + timedelta(hours=1)
    changes = await store.access_changes_after(before)
    assert [user for _, user in changes] == ["nurse-anne", "nurse-anne"]
    enabled = await store.change_user("nurse-anne", at=T0 + timedelta(hours=3), disabled=False)
    assert enabled.enabled
    assert len(await store.access_changes_after(before)) == 2  # enabling takes nothing away


async def test_changing_roles_and_sites_replaces_them(store: Store) -> None:
    await store.add_user(_anne())
    changed = await store.change_user("nurse-anne", at=T0, roles=[Role.DOCTOR], site_ids=["s3", "s3"])
    assert (changed.roles, changed.site_ids) == ((Role.DOCTOR,), ("s3",))
    assert await store.get_user("nurse-anne") == changed


async def test_changing_an_unknown_user_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.change_user("nobody", at=T0, disabled=True)


async def test_a_care_team_membership_grants_its_patient_until_it_ends(store: Store) -> None:
    await store.add_care_team_member(CareTeamMember("p1", "dr-berg", CareTeamRole.GP, "Legekontoret", T0))
    await store.add_care_team_member(CareTeamMember("p2", "dr-berg", CareTeamRole.GP, "Legekontoret", T0))
    later = T0 + timedelta(days=1)
    assert await store.team_grants("dr-berg", ["p1", "p2", "p3"], at=later) == {
        "p1": CareTeamRole.GP,
        "p2": CareTeamRole.GP,
    }
    before = await store.last_access_change_id()
    [ended] = await store.end_care_team_membership("p1", "dr-berg", role=None, at=later)
    assert ended.end_at == later
    assert await store.team_grants("dr-berg", ["p1", "p2"], at=later) == {"p2": CareTeamRole.GP}
    assert [m.patient_id for m in await store.memberships_of("dr-berg", at=later)] == ["p2"]
    assert [user for _, user in await store.access_changes_after(before)] == ["dr-berg"]
    with pytest.raises(NotFound):
        await store.end_care_team_membership("p1", "dr-berg", role=None, at=later)


async def test_audit_rows_are_found_by_user_patient_action_and_time_and_page_back(store: Store) -> None:
    for minute, (user, patient) in enumerate([("anne", "p1"), ("anne", "p2"), ("berg", "p1"), ("anne", "p1")]):
        entry = AuditEntry(
            T0 + timedelta(minutes=minute), user, Role.NURSE, "read.patient", patient or "", patient_id=patient,
            grant="site:s1", source_address="10.0.0.5", token_id=f"jti-{minute}",
        )  # fmt: skip
        await store.audit(entry)
    page = await store.find_audit(AuditFilter(user_id="anne", patient_id="p1"), limit=1)
    assert [(e.token_id, e.grant, e.source_address) for _, e in page] == [("jti-3", "site:s1", "10.0.0.5")]
    rest = await store.find_audit(AuditFilter(user_id="anne", patient_id="p1", before_id=page[0][0]), limit=10)
    assert [e.token_id for _, e in rest] == ["jti-0"]
    window = AuditFilter(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert [e.token_id for _, e in await store.find_audit(window, limit=10)] == ["jti-2", "jti-1"]
    report = await store.patient_access_report("p1")
    assert [(r.user_id, r.accesses, r.refused, r.last_at) for r in report] == [
        ("anne", 2, False, T0 + timedelta(minutes=3)),
        ("berg", 1, False, T0 + timedelta(minutes=2)),
    ]


async def test_the_database_refuses_to_change_or_delete_audit_rows_for_the_apps_own_connection(store: Store) -> None:
    await store.audit(AuditEntry(T0, "anne", Role.NURSE, "read.patient", "p1", patient_id="p1", grant="site:s1"))
    update = sa.update(s.audit_log).values(user_id="someone-else")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        await store._write(lambda c: c.execute(update))  # type: ignore[attr-defined]
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        await store._write(lambda c: c.execute(sa.delete(s.audit_log)))  # type: ignore[attr-defined]
    if isinstance(store, PostgresStore):  # SQLite has no TRUNCATE; its DELETE without WHERE is refused above
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await store._write(lambda c: c.execute(sa.text("TRUNCATE audit_log")))
    [entry] = await store.list_audit()
    assert (entry.user_id, entry.patient_id) == ("anne", "p1")
