"""Errors that cross package boundaries. Each carries its fields and prints usefully."""

from __future__ import annotations

__all__ = [
    "AlertAlreadyAcknowledged",
    "AlertAlreadyResolved",
    "BrokerAuthFailed",
    "ConfigError",
    "DatasetError",
    "InvalidAssessment",
    "InvalidPayload",
    "ModelArtefactError",
    "NotFound",
    "StorageConflict",
    "StorageRefused",
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


class StorageConflict(StorageUnavailable):
    """The database aborted a transaction for a conflict with another (a deadlock, a serialization failure), and
    running it again did not get through either. Retried like any StorageUnavailable; the message says which."""

    def __init__(self, where: str, *, detail: str = "") -> None:
        self.where = where
        self.detail = detail
        VaktromError.__init__(self, f"transaction aborted by a conflict at {where}" + (f": {detail}" if detail else ""))


class StorageRefused(VaktromError):
    """The store answered and refused what was written for the data itself (PostgreSQL: a NUL in a text column, a
    number out of range): writing it again cannot succeed. Ingest dead-letters the refused item and stores the rest."""

    def __init__(self, where: str, *, detail: str) -> None:
        self.where = where
        self.detail = detail
        super().__init__(f"refused by the store at {where}: {detail}")


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


class AlertAlreadyResolved(VaktromError):
    def __init__(self, alert_id: int, *, by: str | None) -> None:
        self.alert_id = alert_id
        self.by = by
        super().__init__(f"Alert {alert_id} is already resolved" + (f" by {by}" if by else ""))


class ConfigError(VaktromError):
    """A setting that is missing, malformed or unsafe. The message names the variable and what to do."""


class DatasetError(VaktromError):
    """A training or evaluation data file that is missing, unreadable or not in the expected schema."""

    def __init__(self, path: str, *, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use data file {path}: {reason}")


class ModelArtefactError(VaktromError):
    """A model artefact that cannot be loaded safely (wrong features, wrong library version, untrusted types)."""


class InvalidAssessment(VaktromError, ValueError):
    """A withdrawal-scale item missing, unknown, or scored outside its scale's choices: the API answers 422 naming
    the item (`field`, e.g. "items.gooseflesh")."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class InvalidIdentifier(VaktromError):
    """An id that cannot be used as an MQTT topic level (core.topics.is_valid_id): the API answers 422."""

    def __init__(self, kind: str, value: str) -> None:
        self.kind = kind
        self.value = value
        super().__init__(
            f"{kind} id {value!r} is not valid: use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter"
            " or digit"
        )


class Conflict(VaktromError):
    """A request that contradicts what is stored (e.g. pairing a device to a patient on another site): API 409.

    `subject` is the id the request was about; the message says what is in the way and what to do.
    """

    def __init__(self, subject: str, *, reason: str) -> None:
        self.subject = subject
        self.reason = reason
        super().__init__(reason)


__all__ += ["Conflict", "InvalidIdentifier"]


class InvalidRoster(VaktromError):
    """An on-call rotation or override that cannot give exactly one person per instant: API 422.

    `field` names what is wrong (e.g. "handoff_times"), `reason` what to change.
    """

    def __init__(self, field: str, *, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class WebhookRejected(VaktromError):
    """A webhook answer that could not be verified or parsed (bad signature, stale timestamp, unknown status)."""

    def __init__(self, delivery_id: str, *, reason: str) -> None:
        self.delivery_id = delivery_id
        self.reason = reason
        super().__init__(f"webhook answer for delivery {delivery_id}: {reason}")


__all__ += ["InvalidRoster", "WebhookRejected"]
