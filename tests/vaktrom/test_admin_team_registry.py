"""`vaktrom admin team-registry` as an administrator runs it (a subprocess on the configured data directory's store):
a FACT team is created, gets a member and follows a patient, so the member sees that patient's data; what it
refuses, and what it audits."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.types import CareSetting, Patient, Role, Site, SiteKind, Stay, User, Ward
from tests.vaktrom.test_admin_people import T0, _store, said, vaktrom


async def _seed(data_dir: Path) -> None:
    store = await _store(data_dir)
    try:
        await store.upsert_site(Site("hf-kad", "Hammerfest KAD", SiteKind.KAD))
        await store.upsert_ward(Ward("hf-w", "hf-kad", "KAD"))
        await store.upsert_patient(Patient("p1", "Ola"))
        await store.add_stay(Stay("st1", "p1", "hf-w", CareSetting.BEDSIDE, T0, bed_id=None))
        await store.add_user(User("fact.kari", "Kari", (Role.NURSE,), "FACT Vest-Finnmark", (), T0))
    finally:
        await store.close()


async def test_a_team_created_from_the_command_line_gets_a_member_and_follows_a_patient(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    await _seed(data_dir)
    created = vaktrom(
        "admin", "team-registry", "create", "fact-vf", "--name", "FACT Vest-Finnmark", "--kind", "fact_team",
        "--organisation", "Hammerfest kommune", data_dir=data_dir,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("fact-vf\tfact_team\tHammerfest kommune\t")
    listed = vaktrom("admin", "team-registry", "list", data_dir=data_dir)
    assert listed.stdout.splitlines()[0].endswith("\tFACT Vest-Finnmark")
    assert vaktrom("admin", "team-registry", "add-member", "fact-vf", "fact.kari", data_dir=data_dir).returncode == 0
    assert vaktrom("admin", "team-registry", "members", "fact-vf", data_dir=data_dir).stdout == "fact.kari\n"
    followed = vaktrom("admin", "team-registry", "follow", "fact-vf", "p1", data_dir=data_dir)
    assert followed.returncode == 0 and followed.stdout.startswith("p1\tfact-vf\tfact_team\t")

    store = await _store(data_dir)
    try:
        now = datetime.now(UTC)
        assert await store.team_patients("fact-vf", at=now) == ["p1"]
        assert await store.is_team_member("fact-vf", "fact.kari", at=now)
        audited = [
            (e.action, e.subject, e.patient_id) for e in await store.list_audit() if e.action.startswith("admin")
        ]
        assert ("admin.team.create", "fact-vf", None) in audited
        assert ("admin.team_member.add", "fact-vf", None) in audited
        assert ("admin.team.add", "p1", "p1") in audited  # the patient's care team changed: audited naming her
    finally:
        await store.close()

    ended = vaktrom("admin", "team-registry", "end-member", "fact-vf", "fact.kari", data_dir=data_dir)
    assert ended.returncode == 0 and ended.stdout == "fact-vf\tfact.kari\tended\n"
    assert vaktrom("admin", "team-registry", "members", "fact-vf", data_dir=data_dir).stdout == ""


async def test_wrong_team_commands_are_refused_with_what_to_do_and_change_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    await _seed(data_dir)
    args = ("--name", "LAR Alta", "--organisation", "Alta kommune")
    created = vaktrom("admin", "team-registry", "create", "lar-alta", "--kind", "lar_team", *args, data_dir=data_dir)
    assert created.returncode == 0, created.stderr
    again = vaktrom("admin", "team-registry", "create", "lar-alta", "--kind", "lar_team", *args, data_dir=data_dir)
    assert (again.returncode, said(again)) == (1, "vaktrom: Team lar-alta already exists")
    gp = vaktrom("admin", "team-registry", "create", "gp-team", "--kind", "gp", *args, data_dir=data_dir)
    assert gp.returncode == 2 and "invalid choice: 'gp'" in gp.stderr  # a GP is a person, not a team kind
    stranger = vaktrom("admin", "team-registry", "add-member", "lar-alta", "nobody", data_dir=data_dir)
    assert stranger.returncode != 0 and "user nobody is not registered" in said(stranger)
    no_team = vaktrom("admin", "team-registry", "follow", "no-such-team", "p1", data_dir=data_dir)
    assert (no_team.returncode, said(no_team)) == (1, "vaktrom: team no-such-team not found")
    no_patient = vaktrom("admin", "team-registry", "follow", "lar-alta", "p9", data_dir=data_dir)
    assert (no_patient.returncode, said(no_patient)) == (1, "vaktrom: patient p9 not found")
    not_member = vaktrom("admin", "team-registry", "end-member", "lar-alta", "fact.kari", data_dir=data_dir)
    assert not_member.returncode == 1 and "fact.kari of lar-alta" in said(not_member)

    store = await _store(data_dir)
    try:
        assert [t.team_id for t in await store.list_teams()] == ["lar-alta"]
        assert await store.team_patients("lar-alta", at=datetime.now(UTC)) == []
        assert await store.team_members("lar-alta", at=datetime.now(UTC)) == []
    finally:
        await store.close()
