"""Each part as a coroutine over an opened store: ingest, API node, device-health checks, simulator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import uvicorn
from prometheus_client.registry import Collector

from core.clock import utc_now
from core.errors import ConfigError, StorageUnavailable
from core.mqtt import BrokerUnavailable, MqttClient
from core.settings import Settings
from core.store import Store
from dashboard_api.app import create_app
from dashboard_api.live import LiveHub
from dashboard_api.oidc import OidcConfig, OidcVerifier
from dashboard_api.prometheus import LiveHubCollector
from devices.demo import DemoUnit, seed_demo_unit
from devices.health import check_device_health
from devices.scenario_library import DEFAULT_SCENARIOS, ScenarioName, demo_casting
from devices.silence_gate import SilenceGate
from devices.simulator import run_simulator
from ingest.metrics import IngestMetrics
from ingest.prometheus import IngestCollector
from ingest.publishing import EventPublisher
from ingest.risk import RiskAssessor
from ingest.service import run_ingest
from vaktrom.demo_follow_up import seed_demo_follow_up
from vaktrom.metrics import start_metrics
from vaktrom.servers import serve_until_cancelled
from vaktrom.supervision import Readiness, StartupGate, until_reachable
from vaktrom.wiring import (
    auth_secret_of,
    build_store,
    device_accounts_of,
    event_client_options,
    with_mqtt_credentials,
)

__all__ = [
    "connect_when_reachable",
    "listen_socket",
    "mqtt_client_id",
    "open_store",
    "run_api_only",
    "run_device_health",
    "run_ingest_only",
    "run_simulator_only",
    "serve_api",
    "simulate",
]

logger = logging.getLogger(__name__)

# Device silence is judged in tens of seconds (VAKTROM_DEVICE_SILENT_AFTER_S, 120 s by default): checking every
# 10 s keeps the alert within 10 % of the bound without loading the store.
DEVICE_HEALTH_INTERVAL_S = 10.0
# How often an ingest worker's readiness is passed on to systemd: a status line, so a second is plenty.
READINESS_POLL_S = 1.0


@contextlib.asynccontextmanager
async def open_store(settings: Settings, *, readiness: Readiness | None = None) -> AsyncIterator[Store]:
    """The store, opened once the database answers (waiting for it, with backoff, however long that takes)."""
    store = build_store(settings)
    await until_reachable(store.open, what="the database", unavailable=(StorageUnavailable,), readiness=readiness)
    try:
        yield store
    finally:
        await store.close()


async def connect_when_reachable(client: MqttClient, *, readiness: Readiness | None = None) -> None:
    """Connect, waiting for the broker with backoff; bad credentials (BrokerAuthFailed) stop at once."""
    await until_reachable(client.connect, what="the MQTT broker", unavailable=(BrokerUnavailable,), readiness=readiness)


def mqtt_client_id(settings: Settings, account: str) -> str:
    """With a password the client id is the account's user name (the broker binds the two, docs/MQTT.md); on a
    development broker without accounts a random suffix keeps any number of API nodes or checkers apart."""
    return account if settings.mqtt_password is not None else f"{account}-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def _event_client(settings: Settings, account: str) -> AsyncIterator[MqttClient]:
    """A non-persistent client of the service account `account` (an API node, a health checker, the simulator)."""
    client = MqttClient(event_client_options(settings, client_id=mqtt_client_id(settings, account)))
    try:
        yield client
    finally:  # also on cancellation (Ctrl-C): else paho's network thread outlives the part and keeps reconnecting
        await client.disconnect()


def listen_socket(settings: Settings) -> socket.socket:
    """The API's listening socket. Bound before anything starts: uvicorn would exit the process on a port in use."""
    family = socket.AF_INET6 if ":" in settings.api_host else socket.AF_INET
    try:
        return socket.create_server((settings.api_host, settings.api_port), family=family)
    except OSError as exc:
        raise ConfigError(
            f"the API cannot listen on {settings.api_host}:{settings.api_port} "
            f"({os.strerror(exc.errno) if exc.errno else exc}); "
            "set VAKTROM_API_PORT (or --port) to a free port"
        ) from exc


