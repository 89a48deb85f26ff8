"""`vaktrom devices` as a technician runs it (`python -m vaktrom devices ...` in a subprocess): register with
credentials printed once, list, show, pair, rotate, revoke; on the embedded store and on the shipped Mosquitto."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.store.sqlite import SqliteStore
from core.types import Bed, CareSetting, Patient, Site, SiteKind, Stay, Ward
from devices.credentials import verify_password
from tests.devices.device_sessions import DeviceSession, assert_login_refused
from tests.fixtures.mosquitto import SERVICE_PASSWORD, ShippedBroker
from tests.vaktrom.conftest import SQLITE_FILE, VAKTROM_COMMAND, cli_environment

COMMAND_TIMEOUT_S = 60.0  # a command that does its work and exits; bounds a hang, never waited out
ADMITTED_AT = datetime(2025, 1, 1, tzinfo=UTC)


def devices(*args: str, data_dir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VAKTROM_COMMAND, "devices", *args], env=cli_environment(data_dir, **settings), cwd=data_dir.parent,
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
    )  # fmt: skip


async def _seeded_store(data_dir: Path) -> SqliteStore:
    await asyncio.to_thread(data_dir.mkdir, exist_ok=True)
    store = SqliteStore(data_dir / SQLITE_FILE)
    await store.open()
    await store.upsert_site(Site("site-1", "Site 1", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("ward-1", "site-1", "Ward 1"))
    await store.upsert_bed(Bed("bed-3", "ward-1", "Bed 3"))
    await store.upsert_patient(Patient("pat-1", "Test Patient"))
    await store.add_stay(Stay("stay-1", "pat-1", "ward-1", CareSetting.BEDSIDE, ADMITTED_AT, bed_id="bed-3"))
    return store


def _password(stdout: str) -> str:
    return next(line.split()[-1] for line in stdout.splitlines() if line.strip().startswith("password:"))


async def test_register_prints_the_credentials_once_and_stores_only_their_hash(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    await (await _seeded_store(data_dir)).close()
    result = devices("register", "ox-7", "--site", "site-1", "--kind", "pulse_oximeter", "--model", "Nonin 3150",
                     "--serial", "N-7", "--calibration-due", "2026-03-01", data_dir=data_dir)  # fmt: skip
    assert (result.returncode, result.stderr.count("Traceback")) == (0, 0)
    assert "shown this once; vaktrom keeps only a hash" in result.stdout
    password = _password(result.stdout)
    store = SqliteStore(data_dir / SQLITE_FILE)
    await store.open()
    try:
        credential = (await store.current_credentials(["ox-7"]))["ox-7"]
        assert verify_password(password, credential.password_hash) and credential.issued_by.startswith("cli:")
        [entry] = await store.list_audit(limit=5)
        assert (entry.action, entry.subject, entry.user_id) == ("register.device", "ox-7", credential.issued_by)
    finally:
        await store.close()
    shown = devices("show", "ox-7", data_dir=data_dir)
    assert shown.returncode == 0 and password not in shown.stdout
    assert "state:        registered" in shown.stdout and "due 2026-03-01T00:00:00+00:00" in shown.stdout
    paired = devices("pair", "ox-7", "--patient", "pat-1", data_dir=data_dir)
    assert paired.returncode == 0 and "paired to patient pat-1 (bed bed-3)" in paired.stdout
    listing = devices("list", data_dir=data_dir)
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[1].split() == ["ox-7", "site-1", "pulse_oximeter", "paired", "0", "d", "old",
                                                      "bed-3"]  # fmt: skip


async def test_mistakes_are_refused_saying_what_to_fix(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    await (await _seeded_store(data_dir)).close()
    unknown_site = devices("register", "x-1", "--site", "nowhere", "--kind", "thermometer", "--model", "T",
                           "--serial", "S", data_dir=data_dir)  # fmt: skip
    assert unknown_site.returncode == 1 and unknown_site.stderr.endswith("vaktrom: site nowhere not found\n")
    bad_time = devices("unpair", "x-1", "--at", "yesterday", data_dir=data_dir)
    assert bad_time.returncode == 2 and "'yesterday' is not an ISO 8601 time" in bad_time.stderr
    unknown_device = devices("revoke", "ghost", data_dir=data_dir)
    assert unknown_device.returncode == 1 and unknown_device.stderr.endswith("vaktrom: device ghost not found\n")


@pytest.mark.integration
async def test_on_the_shipped_mosquitto_register_rotate_and_revoke_apply_at_once(
    tmp_path: Path, shipped_broker: ShippedBroker
) -> None:
    data_dir = tmp_path / "var"
    await (await _seeded_store(data_dir)).close()
    broker = {"mqtt_url": shipped_broker.address.url(), "mqtt_password": SERVICE_PASSWORD,
              "auth_secret": secrets.token_hex(32)}  # fmt: skip
    registered = devices("register", "mon-3", "--site", "site-1", "--kind", "bedside_monitor", "--model", "MX40",
                         "--serial", "M-3", data_dir=data_dir, **broker)  # fmt: skip
    assert (registered.returncode, registered.stderr.count("Traceback")) == (0, 0)
    first = _password(registered.stdout)
    url = shipped_broker.address.url()
    async with DeviceSession(url, "mon-3", first):
        pass
    rotated = devices("rotate", "mon-3", data_dir=data_dir, **broker)
    assert rotated.returncode == 0
    await assert_login_refused(url, "mon-3", first)
    async with DeviceSession(url, "mon-3", _password(rotated.stdout)) as session:
        revoked = devices("revoke", "mon-3", data_dir=data_dir, **broker)
        assert (revoked.returncode, revoked.stdout) == (
            0, "Device mon-3 revoked: disconnected, and its credentials no longer work.\n"
        )  # fmt: skip
        assert await session.cut_off_within_s() < 1.0
    await assert_login_refused(url, "mon-3", _password(rotated.stdout))
