"""What `vaktrom/wiring.py` builds from Settings: the token signing key of embedded mode, and the embedded store."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.clock import utc_now
from core.errors import ConfigError
from core.settings import Settings
from core.types import Role
from dashboard_api.auth import issue_token, verify_token
from tests.vaktrom.conftest import SQLITE_FILE
from vaktrom.parts import open_store
from vaktrom.wiring import auth_secret_of

SECRET_FILE = "auth_secret"
MIN_SECRET_CHARS = 32  # HS256 keys shorter than the hash weaken the signature (RFC 7518 §3.2)


def test_generated_signing_key_is_private_to_the_user(tmp_path: Path) -> None:
    secret = auth_secret_of(Settings(data_dir=tmp_path / "var"))

    path = tmp_path / "var" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == secret
    assert len(secret) >= MIN_SECRET_CHARS


def test_demo_link_from_before_a_restart_still_logs_in_after_it(tmp_path: Path) -> None:
    now = utc_now()
    before = auth_secret_of(Settings(data_dir=tmp_path))
    token = issue_token(before, user_id="nurse.demo", role=Role.NURSE, site_ids=["demo-sykestue"], ttl_s=60, now=now)

    after = auth_secret_of(Settings(data_dir=tmp_path))  # the next `vaktrom run` in the same data directory

    assert after == before
    principal = verify_token(after, token, now=now)
    assert (principal.user_id, principal.role, principal.site_ids) == ("nurse.demo", Role.NURSE, ("demo-sykestue",))


def test_too_short_signing_key_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE
    path.write_text("too-short\n")

    with pytest.raises(ConfigError) as raised:
        auth_secret_of(Settings(data_dir=tmp_path))

    assert str(raised.value) == (
        f"{path} holds a token signing key shorter than {MIN_SECRET_CHARS} characters: delete it to regenerate"
    )
    assert path.read_text() == "too-short\n"  # never overwritten behind the user's back


def test_configured_signing_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    configured = "0123456789abcdefghijklmnopqrstuvwxyz"[:MIN_SECRET_CHARS]
    settings = Settings(data_dir=tmp_path / "var", auth_secret=SecretStr(configured))

    assert auth_secret_of(settings) == configured
    assert not (tmp_path / "var").exists()


async def test_embedded_store_is_a_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "new" / "var")

    async with open_store(settings) as store:
        assert await store.ping()
        assert await store.count_readings() == 0

    assert (tmp_path / "new" / "var" / SQLITE_FILE).is_file()