async def serve_api(
    settings: Settings,
    store: Store | None = None,
    *,
    started: asyncio.Event | None = None,
    sock: socket.socket | None = None,
    collectors: Sequence[Collector] = (),
) -> None:
    """One API node: REST, WebSocket fan-out of broker events, and the live ward page, on `sock` if given; with
    VAKTROM_METRICS_PORT, /metrics there (its live pages, the timers' backlog, and `collectors`).

    Without an opened `store` it opens one itself. It listens at once: until the database and the broker answer,
    /readyz (and every other route) says 503 and what is awaited; `started` is set once the real API answers.
    """
    readiness = Readiness()
    gate = StartupGate(readiness)
    with sock or listen_socket(settings) as listening:
        config = uvicorn.Config(
            gate, host=settings.api_host, port=settings.api_port, log_level="warning", ws="websockets-sansio",
            lifespan="off",
            # No permessage-deflate: a ward delta is encoded once and the same text goes to every dashboard of the
            # ward, but deflate would compress it again per socket (200 dashboards at 1000 beds: ~140 MB/s of zlib,
            # more than the node's CPU). Ward PCs sit on the clinic's network; bandwidth is not what is short.
            ws_per_message_deflate=False,
        )  # fmt: skip
        server = uvicorn.Server(config)
        async with asyncio.TaskGroup() as tasks:
            serve_task = tasks.create_task(serve_until_cancelled(server, listening), name="api-server")
            api_client = _event_client(settings, settings.mqtt_api_client_id)
            oidc = _oidc_verifier(settings)
            async with _opened(settings, store, readiness) as opened, api_client as client, oidc as verifier:
                hub = LiveHub(client, topic_root=settings.mqtt_topic_root)
                await connect_when_reachable(client, readiness=readiness)
                gate.app = create_app(
                    store=opened, auth_secret=auth_secret_of(settings), live=hub, publisher=client,
                    topic_root=settings.mqtt_topic_root, allow_loopback_webhooks=settings.webhook_allow_loopback_http,
                    oidc=verifier,
                )  # fmt: skip
                gate.app.state.device_accounts = device_accounts_of(settings)  # routes_devices applies credentials
                readiness.set_ready()
                hub_task = tasks.create_task(hub.run(), name="api-live-hub")
                metrics = [LiveHubCollector(hub), *collectors]
                metric_tasks = start_metrics(
                    tasks, settings, port=settings.metrics_port, store=opened, collectors=metrics
                )
                while not server.started and not serve_task.done():  # noqa: ASYNC110 - uvicorn has no started event
                    await asyncio.sleep(0.05)
                if started is not None and server.started:
                    started.set()
                await serve_task
                hub_task.cancel()
                for task in metric_tasks:
                    task.cancel()


def _oidc_verifier(settings: Settings) -> contextlib.AbstractAsyncContextManager[OidcVerifier | None]:
    """The verifier of the OpenID Connect provider's tokens (VAKTROM_OIDC_*), or None: vaktrom's own tokens."""
    if settings.oidc_issuer is None or settings.oidc_audience is None:
        return contextlib.nullcontext(None)
    config = OidcConfig(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        user_claim=settings.oidc_user_claim,
        role_claim=settings.oidc_role_claim,
        leeway_s=settings.oidc_leeway_s,
        page_client_id=settings.oidc_page_client_id,
        page_scope=settings.oidc_page_scope,
    )
    return OidcVerifier(config)


def _opened(
    settings: Settings, store: Store | None, readiness: Readiness
) -> contextlib.AbstractAsyncContextManager[Store]:
    return open_store(settings, readiness=readiness) if store is None else contextlib.nullcontext(store)


