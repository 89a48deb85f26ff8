"""`vaktrom admin sites|wards|beds`: the places patients stay in."""

from __future__ import annotations

import argparse

from vaktrom.admin_command import AdminSession, Subparsers

__all__ = ["add_admin_parsers"]


def add_admin_parsers(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    sites = subparsers.add_parser(
        "sites", help="list sites", description="Sites: sykestuer, KAD/ØHD units and home-monitoring programmes."
    )
    site_commands = sites.add_subparsers(dest="sites_command", required=True, metavar="ACTION")
    listing = site_commands.add_parser(
        "list", help="list every site", description="Print every site, one a line: id, kind, name (tab-separated)."
    )
    listing.set_defaults(admin_func=_list_sites)


async def _list_sites(args: argparse.Namespace, session: AdminSession) -> int:
    for site in await session.store.list_sites():
        session.say(f"{site.site_id}\t{site.kind.value}\t{site.name}")
    return 0
