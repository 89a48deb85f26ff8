"""The device side of delivery (docs/MQTT.md, "Delivery"): a pack counts as delivered only when the broker's PUBACK
says it reached a subscriber. "No matching subscribers" (MQTT 5 reason 0x10) or no PUBACK at all means nobody has
it yet: keep it and send it again, with capped, jittered backoff. A refusal (reason >= 0x80) is not retried."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.mqtt import BrokerUnavailable, Delivery, PublishRefused

__all__ = ["Courier", "DeliveringPublisher", "DeliveryStats"]

logger = logging.getLogger(__name__)

# First retry soon (ingest re-subscribes within a second or two of a broker restart), then back off to 10 s.
RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0
# A bedside monitor keeps about an hour of packs; after that a pack is given up (and counted).
RETRY_FOR_S = 3600.0
# Each attempt waits this long for its PUBACK (a broker that is restarting answers after it reconnects).
PUBACK_TIMEOUT_S = 10.0


@runtime_checkable
class DeliveringPublisher(Protocol):
    """Publishes at QoS 1 and says what the broker answered (core.mqtt.MqttClient, devices.simulator.DeviceClients)."""

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout_s: float = 10.0
    ) -> Delivery: ...


@dataclass(slots=True)
class DeliveryStats:
    delivered: int = 0  # the broker had a subscriber for it (under MQTT 3.1.1: the broker took it)
    retried: int = 0  # attempts answered "no matching subscribers" or not at all, sent again
    refused: int = 0  # refused by the broker (not allowed there): given up at once
    abandoned: int = 0  # still not delivered after RETRY_FOR_S, or when the simulator stopped


class Courier:
    """Sends each message in its own task until delivered; `close()` gives the stragglers a grace period."""

    def __init__(self, publisher: DeliveringPublisher, *, delivered: Callable[[str, bytes], None] | None = None):
        self._publisher = publisher
        self._on_delivered = delivered
        self._in_flight: set[asyncio.Task[None]] = set()
        self.stats = DeliveryStats()

    def send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        task = asyncio.create_task(self._deliver(topic, payload, retain), name="device-delivery")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def close(self, *, grace_s: float) -> None:
        """Wait up to `grace_s` for messages still in flight, then give the rest up (counted as abandoned)."""
        pending = set(self._in_flight)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            self.stats.abandoned += len(late)

    async def _deliver(self, topic: str, payload: bytes, retain: bool) -> None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + RETRY_FOR_S
        delay_s = RETRY_MIN_S
        while True:
            try:
                outcome = await self._publisher.publish(topic, payload, retain=retain, timeout_s=PUBACK_TIMEOUT_S)
            except PublishRefused as exc:
                self.stats.refused += 1
                logger.error("Device message on %s refused by the broker, not sent again: %s", topic, exc.reason)
                return
            except BrokerUnavailable:
                outcome = None  # no PUBACK: the broker may never have had it
            if outcome is Delivery.ACCEPTED:
                self.stats.delivered += 1
                if self._on_delivered is not None:
                    self._on_delivered(topic, payload)
                return
            if loop.time() >= give_up_at:
                self.stats.abandoned += 1
                logger.warning("Device message on %s given up after %.0f s undelivered", topic, RETRY_FOR_S)
                return
            self.stats.retried += 1
            await asyncio.sleep(random.uniform(delay_s / 2, delay_s))
            delay_s = min(delay_s * 2, RETRY_MAX_S)
