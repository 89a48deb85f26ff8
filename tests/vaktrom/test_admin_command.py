"""`vaktrom admin` as an administrator runs it (`python -m vaktrom admin ...` in a subprocess) on the store of the
configured data directory: every subcommand's help, a unit set up and a patient moved through it, refusals that
name the field and write nothing, and the CSV import of a unit."""

from __future__ import annotations

import getpass
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertSeverity, AlertState, CareSetting, Site, SiteKind
from tests.vaktrom.conftest import SQLITE_FILE, VAKTROM_COMMAND, cli_environment

COMMAND_TIMEOUT_S = 60.0  # a command that does its work and exits; bounds a hang, never waited out
NUMBER = "01017012343"  # a valid fødselsnummer made up for tests (tests/core/test_national_id.py)
EXIT_REFUSED = 1
EXIT_USAGE = 2  # argparse: a malformed argument
ACTOR = f"cli:{getpass.getuser()}"


def admin(*args: str, data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VAKTROM_COMMAND, "admin", *args],
        env=cli_environment(data_dir),
        cwd=data_dir.parent,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


async def _store(data_dir: Path) -> SqliteStore:
    store = SqliteStore(data_dir / SQLITE_FILE)
    await store.open()
    return store


@pytest.fixture
async def unit(data_dir: Path) -> AsyncIterator[Path]:
    """A KAD unit with two beds and a home programme, made with the CLI itself."""
    for args in (
        ("sites", "create", "--id", "kad", "--name", "Hammerfest KAD", "--kind", "kad"),
        ("sites", "create", "--id", "hjemme", "--name", "Hjemmeoppfølging", "--kind", "home_programme"),
        ("wards", "create", "--id", "kad-w", "--site", "kad", "--name", "KAD"),
        ("wards", "create", "--id", "home-w", "--site", "hjemme", "--name", "Program"),
        ("beds", "create", "--id", "k1", "--ward", "kad-w", "--label", "Seng 1"),
        ("beds", "create", "--id", "k2", "--ward", "kad-w", "--label", "Seng 2"),
    ):
        result = admin(*args, data_dir=data_dir)
        assert (result.returncode, result.stderr.count("Traceback")) == (0, 0), result.stderr
    yield data_dir


LEAVES = {
    ("sites", "list"): ["--include-retired"],
    ("sites", "create"): ["--id", "--name", "--kind"],
    ("sites", "rename"): ["site_id", "--name"],
    ("sites", "retire"): ["site_id"],
    ("wards", "list"): ["--site", "--include-retired"],
    ("wards", "create"): ["--id", "--site", "--name"],
    ("wards", "rename"): ["ward_id", "--name"],
    ("wards", "retire"): ["ward_id"],
    ("beds", "list"): ["--ward", "--include-retired"],
    ("beds", "create"): ["--id", "--ward", "--label"],
    ("beds", "relabel"): ["bed_id", "--label"],
    ("beds", "retire"): ["bed_id"],
    ("patients", "create"): ["--id", "--name", "--birth-year", "--national-id-stdin"],
    ("patients", "show"): ["patient_id", "--reveal-national-id"],
    ("patients", "rename"): ["patient_id", "--name"],
    ("patients", "stays"): ["patient_id"],
    ("admit",): ["patient_id", "--bed", "--at"],
    ("transfer",): ["patient_id", "--bed"],
    ("discharge",): ["patient_id"],
    ("enrol",): ["patient_id", "--ward", "--at"],
    ("end-home",): ["patient_id"],
    ("import",): ["csv_file", "--ward"],
}


def test_admin_help_lists_every_subcommand(data_dir: Path) -> None:
    result = admin("--help", data_dir=data_dir)

    assert result.returncode == 0
    for name in ("sites", "wards", "beds", "patients", "admit", "transfer", "discharge", "enrol", "end-home", "import"):
        assert f"\n    {name}" in result.stdout
    assert "every change is audited as the user cli:<login name>" in " ".join(result.stdout.split())


@pytest.mark.parametrize(("path", "options"), LEAVES.items(), ids=[" ".join(p) for p in LEAVES])
def test_every_subcommands_help_lists_each_of_its_options(
    path: tuple[str, ...], options: list[str], data_dir: Path
) -> None:
    result = admin(*path, "--help", data_dir=data_dir)

    assert result.returncode == 0
    for option in options:
        assert option in result.stdout
    assert not (data_dir / SQLITE_FILE).exists()  # help opens no store


