"""How vaktrom's broker accounts follow from Settings: user name = client id, one password per process."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from core.settings import Settings
from ingest.service import mqtt_options
from vaktrom.parts import mqtt_client_id
from vaktrom.wiring import event_client_options, with_mqtt_credentials

SECRET = "3f9c1a7e5b2d8c4f6a0e9b1d7c3f5a2e8b4d6c0a"
PASSWORD = SecretStr("a-broker-password-for-this-node")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("VAKTROM_"):
            monkeypatch.delenv(name)


def test_each_connection_logs_in_as_the_account_named_like_its_client_id() -> None:
    settings = Settings(
        mqtt_url="mqtt://broker:1883", auth_secret=SECRET, mqtt_password=PASSWORD, ingest_worker_slot=2,
        mqtt_api_client_id="vaktrom-api-2",
    )  # fmt: skip
    ingest = mqtt_options(settings)
    assert (ingest.client_id, ingest.password) == ("vaktrom-ingest-2", "a-broker-password-for-this-node")
    accounts = [mqtt_client_id(settings, a) for a in (settings.health_client_id, settings.mqtt_api_client_id)]
    assert accounts == ["vaktrom-ingest-2-health", "vaktrom-api-2"]
    api = event_client_options(settings, client_id=accounts[1])
    assert (api.client_id, api.password, api.clean_start) == ("vaktrom-api-2", "a-broker-password-for-this-node", True)
    assert "a-broker-password" not in repr(settings)


def test_without_a_password_api_nodes_get_a_random_suffix_on_a_development_broker() -> None:
    settings = Settings(mqtt_url="mqtt://broker:1883", auth_secret=SECRET)
    first, second = (mqtt_client_id(settings, settings.mqtt_api_client_id) for _ in range(2))
    assert first.startswith("vaktrom-api-1-") and second.startswith("vaktrom-api-1-") and first != second
    assert mqtt_options(settings).password is None


def test_credentials_in_the_url_and_a_password_setting_are_refused_together() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(mqtt_url="mqtt://vaktrom:old@broker:1883", auth_secret=SECRET, mqtt_password=PASSWORD)
    assert "take the credentials out of the URL" in str(exc.value)


def test_the_embedded_broker_password_is_generated_once_into_data_dir(tmp_path: Path) -> None:
    first = with_mqtt_credentials(Settings(data_dir=tmp_path))
    again = with_mqtt_credentials(Settings(data_dir=tmp_path))
    assert first.mqtt_password is not None and again.mqtt_password is not None
    assert first.mqtt_password.get_secret_value() == again.mqtt_password.get_secret_value()
    assert len(first.mqtt_password.get_secret_value()) >= 32
    assert stat.S_IMODE((tmp_path / "mqtt_service_password").stat().st_mode) == 0o600
    external = Settings(data_dir=tmp_path, mqtt_url="mqtt://broker:1883", auth_secret=SECRET)
    assert with_mqtt_credentials(external).mqtt_password is None  # an external broker's password is never made up
