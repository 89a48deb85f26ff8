"""`vaktrom run`: the whole system in one process, embedded broker and store by default, plus the demo unit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import AsyncIterator, Sequence

from core.clock import utc_now
from core.errors import ConfigError
from core.settings import Settings
from core.store import Store
from core.types import Role, User
from dashboard_api.auth import issue_token
from dashboard_api.pages import home_page
from devices.demo import demo_unit, seed_demo_unit
from devices.scenario_library import DEFAULT_SCENARIOS, ScenarioName
from ingest.metrics import IngestMetrics
from ingest.prometheus import IngestCollector
from ingest.risk import RiskAssessor
from ingest.service import run_ingest
from vaktrom.broker_policy import BrokerPolicy, vaktrom_accounts
from vaktrom.demo_follow_up import seed_demo_follow_up
from vaktrom.demo_teams import DEMO_TEAMS
from vaktrom.embedded_broker import embedded_broker
from vaktrom.parts import listen_socket, open_store, run_device_health, serve_api, simulate
from vaktrom.risk import load_risk_assessor
from vaktrom.wiring import auth_secret_of, with_mqtt_credentials

__all__ = ["demo_logins", "register_demo_users", "run_one_process", "team_board_logins"]

logger = logging.getLogger(__name__)

# Who the demo lets you be: the night nurse on the unit, the supervising doctor, the specialist on remote call,
# the home-monitoring coordinator and the device technician.
_DEMO_USERS: tuple[tuple[str, Role], ...] = (
    ("nurse.demo", Role.NURSE),
    ("doctor.demo", Role.DOCTOR),
    ("specialist.demo", Role.SPECIALIST),
    ("coordinator.demo", Role.COORDINATOR),
    ("technician.demo", Role.TECHNICIAN),
)


@contextlib.asynccontextmanager
async def _broker(settings: Settings, store: Store) -> AsyncIterator[None]:
    if settings.embedded_broker:
        # The production rules (deploy/mosquitto): vaktrom's own accounts, devices with the credentials vaktrom issued
        # them (read from the store while it runs), and the demo simulator for the demo unit's devices only.
        policy = BrokerPolicy(
            topic_root=settings.mqtt_topic_root,
            services=vaktrom_accounts(settings, simulated_sites=demo_unit().site_ids),
            device_hashes={},
        )
        port = settings.mqtt_embedded_port
        async with embedded_broker(policy=policy, port=port, device_hashes=store.current_device_hashes):
            yield
    else:
        yield


async def run_one_process(
    settings: Settings,
    *,
    started: asyncio.Event | None = None,
    scenarios: Sequence[ScenarioName] = DEFAULT_SCENARIOS,
) -> None:
    """Run until cancelled (Ctrl-C). `started` is set once the API answers (tests wait on it); the demo unit plays
    `scenarios`. Raises ConfigError where the demo logins would reach beyond this machine."""
    problem = settings.demo_login_problem()
    if problem is not None:
        raise ConfigError(problem)
    settings = with_mqtt_credentials(settings)  # every part logs in to the broker as its own account
    # The API port first: taken by another program, it is a clear error before anything starts.
    with listen_socket(settings) as api_socket:
        risk_assessor: RiskAssessor | None = load_risk_assessor(settings)
        await _run_parts(
            settings, risk_assessor=risk_assessor, api_socket=api_socket, started=started, scenarios=scenarios
        )


async def _run_parts(
    settings: Settings,
    *,
    risk_assessor: RiskAssessor | None,
    api_socket: socket.socket,
    started: asyncio.Event | None,
    scenarios: Sequence[ScenarioName],
) -> None:
    api_started = asyncio.Event()
    async with open_store(settings) as store, _broker(settings, store):
        # Seeded before anything starts: the demo links in the banner must open a ward with its patients in it.
        unit = await seed_demo_unit(store, now=utc_now()) if settings.simulate else None
        if unit is not None:
            await seed_demo_follow_up(store, unit, now=utc_now())
        await register_demo_users(store)  # the banner's login links name them
        async with asyncio.TaskGroup() as tasks:
            metrics = IngestMetrics()  # one /metrics for the whole process: the API node's and ingest's
            tasks.create_task(run_ingest(settings, store, risk_assessor=risk_assessor, metrics=metrics), name="ingest")
            collectors = [IngestCollector(metrics)]
            api = serve_api(settings, store, started=api_started, sock=api_socket, collectors=collectors)
            tasks.create_task(api, name="api")
            # A lambda, not metrics.catching_up itself: run_ingest sets that once its worker exists.
            checks = run_device_health(settings, store, catching_up=lambda: metrics.catching_up())
            tasks.create_task(checks, name="device-health")
            if unit is not None:
                playing = simulate(settings, store, stop=asyncio.Event(), unit=unit, scenarios=scenarios)
                tasks.create_task(playing, name="simulator")
            await api_started.wait()
            sys.stdout.write(_banner(settings, team_boards=unit is not None))
            sys.stdout.flush()
            if started is not None:
                started.set()


async def register_demo_users(store: Store) -> None:
    """The demo logins' users, each holding its one role and serving the demo sites (kept as they are when
    registered before: an admin may have changed or disabled one)."""
    for user_id, role in _DEMO_USERS:
        if await store.get_user(user_id) is None:
            user = User(user_id, f"Demo {role.value}", (role,), "Demo kommune", demo_unit().site_ids, utc_now())
            await store.add_user(user)


def team_board_logins(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(team id, team name, member, token) for each demo team's first member, valid for the demo sites."""
    secret, sites, now = auth_secret_of(settings), list(demo_unit().site_ids), utc_now()
    return [
        (team_id, name, user, issue_token(secret, user_id=user, role=role, site_ids=sites, ttl_s=settings.token_ttl_s,
                                          now=now))
        for team_id, name, _, _, ((user, _, role), *_) in DEMO_TEAMS
    ]  # fmt: skip