async def test_a_patient_is_registered_admitted_transferred_and_discharged_and_each_step_is_audited(
    unit: Path,
) -> None:
    created = admin("patients", "create", "--id", "p1", "--name", "Test Pasient", "--birth-year", "1950",
                    "--national-id-stdin", data_dir=unit, stdin=NUMBER + "\n")  # fmt: skip
    admitted = admin("admit", "p1", "--bed", "k1", data_dir=unit)
    moved = admin("transfer", "p1", "--bed", "k2", data_dir=unit)
    shown = admin("patients", "show", "p1", data_dir=unit)
    revealed = admin("patients", "show", "p1", "--reveal-national-id", data_dir=unit)
    left = admin("discharge", "p1", data_dir=unit)
    stays = admin("patients", "stays", "p1", data_dir=unit)

    assert (created.returncode, created.stdout) == (0, "created patient p1\n")
    assert admitted.returncode == 0 and "(bed k1)" in admitted.stdout
    assert moved.returncode == 0 and "ended stay" in moved.stdout and "(bed k2)" in moved.stdout
    assert "national_id\trecorded (--reveal-national-id to print)" in shown.stdout
    assert NUMBER not in shown.stdout
    assert f"national_id\t{NUMBER}" in revealed.stdout
    assert left.returncode == 0
    assert [line.split("\t")[2] for line in stays.stdout.splitlines()] == ["k1", "k2"]
    store = await _store(unit)
    try:
        history = await store.stay_history("p1")
        assert [(s.bed_id, s.end_at is not None) for s in history] == [("k1", True), ("k2", True)]
        assert (await store.national_id_of("p1")) is not None
        rows = list(reversed(await store.list_audit(limit=100)))
        assert {row.user_id for row in rows} == {ACTOR}
        assert [r.action for r in rows if r.subject == "p1"] == [
            "admin.create.patient", "admin.admit", "admin.transfer", "admin.read.patient", "admin.read.patient",
            "admin.discharge", "admin.read.stays",
        ]  # fmt: skip
        assert all(NUMBER not in f"{row}" for row in rows)
    finally:
        await store.close()
    for result in (created, admitted, moved, shown, left):
        assert NUMBER not in result.stderr  # nor in a log line


async def test_a_discharge_says_which_of_the_patients_alerts_it_resolved(unit: Path) -> None:
    admin("patients", "create", "--id", "p1", "--name", "A", data_dir=unit)
    admin("admit", "p1", "--bed", "k1", data_dir=unit)
    store = await _store(unit)
    try:
        raised = await store.raise_alert(
            patient_id="p1", device_id=None, ward_id="kad-w", kind=AlertKind.NEWS2, severity=AlertSeverity.HIGH,
            message="NEWS2 7", at=datetime.now(UTC),
        )  # fmt: skip
    finally:
        await store.close()

    left = admin("discharge", "p1", data_dir=unit)

    assert left.returncode == 0
    assert f"resolved alert {raised.alert.alert_id} (NEWS2 7)" in left.stdout
    store = await _store(unit)
    try:
        assert (await store.get_alert(raised.alert.alert_id)).state is AlertState.RESOLVED
    finally:
        await store.close()


async def test_a_refused_change_names_the_field_exits_1_and_writes_nothing(unit: Path) -> None:
    admin("patients", "create", "--id", "p1", "--name", "A", data_dir=unit)
    admin("patients", "create", "--id", "p2", "--name", "B", data_dir=unit)
    admin("admit", "p1", "--bed", "k1", data_dir=unit)

    taken = admin("admit", "p2", "--bed", "k1", data_dir=unit)
    busy = admin("beds", "retire", "k1", data_dir=unit)
    bad_number = admin("patients", "create", "--id", "p3", "--name", "C", "--national-id-stdin", data_dir=unit,
                       stdin="01017012344\n")  # fmt: skip
    bad_id = admin("beds", "create", "--id", "seng 3", "--ward", "kad-w", "--label", "Seng 3", data_dir=unit)
    home = admin("enrol", "p2", "--ward", "kad-w", data_dir=unit)

    assert taken.returncode == EXIT_REFUSED
    assert taken.stderr.endswith("vaktrom: bed_id: bed k1 is taken: stay " + taken.stderr.split("stay ")[1])
    assert "of patient p1\n" in taken.stderr
    assert busy.returncode == EXIT_REFUSED and "vaktrom: bed_id: bed k1 has current stays:" in busy.stderr
    assert bad_number.returncode == EXIT_REFUSED
    assert bad_number.stderr.endswith("vaktrom: national_id: has a wrong second check digit\n")
    assert bad_id.returncode == EXIT_USAGE and "argument --id: 'seng 3' is not a valid id" in bad_id.stderr
    assert home.stderr.endswith("vaktrom: ward_id: ward kad-w is at a kad site, not a home programme\n")
    assert "Traceback" not in taken.stderr + busy.stderr + bad_number.stderr + home.stderr
    store = await _store(unit)
    try:
        assert await store.stay_history("p2") == []
        assert (await store.get_bed("k1")).retired_at is None
        assert [b.bed_id for b in await store.list_beds("kad-w")] == ["k1", "k2"]
        with pytest.raises(Exception, match="patient"):
            await store.get_patient("p3")
    finally:
        await store.close()


