"""The supervision files in deploy/ as an operator installs them: the systemd units verify, are hardened, restart
a dead worker in its own slot and give ingest the time it needs to stop cleanly."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
INSTALLED_COMMAND = "/opt/vaktrom/bin/vaktrom"  # where the units expect the venv (docs/DEPLOY.md)
# `systemd-analyze security` scores 0 (locked down) to 10 (exposed); below 2 is what it calls "OK".
MAX_EXPOSURE = 2.0

requires_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def _installed(tmp_path: Path) -> list[Path]:
    """The units as installed on this machine: ExecStart pointing at this checkout's vaktrom, the template as slot 1."""
    command = str(Path(sys.executable).parent / "vaktrom")
    installed = []
    for unit, name in (("vaktrom-ingest@.service", "vaktrom-ingest@1.service"), ("vaktrom-api.service", None)):
        path = tmp_path / (name or unit)
        path.write_text((UNITS / unit).read_text().replace(INSTALLED_COMMAND, command))
        installed.append(path)
    return installed


@requires_systemd
def test_the_units_verify_without_a_warning(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, _installed(tmp_path))], capture_output=True, text=True
    )

    assert (result.returncode, result.stderr) == (0, "")


@requires_systemd
def test_the_units_are_hardened(tmp_path: Path) -> None:
    for unit in _installed(tmp_path):
        result = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True, text=True
        )
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        assert found is not None, result.stdout + result.stderr
        assert float(found.group(1)) <= MAX_EXPOSURE, f"{unit.name}: {found.group(0)}"


def _directives(unit: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def test_a_dead_ingest_worker_is_restarted_in_its_own_slot_and_group() -> None:
    ingest = _directives("vaktrom-ingest@.service")

    assert ingest["Restart"] == ["always"]
    assert "VAKTROM_INGEST_WORKER_SLOT=%i" in ingest["Environment"]
    assert "VAKTROM_MQTT_SHARED_GROUP=vaktrom-ingest" in ingest["Environment"]
    assert ingest["ExecStart"] == [f"{INSTALLED_COMMAND} ingest"]


def test_systemd_waits_longer_for_ingest_to_stop_than_ingest_takes() -> None:
    timeout_s = float(_directives("vaktrom-ingest@.service")["TimeoutStopSec"][0].removesuffix("s"))

    assert timeout_s > Settings.model_fields["ingest_shutdown_grace_s"].default


def test_the_container_image_runs_vaktrom_as_an_unprivileged_user_and_stops_it_with_sigterm() -> None:
    image = (REPO / "deploy" / "container" / "Containerfile").read_text()

    assert 'ENTRYPOINT ["vaktrom"]' in image
    assert "USER 10001:10001" in image
    assert "STOPSIGNAL SIGTERM" in image


def test_the_environment_file_names_real_settings_and_every_credential_a_node_needs() -> None:
    lines = (UNITS / "vaktrom.env.example").read_text().splitlines()
    names = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    settings = {f"VAKTROM_{name.upper()}" for name in Settings.model_fields}

    assert names <= settings, f"not settings: {sorted(names - settings)}"  # a typo would be silently ignored
    # A production node logs in to the broker as its own account and signs tokens the other nodes accept.
    assert {"VAKTROM_MQTT_PASSWORD", "VAKTROM_MQTT_API_CLIENT_ID", "VAKTROM_AUTH_SECRET"} <= names
