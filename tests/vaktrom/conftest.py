"""The whole system in one process on free ports, started and stopped the way `vaktrom run` and Ctrl-C do it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.types import Role
from vaktrom.one_process import demo_logins, run_one_process

# A cold start (migrations, broker, uvicorn) takes about a second here; the machine is shared with other test runs.
STARTUP_TIMEOUT_S = 30.0
# How long a user waits for something the system should do in well under a second (a stored reading, a score).
SETTLE_TIMEOUT_S = 10.0
_POLL_S = 0.05  # how often a condition is looked at again while waiting for it
SQLITE_FILE = "vaktrom.sqlite3"  # what vaktrom.wiring.build_store names the embedded store


@pytest.fixture(autouse=True)
def _no_vaktrom_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own VAKTROM_* settings (a real broker, say) must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("VAKTROM_"):
            monkeypatch.delenv(name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def embedded_settings(data_dir: Path, *, simulate: bool) -> Settings:
    """Defaults of `vaktrom run` (embedded broker and store), but on free ports and in a temp data directory."""
    return Settings(data_dir=data_dir, api_port=free_port(), mqtt_embedded_port=free_port(), simulate=simulate)


def cli_environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment for `python -m vaktrom`: ours without VAKTROM_*, plus a data dir and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAKTROM_")}
    env["VAKTROM_DATA_DIR"] = str(data_dir)
    env.update({f"VAKTROM_{name.upper()}": value for name, value in settings.items()})
    return env


VAKTROM_COMMAND = [sys.executable, "-m", "vaktrom"]


@dataclass(frozen=True, slots=True)
class RunningSystem:
    settings: Settings
    base_url: str

    @property
    def store_path(self) -> Path:
        return self.settings.data_dir / SQLITE_FILE

    def token_of(self, role: Role) -> str:
        """The demo login the banner prints for `role`."""
        return next(token for _, r, token in demo_logins(self.settings) if r is role)


@contextlib.asynccontextmanager
async def one_process(settings: Settings) -> AsyncIterator[RunningSystem]:
    """`run_one_process` as a task, yielded once its API answers; cancelled on exit like Ctrl-C cancels it."""
    started = asyncio.Event()
    task = asyncio.create_task(run_one_process(settings, started=started), name="vaktrom-one-process")
    waiter = asyncio.create_task(started.wait(), name="wait-for-api")
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # a failed start: raise its error here
            pytest.fail("run_one_process returned before its API answered")
        yield RunningSystem(settings, base_url=f"http://{settings.api_host}:{settings.api_port}")
    finally:
        waiter.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def second_store(path: Path) -> AsyncIterator[SqliteStore]:
    """Another connection to the running system's SQLite file, as an operator's tool would open it."""
    store = SqliteStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def wait_until(condition: Callable[[], Awaitable[bool]], *, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    """Look at `condition` again until it holds; TimeoutError when it never does (like Playwright's expect)."""
    async with asyncio.timeout(timeout_s):
        while not await condition():  # noqa: ASYNC110 - a store row count or an HTTP answer has no event to await
            await asyncio.sleep(_POLL_S)


def vaktrom_mqtt_threads() -> Iterator[str]:
    """Names of the parts' paho network threads still alive (one per MqttClient between connect and disconnect)."""
    return (t.name for t in threading.enumerate() if t.name.startswith("paho-mqtt-client-vaktrom-"))