GOOD_IMPORT = f"""bed_id,bed_label,patient_id,display_name,birth_year,national_id,admitted_at
k1,Seng 1,p1,Test En,1941,{NUMBER},2025-01-02T10:00:00+01:00
k3,Seng 3,,,,,
k4,Seng 4,p2,Test To,,,
"""


async def test_an_import_creates_the_beds_and_admits_the_current_patients(unit: Path) -> None:
    (unit.parent / "unit.csv").write_text(GOOD_IMPORT, encoding="utf-8")

    result = admin("import", str(unit.parent / "unit.csv"), "--ward", "kad-w", data_dir=unit)

    assert (result.returncode, result.stdout) == (0, "imported 3 rows into ward kad-w: 3 beds, 2 patients\n")
    store = await _store(unit)
    try:
        assert [(b.bed_id, b.label) for b in await store.list_beds("kad-w")] == [
            ("k1", "Seng 1"), ("k2", "Seng 2"), ("k3", "Seng 3"), ("k4", "Seng 4"),
        ]  # fmt: skip
        [p1] = await store.stay_history("p1")
        assert (p1.bed_id, p1.setting, p1.start_at.isoformat()) == (
            "k1",
            CareSetting.BEDSIDE,
            "2025-01-02T09:00:00+00:00",
        )
        assert (await store.national_id_of("p1")) is not None
        assert (await store.get_patient("p1")).birth_year == 1941
        [p2] = await store.stay_history("p2")
        assert p2.bed_id == "k4"
        assert {(r.action, r.subject) for r in await store.list_audit(limit=100)} >= {
            ("admin.import", "p1"), ("admin.import", "p2"),
        }  # fmt: skip
    finally:
        await store.close()


BAD_IMPORT = f"""bed_id,bed_label,patient_id,display_name,birth_year,national_id,admitted_at
k3,Seng 3,p1,Test En,1941,01017012344,
k4,,p2,Test To,,,
k5,Seng 5,p3,,,,
k6,Seng 6,,,1950,,
k7,Seng 7,p4,Test Fire,,,2099-01-01T00:00:00Z
k3,Seng 3b,p5,Test Fem,,,
k8,Seng 8,p6,Test Seks,,{NUMBER},
k9,Seng 9,p7,Test Sju,,{NUMBER},
"""


async def test_an_import_with_bad_rows_reports_each_row_and_field_and_writes_nothing(unit: Path) -> None:
    (unit.parent / "bad.csv").write_text(BAD_IMPORT, encoding="utf-8")

    result = admin("import", str(unit.parent / "bad.csv"), "--ward", "kad-w", data_dir=unit)

    assert result.returncode == EXIT_REFUSED
    assert result.stderr.splitlines()[-8:] == [
        "vaktrom: nothing imported; fix these rows:",
        "  row 2, national_id: has a wrong second check digit",
        "  row 3, bed_label: String should have at least 1 character",
        "  row 4, display_name: Field required",
        "  row 5, birth_year: given for a bed with no patient_id",
        "  row 6, admitted_at: 2099-01-01T00:00:00Z is in the future",
        "  row 7, bed_id: k3 is on row 2 already",
        "  row 9, national_id: the same number is on row 8 already",
    ]
    assert NUMBER not in result.stderr
    store = await _store(unit)
    try:
        assert [b.bed_id for b in await store.list_beds("kad-w")] == ["k1", "k2"]
        with pytest.raises(Exception, match="patient"):
            await store.get_patient("p2")
    finally:
        await store.close()


async def test_an_import_that_conflicts_with_the_store_is_rolled_back_whole(unit: Path) -> None:
    admin("patients", "create", "--id", "p2", "--name", "Already here", data_dir=unit)
    rows = "bed_id,bed_label,patient_id,display_name\nk3,Seng 3,p1,Test En\nk4,Seng 4,p2,Test To\n"
    (unit.parent / "clash.csv").write_text(rows, encoding="utf-8")

    result = admin("import", str(unit.parent / "clash.csv"), "--ward", "kad-w", data_dir=unit)

    assert result.returncode == EXIT_REFUSED
    assert result.stderr.endswith(
        "vaktrom: row 3, patient_id: patient p2 exists already; rename it or choose another id\n"
    )
    store = await _store(unit)
    try:
        assert [b.bed_id for b in await store.list_beds("kad-w")] == ["k1", "k2"]  # row 2's bed rolled back too
        with pytest.raises(Exception, match="patient"):
            await store.get_patient("p1")
    finally:
        await store.close()


async def test_sites_list_prints_the_sites_of_the_configured_store(data_dir: Path) -> None:
    store = await _store(data_dir)
    await store.upsert_site(Site("hf-kad", "Hammerfest KAD", SiteKind.KAD))
    await store.close()

    result = admin("sites", "list", data_dir=data_dir)

    assert (result.returncode, result.stdout) == (0, "hf-kad\tkad\tHammerfest KAD\n")