async def run_device_health(
    settings: Settings,
    store: Store,
    *,
    interval_s: float = DEVICE_HEALTH_INTERVAL_S,
    catching_up: Callable[[], bool] = lambda: False,
) -> None:
    """Raise and resolve device-silent and battery-low alerts, and publish them to the dashboards. `catching_up`:
    the ingest beside it has a backlog at the broker, so silence waits (devices/silence_gate.py)."""
    judge_silence = SilenceGate(catching_up, max_postpone_s=settings.device_silent_after_s, clock=utc_now)
    async with _event_client(settings, settings.health_client_id) as client:
        await connect_when_reachable(client)
        publisher = EventPublisher(
            lambda topic, payload: client.publish_nowait(topic, payload, qos=1),
            root=settings.mqtt_topic_root, store=store, metrics=IngestMetrics(),
        )  # fmt: skip
        while True:
            # Listen for one interval before judging silence: after a start, devices need a moment to report.
            await asyncio.sleep(interval_s)
            now = utc_now()
            try:
                changes = await check_device_health(
                    store, now=now, silent_after_s=settings.device_silent_after_s,
                    battery_low_percent=settings.battery_low_percent, judge_silence=judge_silence,
                )  # fmt: skip
                for change in changes:
                    await publisher.send_alert(change, at=now)
            except Exception:
                logger.exception("Device health check failed; trying again in %.0f s", interval_s)


async def simulate(
    settings: Settings,
    store: Store,
    *,
    stop: asyncio.Event,
    unit: DemoUnit | None = None,
    scenarios: Sequence[ScenarioName] = DEFAULT_SCENARIOS,
) -> DemoUnit:
    """Seed the demo unit (unless given the seeded `unit`) and publish its devices, playing `scenarios`
    (devices/scenario_library.py), until `stop` is set."""
    if unit is None:
        unit = await seed_demo_unit(store, now=utc_now())
        await seed_demo_follow_up(store, unit, now=utc_now())
    logger.info("Demo scenarios: %s", ", ".join(s.value for s in scenarios) or "none")
    async with _event_client(settings, settings.mqtt_simulator_client_id) as client:
        await connect_when_reachable(client)
        await run_simulator(
            client, unit, topic_root=settings.mqtt_topic_root, speed=settings.simulation_speed,
            clock=utc_now, stop=stop, casting=demo_casting(unit, scenarios, started_at=utc_now()),
        )  # fmt: skip
    return unit


async def run_ingest_only(
    settings: Settings,
    *,
    risk_assessor: RiskAssessor | None = None,
    stop: asyncio.Event | None = None,
    metrics: IngestMetrics | None = None,
) -> None:
    """One ingest worker with the device-health checks; returns once `stop` is set and what it held is stored."""
    settings = with_mqtt_credentials(settings)
    metrics = metrics if metrics is not None else IngestMetrics()
    readiness = Readiness()
    async with open_store(settings, readiness=readiness) as store, asyncio.TaskGroup() as tasks:
        # A lambda, not metrics.catching_up itself: run_ingest sets that once its worker exists.
        checks = run_device_health(settings, store, catching_up=lambda: metrics.catching_up())
        health = tasks.create_task(checks, name="device-health")
        reporter = tasks.create_task(_report_readiness(metrics, readiness), name="ingest-readiness")
        port = settings.ingest_metrics_port
        metric_tasks = start_metrics(tasks, settings, port=port, store=store, collectors=[IngestCollector(metrics)])
        await run_ingest(settings, store, risk_assessor=risk_assessor, metrics=metrics, stop=stop)
        for task in (health, reporter, *metric_tasks):
            task.cancel()


async def _report_readiness(metrics: IngestMetrics, readiness: Readiness) -> None:
    """Ready (systemd READY=1) once subscribed; afterwards the status line says when the broker or store is away."""
    while True:
        if metrics.ready and not readiness.ready:
            readiness.set_ready()
        elif not metrics.broker_connected() and not readiness.ready:
            readiness.waiting("the MQTT broker")
        await asyncio.sleep(READINESS_POLL_S)


async def run_api_only(settings: Settings) -> None:
    await serve_api(with_mqtt_credentials(settings))


async def run_simulator_only(settings: Settings, *, scenarios: Sequence[ScenarioName] = DEFAULT_SCENARIOS) -> None:
    settings = with_mqtt_credentials(settings)
    async with open_store(settings) as store:
        await simulate(settings, store, stop=asyncio.Event(), scenarios=scenarios)
