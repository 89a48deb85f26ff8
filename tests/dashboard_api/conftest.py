"""A seeded SQLite store, tokens, and the API served in-process (ASGI for REST, uvicorn for sockets and pages)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Page, async_playwright

from core.clock import utc_now
from core.mqtt import MqttClient, MqttOptions
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import (
    AlertKind,
    AlertSeverity,
    Bed,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    ClinicalRisk,
    Device,
    DeviceKind,
    DeviceStatus,
    Pairing,
    Parameter,
    Patient,
    PatientScore,
    Reading,
    RiskAssessment,
    RiskLevel,
    Role,
    Site,
    SiteKind,
    Stay,
    User,
    Ward,
)
from dashboard_api.app import create_app
from dashboard_api.auth import issue_token
from dashboard_api.live import LiveHub
from dashboard_api.oidc import OidcVerifier
from tests.fixtures.browser import CHROMIUM_ARGS
from tests.fixtures.postgres import PostgresServer, running_server

SECRET = "test-secret-" + "x" * 32
NOW = datetime(2025, 1, 15, 8, 0, tzinfo=UTC)
TokenFactory = Callable[..., str]


class FixedClock:
    """The one thing tests may fake: the clock. Call it for now; `advance` moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# The users tests sign in as. Each holds every role and serves every test site ("*" counts for admin tokens only), so
# a token's own role and sites decide what a test sees, as they did before the registry; tests of the registry
# itself register users of their own.
TEST_USERS = (
    "nurse-anne",
    "nurse-bo",
    "nurse-bea",
    "nurse-kari",
    "dr-berg",
    "dr-lunge",
    "dr-spes",
    "spec-lund",
    "tech-1",
    "tech-tom",
    "tech-tor",
    "admin-eva",
    "root",
    "someone",
    "u",
    "x",
)
TEST_SITES = ("*", "s1", "s2", "s3")


async def register_test_users(store: SqliteStore, now: datetime) -> None:
    for user_id in TEST_USERS:
        if await store.get_user(user_id) is None:
            await store.add_user(User(user_id, user_id, tuple(Role), "Testkommune", TEST_SITES, now))


@dataclass(frozen=True, slots=True)
class Seeded:
    """Ids of what `seed` put in the store: site s1 (ours) and s2 (another municipality's)."""

    alert_id: int
    other_alert_id: int


