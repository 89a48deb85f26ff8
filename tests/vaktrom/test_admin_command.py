"""`vaktrom admin` as an administrator runs it (`python -m vaktrom admin ...` in a subprocess) on the store of the
configured data directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.store.sqlite import SqliteStore
from core.types import Site, SiteKind
from tests.vaktrom.conftest import SQLITE_FILE, VAKTROM_COMMAND, cli_environment

COMMAND_TIMEOUT_S = 60.0  # a command that does its work and exits; bounds a hang, never waited out


def admin(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VAKTROM_COMMAND, "admin", *args],
        env=cli_environment(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def test_admin_help_lists_its_subcommands(tmp_path: Path) -> None:
    result = admin("--help", data_dir=tmp_path / "var")

    assert result.returncode == 0
    assert "sites" in result.stdout
    assert "every change is audited as the user cli:<login name>" in " ".join(result.stdout.split())


async def test_sites_list_prints_the_sites_of_the_configured_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "var" / SQLITE_FILE)
    (tmp_path / "var").mkdir()
    await store.open()
    await store.upsert_site(Site("hf-kad", "Hammerfest KAD", SiteKind.KAD))
    await store.close()

    result = admin("sites", "list", data_dir=tmp_path / "var")

    assert (result.returncode, result.stdout) == (0, "hf-kad\tkad\tHammerfest KAD\n")
