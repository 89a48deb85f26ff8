"""`vaktrom admin patients|admit|transfer|discharge|enrol|end-home`: patients and their stays.

A national identity number is never an argument (it would stay in the shell's history and show in `ps`): with
`--national-id-stdin` it is read from standard input (one line, e.g. piped from a file, or typed at the prompt).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime

from core.administration import AdminRefused, StayChange, new_stay_id
from core.national_id import InvalidNationalId, NationalId, parse_national_id
from core.types import AlertState, Patient
from vaktrom.admin_command import AdminSession, Subparsers, identifier, leaf, name_text

__all__ = ["add_admin_parsers", "moment"]

# Nobody born before 1880 is alive (the API's bound).
_BORN_FROM, _BORN_UNTIL = 1880, 2100


def moment(value: str) -> datetime:
    """An argparse type: an ISO 8601 time with its offset, e.g. 2025-01-31T08:00:00+01:00."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time, e.g. 2025-01-31T08:00:00+01:00") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs its offset, e.g. 2025-01-31T08:00:00+01:00")
    return parsed


def _birth_year(value: str) -> int:
    if not value.isdigit() or not _BORN_FROM <= int(value) <= _BORN_UNTIL:
        raise argparse.ArgumentTypeError(f"must be a year from {_BORN_FROM} to {_BORN_UNTIL}")
    return int(value)


