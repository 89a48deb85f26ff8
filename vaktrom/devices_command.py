"""`vaktrom devices`: onboard devices from the command line (register, list, show, pair, unpair, rotate, revoke,
decommission) on the configured store and broker, audited as "cli:<login name>" like `vaktrom admin`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from core.onboarding import DEVICE_TYPES
from core.settings import Settings
from core.types import Device, DeviceKind
from devices import onboarding, registry
from devices.broker_accounts import BrokerAccounts
from devices.fleet import heard_from
from vaktrom.admin_command import AdminSession, Subparsers, run_admin

__all__ = ["add_parser"]

_DeviceFunc = Callable[[argparse.Namespace, AdminSession, BrokerAccounts], Awaitable[int]]


def _when(text: str) -> datetime:
    """An ISO 8601 time with its offset (2025-03-01T08:00:00+01:00); a bare date is midnight UTC."""
    try:
        value = datetime.fromisoformat(text if "T" in text else text + "T00:00:00+00:00")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2025-03-01T08:00:00+01:00"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset: add one, e.g. +01:00 or Z")
    return value


def add_parser(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    devices = subparsers.add_parser(
        "devices",
        help="onboard devices: register (credentials shown once), list, show, pair, unpair, rotate, revoke",
        description="Work on the configured store and broker (VAKTROM_DATABASE_URL / VAKTROM_MQTT_URL, or the "
        "embedded ones under VAKTROM_DATA_DIR). Credentials are applied to the broker at once; with Mosquitto "
        "through its dynamic-security plugin as <VAKTROM_MQTT_API_CLIENT_ID>-admin (docs/DEVICES.md). Every "
        "change is audited as cli:<login name>.",
    )
    sub = devices.add_subparsers(dest="devices_command", required=True, metavar="SUBCOMMAND")
    register = sub.add_parser("register", help="register a device and print its credentials (shown this once)")
    register.add_argument("device_id", help="the device's id: also its MQTT user name and client id")
    register.add_argument("--site", required=True, help="the site it belongs to")
    register.add_argument("--kind", required=True, choices=[k.value for k in DeviceKind])
    register.add_argument("--model", required=True)
    register.add_argument("--serial", required=True)
    register.add_argument("--firmware")
    register.add_argument("--calibration-due", type=_when, help="date or time the next calibration is due")
    register.set_defaults(device_func=_register)
    listing = sub.add_parser("list", help="devices with their onboarding state, credential age and pairing")
    listing.add_argument("--site", help="only this site")
    listing.set_defaults(device_func=_list)
    for name, func, text in (
        ("show", _show, "one device: profile, state, credential, history"),
        ("rotate", _rotate, "issue new credentials (printed once); the old ones stop working at once"),
        ("revoke", _revoke, "revoke its credentials: its connection is closed and it cannot log in again"),
        ("decommission", _decommission, "retire it for good (must be unpaired; history kept)"),
    ):
        leaf = sub.add_parser(name, help=text)
        leaf.add_argument("device_id")
        leaf.set_defaults(device_func=func)
    pair = sub.add_parser("pair", help="attribute its readings to a patient (in the stay's bed by default)")
    pair.add_argument("device_id")
    pair.add_argument("--patient", required=True)
    pair.add_argument("--bed")
    pair.add_argument("--at", type=_when, help="a correction back in time (refused past an attributed reading)")
    pair.set_defaults(device_func=_pair)
    unpair = sub.add_parser("unpair", help="end its current pairing")
    unpair.add_argument("device_id")
    unpair.add_argument("--at", type=_when, help="a correction back in time (refused past an attributed reading)")
    unpair.set_defaults(device_func=_unpair)
    devices.set_defaults(func=_cmd_devices)


def _cmd_devices(args: argparse.Namespace) -> int:
    from vaktrom.wiring import device_accounts_of

    settings = Settings(config_file=args.config) if args.config else Settings()
    accounts = device_accounts_of(settings)
    func: _DeviceFunc = args.device_func

    async def with_accounts(parsed: argparse.Namespace, session: AdminSession) -> int:
        return await func(parsed, session, accounts)

    return asyncio.run(run_admin(settings, with_accounts, args))


async def _register(args: argparse.Namespace, session: AdminSession, accounts: BrokerAccounts) -> int:
    device = Device(args.device_id, args.site, DeviceKind(args.kind), args.model, session.clock())
    issued = await onboarding.onboard_device(
        session.store, accounts, device=device, serial=args.serial, firmware=args.firmware,
        calibration_due_at=args.calibration_due, actor=session.actor,
    )  # fmt: skip
    await session.audit("register.device", device.device_id, f"site {device.site_id}; credentials issued")
    _print_credentials(session, issued)
    return 0


async def _rotate(args: argparse.Namespace, session: AdminSession, accounts: BrokerAccounts) -> int:
    issued = await onboarding.rotate_credentials(
        session.store, accounts, device_id=args.device_id, actor=session.actor, at=session.clock()
    )
    await session.audit("rotate.device", args.device_id, "new credentials issued; old ones revoked")
    _print_credentials(session, issued)
    return 0


async def _revoke(args: argparse.Namespace, session: AdminSession, accounts: BrokerAccounts) -> int:
    await onboarding.revoke_device(session.store, accounts, device_id=args.device_id, actor=session.actor,
                                   at=session.clock())  # fmt: skip
    await session.audit("revoke.device", args.device_id, "credentials revoked")
    session.say(f"Device {args.device_id} revoked: disconnected, and its credentials no longer work.")
    return 0


async def _decommission(args: argparse.Namespace, session: AdminSession, accounts: BrokerAccounts) -> int:
    await onboarding.decommission_device(session.store, accounts, device_id=args.device_id, actor=session.actor,
                                         at=session.clock())  # fmt: skip
    await session.audit("decommission.device", args.device_id, "retired")
    session.say(f"Device {args.device_id} decommissioned; its history is kept.")
    return 0


async def _pair(args: argparse.Namespace, session: AdminSession, _: BrokerAccounts) -> int:
    now = session.clock()
    pairing = await onboarding.pair_device(
        session.store, device_id=args.device_id, patient_id=args.patient, bed_id=args.bed, actor=session.actor,
        at=args.at or now, now=now,
    )  # fmt: skip
    await session.audit("pair.device", args.patient, f"device {args.device_id} bed {pairing.bed_id}",
                        patient_id=args.patient)  # fmt: skip
    place = f"bed {pairing.bed_id}" if pairing.bed_id else "home"
    session.say(
        f"Device {args.device_id} paired to patient {args.patient} ({place}) from {pairing.start_at.isoformat()}"
    )
    return 0


async def _unpair(args: argparse.Namespace, session: AdminSession, _: BrokerAccounts) -> int:
    now = session.clock()
    pairing = await onboarding.unpair_device(session.store, device_id=args.device_id, actor=session.actor,
                                             at=args.at or now, now=now)  # fmt: skip
    await session.audit("unpair.device", pairing.patient_id, f"device {args.device_id}", patient_id=pairing.patient_id)
    assert pairing.end_at is not None
    session.say(f"Device {args.device_id} unpaired from patient {pairing.patient_id} at {pairing.end_at.isoformat()}")
    return 0


async def _list(args: argparse.Namespace, session: AdminSession, _: BrokerAccounts) -> int:
    store = session.store
    devices = await store.list_devices(site_ids=[args.site] if args.site else None)
    ids = [d.device_id for d in devices]
    profiles, credentials = await store.device_profiles(ids), await store.current_credentials(ids)
    heard = await heard_from(store, ids, now=session.clock())
    pairings = await store.pairings_of_devices(ids)
    now = session.clock()
    session.say(f"{'DEVICE':<20} {'SITE':<16} {'KIND':<16} {'STATE':<15} {'CREDENTIAL':<22} PAIRED TO")
    for device in devices:
        open_pairing = next((p for p in pairings.get(device.device_id, []) if p.end_at is None), None)
        state = onboarding.lifecycle(profiles.get(device.device_id), paired=open_pairing is not None,
                                     heard_from=device.device_id in heard)  # fmt: skip
        credential = credentials.get(device.device_id)
        age = f"{(now - credential.issued_at).days} d old" if credential else "none issued"
        target = (open_pairing.bed_id or "home") if open_pairing else "-"
        session.say(f"{device.device_id:<20} {device.site_id:<16} {device.kind.value:<16} {state.value:<15} "
                    f"{age:<22} {target}")  # fmt: skip
    return 0


async def _show(args: argparse.Namespace, session: AdminSession, _: BrokerAccounts) -> int:
    store = session.store
    device = await store.get_device(args.device_id)
    ids = [device.device_id]
    profile = (await store.device_profiles(ids)).get(device.device_id)
    credential = (await store.current_credentials(ids)).get(device.device_id)
    pairing = await registry.current_pairing(store, device.device_id)
    heard = device.device_id in await heard_from(store, ids, now=session.clock())
    kind = DEVICE_TYPES[device.kind]
    session.say(f"{device.device_id}: {device.kind.value} {device.model} at site {device.site_id}")
    session.say(f"  state:        {onboarding.lifecycle(profile, paired=pairing is not None, heard_from=heard).value}")
    session.say(f"  serial:       {profile.serial if profile else '(registered before onboarding records)'}")
    session.say(f"  firmware:     {(profile.firmware if profile else None) or '-'}")
    due = profile.calibration_due_at.isoformat() if profile and profile.calibration_due_at else "-"
    session.say(f"  calibration:  due {due}")
    session.say(f"  measures:     {', '.join(kind.vitals)} ({kind.measurement.value}, heard at least every "
                f"{kind.expected_interval_s} s)")  # fmt: skip
    if credential is None:
        session.say("  credential:   none current")
    else:
        session.say(f"  credential:   issued {credential.issued_at.isoformat()} by {credential.issued_by}, "
                    f"expires {credential.expires_at.isoformat()}")  # fmt: skip
    for event in await store.device_events(device.device_id):
        session.say(f"  {event.at.isoformat()}  {event.event:<15} {event.actor:<16} {event.detail}")
    return 0


def _print_credentials(session: AdminSession, issued: onboarding.IssuedCredential) -> None:
    session.say("Credentials for the device (shown this once; vaktrom keeps only a hash):")
    session.say(f"  user name / client id: {issued.device_id}")
    session.say(f"  password:              {issued.password}")
    session.say(f"  expires:               {issued.expires_at.isoformat()}")
