"""`vaktrom admin oncall gaps` as an administrator runs it (a subprocess on the configured data directory's store):
each hole in a site's on-call roster a line, or "no gaps"; what it refuses."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

from core.oncall import OnCallRole, Rotation
from core.types import Site, SiteKind
from tests.vaktrom.test_admin_people import _store, said, vaktrom

# 25 March - 5 April 2025 (11 days): Oslo moves to summer time (UTC+2) on Sunday 30 March, 01:00 UTC.
FROM = ("--from", "2025-03-25T00:00:00+00:00", "--days", "11")


def _rotation(role: OnCallRole, *, site_id: str = "s1", starts_on: date = date(2025, 1, 1)) -> Rotation:
    return Rotation(
        0, f"{role.value} {site_id}", role, frozenset({site_id}), (time(8), time(15, 30)), ("p-1",), starts_on
    )


async def _seed(data_dir: Path, *rotations: Rotation) -> list[int]:
    store = await _store(data_dir)
    try:
        await store.upsert_site(Site("s1", "Sykestua Kautokeino", SiteKind.SYKESTUE))
        await store.upsert_site(Site("s2", "Alta KAD", SiteKind.KAD))
        return [(await store.add_rotation(rotation)).rotation_id for rotation in rotations]
    finally:
        await store.close()


def test_help_says_what_gaps_prints_and_its_options(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    assert "oncall" in vaktrom("admin", "--help", data_dir=data_dir).stdout
    shown = vaktrom("admin", "oncall", "gaps", "--help", data_dir=data_dir)
    assert shown.returncode == 0
    assert all(option in shown.stdout for option in ("--site", "--days N", "--from TIME", "default 14", "1-62"))


async def test_each_gap_is_a_line_naming_the_role_its_times_and_its_rotations(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    _, nurses, _ = await _seed(
        data_dir,
        _rotation(OnCallRole.DOCTOR_ON_CALL),
        # Takes over on Monday 31 March at 08:00 Oslo summer time, 06:00 UTC: nobody before.
        _rotation(OnCallRole.UNIT_NURSE, starts_on=date(2025, 3, 31)),
        _rotation(OnCallRole.HOSPITAL_SPECIALIST, site_id="s2"),  # another site's: s1 has no specialist at all
    )

    result = vaktrom("admin", "oncall", "gaps", "--site", "s1", *FROM, data_dir=data_dir)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"unit_nurse\t2025-03-25T00:00:00+00:00\t2025-03-31T06:00:00+00:00\t6d 6h00m\trotations: {nurses}",
        "hospital_specialist\t2025-03-25T00:00:00+00:00\t2025-04-05T00:00:00+00:00\t11d 0h00m\trotations: none",
    ]  # the doctor on call is covered throughout: no line


async def test_a_fully_covered_roster_says_no_gaps(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    await _seed(data_dir, *(_rotation(role) for role in OnCallRole))

    result = vaktrom("admin", "oncall", "gaps", "--site", "s1", *FROM, data_dir=data_dir)

    assert (result.returncode, result.stdout) == (
        0,
        "no gaps at s1 from 2025-03-25T00:00:00+00:00 to 2025-04-05T00:00:00+00:00: always somebody on call as "
        "unit_nurse, doctor_on_call, hospital_specialist\n",
    )


async def test_an_unknown_site_or_a_bad_window_is_refused_saying_why(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    await _seed(data_dir)
    unknown = vaktrom("admin", "oncall", "gaps", "--site", "s9", data_dir=data_dir)
    assert (unknown.returncode, said(unknown)) == (1, "vaktrom: site_id: no site 's9'")
    for days in ("0", "63", "two"):
        refused = vaktrom("admin", "oncall", "gaps", "--site", "s1", "--days", days, data_dir=data_dir)
        assert refused.returncode == 2
        assert "--days: must be a whole number of days from 1 to 62" in said(refused)
    naive = vaktrom("admin", "oncall", "gaps", "--site", "s1", "--from", "2025-03-25T00:00", data_dir=data_dir)
    assert naive.returncode == 2 and "needs its offset" in said(naive)
    far = vaktrom("admin", "oncall", "gaps", "--site", "s1", "--from", "9999-12-01T00:00:00+00:00", data_dir=data_dir)
    assert (far.returncode, said(far)) == (1, "vaktrom: from: ask for a time within 10 years of now")