def add_admin_parsers(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser(
        "patients", help="patients: create, show, rename, stays", description="Patients: a pseudonymous id, the "
        "name staff see, and optionally the national identity number (read from standard input, never an argument)."
    )  # fmt: skip
    actions = group.add_subparsers(dest="patients_command", required=True, metavar="ACTION")
    create = leaf(actions, "create", _create, "register a patient")
    create.add_argument("--id", required=True, dest="patient_id", type=identifier, help="pseudonymous patient id")
    create.add_argument("--name", required=True, type=name_text, help="display name staff see on the board")
    create.add_argument("--birth-year", type=_birth_year, help="year of birth")
    create.add_argument(
        "--national-id-stdin", action="store_true", help="read the fødselsnummer or D-number from standard input"
    )
    show = leaf(actions, "show", _show, "show a patient and their current stay (audited)")
    show.add_argument("patient_id", type=identifier, help="patient id")
    show.add_argument("--reveal-national-id", action="store_true", help="print the national identity number")
    rename = leaf(actions, "rename", _rename, "change a patient's display name")
    rename.add_argument("patient_id", type=identifier, help="patient id")
    rename.add_argument("--name", required=True, type=name_text, help="the new display name")
    stays = leaf(actions, "stays", _stays, "every stay of a patient, oldest first (audited)")
    stays.add_argument("patient_id", type=identifier, help="patient id")
    _stay_commands(subparsers)


def _stay_commands(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    admit = leaf(subparsers, "admit", _admit, "admit a patient to a free bed")
    admit.add_argument("patient_id", type=identifier, help="patient id")
    admit.add_argument("--bed", required=True, dest="bed_id", type=identifier, help="bed id")
    admit.add_argument("--at", type=moment, help="when (ISO 8601 with offset; default now, never in the future)")
    transfer = leaf(subparsers, "transfer", _transfer, "move a patient to another free bed, in this unit or another")
    transfer.add_argument("patient_id", type=identifier, help="patient id")
    transfer.add_argument("--bed", required=True, dest="bed_id", type=identifier, help="the bed to move to")
    discharge = leaf(subparsers, "discharge", _discharge, "end a patient's stay in a bed")
    discharge.add_argument("patient_id", type=identifier, help="patient id")
    enrol = leaf(subparsers, "enrol", _enrol, "enrol a patient in a home-monitoring programme")
    enrol.add_argument("patient_id", type=identifier, help="patient id")
    enrol.add_argument("--ward", required=True, dest="ward_id", type=identifier, help="a home programme's ward")
    enrol.add_argument("--at", type=moment, help="when (ISO 8601 with offset; default now, never in the future)")
    end_home = leaf(subparsers, "end-home", _end_home, "end a patient's home follow-up")
    end_home.add_argument("patient_id", type=identifier, help="patient id")


def _read_national_id() -> NationalId:
    line = getpass.getpass("National identity number: ") if sys.stdin.isatty() else sys.stdin.readline()
    try:
        return parse_national_id(line.strip())
    except InvalidNationalId as exc:
        raise AdminRefused("national_id", reason=str(exc)) from None


def _when(session: AdminSession, at: datetime | None) -> datetime:
    now = session.clock()
    if at is not None and at > now:
        raise AdminRefused("at", reason=f"{at.isoformat()} is in the future")
    return now if at is None else at


async def _create(args: argparse.Namespace, session: AdminSession) -> int:
    number = _read_national_id() if args.national_id_stdin else None
    patient = Patient(args.patient_id, args.name, args.birth_year)
    await session.store.create_patient(patient, national_id=number, at=session.clock(), by=session.actor)
    detail = "national id recorded" if number is not None else "no national id"
    await session.audit("admin.create.patient", patient.patient_id, detail, patient_id=patient.patient_id)
    session.say(f"created patient {patient.patient_id}")
    return 0


async def _show(args: argparse.Namespace, session: AdminSession) -> int:
    patient = await session.store.get_patient(args.patient_id)
    number = await session.store.national_id_of(args.patient_id)
    current = (await session.store.stays_of_patients([args.patient_id], at=session.clock())).get(args.patient_id)
    shown = args.reveal_national_id and number is not None
    await session.audit(
        "admin.read.patient", args.patient_id, "national id shown" if shown else "", patient_id=args.patient_id
    )
    session.say(f"patient_id\t{patient.patient_id}")
    session.say(f"display_name\t{patient.display_name}")
    session.say(f"birth_year\t{patient.birth_year or ''}")
    national = "none" if number is None else (number.value if shown else "recorded (--reveal-national-id to print)")
    session.say(f"national_id\t{national}")
    where = "none" if current is None else f"{current.stay_id} {current.bed_id or 'home'} in {current.ward_id}"
    session.say(f"current_stay\t{where}")
    return 0


async def _rename(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.change_patient(args.patient_id, display_name=args.name, at=session.clock(), by=session.actor)
    await session.audit("admin.change.patient", args.patient_id, "changed: display_name", patient_id=args.patient_id)
    session.say(f"renamed patient {args.patient_id}")
    return 0


async def _stays(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.get_patient(args.patient_id)
    history = await session.store.stay_history(args.patient_id)
    await session.audit("admin.read.stays", args.patient_id, patient_id=args.patient_id)
    for stay in history:
        end = stay.end_at.isoformat() if stay.end_at else "current"
        place = stay.bed_id or "home"
        session.say(f"{stay.stay_id}\t{stay.ward_id}\t{place}\t{stay.start_at.isoformat()}\t{end}")
    return 0


async def _report(session: AdminSession, action: str, patient_id: str, change: StayChange) -> int:
    stay = change.started or change.ended
    assert stay is not None
    place = f"bed {stay.bed_id}" if stay.bed_id else f"ward {stay.ward_id}"
    await session.audit(f"admin.{action}", patient_id, f"{place} stay {stay.stay_id}", patient_id=patient_id)
    if change.ended is not None:
        session.say(
            f"ended stay {change.ended.stay_id} at {change.ended.end_at.isoformat() if change.ended.end_at else ''}"
        )
    if change.started is not None:
        session.say(f"started stay {change.started.stay_id} ({place}) at {change.started.start_at.isoformat()}")
    for device_id in change.devices_unpaired:
        session.say(f"unpaired device {device_id}")
    for device_id in change.devices_paired:
        session.say(f"paired device {device_id}")
    for alert in change.alerts:  # the ward screens show it at their next snapshot (the CLI has no broker)
        done = "resolved" if alert.state is AlertState.RESOLVED else f"moved to ward {alert.ward_id}"
        session.say(f"{done} alert {alert.alert_id} ({alert.message})")
    return 0


async def _admit(args: argparse.Namespace, session: AdminSession) -> int:
    at = _when(session, args.at)
    change = await session.store.admit(patient_id=args.patient_id, bed_id=args.bed_id, stay_id=new_stay_id(), at=at)
    return await _report(session, "admit", args.patient_id, change)


async def _transfer(args: argparse.Namespace, session: AdminSession) -> int:
    change = await session.store.transfer(
        patient_id=args.patient_id, bed_id=args.bed_id, stay_id=new_stay_id(), at=session.clock()
    )
    return await _report(session, "transfer", args.patient_id, change)


async def _discharge(args: argparse.Namespace, session: AdminSession) -> int:
    change = await session.store.discharge(patient_id=args.patient_id, at=session.clock())
    return await _report(session, "discharge", args.patient_id, change)


async def _enrol(args: argparse.Namespace, session: AdminSession) -> int:
    at = _when(session, args.at)
    change = await session.store.enrol_home(
        patient_id=args.patient_id, ward_id=args.ward_id, stay_id=new_stay_id(), at=at
    )
    return await _report(session, "enrol", args.patient_id, change)


async def _end_home(args: argparse.Namespace, session: AdminSession) -> int:
    change = await session.store.end_home(patient_id=args.patient_id, at=session.clock())
    return await _report(session, "end-home", args.patient_id, change)