def demo_logins(settings: Settings) -> list[tuple[str, Role, str]]:
    """(user, role, token) for each demo role, valid for the demo sites."""
    secret = auth_secret_of(settings)
    sites = list(demo_unit().site_ids)
    return [
        (
            user,
            role,
            issue_token(secret, user_id=user, role=role, site_ids=sites, ttl_s=settings.token_ttl_s, now=utc_now()),
        )
        for user, role in _DEMO_USERS
    ]


def _banner(settings: Settings, *, team_boards: bool) -> str:
    base = f"http://{settings.api_host}:{settings.api_port}"
    lines = [
        "",
        f"vaktrom is running. Live ward page: {base}/",
        f"  broker: {settings.effective_mqtt_url()}{' (embedded, demo scale)' if settings.embedded_broker else ''}",
        f"  store:  {'SQLite in ' + str(settings.data_dir) if settings.embedded_store else 'PostgreSQL'}",
        f"  API description (OpenAPI, with a token): {base}/api/v1/openapi.json",
    ]
    if settings.oidc:  # vaktrom's own tokens are refused: links carrying them would only fail
        lines.append(f"Sign in through {settings.oidc_issuer} (VAKTROM_OIDC_ISSUER); there are no demo login links.")
    else:
        lines.append("Log in by opening one of these links (the token stays in your browser):")
        for user, role, token in demo_logins(settings):
            lines.append(f"  {role.value:<12} {user:<18} {base}{home_page(role)}#token={token}")
        if team_boards:  # the demo's teams exist only with the demo unit (vaktrom/demo_teams.py)
            lines.append("A team's board, as its first member:")
            for team_id, name, user, token in team_board_logins(settings):
                lines.append(f"  {name:<12} {user:<18} {base}/team?team={team_id}#token={token}")
    lines.append("Stop with Ctrl-C.\n")
    return "\n".join(lines) + "\n"
