"""Who may use the embedded broker, under which client id, and where they may publish and subscribe.

The same rules as the Mosquitto configuration in deploy/mosquitto (docs/MQTT.md, "Accounts and client ids"):
every client logs in; the client id is the user name; a device (user name = device id) publishes only on its own
`obs` and `status` topics and subscribes to nothing; each vaktrom service account gets only what its service does.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from core.topics import is_valid_id

__all__ = ["Account", "BrokerPolicy", "set_device_password", "vaktrom_accounts"]

logger = logging.getLogger(__name__)

# PBKDF2-SHA256 for device passwords at rest (the standard library has it; Mosquitto's own files use PBKDF2-SHA512).
# 100,000 rounds: ~50 ms per device login here, nothing for a demo unit, a wall against guessing from a stolen file.
PBKDF2_ROUNDS = 100_000
_HASH_SCHEME = "pbkdf2_sha256"


@dataclass(frozen=True, slots=True)
class Account:
    """A vaktrom service account: its password (in memory only) and the topic filters it may use."""

    user: str
    password: str
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


def vaktrom_accounts(settings: Settings, *, simulated_sites: Sequence[str] = ()) -> list[Account]:
    """The service accounts of one vaktrom deployment, mirroring deploy/mosquitto/acl (with this topic root)."""
    assert settings.mqtt_password is not None, "with_mqtt_credentials() first"
    password = settings.mqtt_password.get_secret_value()
    root = settings.mqtt_topic_root
    events = f"{root}/events/+/+/+"
    alerts = f"{root}/events/+/+/alert"
    rescore = f"{root}/control/rescore"
    device_topics = tuple(f"{root}/{site}/+/{kind}" for site in simulated_sites for kind in ("obs", "status"))
    return [
        Account(
            settings.ingest_client_id, password, publish=(events,),
            subscribe=(f"{root}/+/+/obs", f"{root}/+/+/status", rescore),
        ),
        Account(settings.health_client_id, password, publish=(alerts,)),
        Account(settings.mqtt_api_client_id, password, publish=(alerts, rescore), subscribe=(events,)),
        Account(settings.mqtt_simulator_client_id, password, publish=device_topics),
    ]  # fmt: skip


class BrokerPolicy:
    """Authentication and topic rules. Device passwords are read from `device_passwords` (hashed, one
    `device-id:hash` a line; re-read when the file changes, so a device added there can log in without a restart)."""

    def __init__(self, *, topic_root: str, services: Iterable[Account], device_passwords: Path) -> None:
        self._root = topic_root
        self._services = {account.user: account for account in services}
        self._device_file = device_passwords
        self._device_hashes: dict[str, str] = {}
        self._device_file_stamp: tuple[int, int] | None = None

    def refusal(self, *, client_id: str | None, username: str | None, password: str | None) -> str | None:
        """Why this CONNECT is refused, or None to accept it."""
        if not username or password is None:
            return "anonymous clients are not accepted: log in with a user name and password"
        if client_id != username:
            return f"client id {client_id!r} is not the user name {username!r} (they must be the same)"
        service = self._services.get(username)
        if service is not None:
            return None if hmac.compare_digest(service.password, password) else f"wrong password for {username}"
        stored = self._device_hash(username)
        if stored is None or not _verify(password, stored):
            return f"no device {username!r} with that password"
        return None

    def may_publish(self, username: str | None, topic: str) -> bool:
        service = self._services.get(username or "")
        if service is not None:
            return any(_within(topic, allowed) for allowed in service.publish)
        parts = topic.split("/")
        root_levels = self._root.count("/") + 1
        return (
            username is not None
            and topic.startswith(self._root + "/")
            and len(parts) == root_levels + 3
            and parts[root_levels + 1] == username
            and parts[root_levels + 2] in ("obs", "status")
        )

    def may_subscribe(self, username: str | None, topic_filter: str) -> bool:
        """Devices subscribe to nothing; a service only within its own filters (a `#` is never within a `+`)."""
        service = self._services.get(username or "")
        return service is not None and any(_within(topic_filter, allowed) for allowed in service.subscribe)

    def _device_hash(self, device_id: str) -> str | None:
        try:
            stat = self._device_file.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._device_file_stamp:
            lines = self._device_file.read_text().splitlines()
            self._device_hashes = dict(line.split(":", 1) for line in lines if ":" in line)
            self._device_file_stamp = stamp
        return self._device_hashes.get(device_id)


def set_device_password(path: Path, device_id: str, password: str) -> None:
    """Add or replace a device's password in the embedded broker's device password file (mode 0600)."""
    if not is_valid_id(device_id) or len(password) < 16:
        raise ValueError("a device id must be a valid topic level and its password at least 16 characters")
    lines = [line for line in _read_lines(path) if not line.startswith(f"{device_id}:")]
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)
    lines.append(f"{device_id}:{_HASH_SCHEME}${PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    temporary.replace(path)


def _read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _verify(password: str, stored: str) -> bool:
    try:
        scheme, rounds, salt, digest = stored.split("$")
        if scheme != _HASH_SCHEME:
            return False
        computed = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(rounds))
    except ValueError:
        logger.warning("A malformed line in the embedded broker's device password file was skipped")
        return False
    return hmac.compare_digest(computed.hex(), digest)


def _within(requested: str, allowed: str) -> bool:
    """Whether every topic `requested` (a topic or a filter) can match is matched by the filter `allowed`."""
    wanted, granted = requested.split("/"), allowed.split("/")
    for index, level in enumerate(wanted):
        if index >= len(granted):
            return False
        grant = granted[index]
        if grant == "#":
            return True
        if level == "#" or (grant != "+" and grant != level):
            return False  # a '#' is only within a '#'; a '+' within a '+' (or '#')
    return len(wanted) == len(granted)
