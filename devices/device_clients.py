"""Simulated devices that connect as real ones do: one connection each, own credentials, own Last Will."""

from __future__ import annotations

from collections.abc import Mapping

from core.mqtt import Delivery, MqttClient, MqttOptions
from core.topics import parse_device_topic, status_topic
from devices.demo import DemoUnit
from devices.packs import OFFLINE_PAYLOAD

__all__ = ["DeviceClients"]


class DeviceClients:
    """One MQTT connection per simulated device, each with its Last Will `{"online": false}` on its status topic,
    as real devices connect. For demo-sized units; `publish` routes each topic to its device's connection.

    With `passwords` (device id -> password) each device logs in with its own credentials, its client id being its
    device id (the broker binds client ids to user names, docs/MQTT.md); without, on a broker that takes anonymous
    clients, the client ids are `{client_id_prefix}-{device id}`.
    """

    def __init__(
        self,
        url: str,
        unit: DemoUnit,
        *,
        topic_root: str,
        protocol_v5: bool,
        client_id_prefix: str,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self._topic_root = topic_root
        sites = {b.monitor_id: unit.site_id for b in unit.beds}
        sites |= {b.chart_id: unit.site_id for b in unit.beds if b.chart_id is not None}
        sites |= {h.kit_id: unit.home_site_id or unit.site_id for h in unit.home_patients}
        self._clients = {
            device_id: MqttClient(
                MqttOptions(
                    url=url,
                    client_id=device_id if passwords is not None else f"{client_id_prefix}-{device_id}",
                    password=passwords[device_id] if passwords is not None else None,
                    protocol_v5=protocol_v5,
                    clean_start=True,  # a device only publishes: nothing to keep between connections
                    will_topic=status_topic(topic_root, site_id, device_id),
                    will_payload=OFFLINE_PAYLOAD,
                )
            )
            for device_id, site_id in sites.items()
        }

    async def connect(self, *, timeout_s: float = 10.0) -> None:
        for client in self._clients.values():
            await client.connect(timeout_s=timeout_s)

    async def disconnect(self) -> None:
        for client in self._clients.values():
            await client.disconnect()

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self._client_of(topic).publish_nowait(topic, payload, qos=qos, retain=retain)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout_s: float = 10.0
    ) -> Delivery:
        """Publish on the device's own connection and return what the broker answered (devices/delivery.py)."""
        return await self._client_of(topic).publish(topic, payload, qos=qos, retain=retain, timeout_s=timeout_s)

    def _client_of(self, topic: str) -> MqttClient:
        parsed = parse_device_topic(self._topic_root, topic)
        if parsed is None or parsed.device_id not in self._clients:
            raise ValueError(f"no simulated device publishes on {topic}")
        return self._clients[parsed.device_id]
