"""`vaktrom run` prints login links with long-lived tokens: it refuses to serve them beyond this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaktrom.cli import main


def test_run_on_a_public_address_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VAKTROM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VAKTROM_API_HOST", "0.0.0.0")
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert "VAKTROM_API_HOST=0.0.0.0 would serve the demo and its login links beyond this machine" in err
    assert "VAKTROM_DEMO_REMOTE=true" in err
    assert not (tmp_path / "var").exists()  # no store, no key, no broker was made
