"""`vaktrom` command line: run the whole system, or one part of it, plus batch tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from core.errors import ConfigError, VaktromError
from core.logging import setup_logging
from core.settings import Settings
from core.types import Role
from vaktrom.heap import freeze_startup_heap

if TYPE_CHECKING:
    from devices.scenario_library import ScenarioName

__all__ = ["main"]

logger = logging.getLogger(__name__)

_DESCRIPTION = """\
vaktrom: remote monitoring for municipal bed units (sykestuer, KAD beds, home monitoring).
Vital signs arrive over MQTT as SenML, are NEWS2- and ML-risk-scored, become alerts, and stream to
live ward dashboards over WebSocket.

With no environment set, everything runs embedded in one process (`vaktrom run`): an MQTT broker on
127.0.0.1:18830, a SQLite store under ./var, the API on http://127.0.0.1:8080 and a simulated ward.
"""


def _settings_epilog() -> str:
    lines = ["settings (environment variables; also keys of the TOML file named by VAKTROM_CONFIG_FILE):"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default_factory is None else "(per parameter)"
        description = f"{field.description} " if field.description else ""
        lines.append(f"  VAKTROM_{name.upper():<28} {description}[default: {default}]")
    return "\n".join(lines)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaktrom",
        description=_DESCRIPTION,
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (same as VAKTROM_CONFIG_FILE)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_service_commands(subparsers)
    _add_token_command(subparsers)
    from vaktrom import admin_command, devices_command, influx_command, model_command, score_command

    score_command.add_parser(subparsers)
    model_command.add_parser(subparsers)
    admin_command.add_parser(subparsers)
    devices_command.add_parser(subparsers)
    influx_command.add_parser(subparsers)
    return parser


def _add_service_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "run",
        help="run everything in one process (embedded broker and store by default, plus the demo ward)",
        description="Run broker (embedded unless VAKTROM_MQTT_URL is set), store (SQLite unless "
        "VAKTROM_DATABASE_URL is set), ingest, scoring, alerts, the API with the live ward page, and the "
        "simulated demo unit (unless --no-simulate). Prints the dashboard URL and demo logins.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--no-simulate", action="store_true", help="do not run the simulated demo unit")
    run.add_argument("--port", type=int, help="API port (VAKTROM_API_PORT)")
    _add_scenario_option(run)
    run.set_defaults(func=_cmd_run)
    ingest = subparsers.add_parser(
        "ingest",
        help="run one ingest worker (MQTT -> store -> scores -> alerts); run several with a shared group",
        description="Consume device topics from the broker, store readings durably (ack after commit), score, "
        "alert and publish events. Waits for the broker and the database at start, however long they take. On "
        "SIGTERM, stores and acknowledges what it holds (at most VAKTROM_INGEST_SHUTDOWN_GRACE_S), then "
        "disconnects. To scale out with MQTT 5 shared subscriptions, run N workers with the same "
        "VAKTROM_MQTT_SHARED_GROUP and VAKTROM_INGEST_WORKER_SLOT 1..N (client id vaktrom-ingest-<slot>); start "
        "a replacement for a dead worker with its slot, so it takes over the readings queued for it.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.set_defaults(func=_cmd_ingest)
    api = subparsers.add_parser("api", help="run one API node (REST, WebSocket, live ward page)")
    api.add_argument("--port", type=int, help="API port (VAKTROM_API_PORT)")
    api.set_defaults(func=_cmd_api)
    simulate = subparsers.add_parser(
        "simulate",
        help="seed the demo unit and publish its simulated devices",
        description="Seed the demo unit (idempotent) and publish its simulated devices to the broker until stopped. "
        "Each scenario is played by its own demo patient; the others rest at baseline.",
    )
    _add_scenario_option(simulate)
    simulate.set_defaults(func=_cmd_simulate)


def _add_scenario_option(parser: argparse.ArgumentParser) -> None:
    from devices.scenario_library import DEFAULT_SCENARIOS, SCENARIO_SUMMARIES, ScenarioName

    # argparse %-formats help: a literal per cent sign is written %%.
    names = "; ".join(f"{name.value}: {SCENARIO_SUMMARIES[name]}" for name in ScenarioName).replace("%", "%%")
    parser.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        choices=[*(name.value for name in ScenarioName), "all"],
        metavar="NAME",
        help=f"a scenario the demo plays (repeatable, or all; default: {DEFAULT_SCENARIOS[0].value}). {names}",
    )


def _add_token_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = subparsers.add_parser(
        "token",
        help="issue a signed bearer token (demo logins; disabled when VAKTROM_OIDC_ISSUER is set)",
        description="Print a bearer token for USER (registered: vaktrom admin users add) with ROLE (one they "
        "hold) that may see SITES (those of them they serve), signed with VAKTROM_AUTH_SECRET. "
        "For the embedded demo and units without an identity provider: with VAKTROM_OIDC_ISSUER set the API accepts "
        "only that provider's tokens, and this command refuses to run.",
    )
    token.add_argument("--user", required=True, help="user id, e.g. nurse.kari")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--site", action="append", required=True, dest="sites", help="site id (repeatable)")
    token.add_argument("--ttl", type=int, help="lifetime in seconds (VAKTROM_TOKEN_TTL_S)")
    token.set_defaults(func=_cmd_token)


def _settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    if args.config:
        overrides["config_file"] = args.config
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _cmd_run(args: argparse.Namespace) -> int:
    from vaktrom.one_process import run_one_process

    settings = _settings_from(args, api_port=args.port, simulate=False if args.no_simulate else None)
    freeze_startup_heap()
    asyncio.run(run_one_process(settings, scenarios=_scenarios(args)))
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.metrics import IngestMetrics
    from vaktrom.parts import run_ingest_only
    from vaktrom.risk import load_risk_assessor
    from vaktrom.supervision import run_until_terminated

    settings = _settings_from(args)
    risk_assessor = load_risk_assessor(settings)
    metrics = IngestMetrics()
    freeze_startup_heap()  # after the model is loaded: ~85,000 of the objects frozen are its

    async def ingest(stop: asyncio.Event) -> None:
        await run_ingest_only(settings, risk_assessor=risk_assessor, stop=stop, metrics=metrics)

    asyncio.run(
        run_until_terminated(
            ingest, grace_s=settings.ingest_shutdown_grace_s, started=lambda: metrics.broker_connected()
        )
    )
    return 0


def _cmd_api(args: argparse.Namespace) -> int:
    from vaktrom.parts import run_api_only

    settings = _settings_from(args, api_port=args.port)
    freeze_startup_heap()
    asyncio.run(run_api_only(settings))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from vaktrom.parts import run_simulator_only

    asyncio.run(run_simulator_only(_settings_from(args), scenarios=_scenarios(args)))
    return 0


def _scenarios(args: argparse.Namespace) -> tuple[ScenarioName, ...]:
    """The scenarios named by --scenario (ScenarioName), or the default ones."""
    from devices.scenario_library import DEFAULT_SCENARIOS, ScenarioName

    named: list[str] = args.scenarios or []
    if not named:
        return DEFAULT_SCENARIOS
    return tuple(ScenarioName) if "all" in named else tuple(dict.fromkeys(ScenarioName(n) for n in named))


def _cmd_token(args: argparse.Namespace) -> int:
    from core.clock import utc_now
    from dashboard_api.auth import issue_token
    from vaktrom.admin_people import require_registered
    from vaktrom.wiring import auth_secret_of

    settings = _settings_from(args)
    if settings.oidc:
        raise ConfigError(
            f"vaktrom token is disabled: VAKTROM_OIDC_ISSUER is set, so the API accepts only tokens of "
            f"{settings.oidc_issuer} and refuses vaktrom's own; sign in through that provider"
        )
    token = issue_token(
        auth_secret_of(settings),
        user_id=args.user,
        role=Role(args.role),
        site_ids=args.sites,
        ttl_s=args.ttl or settings.token_ttl_s,
        now=utc_now(),
    )
    asyncio.run(require_registered(settings, args.user, Role(args.role)))  # the API would refuse anyone else
    sys.stdout.write(token + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    setup_logging(os.environ.get("VAKTROM_LOG_LEVEL", "INFO"))
    try:
        code: int = args.func(args)
    except ValidationError as exc:
        sys.stderr.write(f"vaktrom: invalid settings:\n{_describe(exc)}\n")
        return 2
    except VaktromError as exc:
        sys.stderr.write(f"vaktrom: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except ExceptionGroup as group:
        # A part that fails in a TaskGroup (the API cannot reach the broker, say) arrives wrapped in a group:
        # say what went wrong, as for the same error outside one. Anything else is a bug: show its traceback.
        errors, others = group.split(VaktromError)
        if errors is None or others is not None:
            raise
        for error in _leaves(errors):
            sys.stderr.write(f"vaktrom: {error}\n")
        return 1
    return code


def _leaves(group: BaseExceptionGroup[VaktromError]) -> list[VaktromError]:
    leaves: list[VaktromError] = []
    for exc in group.exceptions:
        leaves += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return leaves


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        first, *rest = error["loc"] or ("",)
        name = f"VAKTROM_{str(first).upper()}" + "".join(f"[{part}]" for part in rest) if first else ""
        # Our validators' messages name the variable and say what to fix; pydantic only adds "Value error, ".
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {message}" if not name or message.startswith(name) else f"  {name}: {message}")
    return "\n".join(lines)