async def seed(store: SqliteStore, now: datetime) -> Seeded:
    """Sykestue s1, ward w1: Ola in Seng 1 (monitored, scored, alert open), Seng 2 and Seng 10 empty, Kari at home.
    Site s2, ward w2: Per in bed b21 (another site's patient). The test users are registered."""
    await register_test_users(store, now)
    await store.upsert_site(Site("s1", "Demo sykestue", SiteKind.SYKESTUE))
    await store.upsert_site(Site("s2", "Annen kommune", SiteKind.KAD))
    await store.upsert_ward(Ward("w1", "s1", "Sykestua"))
    await store.upsert_ward(Ward("w2", "s2", "KAD"))
    for bed in (
        Bed("b1", "w1", "Seng 1"),
        Bed("b2", "w1", "Seng 2"),
        Bed("b10", "w1", "Seng 10"),
        Bed("b21", "w2", "1"),
    ):
        await store.upsert_bed(bed)
    for patient in (Patient("p1", "Ola Nordmann", 1941), Patient("p2", "Kari Hansen", 1950), Patient("p3", "Per Li")):
        await store.upsert_patient(patient)
    admitted = now - timedelta(days=1)
    await store.add_stay(Stay("st1", "p1", "w1", CareSetting.BEDSIDE, admitted, bed_id="b1"))
    await store.add_stay(Stay("st2", "p2", "w1", CareSetting.HOME, admitted))
    await store.add_stay(Stay("st3", "p3", "w2", CareSetting.BEDSIDE, admitted, bed_id="b21"))
    await store.add_care_team_member(
        CareTeamMember("p1", "dr-berg", CareTeamRole.SUPERVISING_DOCTOR, "Demo kommune", admitted)
    )
    await store.register_device(Device("mon-1", "s1", DeviceKind.BEDSIDE_MONITOR, "Demo 100", admitted))
    await store.register_device(Device("mon-9", "s1", DeviceKind.BEDSIDE_MONITOR, "Demo 100", admitted))
    await store.register_device(Device("mon-21", "s2", DeviceKind.BEDSIDE_MONITOR, "Demo 100", admitted))
    await store.pair_device(Pairing("mon-1", "p1", admitted, bed_id="b1"))
    await store.pair_device(Pairing("mon-21", "p3", admitted, bed_id="b21"))
    await store.save_device_status(DeviceStatus("mon-1", online=True, reported_at=now, battery_percent=80.0))
    measured = now - timedelta(seconds=30)
    await store.append(
        [
            Reading("mon-1", "p1", Parameter.PULSE, 112.0, measured, measured),
            Reading("mon-1", "p1", Parameter.SPO2, 93.0, measured, measured),
            Reading("mon-1", "p1", Parameter.RESP_RATE, 22.0, measured - timedelta(hours=2), measured),
            Reading("mon-21", "p3", Parameter.PULSE, 70.0, measured, measured),
        ],
        [],
    )
    await store.save_scores(
        [
            PatientScore(
                patient_id="p1",
                computed_at=measured,
                total=5,
                complete=False,
                risk=ClinicalRisk.MEDIUM,
                single_param_3=False,
                parameter_scores={Parameter.PULSE: 2, Parameter.SPO2: 1, Parameter.RESP_RATE: 2},
                missing=(Parameter.TEMPERATURE,),
            )
        ]
    )
    await store.save_risks([RiskAssessment("p1", measured, 0.42, RiskLevel.RAISED, ("rising pulse",), "test-1")])
    alert = await store.raise_alert(
        patient_id="p1",
        device_id=None,
        ward_id="w1",
        kind=AlertKind.NEWS2,
        severity=AlertSeverity.MEDIUM,
        message="NEWS2 5",
        at=measured,
    )
    other = await store.raise_alert(
        patient_id="p3",
        device_id=None,
        ward_id="w2",
        kind=AlertKind.NEWS2,
        severity=AlertSeverity.HIGH,
        message="NEWS2 7",
        at=measured,
    )
    return Seeded(alert_id=alert.alert.alert_id, other_alert_id=other.alert.alert_id)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
async def store(tmp_path: Path, clock: FixedClock) -> AsyncIterator[SqliteStore]:
    sqlite = SqliteStore(tmp_path / "vaktrom.db")
    await sqlite.open()
    yield sqlite
    await sqlite.close()


@pytest.fixture
async def seeded(store: SqliteStore, clock: FixedClock) -> Seeded:
    return await seed(store, clock())


@pytest.fixture
def token(clock: FixedClock) -> TokenFactory:
    def make(role: Role = Role.NURSE, sites: tuple[str, ...] = ("s1",), user: str = "nurse-anne") -> str:
        return issue_token(SECRET, user_id=user, role=role, site_ids=list(sites), ttl_s=3600, now=clock())

    return make


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the broker side -------------------------------------------------------------------------------------------


@pytest.fixture
def topic_root() -> str:
    return f"vaktrom-test-{uuid.uuid4().hex[:12]}/v1"


