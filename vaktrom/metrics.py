"""/metrics for Prometheus on a port of the process's own, behind a bearer token (docs/DEPLOY.md, "Metrics")."""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
from collections.abc import Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from alerts.prometheus import TimerBacklogCollector, read_timer_backlog
from core.clock import utc_now
from core.errors import ConfigError
from core.settings import Settings
from core.store import Store
from vaktrom.servers import serve_until_cancelled

__all__ = ["metrics_app", "start_metrics"]

logger = logging.getLogger(__name__)


def metrics_app(collectors: Sequence[Collector], *, token: str) -> Starlette:
    """GET /metrics with `Authorization: Bearer <token>`. Collectors run on the event loop that owns what they read,
    so a scrape needs no locks and sees no half-updated counter."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        registry.register(collector)
    expected = f"Bearer {token}".encode()

    async def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            detail = "Missing or wrong bearer token: send the VAKTROM_METRICS_TOKEN as 'Authorization: Bearer <token>'"
            return PlainTextResponse(detail, 401, {"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


def start_metrics(
    tasks: asyncio.TaskGroup, settings: Settings, *, port: int, store: Store, collectors: Sequence[Collector]
) -> list[asyncio.Task[None]]:
    """Serve `collectors` and the store's timer backlog on `port` (none when metrics are off). The caller cancels
    the returned tasks when its part ends. Raises ConfigError when the port is taken."""
    if not port or settings.metrics_token is None:
        return []
    backlog = TimerBacklogCollector(utc_now)
    app = metrics_app([*collectors, backlog], token=settings.metrics_token.get_secret_value())
    try:
        sock = socket.create_server((settings.metrics_host, port))
    except OSError as exc:
        raise ConfigError(
            f"/metrics cannot listen on {settings.metrics_host}:{port} ({exc.strerror}); "
            "set VAKTROM_METRICS_PORT to a free port (ingest worker n uses it + n)"
        ) from exc
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    logger.info("Serving /metrics on %s:%d", settings.metrics_host, port)
    return [
        tasks.create_task(serve_until_cancelled(server, sock), name="metrics-server"),
        tasks.create_task(read_timer_backlog(store, backlog, utc_now), name="metrics-timer-backlog"),
    ]
