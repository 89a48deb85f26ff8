"""Must show: `vaktrom ingest` and `vaktrom api` started before their broker and database (after a power cut, the
database host boots last) wait for them, say what they wait for, and then work (issue 11, item 4).

The broker and the database are reached through a port of the test's own that refuses connections until the test
opens it, then forwards to the real Mosquitto or PostgreSQL: "down at start, up later".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from psycopg.conninfo import conninfo_to_dict

from core.mqtt import MqttClient, MqttOptions
from core.store.postgres import PostgresStore
from core.topics import obs_topic
from tests.fixtures.mosquitto import MosquittoBroker
from tests.ingest.conftest import SITE, TEST_SECRET, seed_ward, vitals_pack, wait_until
from tests.vaktrom.conftest import VAKTROM_COMMAND, cli_environment, free_port

pytestmark = pytest.mark.integration

STEP_TIMEOUT_S = 60.0  # a broker connect attempt waits up to 10 s for its CONNACK, then backs off
_Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class Gate:
    """A local port that refuses connections until `open()`, then forwards each one to the real service."""

    def __init__(self, connect: _Connect) -> None:
        self.port = free_port()
        self._connect = connect
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await self._connect()
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(_pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        sink.close()


class Service:
    """`python -m vaktrom <command>` with its log lines at hand."""

    def __init__(self, command: str, env: dict[str, str], cwd: Path) -> None:
        self._args, self._env, self._cwd = [*VAKTROM_COMMAND, command], env, cwd
        self.log: collections.deque[str] = collections.deque(maxlen=400)
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self._args, env=self._env, cwd=self._cwd, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for line in self.process.stderr:
            self.log.append(line.decode(errors="replace").rstrip())

    def logged(self, text: str) -> bool:
        assert self.process is not None
        if self.process.returncode is not None:
            pytest.fail(f"exited with {self.process.returncode} while waiting:\n" + "\n".join(self.log))
        return any(text in line for line in self.log)

    async def wait_logged(self, text: str) -> None:
        await wait_until(lambda: self.logged(text), what=repr(text), timeout_s=STEP_TIMEOUT_S)

    async def terminate(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.terminate()
        async with asyncio.timeout(STEP_TIMEOUT_S):
            code = await self.process.wait()
            if self._reader is not None:
                await self._reader
        return code


@pytest.fixture
async def gates(mosquitto: MosquittoBroker, postgres_dsn: str) -> AsyncIterator[tuple[Gate, Gate]]:
    """(database gate, broker gate), both shut."""
    info = conninfo_to_dict(postgres_dsn)
    pg_socket = f"{info['host']}/.s.PGSQL.{info['port']}"
    database = Gate(lambda: asyncio.open_unix_connection(pg_socket))
    broker = Gate(lambda: asyncio.open_connection(mosquitto.host, mosquitto.port))
    yield database, broker
    await database.close()
    await broker.close()


def _environment(tmp_path: Path, postgres_dsn: str, gates: tuple[Gate, Gate], root: str) -> dict[str, str]:
    database, broker = gates
    info = conninfo_to_dict(postgres_dsn)
    return cli_environment(
        tmp_path / "var",
        mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
        database_url=f"postgresql://{info['user']}@127.0.0.1:{database.port}/{info['dbname']}",
        auth_secret=TEST_SECRET,
        mqtt_topic_root=root,
        mqtt_client_id=f"ingest-{uuid.uuid4().hex[:8]}",
    )


@contextlib.asynccontextmanager
async def _running(service: Service) -> AsyncIterator[Service]:
    await service.start()
    try:
        yield service
    finally:
        await service.terminate()


@pytest.mark.timeout(240)
async def test_ingest_started_before_its_database_and_broker_waits_for_them_then_stores_readings(
    gates: tuple[Gate, Gate], postgres_dsn: str, mosquitto: MosquittoBroker, unique_topic_root: str, tmp_path: Path
) -> None:
    database, broker = gates
    store = PostgresStore(postgres_dsn)
    await store.open()
    await seed_ward(store)
    env = _environment(tmp_path, postgres_dsn, gates, unique_topic_root)

    async with _running(Service("ingest", env, tmp_path)) as ingest:
        await ingest.wait_logged("Waiting for the database (try 2: storage unavailable at postgresql 127.0.0.1:")
        await database.open()
        await ingest.wait_logged("cannot reach the broker (MQTT broker at mqtt://127.0.0.1:")
        await broker.open()
        await ingest.wait_logged("subscribed and running")

        device = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"dev-{uuid.uuid4().hex[:8]}", clean_start=True))
        await device.connect()
        await device.publish(obs_topic(unique_topic_root, SITE, "dev-1"), orjson.dumps(vitals_pack(datetime.now(UTC))))
        await device.disconnect()
        await wait_until(lambda: _count(store, 5), what="the pack stored")
    await store.close()
    assert "Traceback" not in "\n".join(ingest.log)


async def _count(store: PostgresStore, expected: int) -> bool:
    return await store.count_readings() == expected


@pytest.mark.timeout(240)
async def test_api_started_before_its_database_and_broker_answers_not_ready_saying_why_until_they_answer(
    gates: tuple[Gate, Gate], postgres_dsn: str, unique_topic_root: str, tmp_path: Path
) -> None:
    database, broker = gates
    port = free_port()
    env = _environment(tmp_path, postgres_dsn, gates, unique_topic_root) | {"VAKTROM_API_PORT": str(port)}

    async with (
        _running(Service("api", env, tmp_path)) as api,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):

        async def readyz_says(status_code: int, body: dict[str, str]) -> bool:
            api.logged("")  # fails the test at once if the process has exited
            try:
                answer = await http.get("/readyz")
            except httpx.TransportError:
                return False
            return answer.status_code == status_code and answer.json() == body

        await wait_until(
            lambda: readyz_says(503, {"status": "starting: waiting for the database"}), what="/readyz: database"
        )
        alive = await http.get("/healthz")
        ward = await http.get("/api/v1/wards")
        await database.open()
        await wait_until(
            lambda: readyz_says(503, {"status": "starting: waiting for the MQTT broker"}),
            what="/readyz: broker",
            timeout_s=STEP_TIMEOUT_S,
        )
        await broker.open()
        await wait_until(lambda: readyz_says(200, {"status": "ok"}), what="/readyz: ok", timeout_s=STEP_TIMEOUT_S)

    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert (ward.status_code, ward.headers["retry-after"]) == (503, "5")
    assert "Waiting for the database (try 1: storage unavailable" in "\n".join(api.log)
    assert "Traceback" not in "\n".join(api.log)
