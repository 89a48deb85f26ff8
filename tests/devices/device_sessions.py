"""A device's MQTT session as a test drives it: log in with issued credentials, publish, notice being cut off."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from core.errors import BrokerAuthFailed
from core.mqtt import MqttClient, MqttOptions

__all__ = ["DeviceSession", "assert_login_refused"]

# A broker applies a change in milliseconds (the embedded one polls the store every 0.2 s); this bounds a hang.
CUT_OFF_TIMEOUT_S = 5.0


@dataclass
class DeviceSession:
    """One device connection; `lost` is set when the broker closes it."""

    url: str
    device_id: str
    password: str
    v5: bool = True
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    client: MqttClient | None = None

    async def __aenter__(self) -> DeviceSession:
        options = MqttOptions(url=self.url, client_id=self.device_id, password=self.password, protocol_v5=self.v5,
                              clean_start=True)  # fmt: skip
        self.client = MqttClient(options)
        self.client.add_connection_lost_listener(self.lost.set)
        await self.client.connect(timeout_s=CUT_OFF_TIMEOUT_S)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.client is not None
        await self.client.disconnect()

    async def cut_off_within_s(self) -> float:
        """Seconds until the broker closed this connection (fails the test after CUT_OFF_TIMEOUT_S)."""
        start = time.monotonic()
        async with asyncio.timeout(CUT_OFF_TIMEOUT_S):
            await self.lost.wait()
        return time.monotonic() - start


async def assert_login_refused(url: str, device_id: str, password: str, *, v5: bool = True) -> None:
    options = MqttOptions(url=url, client_id=device_id, password=password, protocol_v5=v5, clean_start=True)
    client = MqttClient(options)
    with pytest.raises(BrokerAuthFailed):
        await client.connect(timeout_s=CUT_OFF_TIMEOUT_S)
    await client.disconnect()
