"""MQTT topic names: built and parsed in one place (docs/MQTT.md is the contract)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DeviceTopic",
    "EventsTopic",
    "TopicKind",
    "events_filter",
    "events_topic",
    "obs_filter",
    "obs_topic",
    "parse_device_topic",
    "parse_events_topic",
    "rescore_topic",
    "status_filter",
    "status_topic",
]

# Ids are used as single topic levels: no wildcards, no slashes, no '$' prefix, bounded length.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
TopicKind = str  # "obs" or "status"


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    site_id: str
    device_id: str
    kind: TopicKind


@dataclass(frozen=True, slots=True)
class EventsTopic:
    site_id: str
    ward_id: str
    event_type: str


def is_valid_id(value: str) -> bool:
    return bool(_ID.match(value))


def obs_topic(root: str, site_id: str, device_id: str) -> str:
    return f"{root}/{site_id}/{device_id}/obs"


def status_topic(root: str, site_id: str, device_id: str) -> str:
    return f"{root}/{site_id}/{device_id}/status"


def obs_filter(root: str) -> str:
    return f"{root}/+/+/obs"


def status_filter(root: str) -> str:
    return f"{root}/+/+/status"


def events_topic(root: str, site_id: str, ward_id: str, event_type: str) -> str:
    """Where vaktrom publishes what it derived (readings, scores, risks, alerts, device status) per ward."""
    return f"{root}/events/{site_id}/{ward_id}/{event_type}"


def events_filter(root: str) -> str:
    return f"{root}/events/+/+/+"


def rescore_topic(root: str) -> str:
    """The API asks ingest to re-score patients here after a manual entry (ingest owns scoring)."""
    return f"{root}/control/rescore"


def parse_device_topic(root: str, topic: str) -> DeviceTopic | None:
    """`{root}/{site}/{device}/obs|status` -> parts, or None when the topic is not a device topic."""
    if not topic.startswith(root + "/"):
        return None
    parts = topic[len(root) + 1 :].split("/")
    if len(parts) != 3 or parts[2] not in ("obs", "status"):
        return None
    site_id, device_id, kind = parts
    if not (is_valid_id(site_id) and is_valid_id(device_id)):
        return None
    return DeviceTopic(site_id=site_id, device_id=device_id, kind=kind)


def parse_events_topic(root: str, topic: str) -> EventsTopic | None:
    """`{root}/events/{site}/{ward}/{type}` -> parts, or None when the topic is not an events topic."""
    prefix = f"{root}/events/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 3 or not all(is_valid_id(part) for part in parts):
        return None
    site_id, ward_id, event_type = parts
    return EventsTopic(site_id=site_id, ward_id=ward_id, event_type=event_type)


__all__ += ["is_valid_id"]
