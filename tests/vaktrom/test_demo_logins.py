"""`vaktrom run` prints login links with long-lived tokens: it refuses to serve them beyond this machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.vaktrom.conftest import VAKTROM_COMMAND, cli_environment

COMMAND_TIMEOUT_S = 60.0  # the refusal comes before anything starts; bounds a hang, never waited out
EXIT_ERROR = 1


def test_run_on_a_public_address_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # A subprocess, as a user runs it: `run` sets up process-wide logging that must not leak into other tests.
    env = cli_environment(tmp_path / "var", api_host="0.0.0.0")
    result = subprocess.run(
        [*VAKTROM_COMMAND, "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )

    assert result.returncode == EXIT_ERROR
    assert "VAKTROM_API_HOST=0.0.0.0 would serve the demo and its login links beyond this machine" in result.stderr
    assert "VAKTROM_DEMO_REMOTE=true" in result.stderr
    assert not (tmp_path / "var").exists()  # no store, no key, no broker was made
