"""A Mosquitto a test can save, SIGKILL and start again on the same port and data (the fixtures' is session-wide)."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
from pathlib import Path

from tests.fixtures.mosquitto import MOSQUITTO_BIN, MosquittoBroker

__all__ = ["RestartableBroker"]

_START_TIMEOUT_S = 15.0
_LOG_LINES = 200
# The session fixture's settings that never drop a message (tests/fixtures/mosquitto.py), no autosave: the database
# is written only when the test asks (SIGUSR1), so a SIGKILL brings back exactly the state saved then.
_CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {data_dir}/
autosave_interval 0
max_queued_messages 0
max_inflight_messages 1000
log_dest stderr
log_type all
"""


class RestartableBroker:
    """`start()`, `save()` (SIGUSR1: write the in-memory database), `kill_9()`, `start()` again: same port and data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.address = MosquittoBroker(host="127.0.0.1", port=self.port, data_dir=data_dir)
        self.log: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lines: asyncio.Queue[str] = asyncio.Queue()

    def url(self) -> str:
        return self.address.url()

    async def start(self) -> None:
        config = _CONFIG.format(port=self.port, data_dir=self.data_dir)
        if os.geteuid() == 0:
            config += "user root\n"  # else it drops to user mosquitto, who cannot write our temp dir
        conf_path = self.data_dir / "mosquitto.conf"
        conf_path.write_text(config)
        self._process = await asyncio.create_subprocess_exec(
            str(MOSQUITTO_BIN), "-c", str(conf_path), stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
        )
        self._lines = asyncio.Queue()
        self._reader = asyncio.create_task(self._read_log(self._process))
        await self._wait_for(" running", what="the broker to start")

    async def save(self) -> None:
        """Write the in-memory database now (what an autosave would do), and return once it is written."""
        assert self._process is not None
        self._process.send_signal(signal.SIGUSR1)
        await self._wait_for("Saving in-memory database", what="the database saved")

    async def kill_9(self) -> None:
        """SIGKILL: no save, no goodbye; the next start restores what the last save wrote."""
        if self._process is None or self._process.returncode is not None:
            return
        self._process.kill()
        await self._process.wait()
        if self._reader is not None:
            await self._reader

    async def _read_log(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            self._lines.put_nowait(line)

    async def _wait_for(self, text: str, *, what: str) -> None:
        try:
            async with asyncio.timeout(_START_TIMEOUT_S):
                while text not in await self._lines.get():
                    pass
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(self.log)) from None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
