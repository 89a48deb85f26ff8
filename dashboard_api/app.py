"""The FastAPI application: REST and WebSocket under /api/v1, health probes, and the live ward page at /."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from core.clock import Clock, utc_now
from core.errors import StorageConflict, StorageUnavailable
from core.store import Store
from dashboard_api import (
    routes_admin,
    routes_admin_patients,
    routes_admin_teams,
    routes_care_flags,
    routes_covered,
    routes_devices,
    routes_escalation,
    routes_homecare,
    routes_limits,
    routes_oncall,
    routes_patients,
    routes_people,
    routes_sign_in,
    routes_team,
    routes_thresholds,
    routes_trends,
    routes_wards,
    routes_withdrawal,
    ws,
    ws_team,
    ws_worklist,
)
from dashboard_api.access import ApiContext, Publisher
from dashboard_api.auth import Principal, current_principal
from dashboard_api.live import LiveHub
from dashboard_api.oidc import OidcVerifier
from dashboard_api.pages import PAGES, STATIC_DIR
from dashboard_api.routes_sign_in import page_sign_in_origins
from dashboard_api.security import (
    FailedAuthThrottle,
    GuardMiddleware,
    security_headers,
    validation_error_without_input,
)
from dashboard_api.socket_quota import SocketQuota
from dashboard_api.ws_access import AccessWatch

__all__ = ["API_PREFIX", "create_app"]

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
STORE_RETRY_AFTER_S = 5  # what a 503 for an unreachable store asks the caller to wait
# A transaction aborted three times for a conflict (a deadlock) was unlucky, not an outage: the other writer is done
# within a second, so the caller may try again at once.
CONFLICT_RETRY_AFTER_S = 1
# HS256 keys shorter than the hash output weaken the signature (RFC 7518 §3.2); Settings enforces the same.
_MIN_SECRET_LENGTH = 32


class Health(BaseModel):
    status: str


def create_app(
    *,
    store: Store,
    auth_secret: str,
    live: LiveHub,
    publisher: Publisher,
    topic_root: str = "vaktrom/v1",
    clock: Clock = utc_now,
    allow_loopback_webhooks: bool = False,
    oidc: OidcVerifier | None = None,
) -> FastAPI:
    """The API over an opened store. The caller owns the store, the MQTT client and the hub's task.

    `publisher` carries rescore requests and alert acknowledgements to the broker (core.mqtt.MqttClient fits).
    With `oidc`, bearer tokens are that provider's and vaktrom's own (signed with `auth_secret`) are refused.
    """
    if len(auth_secret) < _MIN_SECRET_LENGTH:
        raise ValueError(f"auth_secret must be at least {_MIN_SECRET_LENGTH} characters")
    # No interactive docs page: it loads its scripts from a CDN. The OpenAPI document needs a token like any route.
    app = FastAPI(title="vaktrom dashboard API", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    headers = security_headers(connect_to=page_sign_in_origins(None if oidc is None else oidc.config))
    app.add_middleware(GuardMiddleware, throttle=FailedAuthThrottle(), headers=headers)
    app.add_exception_handler(RequestValidationError, validation_error_without_input)
    app.add_exception_handler(StorageUnavailable, _store_unavailable)
    app.state.context = ApiContext(
        store=store,
        clock=clock,
        publisher=publisher,
        topic_root=topic_root,
        allow_loopback_webhooks=allow_loopback_webhooks,
    )
    app.state.auth_secret = auth_secret
    app.state.oidc = oidc
    app.state.clock = clock
    app.state.live = live
    app.state.access_watch = AccessWatch(store)  # closes this node's sockets of users whose access shrank
    app.state.socket_quota = SocketQuota()  # per-user live streams on this node (MAX_SOCKETS_PER_USER)
    routers = (routes_wards, routes_patients, routes_devices, routes_escalation, routes_oncall, ws)
    for router in (module.router for module in (*routers, routes_covered, routes_trends)):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(routes_sign_in.router, prefix=API_PREFIX)
    app.include_router(routes_limits.router, prefix=API_PREFIX)
    app.include_router(routes_homecare.router, prefix=API_PREFIX)
    app.include_router(routes_thresholds.router, prefix=API_PREFIX)
    app.include_router(routes_care_flags.router, prefix=API_PREFIX)
    app.include_router(routes_withdrawal.router, prefix=API_PREFIX)
    app.include_router(routes_people.router, prefix=API_PREFIX)
    app.include_router(routes_team.router, prefix=API_PREFIX)
    app.include_router(routes_admin_teams.router, prefix=API_PREFIX)
    app.include_router(ws_team.router, prefix=API_PREFIX)
    app.include_router(ws_worklist.router, prefix=API_PREFIX)
    for admin in (routes_admin, routes_admin_patients):  # role admin: places, patients, stays
        app.include_router(admin.router, prefix=API_PREFIX)
    _add_openapi(app)
    _add_probes(app, store)
    _add_page(app)
    return app


def _add_openapi(app: FastAPI) -> None:
    @app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
    async def openapi(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
        """The OpenAPI document of this API, for any signed-in user (load it into an OpenAPI viewer)."""
        return app.openapi()


def _add_probes(app: FastAPI, store: Store) -> None:
    @app.get("/healthz", response_model=Health, include_in_schema=False)
    async def healthz() -> Health:
        """Liveness: the process answers. No data, no auth."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, include_in_schema=False)
    async def readyz(response: Response) -> Health:
        """Readiness: the store answers now."""
        try:
            ready = await store.ping()
        except StorageUnavailable:
            ready = False
        if not ready:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return Health(status="store unavailable")
        return Health(status="ok")


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503, not 500: the database is down or restarting, which is neither the caller's fault nor a bug; the pages
    say so and the caller retries. Where it failed goes to the log, not to the caller. A conflict that aborted every
    run says so instead: the database is up, and a nurse told it cannot be reached would think the whole system down."""
    assert isinstance(exc, StorageUnavailable)
    logger.warning("%s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, StorageConflict):
        detail = "Another change to the same records got in the way, so nothing was saved; try again."
        retry_after_s = CONFLICT_RETRY_AFTER_S
    else:
        detail = "The database cannot be reached now; try again shortly."
        retry_after_s = STORE_RETRY_AFTER_S
    return JSONResponse(
        {"detail": detail}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(retry_after_s)}
    )


def _add_page(app: FastAPI) -> None:
    """The pages (dashboard_api/pages.py): static files only, no data; they call the API with the user's token."""
    for page in PAGES:
        endpoint = _page_file(STATIC_DIR / page.file)
        app.add_api_route(page.path, endpoint, methods=["GET"], name=f"page {page.path}", include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _page_file(path: Path) -> Callable[[], Awaitable[FileResponse]]:
    async def page() -> FileResponse:
        return FileResponse(path)

    return page
