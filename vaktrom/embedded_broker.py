"""The embedded MQTT broker for one-process mode (amqtt, pure Python: demo scale, a few thousand messages/s)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from amqtt.broker import Broker
from amqtt.errors import BrokerError

from core.errors import ConfigError

__all__ = ["embedded_broker"]

logger = logging.getLogger(__name__)


def _config(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        # Loopback only and anonymous: the embedded broker is for a demo on one machine, never for devices on a
        # network (those go through Mosquitto with per-device credentials and ACLs, docs/MQTT.md).
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class _Broker(Broker):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt's broker, but every client's socket is closed when its connection ends."""

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        # amqtt 0.12 leaves the socket open when the client hung up first (its close drains into the dead
        # connection and gives up) or never sent CONNECT: each such client would leak a transport.
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            writer.close()


@asynccontextmanager
async def embedded_broker(*, host: str = "127.0.0.1", port: int) -> AsyncIterator[str]:
    """Run amqtt on host:port for the duration of the block; yields its mqtt:// URL."""
    broker = _Broker(_config(host, port))
    try:
        await broker.start()
    except BrokerError as exc:
        raise ConfigError(
            f"the embedded MQTT broker cannot listen on {host}:{port} ({exc}); "
            "set VAKTROM_MQTT_EMBEDDED_PORT to a free port, or VAKTROM_MQTT_URL to use an external broker"
        ) from exc
    logger.info("Embedded MQTT broker listening on %s:%d (demo scale only)", host, port)
    try:
        yield f"mqtt://{host}:{port}"
    finally:
        await broker.shutdown()