def offline_client() -> MqttClient:
    """A client that is never connected: enough for REST calls that publish nothing."""
    return MqttClient(MqttOptions(url="mqtt://127.0.0.1:9", client_id=f"offline-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
async def broker_client(mqtt_url: str) -> AsyncIterator[MqttClient]:
    """The API node's own connection: non-persistent, like production (protocol 5, clean start)."""
    client = MqttClient(MqttOptions(url=mqtt_url, client_id=f"api-{uuid.uuid4().hex[:8]}", clean_start=True))
    yield client
    await client.disconnect()


@pytest.fixture
async def observer(mqtt_url: str) -> AsyncIterator[MqttClient]:
    """A separate client for the test: publishes events like ingest would, and subscribes to what the API sends."""
    client = MqttClient(MqttOptions(url=mqtt_url, client_id=f"test-{uuid.uuid4().hex[:8]}", clean_start=True))
    yield client
    await client.disconnect()


async def connect_hub_client(client: MqttClient, observer: MqttClient, *, topic_root: str) -> None:
    """Connect the API's client and return once its event subscription is active at the broker.

    A retained probe on a ward nobody watches arrives as soon as the broker has the subscription; it is taken off
    the inbox here, before the hub runs.
    """
    await observer.connect()
    await observer.publish(events_topic(topic_root, "probe", "probe", "probe"), b"{}", retain=True)
    await client.connect()
    async with asyncio.timeout(10):
        probe = await client.inbox.get()
    assert probe.topic == events_topic(topic_root, "probe", "probe", "probe")


def build_app(
    store: SqliteStore,
    client: MqttClient,
    *,
    topic_root: str,
    clock: Callable[[], datetime],
    oidc: OidcVerifier | None = None,
) -> FastAPI:
    hub = LiveHub(client, topic_root=topic_root)
    return create_app(
        store=store, auth_secret=SECRET, live=hub, publisher=client, topic_root=topic_root, clock=clock, oidc=oidc
    )


@pytest.fixture
async def api(
    store: SqliteStore, seeded: Seeded, clock: FixedClock, topic_root: str
) -> AsyncIterator[httpx.AsyncClient]:
    """REST over ASGI with a broker client that never connects (for routes that publish nothing)."""
    app = build_app(store, offline_client(), topic_root=topic_root, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vaktrom.test") as client:
        yield client


@pytest.fixture
async def live_api(
    store: SqliteStore, seeded: Seeded, clock: FixedClock, topic_root: str, broker_client: MqttClient
) -> AsyncIterator[httpx.AsyncClient]:
    """REST over ASGI with a connected broker client, for routes that publish (acknowledge, resolve, chart)."""
    await broker_client.connect()
    app = build_app(store, broker_client, topic_root=topic_root, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vaktrom.test") as client:
        yield client


@dataclass(frozen=True, slots=True)
class Served:
    base_url: str
    ws_url: str
    app: FastAPI


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[Served]:
    """Uvicorn on a free port in this event loop; stops when the caller is done."""
    # Bound and listening before uvicorn starts: clients may connect at once (the backlog holds them).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        yield Served(base_url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def live_server(
    store: SqliteStore, topic_root: str, broker_client: MqttClient, observer: MqttClient
) -> AsyncIterator[tuple[Served, Seeded]]:
    """The whole API on a real port with its live hub on the broker, seeded against the real clock (the page shows
    ages against it)."""
    seeded = await seed(store, utc_now())
    app = build_app(store, broker_client, topic_root=topic_root, clock=utc_now)
    await connect_hub_client(broker_client, observer, topic_root=topic_root)
    hub: LiveHub = app.state.live
    hub_task = asyncio.create_task(hub.run(), name="live-hub")
    try:
        async with serve(app) as served:
            yield served, seeded
    finally:
        hub_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_task


@dataclass(frozen=True, slots=True)
class OwnPostgres:
    app: FastAPI
    server: PostgresServer  # stop() it for an outage
    token: str  # nurse-anne's, site s1


@contextlib.asynccontextmanager
async def api_on_own_postgres(now: datetime) -> AsyncIterator[OwnPostgres]:
    """The API over a PostgreSQL server of its own, which the test may stop; nurse-anne of s1 is registered."""
    root = Path(tempfile.mkdtemp(prefix="vaktrom-api-pg-"))  # postgres cannot enter pytest's tmp dir as root
    try:
        with running_server(root, preload_timescale=False) as server:
            store = PostgresStore(server.dsn)
            await store.open()
            try:
                await store.add_user(User("nurse-anne", "Anne", (Role.NURSE,), "Testkommune", ("s1",), now))
                client = offline_client()
                hub = LiveHub(client, topic_root="t/v1")
                app = create_app(store=store, auth_secret=SECRET, live=hub, publisher=client, clock=lambda: now)
                token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1"], ttl_s=600, now=now)
                yield OwnPostgres(app, server, token)
            finally:
                await store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


# A ward PC is set up once to let the page sound and notify; these give a test browser that state from the start.
ALARM_CHROMIUM_ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture
async def alarm_page(chromium: Path) -> AsyncIterator[Page]:
    """Like `page`, in a browser that may play sound without a gesture and has granted notifications."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=ALARM_CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900}, color_scheme="dark", permissions=["notifications"]
            )
            yield await context.new_page()
        finally:
            await browser.close()
