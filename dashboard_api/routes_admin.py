"""Administration of places for role admin: sites, wards and beds created, renamed and retired; every change audited.

An admin token for some sites manages those sites' wards and beds; creating a site needs an all-sites admin token.
What lies outside the token's sites answers like what does not exist (404), naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from core.administration import AdminRefused
from core.errors import NotFound
from core.types import Bed, Role, Site, Ward
from dashboard_api.access import ApiContext, Ctx, audit
from dashboard_api.auth import Principal, require_roles
from dashboard_api.schemas_admin import BedIn, BedOut, BedRenameIn, RenameIn, SiteIn, SiteOut, WardIn, WardOut

__all__ = ["Admin", "admin_errors", "out_of_scope", "router", "visible_bed", "visible_ward"]

router = APIRouter(prefix="/admin", tags=["administration"])

Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
_ID = Query(max_length=64)


@contextmanager
def admin_errors() -> Iterator[None]:
    """AdminRefused as HTTP: 404 when the field names nothing (or nothing of the token's), else 409; the detail
    starts with the field's name and says what is in the way."""
    try:
        yield
    except AdminRefused as exc:
        code = status.HTTP_404_NOT_FOUND if exc.missing else status.HTTP_409_CONFLICT
        raise HTTPException(code, str(exc)) from None


def out_of_scope(field: str, what: str, key: str) -> HTTPException:
    # The same answer as for an id that does not exist: another site's ids are neither confirmed nor placed.
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{field}: no {what} {key!r}")


def _visible_site(principal: Principal, site_id: str, *, field: str = "site_id") -> None:
    if not principal.may_see(site_id):
        raise out_of_scope(field, "site", site_id)


async def visible_ward(ctx: ApiContext, principal: Principal, ward_id: str, *, field: str = "ward_id") -> Ward:
    """The ward (retired ones too), or 404 naming `field` when it does not exist or lies outside the token's sites."""
    try:
        found = await ctx.store.get_ward(ward_id)
    except NotFound:
        raise out_of_scope(field, "ward", ward_id) from None
    if not principal.may_see(found.site_id):
        raise out_of_scope(field, "ward", ward_id)
    return found


async def visible_bed(ctx: ApiContext, principal: Principal, bed_id: str) -> Bed:
    """The bed (retired ones too), or 404 naming bed_id when it does not exist or lies outside the token's sites."""
    with admin_errors():
        bed = await ctx.store.get_bed(bed_id)
    ward = await ctx.store.get_ward(bed.ward_id)
    if not principal.may_see(ward.site_id):
        raise out_of_scope("bed_id", "bed", bed_id)
    return bed


@router.get("/sites", response_model=list[SiteOut], summary="Sites of the token (retired ones on request)")
async def list_sites(ctx: Ctx, principal: Admin, include_retired: bool = False) -> list[SiteOut]:
    sites = await ctx.store.list_sites(include_retired=include_retired)
    return [SiteOut.of(site) for site in sites if principal.may_see(site.site_id)]


@router.post("/sites", response_model=SiteOut, status_code=status.HTTP_201_CREATED, summary="Create a site")
async def create_site(body: SiteIn, ctx: Ctx, principal: Admin) -> SiteOut:
    if not principal.all_sites:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "site_id: creating a site needs an all-sites admin token")
    with admin_errors():
        site = await ctx.store.create_site(Site(body.site_id, body.name, body.kind))
    await audit(ctx, principal, "admin.create.site", site.site_id, f"kind {site.kind.value}")
    return SiteOut.of(site)


@router.patch("/sites/{site_id}", response_model=SiteOut, summary="Rename a site")
async def rename_site(site_id: str, body: RenameIn, ctx: Ctx, principal: Admin) -> SiteOut:
    _visible_site(principal, site_id)
    with admin_errors():
        site = await ctx.store.rename_site(site_id, name=body.name)
    await audit(ctx, principal, "admin.rename.site", site_id)
    return SiteOut.of(site)


