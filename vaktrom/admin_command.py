"""`vaktrom admin`: administer the configured store directly (sites, wards, beds, patients, stays), audited as
the user "cli:<login name>".

Adding a subcommand group (e.g. `users`, `teams`) from another module:
1. write `vaktrom/admin_<name>.py` with `add_admin_parsers(subparsers)`, which adds its parsers to `vaktrom admin`'s
   subparsers and gives each leaf `set_defaults(admin_func=<async def (args, session: AdminSession) -> int>)`;
2. add the module's name to SUBCOMMAND_MODULES below.
`AdminSession` holds the opened store, the clock, the actor ("cli:<login>") and `audit()`; the store is opened
before and closed after the function runs, and a VaktromError it raises is printed as `vaktrom: <message>`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from core.clock import Clock, utc_now
from core.settings import Settings
from core.store import Store
from core.topics import is_valid_id
from core.types import AuditEntry, Role

__all__ = [
    "ADMIN_ROLE",
    "MAX_NAME_LENGTH",
    "SUBCOMMAND_MODULES",
    "AdminFunc",
    "AdminSession",
    "Subparsers",
    "add_parser",
    "cli_actor",
    "identifier",
    "leaf",
    "name_text",
    "run_admin",
]

Subparsers = argparse._SubParsersAction  # argparse exposes no public name for it
# The role a CLI change is audited under: whoever may run vaktrom against the store administers it.
ADMIN_ROLE = Role.ADMIN
# Names and labels: as long as the API allows (dashboard_api/schemas_admin.py).
MAX_NAME_LENGTH = 100
# Modules that add subcommands to `vaktrom admin`, in the order `--help` lists them.
_ADMINISTRATION = ("vaktrom.admin_places", "vaktrom.admin_patients", "vaktrom.admin_import")
SUBCOMMAND_MODULES: tuple[str, ...] = (
    *_ADMINISTRATION,
    "vaktrom.admin_people",
    "vaktrom.admin_team_registry",
    "vaktrom.admin_oncall",
)


@dataclass(frozen=True, slots=True)
class AdminSession:
    """What an admin subcommand works with: the opened store, the clock, who acts, and where to print."""

    store: Store
    clock: Clock
    actor: str
    out: TextIO

    async def audit(self, action: str, subject: str, detail: str = "", *, patient_id: str | None = None) -> None:
        """One audit row for a change made from the command line (never a name or an identity number in it)."""
        entry = AuditEntry(
            at=self.clock(),
            user_id=self.actor,
            role=ADMIN_ROLE,
            action=action,
            subject=subject,
            detail=detail,
            patient_id=patient_id,
            grant=f"role:{ADMIN_ROLE.value}",  # as the API writes an admin change (the user id says cli:)
        )
        await self.store.audit(entry)

    def say(self, line: str) -> None:
        self.out.write(line + "\n")


AdminFunc = Callable[[argparse.Namespace, AdminSession], Awaitable[int]]


def leaf(
    actions: Subparsers[argparse.ArgumentParser], name: str, func: AdminFunc, summary: str
) -> argparse.ArgumentParser:
    """A subcommand that runs `func` on the opened store; `summary` is its help line and description."""
    parser = actions.add_parser(name, help=summary, description=summary[:1].upper() + summary[1:] + ".")
    parser.set_defaults(admin_func=func)
    return parser


def identifier(value: str) -> str:
    """An argparse type: an id vaktrom can use (an MQTT topic level); argparse names the option when it is not."""
    if not is_valid_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a valid id: use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter "
            "or digit"
        )
    return value


def name_text(value: str) -> str:
    """An argparse type: a name or label of 1-100 characters (the API's bound)."""
    if not value.strip() or len(value) > MAX_NAME_LENGTH:
        raise argparse.ArgumentTypeError(f"must be 1-{MAX_NAME_LENGTH} characters")
    return value


def cli_actor() -> str:
    """ "cli:<login name>": who made a change from the command line, as the audit log names them."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment nor the password database
        login = "unknown"
    return f"cli:{login}"


def add_parser(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    admin = subparsers.add_parser(
        "admin",
        help="administer sites, wards, beds, patients and stays on the configured store (audited); check on-call "
        "rosters",
        description="Work on the configured store directly (VAKTROM_DATABASE_URL, or the SQLite file under "
        "VAKTROM_DATA_DIR): every change is audited as the user cli:<login name>. Each subcommand has --help.",
    )
    admin_subparsers = admin.add_subparsers(dest="admin_command", required=True, metavar="SUBCOMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_admin_parsers(admin_subparsers)
    admin.set_defaults(func=_cmd_admin)


def _cmd_admin(args: argparse.Namespace) -> int:
    settings = Settings(config_file=args.config) if args.config else Settings()
    return asyncio.run(run_admin(settings, args.admin_func, args))


async def run_admin(settings: Settings, func: AdminFunc, args: argparse.Namespace, *, clock: Clock = utc_now) -> int:
    """Open the configured store (migrating it), run one subcommand, close the store."""
    from vaktrom.wiring import build_store

    store = build_store(settings)
    await store.open()
    try:
        return await func(args, AdminSession(store=store, clock=clock, actor=cli_actor(), out=sys.stdout))
    finally:
        await store.close()
