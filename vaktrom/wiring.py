"""Builds the parts from Settings: the store, the auth secret, MQTT clients. Only `vaktrom/` calls this."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from core.errors import ConfigError
from core.mqtt import MqttOptions
from core.settings import Settings
from core.store import Store

__all__ = ["auth_secret_of", "build_store", "event_client_options"]

logger = logging.getLogger(__name__)

_SECRET_FILE = "auth_secret"


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
    path = settings.data_dir / _SECRET_FILE
    if path.exists():
        return _read_secret(path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    logger.info("Generated a token signing key in %s (embedded mode)", path)
    return secret


def _read_secret(path: Path) -> str:
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ConfigError(f"{path} holds a token signing key shorter than 32 characters: delete it to regenerate")
    return secret


def event_client_options(settings: Settings, *, client_id: str) -> MqttOptions:
    """Options for a client that publishes or follows events (not an ingest worker: no persistent session)."""
    return MqttOptions(
        url=settings.effective_mqtt_url(),
        client_id=client_id,
        protocol_v5=settings.mqtt_v5,
        clean_start=True,
    )
