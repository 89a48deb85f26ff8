"""Settings: embedded defaults, environment over config file, and clear refusals of unsafe or malformed values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from core.settings import DEFAULT_MAX_AGE_S, Settings
from core.types import CareSetting, Parameter

SECRET = "3f9c1a7e5b2d8c4f6a0e9b1d7c3f5a2e8b4d6c0a"  # 40 hex characters, as `openssl rand -hex 20` gives


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("VAKTROM_"):
            monkeypatch.delenv(name)


def _error_of(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    error = exc.value.errors()[0]
    return ".".join(str(part) for part in error["loc"]), error["msg"]


def test_no_environment_runs_everything_embedded() -> None:
    settings = Settings()
    assert settings.embedded_broker and settings.embedded_store
    assert settings.effective_mqtt_url() == "mqtt://127.0.0.1:18830"
    assert settings.mqtt_v5 is False  # the embedded broker speaks MQTT 3.1.1


def test_config_file_is_read_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vaktrom.toml"
    config.write_text('api_port = 9999\nmqtt_topic_root = "helse-nord/v1"\n')
    monkeypatch.setenv("VAKTROM_CONFIG_FILE", str(config))
    monkeypatch.setenv("VAKTROM_API_PORT", "7777")

    settings = Settings()

    assert settings.api_port == 7777
    assert settings.mqtt_topic_root == "helse-nord/v1"


def test_missing_config_file_is_refused_not_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VAKTROM_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert _error_of(exc)[0] == "config_file"
    assert "does not exist" in _error_of(exc)[1]


def test_unknown_key_in_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "vaktrom.toml"
    config.write_text("api_prot = 9999\n")
    with pytest.raises(ValidationError) as exc:
        Settings(config_file=config)
    assert _error_of(exc)[0] == "api_prot"


@pytest.mark.parametrize("url", ["http://broker:1883", "broker:1883", "mqtt://"])
def test_mqtt_url_must_be_an_mqtt_url(url: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(mqtt_url=url, auth_secret=SecretStr(SECRET))
    assert _error_of(exc)[0] == "mqtt_url"


def test_database_url_must_be_postgresql_and_its_password_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(database_url="mysql://u:hunter2@db/v", auth_secret=SecretStr(SECRET))
    assert "hunter2" not in _error_of(exc)[1]


def test_external_services_need_a_shared_signing_key() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(database_url="postgresql://db/vaktrom")
    assert "VAKTROM_AUTH_SECRET is required" in str(exc.value)


def test_short_signing_key_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(auth_secret=SecretStr("too-short"))
    assert "at least 32 characters" in str(exc.value)


def test_passwords_and_secrets_never_show_in_repr() -> None:
    settings = Settings(
        mqtt_url="mqtt://ingest:brokerpass@broker:1883",
        database_url="postgresql://vaktrom:dbpass@db/vaktrom",
        auth_secret=SecretStr(SECRET),
    )
    shown = repr(settings)
    assert "brokerpass" not in shown and "dbpass" not in shown and SECRET not in shown
    assert settings.mqtt_v5 is True


def test_max_ages_differ_by_care_setting() -> None:
    settings = Settings()
    assert (
        settings.max_age_s(CareSetting.BEDSIDE)[Parameter.SPO2] < settings.max_age_s(CareSetting.HOME)[Parameter.SPO2]
    )


def test_a_max_age_set_for_one_parameter_keeps_every_other_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """{"spo2": 60} changes SpO2's; before, it replaced the whole table, and every parameter not named was never
    stale again: an hours-old respiration rate was scored as current."""
    monkeypatch.setenv("VAKTROM_MAX_AGE_BEDSIDE_S", '{"spo2": 60}')
    bedside = Settings().max_age_s(CareSetting.BEDSIDE)

    assert bedside[Parameter.SPO2] == 60
    assert bedside[Parameter.RESP_RATE] == DEFAULT_MAX_AGE_S[CareSetting.BEDSIDE][Parameter.RESP_RATE]
    assert set(bedside) == set(DEFAULT_MAX_AGE_S[CareSetting.BEDSIDE])


@pytest.mark.parametrize(
    ("variable", "value", "where", "why"),
    [
        ("VAKTROM_MAX_AGE_HOME_S", '{"spo2": -1}', "max_age_home_s.spo2", "Input should be greater than 0"),
        (
            "VAKTROM_MAX_AGE_HOME_S",
            '{"spo2": 1e9}',
            "max_age_home_s.spo2",
            "Input should be less than or equal to 604800",
        ),
        ("VAKTROM_MAX_AGE_BEDSIDE_S", '{"pulse": "NaN"}', "max_age_bedside_s.pulse", "Input should be a finite number"),
        ("VAKTROM_DEVICE_SILENT_AFTER_S", "inf", "device_silent_after_s", "Input should be a finite number"),
    ],
)
def test_an_age_that_would_turn_off_staleness_or_silence_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, where: str, why: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert _error_of(refused) == (where, why)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("a" * 32, "it repeats 1 characters"),
        ("vaktrom-" * 4, "it repeats 8 characters"),
        ("bench-e2e-secret-that-is-at-least-32-characters", "it is published"),
        ("abababababcdcdcdcdcdabababababcdcd", "fewer than 12 distinct characters"),
    ],
)
def test_a_guessable_signing_key_is_refused_naming_the_variable(secret: str, why: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(auth_secret=SecretStr(secret))
    assert "VAKTROM_AUTH_SECRET is too easy to guess" in str(exc.value) and why in str(exc.value)
    assert secret not in str(exc.value)


def test_a_conninfo_style_database_setting_is_refused_without_echoing_its_password() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(database_url="host=db.example user=vaktrom password=hunter2", auth_secret=SecretStr(SECRET))
    assert "hunter2" not in str(exc.value)
    assert "VAKTROM_DATABASE_URL must be a URL starting with postgresql://" in str(exc.value)


def test_the_demo_refuses_a_non_loopback_address_unless_forced() -> None:
    problem = Settings(api_host="0.0.0.0").demo_login_problem()
    assert problem is not None
    assert "VAKTROM_API_HOST=0.0.0.0 would serve the demo and its login links beyond this machine" in problem
    assert Settings(api_host="0.0.0.0", demo_remote=True).demo_login_problem() is None
    assert Settings(api_host="127.0.0.2").demo_login_problem() is None
