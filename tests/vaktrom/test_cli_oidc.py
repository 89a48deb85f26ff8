"""`vaktrom token` where an OpenID Connect provider issues the tokens: it refuses, saying why."""

from __future__ import annotations

from pathlib import Path

from tests.vaktrom.conftest import cli_environment
from tests.vaktrom.test_cli import EXIT_ERROR, vaktrom

ISSUER = "https://helseid-sts.test.nhn.no"


def test_token_command_says_it_is_disabled_when_oidc_is_configured(tmp_path: Path) -> None:
    env = cli_environment(tmp_path / "var", oidc_issuer=ISSUER, oidc_audience="kommune:vaktrom")

    result = vaktrom("token", "--user", "u", "--role", "nurse", "--site", "s1", env=env, cwd=tmp_path)

    assert (result.returncode, result.stdout) == (EXIT_ERROR, "")
    assert result.stderr == (
        f"vaktrom: vaktrom token is disabled: VAKTROM_OIDC_ISSUER is set, so the API accepts only tokens of {ISSUER} "
        "and refuses vaktrom's own; sign in through that provider\n"
    )
    assert not (tmp_path / "var" / "auth_secret").exists()  # no key generated for tokens nobody accepts


def test_help_says_the_token_command_is_for_the_demo_only(tmp_path: Path) -> None:
    result = vaktrom("token", "--help", env=cli_environment(tmp_path), cwd=tmp_path)

    assert result.returncode == 0
    assert "with VAKTROM_OIDC_ISSUER set the API accepts only that provider's tokens" in " ".join(result.stdout.split())
