"""`vaktrom influx-export`: the optional InfluxDB sink as a process of its own (docs/DEPLOY.md, "InfluxDB")."""

from __future__ import annotations

import argparse
import asyncio

from core.errors import ConfigError
from core.settings import Settings

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = subparsers.add_parser(
        "influx-export",
        help="copy readings, NEWS2 scores, ML risks and alert events to InfluxDB v2 (optional)",
        description="Read the device topics and ward events as a broker session of its own "
        "(VAKTROM_INFLUX_CLIENT_ID) and write them to VAKTROM_INFLUX_URL (bucket VAKTROM_INFLUX_BUCKET of "
        "VAKTROM_INFLUX_ORG, token VAKTROM_INFLUX_TOKEN), acknowledging each message only once InfluxDB has it: "
        "an outage of InfluxDB or of this process delays points and loses none, and ingest never waits for it. "
        "Needs an external broker (VAKTROM_MQTT_URL).",
    )
    export.set_defaults(func=_cmd_influx_export)


def _cmd_influx_export(args: argparse.Namespace) -> int:
    from ingest.influx_export import run_influx_export
    from vaktrom.parts import open_store
    from vaktrom.wiring import with_mqtt_credentials

    settings = Settings(**({"config_file": args.config} if args.config else {}))
    if settings.influx_url is None:
        raise ConfigError("vaktrom influx-export needs VAKTROM_INFLUX_URL (and VAKTROM_INFLUX_TOKEN)")
    if settings.embedded_broker:
        raise ConfigError("vaktrom influx-export needs an external broker: set VAKTROM_MQTT_URL")
    settings = with_mqtt_credentials(settings)

    async def export() -> None:
        async with open_store(settings) as store:
            await run_influx_export(settings, store)

    asyncio.run(export())
    return 0
