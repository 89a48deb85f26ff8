"""`vaktrom admin oncall gaps`: when nobody is on call at a site, per role its escalation policies page, as
`GET /api/v1/sites/{site}/on-call/gaps` answers (docs/ALERTS.md, "On-call rosters"), for an admin checking a roster
before an alert falls into one of its holes."""

from __future__ import annotations

import argparse
from datetime import timedelta

from core.errors import ConfigError
from dashboard_api.routes_oncall import GAPS_DEFAULT_WINDOW, GAPS_MAX_WINDOW, gaps_window, read_gaps
from dashboard_api.schemas_oncall import OnCallGapOut, RoleGapsOut
from vaktrom.admin_command import AdminSession, Subparsers, identifier, leaf
from vaktrom.admin_patients import moment

__all__ = ["add_admin_parsers", "gap_line"]


def gap_line(role: RoleGapsOut, gap: OnCallGapOut) -> str:
    """role, from, to (UTC), length, the role's rotations (tab-separated)."""
    days, minutes = divmod(gap.duration_s // 60, 24 * 60)
    length = f"{days}d {minutes // 60}h{minutes % 60:02d}m" if days else f"{minutes // 60}h{minutes % 60:02d}m"
    rotations = ",".join(str(r) for r in role.rotation_ids) if role.rotation_ids else "none"
    return f"{role.role}\t{gap.starts_at.isoformat()}\t{gap.ends_at.isoformat()}\t{length}\trotations: {rotations}"


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= GAPS_MAX_WINDOW.days:
        raise argparse.ArgumentTypeError(f"must be a whole number of days from 1 to {GAPS_MAX_WINDOW.days}")
    return int(value)


def add_admin_parsers(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "oncall",
        help="on-call rosters: when nobody is on call",
        description="On-call rosters (rotations and overrides; set them up through the API, docs/API.md).",
    )
    actions = group.add_subparsers(dest="oncall_command", required=True, metavar="ACTION")
    gaps = leaf(
        actions,
        "gaps",
        _gaps,
        "print when nobody is on call at a site, for each role its escalation policies page: one gap a line (role, "
        "from, to in UTC, length, the role's rotations), or 'no gaps'",
    )
    gaps.add_argument("--site", required=True, type=identifier, help="the site's id")
    gaps.add_argument(
        "--days",
        type=_days,
        metavar="N",
        default=GAPS_DEFAULT_WINDOW.days,
        help=f"how many days to look ahead (1-{GAPS_MAX_WINDOW.days}; default {GAPS_DEFAULT_WINDOW.days})",
    )
    gaps.add_argument(
        "--from",
        dest="start_at",
        type=moment,
        metavar="TIME",
        help="where to start looking, ISO 8601 with its offset, e.g. 2025-03-01T00:00:00+01:00 (default: now)",
    )


async def _gaps(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.get_site(args.site)  # NotFound: printed
    now = session.clock()
    try:
        start_at, _ = gaps_window(now, start_at=args.start_at, end_at=None)  # --from first: year 9999 + days overflows
        start_at, end_at = gaps_window(now, start_at=start_at, end_at=start_at + timedelta(days=args.days))
    except ValueError as exc:  # "from: ask for a time within 10 years of now"
        raise ConfigError(str(exc)) from None
    report = await read_gaps(session.store, args.site, start_at=start_at, end_at=end_at)
    lines = [gap_line(role, gap) for role in report.roles for gap in role.gaps]
    for line in lines:
        session.say(line)
    if not lines:
        roles = ", ".join(role.role for role in report.roles) or "no on-call role (no policy pages one)"
        window = f"{report.starts_at.isoformat()} to {report.ends_at.isoformat()}"
        session.say(f"no gaps at {args.site} from {window}: always somebody on call as {roles}")
    return 0
