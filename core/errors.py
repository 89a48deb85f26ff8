"""Errors that cross package boundaries. Each carries its fields and prints usefully."""

from __future__ import annotations

__all__ = [
    "AlertAlreadyAcknowledged",
    "BrokerAuthFailed",
    "ConfigError",
    "InvalidPayload",
    "ModelArtefactError",
    "NotFound",
    "StorageUnavailable",
    "VaktromError",
]


class VaktromError(Exception):
    """Base of vaktrom's own errors."""


class InvalidPayload(VaktromError):
    """Bytes from outside that cannot become a reading. `reason` names the field and the rule it broke."""

    def __init__(self, source: str, *, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class StorageUnavailable(VaktromError):
    """The store cannot be reached or refused a write; the caller retries and keeps messages unacknowledged."""

    def __init__(self, where: str, *, detail: str = "") -> None:
        self.where = where
        self.detail = detail
        super().__init__(f"storage unavailable at {where}" + (f": {detail}" if detail else ""))


class BrokerAuthFailed(VaktromError):
    def __init__(self, url: str, *, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"MQTT broker at {url} refused our credentials: {detail}")


class NotFound(VaktromError):
    def __init__(self, kind: str, key: str | int) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key} not found")


class AlertAlreadyAcknowledged(VaktromError):
    def __init__(self, alert_id: int, *, by: str | None) -> None:
        self.alert_id = alert_id
        self.by = by
        super().__init__(f"Alert {alert_id} is already acknowledged" + (f" by {by}" if by else ""))


class ConfigError(VaktromError):
    """A setting that is missing, malformed or unsafe. The message names the variable and what to do."""


class ModelArtefactError(VaktromError):
    """A model artefact that cannot be loaded safely (wrong features, wrong library version, untrusted types)."""
