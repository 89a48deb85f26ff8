"""Who may use the embedded broker, under which client id, and where they may publish and subscribe.

The same rules as the Mosquitto configuration in deploy/mosquitto (docs/MQTT.md, "Accounts and client ids"):
every client logs in; the client id is the user name; a device (user name = device id) publishes only on its own
`obs` and `status` topics and subscribes to nothing; each vaktrom service account gets only what its service does.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.settings import Settings
from devices.credentials import verify_password

__all__ = ["Account", "BrokerPolicy", "vaktrom_accounts"]

logger = logging.getLogger(__name__)


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
    stays = f"{root}/events/+/+/stay"
    rescore = f"{root}/control/rescore"
    device_topics = tuple(f"{root}/{site}/+/{kind}" for site in simulated_sites for kind in ("obs", "status"))
    return [
        Account(
            settings.ingest_client_id, password, publish=(events,),
            subscribe=(f"{root}/+/+/obs", f"{root}/+/+/status", rescore),
        ),
        Account(settings.health_client_id, password, publish=(alerts,)),
        Account(settings.mqtt_api_client_id, password, publish=(alerts, stays, rescore), subscribe=(events,)),
        Account(settings.mqtt_simulator_client_id, password, publish=device_topics),
    ]  # fmt: skip


class BrokerPolicy:
    """Authentication and topic rules. Device passwords are the current hashes in `device_hashes` (device id ->
    PBKDF2 hash), a mapping the embedded broker refreshes from the store's device credentials while it runs, so a
    device registered, rotated or revoked by vaktrom is applied without a restart."""

    def __init__(self, *, topic_root: str, services: Iterable[Account], device_hashes: Mapping[str, str]) -> None:
        self._root = topic_root
        self._services = {account.user: account for account in services}
        self.device_hashes = device_hashes

    def is_service(self, username: str) -> bool:
        return username in self._services

    def refusal(self, *, client_id: str | None, username: str | None, password: str | None) -> str | None:
        """Why this CONNECT is refused, or None to accept it."""
        if not username or password is None:
            return "anonymous clients are not accepted: log in with a user name and password"
        if client_id != username:
            return f"client id {client_id!r} is not the user name {username!r} (they must be the same)"
        service = self._services.get(username)
        if service is not None:
            return None if hmac.compare_digest(service.password, password) else f"wrong password for {username}"
        stored = self.device_hashes.get(username)
        if stored is None or not verify_password(password, stored):
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