@router.post("/sites/{site_id}/retire", response_model=SiteOut, summary="Retire a site (none of its wards in use)")
async def retire_site(site_id: str, ctx: Ctx, principal: Admin) -> SiteOut:
    _visible_site(principal, site_id)
    with admin_errors():
        site = await ctx.store.retire_site(site_id, at=ctx.clock())
    await audit(ctx, principal, "admin.retire.site", site_id)
    return SiteOut.of(site)


@router.get("/wards", response_model=list[WardOut], summary="Wards of a site (or of every site of the token)")
async def list_wards(
    ctx: Ctx, principal: Admin, site_id: Annotated[str | None, _ID] = None, include_retired: bool = False
) -> list[WardOut]:
    if site_id is not None:
        _visible_site(principal, site_id)
    wards = await ctx.store.list_wards(site_ids=None if site_id is None else [site_id], include_retired=include_retired)
    return [WardOut.of(ward) for ward in wards if principal.may_see(ward.site_id)]


@router.post("/wards", response_model=WardOut, status_code=status.HTTP_201_CREATED, summary="Create a ward")
async def create_ward(body: WardIn, ctx: Ctx, principal: Admin) -> WardOut:
    _visible_site(principal, body.site_id)
    with admin_errors():
        ward = await ctx.store.create_ward(Ward(body.ward_id, body.site_id, body.name))
    await audit(ctx, principal, "admin.create.ward", ward.ward_id, f"site {ward.site_id}")
    return WardOut.of(ward)


@router.patch("/wards/{ward_id}", response_model=WardOut, summary="Rename a ward")
async def rename_ward(ward_id: str, body: RenameIn, ctx: Ctx, principal: Admin) -> WardOut:
    await visible_ward(ctx, principal, ward_id)
    with admin_errors():
        ward = await ctx.store.rename_ward(ward_id, name=body.name)
    await audit(ctx, principal, "admin.rename.ward", ward_id)
    return WardOut.of(ward)


@router.post("/wards/{ward_id}/retire", response_model=WardOut, summary="Retire a ward (no current stay in it)")
async def retire_ward(ward_id: str, ctx: Ctx, principal: Admin) -> WardOut:
    await visible_ward(ctx, principal, ward_id)
    with admin_errors():
        ward = await ctx.store.retire_ward(ward_id, at=ctx.clock())
    await audit(ctx, principal, "admin.retire.ward", ward_id)
    return WardOut.of(ward)


@router.get("/beds", response_model=list[BedOut], summary="Beds of a ward")
async def list_beds(
    ctx: Ctx, principal: Admin, ward_id: Annotated[str, _ID], include_retired: bool = False
) -> list[BedOut]:
    await visible_ward(ctx, principal, ward_id)
    return [BedOut.of(bed) for bed in await ctx.store.list_beds(ward_id, include_retired=include_retired)]


@router.post("/beds", response_model=BedOut, status_code=status.HTTP_201_CREATED, summary="Create a bed")
async def create_bed(body: BedIn, ctx: Ctx, principal: Admin) -> BedOut:
    await visible_ward(ctx, principal, body.ward_id)
    with admin_errors():
        bed = await ctx.store.create_bed(Bed(body.bed_id, body.ward_id, body.label))
    await audit(ctx, principal, "admin.create.bed", bed.bed_id, f"ward {bed.ward_id}")
    return BedOut.of(bed)


@router.patch("/beds/{bed_id}", response_model=BedOut, summary="Relabel a bed")
async def rename_bed(bed_id: str, body: BedRenameIn, ctx: Ctx, principal: Admin) -> BedOut:
    await visible_bed(ctx, principal, bed_id)
    with admin_errors():
        bed = await ctx.store.rename_bed(bed_id, label=body.label)
    await audit(ctx, principal, "admin.rename.bed", bed_id)
    return BedOut.of(bed)


@router.post("/beds/{bed_id}/retire", response_model=BedOut, summary="Retire a bed (no current stay in it)")
async def retire_bed(bed_id: str, ctx: Ctx, principal: Admin) -> BedOut:
    await visible_bed(ctx, principal, bed_id)
    with admin_errors():
        bed = await ctx.store.retire_bed(bed_id, at=ctx.clock())
    await audit(ctx, principal, "admin.retire.bed", bed_id)
    return BedOut.of(bed)
