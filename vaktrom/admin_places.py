"""`vaktrom admin sites|wards|beds`: create, rename, retire and list the places patients stay in."""

from __future__ import annotations

import argparse
from datetime import datetime

from core.types import Bed, Site, SiteKind, Ward
from vaktrom.admin_command import AdminSession, Subparsers, identifier, leaf, name_text

__all__ = ["add_admin_parsers"]


def add_admin_parsers(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    _sites(subparsers)
    _wards(subparsers)
    _beds(subparsers)


def _retired_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--include-retired", action="store_true", help="list retired ones too (last column)")


def _sites(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "sites", help="sites: list, create, rename, retire", description="Sites: sykestuer, KAD/ØHD units and "
        "home-monitoring programmes. Retired ones leave boards and pickers; nothing is deleted."
    )  # fmt: skip
    actions = group.add_subparsers(dest="sites_command", required=True, metavar="ACTION")
    listing = leaf(actions, "list", _list_sites, "list sites: id, kind, name (tab-separated)")
    _retired_flag(listing)
    create = leaf(actions, "create", _create_site, "create a site")
    create.add_argument(
        "--id", required=True, type=identifier, dest="site_id", help="site id (letters, digits, _ . : -)"
    )
    create.add_argument("--name", required=True, type=name_text, help="the site's name")
    create.add_argument("--kind", required=True, choices=[k.value for k in SiteKind], help="what kind of unit")
    rename = leaf(actions, "rename", _rename_site, "rename a site")
    rename.add_argument("site_id", type=identifier, help="site id")
    rename.add_argument("--name", required=True, type=name_text, help="the new name")
    retire = leaf(actions, "retire", _retire_site, "retire a site (refused while any of its wards has a stay)")
    retire.add_argument("site_id", type=identifier, help="site id")


def _wards(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("wards", help="wards: list, create, rename, retire", description="Wards of sites.")
    actions = group.add_subparsers(dest="wards_command", required=True, metavar="ACTION")
    listing = leaf(actions, "list", _list_wards, "list wards: id, site, name (tab-separated)")
    listing.add_argument("--site", type=identifier, dest="site_id", help="only this site's wards")
    _retired_flag(listing)
    create = leaf(actions, "create", _create_ward, "create a ward")
    create.add_argument("--id", required=True, type=identifier, dest="ward_id", help="ward id")
    create.add_argument("--site", required=True, type=identifier, dest="site_id", help="the site it belongs to")
    create.add_argument("--name", required=True, type=name_text, help="the ward's name")
    rename = leaf(actions, "rename", _rename_ward, "rename a ward")
    rename.add_argument("ward_id", type=identifier, help="ward id")
    rename.add_argument("--name", required=True, type=name_text, help="the new name")
    retire = leaf(actions, "retire", _retire_ward, "retire a ward (refused while it has a current stay)")
    retire.add_argument("ward_id", type=identifier, help="ward id")


def _beds(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("beds", help="beds: list, create, relabel, retire", description="Beds of wards.")
    actions = group.add_subparsers(dest="beds_command", required=True, metavar="ACTION")
    listing = leaf(actions, "list", _list_beds, "list a ward's beds: id, label (tab-separated)")
    listing.add_argument("--ward", required=True, type=identifier, dest="ward_id", help="ward id")
    _retired_flag(listing)
    create = leaf(actions, "create", _create_bed, "create a bed")
    create.add_argument("--id", required=True, type=identifier, dest="bed_id", help="bed id")
    create.add_argument("--ward", required=True, type=identifier, dest="ward_id", help="the ward it stands in")
    create.add_argument("--label", required=True, type=name_text, help="what the board calls it, e.g. 'Seng 3'")
    rename = leaf(actions, "relabel", _relabel_bed, "change a bed's label")
    rename.add_argument("bed_id", type=identifier, help="bed id")
    rename.add_argument("--label", required=True, type=name_text, help="the new label")
    retire = leaf(actions, "retire", _retire_bed, "retire a bed (refused while it holds a current stay)")
    retire.add_argument("bed_id", type=identifier, help="bed id")


def _retired(args: argparse.Namespace, retired_at: datetime | None) -> str:
    if not args.include_retired:
        return ""
    return "\tin use" if retired_at is None else f"\tretired {retired_at.isoformat()}"


async def _list_sites(args: argparse.Namespace, session: AdminSession) -> int:
    for site in await session.store.list_sites(include_retired=args.include_retired):
        session.say(f"{site.site_id}\t{site.kind.value}\t{site.name}{_retired(args, site.retired_at)}")
    return 0


async def _create_site(args: argparse.Namespace, session: AdminSession) -> int:
    site = await session.store.create_site(Site(args.site_id, args.name, SiteKind(args.kind)))
    await session.audit("admin.create.site", site.site_id, f"kind {site.kind.value}")
    session.say(f"created site {site.site_id}")
    return 0


async def _rename_site(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.rename_site(args.site_id, name=args.name)
    await session.audit("admin.rename.site", args.site_id)
    session.say(f"renamed site {args.site_id}")
    return 0


async def _retire_site(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.retire_site(args.site_id, at=session.clock())
    await session.audit("admin.retire.site", args.site_id)
    session.say(f"retired site {args.site_id}")
    return 0


async def _list_wards(args: argparse.Namespace, session: AdminSession) -> int:
    site_ids = None if args.site_id is None else [args.site_id]
    for ward in await session.store.list_wards(site_ids=site_ids, include_retired=args.include_retired):
        session.say(f"{ward.ward_id}\t{ward.site_id}\t{ward.name}{_retired(args, ward.retired_at)}")
    return 0


async def _create_ward(args: argparse.Namespace, session: AdminSession) -> int:
    ward = await session.store.create_ward(Ward(args.ward_id, args.site_id, args.name))
    await session.audit("admin.create.ward", ward.ward_id, f"site {ward.site_id}")
    session.say(f"created ward {ward.ward_id}")
    return 0


async def _rename_ward(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.rename_ward(args.ward_id, name=args.name)
    await session.audit("admin.rename.ward", args.ward_id)
    session.say(f"renamed ward {args.ward_id}")
    return 0


async def _retire_ward(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.retire_ward(args.ward_id, at=session.clock())
    await session.audit("admin.retire.ward", args.ward_id)
    session.say(f"retired ward {args.ward_id}")
    return 0


async def _list_beds(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.get_ward(args.ward_id)
    for bed in await session.store.list_beds(args.ward_id, include_retired=args.include_retired):
        session.say(f"{bed.bed_id}\t{bed.label}{_retired(args, bed.retired_at)}")
    return 0


async def _create_bed(args: argparse.Namespace, session: AdminSession) -> int:
    bed = await session.store.create_bed(Bed(args.bed_id, args.ward_id, args.label))
    await session.audit("admin.create.bed", bed.bed_id, f"ward {bed.ward_id}")
    session.say(f"created bed {bed.bed_id}")
    return 0


async def _relabel_bed(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.rename_bed(args.bed_id, label=args.label)
    await session.audit("admin.rename.bed", args.bed_id)
    session.say(f"relabelled bed {args.bed_id}")
    return 0


async def _retire_bed(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.retire_bed(args.bed_id, at=session.clock())
    await session.audit("admin.retire.bed", args.bed_id)
    session.say(f"retired bed {args.bed_id}")
    return 0
