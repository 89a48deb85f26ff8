"""`vaktrom admin users|teams` and `vaktrom token` as an administrator runs them (a subprocess on the configured data
directory's store): what they print, what they store, what they audit, and what they refuse."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from core.store.sqlite import SqliteStore
from core.types import CareSetting, Patient, Site, SiteKind, Stay, Ward
from tests.vaktrom.conftest import SQLITE_FILE, VAKTROM_COMMAND, cli_environment

COMMAND_TIMEOUT_S = 60.0  # a command that does its work and exits; bounds a hang, never waited out
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def vaktrom(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VAKTROM_COMMAND, *args],
        env=cli_environment(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    """The command's last line on stderr (logging of the store's opening comes before it)."""
    return result.stderr.splitlines()[-1]


async def _store(data_dir: Path) -> SqliteStore:
    store = SqliteStore(data_dir / SQLITE_FILE)
    await store.open()
    return store


def test_users_help_lists_every_action_and_option(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    assert all(a in vaktrom("admin", "users", "--help", data_dir=data_dir).stdout for a in ("add", "change", "disable"))
    add = vaktrom("admin", "users", "add", "--help", data_dir=data_dir).stdout
    assert all(option in add for option in ("--name", "--organisation", "--role", "--site"))
    assert "ending it revokes the access at once" in " ".join(
        vaktrom("admin", "teams", "--help", data_dir=data_dir).stdout.split()
    )


async def test_a_user_added_changed_and_disabled_from_the_command_line_is_stored_and_audited(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    added = vaktrom(
        "admin", "users", "add", "kari", "--name", "Kari Lie", "--organisation", "Alta kommune",
        "--role", "nurse", "--role", "coordinator", "--site", "alta", data_dir=data_dir,
    )  # fmt: skip
    assert (added.returncode, added.stdout) == (0, "kari\tcoordinator,nurse\talta\tAlta kommune\tenabled\tKari Lie\n")
    again = vaktrom(
        "admin", "users", "add", "kari", "--name", "K", "--organisation", "A", "--role", "nurse", data_dir=data_dir
    )
    assert (again.returncode, said(again)) == (1, "vaktrom: User kari is already registered")
    changed = vaktrom("admin", "users", "change", "kari", "--site", "alta", "--site", "hf", data_dir=data_dir)
    assert changed.stdout.split("\t")[2] == "alta,hf"
    disabled = vaktrom("admin", "users", "disable", "kari", data_dir=data_dir)
    assert disabled.returncode == 0 and "\tdisabled " in disabled.stdout
    refused = vaktrom("token", "--user", "kari", "--role", "nurse", "--site", "alta", data_dir=data_dir)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert said(refused) == "vaktrom: user kari is disabled (vaktrom admin users enable kari)"
    store = await _store(data_dir)
    try:
        user = await store.get_user("kari")
        assert user is not None and user.site_ids == ("alta", "hf") and user.disabled_at is not None
        actions = [(e.action, e.subject, e.user_id.startswith("cli:")) for e in await store.list_audit()]
        assert actions == [
            ("admin.user.disable", "kari", True),
            ("admin.user.change", "kari", True),
            ("admin.user.create", "kari", True),
        ]
    finally:
        await store.close()


def test_a_token_for_an_unregistered_user_or_a_role_not_held_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    unknown = vaktrom("token", "--user", "nobody", "--role", "nurse", "--site", "s1", data_dir=data_dir)
    assert (unknown.returncode, unknown.stdout) == (1, "")
    expected = "vaktrom: user nobody is not registered: register them first (vaktrom admin users add --help)"
    assert said(unknown) == expected
    vaktrom("admin", "users", "add", "bo", "--name", "Bo", "--organisation", "X", "--role", "nurse", data_dir=data_dir)
    doctor = vaktrom("token", "--user", "bo", "--role", "doctor", "--site", "s1", data_dir=data_dir)
    assert (doctor.returncode, said(doctor)) == (1, "vaktrom: user bo does not hold the role doctor (holds: nurse)")
    everywhere = ("--name", "E", "--organisation", "X", "--role", "nurse", "--site", "*")
    star = vaktrom("admin", "users", "add", "eve", *everywhere, data_dir=data_dir)
    expected = 'vaktrom: --site "*" (every site) is for a user holding the admin role only'
    assert (star.returncode, said(star)) == (1, expected)


async def test_a_care_team_membership_added_and_ended_from_the_command_line_grants_then_revokes(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    store = await _store(data_dir)
    await store.upsert_site(Site("hf-kad", "Hammerfest KAD", SiteKind.KAD))
    await store.upsert_ward(Ward("hf-w", "hf-kad", "KAD"))
    await store.upsert_patient(Patient("p1", "Ola"))
    await store.add_stay(Stay("st1", "p1", "hf-w", CareSetting.HOME, T0))
    await store.close()
    added = vaktrom(
        "admin", "teams", "add", "p1", "dr-gp", "--role", "gp", "--organisation", "Legekontoret", data_dir=data_dir
    )
    assert added.returncode == 0 and added.stdout.startswith("dr-gp\tgp\tLegekontoret\t")
    listed = vaktrom("admin", "teams", "list", "p1", data_dir=data_dir)
    assert listed.stdout.startswith("dr-gp\tgp\tLegekontoret\t")
    unknown = vaktrom("admin", "teams", "add", "p9", "dr-gp", "--role", "gp", "--organisation", "L", data_dir=data_dir)
    assert (unknown.returncode, said(unknown)) == (1, "vaktrom: patient p9 not found")
    ended = vaktrom("admin", "teams", "end", "p1", "dr-gp", data_dir=data_dir)
    assert ended.returncode == 0 and ended.stdout.startswith("dr-gp\tgp\tended ")
    store = await _store(data_dir)
    try:
        assert await store.team_grants("dr-gp", ["p1"], at=datetime.now(UTC)) == {}
        [end, add] = [e for e in await store.list_audit() if e.action.startswith("admin.team")]
        assert (end.action, end.patient_id, add.action, add.patient_id) == (
            "admin.team.end",
            "p1",
            "admin.team.add",
            "p1",
        )
    finally:
        await store.close()
