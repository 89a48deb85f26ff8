"""Builds the parts from Settings: the store, the auth secret, MQTT clients. Only `vaktrom/` calls this."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from core.errors import ConfigError
from core.mqtt import MqttOptions
from core.settings import Settings
from core.store import Store
from devices.broker_accounts import BrokerAccounts, DynamicSecurityAccounts, StoreReadAccounts, UnadministeredAccounts

__all__ = ["auth_secret_of", "build_store", "device_accounts_of", "event_client_options", "with_mqtt_credentials"]

logger = logging.getLogger(__name__)

_SECRET_FILE = "auth_secret"
_MQTT_PASSWORD_FILE = "mqtt_service_password"  # vaktrom's service accounts on the embedded broker


def build_store(settings: Settings) -> Store:
    """SQLite under data_dir (embedded default) or PostgreSQL when VAKTROM_DATABASE_URL is set. Not yet opened."""
    if settings.database_url is None:
        from core.store.sqlite import SqliteStore

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteStore(settings.data_dir / "vaktrom.sqlite3")
    from core.store.postgres import PostgresStore

    return PostgresStore(settings.database_url)


def auth_secret_of(settings: Settings) -> str:
    """The token signing key: VAKTROM_AUTH_SECRET, or in embedded mode one generated once into data_dir (0600)."""
    if settings.auth_secret is not None:
        return settings.auth_secret.get_secret_value()
    return _generated_secret(settings.data_dir / _SECRET_FILE, what="a token signing key")


def with_mqtt_credentials(settings: Settings) -> Settings:
    """`settings` with a password for vaktrom's service accounts: VAKTROM_MQTT_PASSWORD, or with the embedded broker
    one generated once into data_dir (0600), which that broker accepts for vaktrom's accounts and nobody else's."""
    if settings.mqtt_password is not None or not settings.embedded_broker:
        return settings
    password = _generated_secret(settings.data_dir / _MQTT_PASSWORD_FILE, what="a broker password for vaktrom")
    return settings.model_copy(update={"mqtt_password": SecretStr(password)})


def device_accounts_of(settings: Settings) -> BrokerAccounts:
    """Where device credentials are applied: the embedded broker reads them from the store; an external Mosquitto is
    told through its dynamic-security plugin by the admin account `<VAKTROM_MQTT_API_CLIENT_ID>-admin`, which logs
    in with VAKTROM_MQTT_PASSWORD (docs/DEVICES.md, "Credentials")."""
    if settings.embedded_broker:
        return StoreReadAccounts()
    if settings.mqtt_password is None:  # said when a technician tries, not at start: the API serves all else
        return UnadministeredAccounts(
            "VAKTROM_MQTT_PASSWORD is not set: vaktrom needs it to administer device accounts on the broker at "
            f"VAKTROM_MQTT_URL (as the account {settings.mqtt_api_client_id}-admin)"
        )
    address = urlsplit(settings.effective_mqtt_url())
    port = address.port or (8883 if address.scheme == "mqtts" else 1883)
    url = f"{address.scheme}://{address.hostname}:{port}"  # the admin logs in with its own name, not the URL's
    return DynamicSecurityAccounts(
        url=url, admin_user=f"{settings.mqtt_api_client_id}-admin", password=settings.mqtt_password.get_secret_value(),
        protocol_v5=settings.mqtt_v5,
    )  # fmt: skip


def _generated_secret(path: Path, *, what: str) -> str:
    if path.exists():
        return _read_secret(path, what=what)
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    logger.info("Generated %s in %s (embedded mode)", what, path)
    return secret


def _read_secret(path: Path, *, what: str) -> str:
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ConfigError(f"{path} holds {what} shorter than 32 characters: delete it to regenerate")
    return secret


def event_client_options(settings: Settings, *, client_id: str) -> MqttOptions:
    """Options for a client that publishes or follows events (not an ingest worker: no persistent session).

    With a password (production, the embedded broker) it logs in as the service account named `client_id`.
    """
    return MqttOptions(
        url=settings.effective_mqtt_url(),
        client_id=client_id,
        protocol_v5=settings.mqtt_v5,
        clean_start=True,
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
    )
