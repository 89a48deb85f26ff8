"""`vaktrom run` as a user starts it (embedded broker and store, simulated ward): reading -> ward page latency.

Publishes one pack for bed 1's monitor every 200 ms beside the simulator's own traffic and times each until its
`readings` delta arrives on the ward's WebSocket, which is what the live page shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.common import latency_summary
from core.mqtt import MqttClient, MqttOptions
from core.topics import obs_topic
from devices.demo import demo_unit

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pack(at_s: float) -> bytes:
    return json.dumps(
        [{"bt": at_s, "n": "heart-rate", "u": "beat/min", "v": 77}, {"n": "spo2", "u": "%", "v": 97}]
    ).encode()


async def _measure(api_port: int, mqtt_port: int, token: str, packs: int) -> list[float]:
    unit = demo_unit()
    bed = unit.beds[0]
    client = MqttClient(MqttOptions(url=f"mqtt://127.0.0.1:{mqtt_port}", client_id="bench-embedded", protocol_v5=False))
    await client.connect()
    sent: dict[int, float] = {}  # pack time in ms -> when it was published
    latencies: list[float] = []
    uri = f"ws://127.0.0.1:{api_port}/api/v1/ws/wards/{unit.ward_id}"
    async with connect(uri, subprotocols=[Subprotocol("bearer"), Subprotocol(token)], max_size=None) as ws:
        await ws.recv()  # snapshot

        async def receive() -> None:
            async for message in ws:
                event = json.loads(message)
                for value in event.get("values", []) if event.get("type") == "readings" else []:
                    published = sent.pop(_ms(value["measured_at"]), None)
                    if published is not None:
                        latencies.append(time.perf_counter() - published)

        receiver = asyncio.create_task(receive())
        for _ in range(packs):
            at_s = round(time.time(), 3)  # packs 200 ms apart: unique times
            sent[round(at_s * 1000)] = time.perf_counter()
            await client.publish(obs_topic("vaktrom/v1", unit.site_id, bed.monitor_id), _pack(at_s))
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        receiver.cancel()
    await client.disconnect()
    return latencies


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packs", type=int, default=100)
    args = parser.parse_args()
    api_port, mqtt_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAKTROM_")}
        env |= {"VAKTROM_DATA_DIR": data_dir, "VAKTROM_API_PORT": str(api_port)}
        env |= {"VAKTROM_MQTT_EMBEDDED_PORT": str(mqtt_port)}
        run = subprocess.Popen(
            [sys.executable, "-m", "vaktrom", "run"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert run.stdout is not None
            token = ""
            for line in run.stdout:
                if b"nurse.demo" in line:
                    token = line.decode().split("#token=")[1].strip()
                    break
            latencies = asyncio.run(_measure(api_port, mqtt_port, token, args.packs))
        finally:
            run.terminate()
            run.wait(timeout=30)
    print("embedded `vaktrom run` (amqtt + SQLite + simulated ward): publish -> WebSocket `readings` delta")
    summary = ", ".join(
        f"{name.removesuffix('_ms')} {value:.0f} ms" for name, value in latency_summary(latencies).items()
    )
    print(f"  {summary}; {len(latencies)} of {args.packs} packs shown by their own delta (the rest superseded by a")
    print("  newer reading of the same bed within one scoring cycle, as the page would show it)")


if __name__ == "__main__":
    main()
