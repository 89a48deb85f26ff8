"""Derived events out to the broker (core/events.py payloads on core/topics.py `events_topic`, one per ward)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from core.errors import NotFound
from core.events import (
    BATCH_MIN_EVENTS,
    AlertEvent,
    BatchEvent,
    DeviceStatusEvent,
    ReadingsEvent,
    RiskEvent,
    ScoreEvent,
    alert_event,
    device_status_event,
)
from core.store import AlertChange, Store
from core.topics import events_topic
from core.types import DeviceStatus
from ingest.metrics import IngestMetrics

__all__ = ["EventPublisher", "Publish"]

logger = logging.getLogger(__name__)

# (topic, payload): fire and forget at QoS 1. Events are derived state a dashboard can re-read from the store, so a
# publish is never allowed to hold up ingest; paho still retries it across a reconnect, and core.mqtt checks each
# PUBACK's reason code all the same (a refusal is counted in `publishes_refused` and logged at ERROR, naming the
# account: the broker's ACL must let ingest publish on `{root}/events/+/+/+`, deploy/mosquitto/acl).
Publish = Callable[[str, bytes], None]


class EventPublisher:
    """Knows each ward's site (wards never move between sites, so the lookup is cached for good)."""

    def __init__(self, publish: Publish, *, root: str, store: Store, metrics: IngestMetrics) -> None:
        self._publish = publish
        self._root = root
        self._store = store
        self._metrics = metrics
        self._site_of_ward: dict[str, str | None] = {}

    async def site_of(self, ward_id: str) -> str | None:
        if ward_id not in self._site_of_ward:
            try:
                self._site_of_ward[ward_id] = (await self._store.get_ward(ward_id)).site_id
            except NotFound:
                logger.warning("Ward %s of a stay is not in the store; its events are not published", ward_id)
                self._site_of_ward[ward_id] = None
        return self._site_of_ward[ward_id]

    def send(self, event: ReadingsEvent | ScoreEvent | RiskEvent | AlertEvent | DeviceStatusEvent | BatchEvent) -> None:
        topic = events_topic(self._root, event.site_id, event.ward_id, event.type)
        self._publish(topic, event.model_dump_json().encode())
        self._metrics.events_published += 1

    def send_patient_events(self, events: Sequence[ReadingsEvent | ScoreEvent | RiskEvent]) -> None:
        """Each ward's events in order: BATCH_MIN_EVENTS or more of a ward as one `batch` event, fewer one by one."""
        by_ward: dict[tuple[str, str], list[ReadingsEvent | ScoreEvent | RiskEvent]] = {}
        for event in events:
            by_ward.setdefault((event.site_id, event.ward_id), []).append(event)
        for (site_id, ward_id), ward_events in by_ward.items():
            if len(ward_events) < BATCH_MIN_EVENTS:
                for event in ward_events:
                    self.send(event)
                continue
            at = max(event.at for event in ward_events)
            self.send(BatchEvent(site_id=site_id, ward_id=ward_id, at=at, events=ward_events))

    async def send_alert(self, change: AlertChange | None, *, at: datetime) -> None:
        if change is None or not change.changed or change.alert.ward_id is None:
            return
        ward_id = change.alert.ward_id
        site_id = await self.site_of(ward_id)
        if site_id is not None:
            self.send(alert_event(site_id=site_id, ward_id=ward_id, alert=change.alert, at=at, phase=change.phase))

    async def send_device_statuses(self, statuses: Sequence[DeviceStatus], *, at: datetime) -> None:
        """A device_status event on the ward of the patient each device is paired with now (if any)."""
        if not statuses:
            return
        pairings = await self._store.pairings_of_devices([s.device_id for s in statuses])
        patient_of = {device_id: p.patient_id for device_id, ps in pairings.items() for p in ps[-1:] if p.covers(at)}
        stays = await self._store.stays_of_patients(sorted(set(patient_of.values())), at=at)
        for status in statuses:
            stay = stays.get(patient_of.get(status.device_id, ""))
            site_id = await self.site_of(stay.ward_id) if stay is not None else None
            if stay is not None and site_id is not None:
                self.send(device_status_event(site_id=site_id, ward_id=stay.ward_id, status=status, at=at))
