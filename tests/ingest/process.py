"""`python -m vaktrom ingest` as a real process, for tests that kill it with SIGKILL and start it again."""

from __future__ import annotations

import asyncio
import collections
import os
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.postgres import PostgresServer
from tests.ingest.conftest import TEST_SECRET

__all__ = ["IngestProcess", "ingest_env"]

_REPO = Path(__file__).resolve().parents[2]
_LOG_LINES = 200


def ingest_env(
    *,
    mosquitto: MosquittoBroker,
    postgres_server: PostgresServer,
    postgres_dsn: str,
    topic_root: str,
    data_dir: Path,
    client_id: str | None,
    **extra: str,
) -> dict[str, str]:
    """The environment of an ingest process on this broker and database (extra: more VAKTROM_* settings).

    `client_id` None: the worker's own (VAKTROM_INGEST_WORKER_SLOT in `extra`, or the default).
    """
    info = conninfo_to_dict(postgres_dsn)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAKTROM_")} | {
        "VAKTROM_MQTT_URL": mosquitto.url(),
        "VAKTROM_DATABASE_URL": postgres_server.url_for(str(info["dbname"]), user=str(info["user"])),
        "VAKTROM_AUTH_SECRET": TEST_SECRET,
        "VAKTROM_MQTT_TOPIC_ROOT": topic_root,
        "VAKTROM_DATA_DIR": str(data_dir),
        **extra,
    }
    if client_id is not None:
        env["VAKTROM_MQTT_CLIENT_ID"] = client_id
    return env


class IngestProcess:
    """`python -m vaktrom ingest`, ready once it logs that it subscribed. Keeps its last log lines for failures."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.log: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vaktrom", "ingest",
            cwd=_REPO, env=self._env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        running = asyncio.Event()
        self._drain = asyncio.create_task(self._read_log(running))
        async with asyncio.timeout(60):
            await running.wait()
        assert self.process.returncode is None, "ingest exited at start:\n" + "\n".join(self.log)

    async def _read_log(self, running: asyncio.Event) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for line in self.process.stderr:
            self.log.append(line.decode(errors="replace").rstrip())
            if b"subscribed and running" in line:
                running.set()
        running.set()  # exited: let the waiter see it

    async def terminate(self, *, timeout_s: float) -> int:
        """SIGTERM, as systemd or Kubernetes stop a service; the exit code once it has exited."""
        assert self.process is not None
        self.process.terminate()
        async with asyncio.timeout(timeout_s):
            code = await self.process.wait()
            if self._drain is not None:
                await self._drain
        return code

    async def kill_9(self) -> None:
        assert self.process is not None
        if self.process.returncode is not None:
            return
        self.process.kill()  # SIGKILL: no clean-up, no DISCONNECT, nothing flushed
        await self.process.wait()
        if self._drain is not None:
            await self._drain
