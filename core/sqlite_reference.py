"""SqliteStore's reference data (sites, wards, beds, patients, stays, care teams) and devices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core import store_codec as codec
from core.errors import NotFound
from core.sqlite_worker import _Conn, _marks, _SqliteWorker
from core.store_codec import from_us, to_us
from core.types import (
    Bed,
    CareTeamMember,
    Device,
    DeviceStatus,
    Pairing,
    Patient,
    Site,
    SiteKind,
    SpO2ScaleDecision,
    Stay,
    Ward,
)

__all__: list[str] = []  # parts of SqliteStore: import it from core.store_sqlite

_DEVICE_COLUMNS = "device_id, site_id, kind, model, registered_at"
_PAIRING_COLUMNS = "device_id, patient_id, start_at, bed_id, end_at"
_STAY_COLUMNS = "stay_id, patient_id, ward_id, setting, start_at, bed_id, end_at"
_STATUS_COLUMNS = "device_id, online, reported_at, battery_percent, signal_dbm, firmware"


def _opt_us(at: datetime | None) -> int | None:
    return None if at is None else to_us(at)


def _open_at(start: str, end: str) -> str:
    return f"{start} <= ? AND ({end} IS NULL OR ? < {end})"


class _SqliteReference(_SqliteWorker):
    """Sites, wards, beds, patients, SpO2 scale decisions, stays, care teams; devices, pairings, status."""

    # --- reference data ------------------------------------------------------------------------------------
    async def upsert_site(self, site: Site) -> None:
        await self._exec(
            "INSERT INTO sites VALUES (?, ?, ?) ON CONFLICT (site_id) DO UPDATE SET name = excluded.name, "
            "kind = excluded.kind",
            (site.site_id, site.name, site.kind.value),
        )

    async def upsert_ward(self, ward: Ward) -> None:
        await self._exec(
            "INSERT INTO wards VALUES (?, ?, ?) ON CONFLICT (ward_id) DO UPDATE SET site_id = excluded.site_id, "
            "name = excluded.name",
            (ward.ward_id, ward.site_id, ward.name),
        )

    async def upsert_bed(self, bed: Bed) -> None:
        await self._exec(
            "INSERT INTO beds VALUES (?, ?, ?) ON CONFLICT (bed_id) DO UPDATE SET ward_id = excluded.ward_id, "
            "label = excluded.label",
            (bed.bed_id, bed.ward_id, bed.label),
        )

    async def upsert_patient(self, patient: Patient) -> None:
        await self._exec(
            "INSERT INTO patients VALUES (?, ?, ?) ON CONFLICT (patient_id) DO UPDATE SET "
            "display_name = excluded.display_name, birth_year = excluded.birth_year",
            (patient.patient_id, patient.display_name, patient.birth_year),
        )

    async def list_sites(self) -> list[Site]:
        rows = await self._fetch("SELECT site_id, name, kind FROM sites ORDER BY site_id")
        return [Site(site_id, name, SiteKind(kind)) for site_id, name, kind in rows]

    async def list_wards(self, *, site_ids: Sequence[str] | None = None) -> list[Ward]:
        if site_ids is None:
            rows = await self._fetch("SELECT ward_id, site_id, name FROM wards ORDER BY ward_id")
        else:
            rows = await self._fetch(
                f"SELECT ward_id, site_id, name FROM wards WHERE site_id IN ({_marks(site_ids)}) ORDER BY ward_id",
                list(site_ids),
            )
        return [Ward(*row) for row in rows]

    async def get_ward(self, ward_id: str) -> Ward:
        rows = await self._fetch("SELECT ward_id, site_id, name FROM wards WHERE ward_id = ?", (ward_id,))
        if not rows:
            raise NotFound("ward", ward_id)
        return Ward(*rows[0])

    async def list_beds(self, ward_id: str) -> list[Bed]:
        rows = await self._fetch(
            "SELECT bed_id, ward_id, label FROM beds WHERE ward_id = ? ORDER BY bed_id", (ward_id,)
        )
        return [Bed(*row) for row in rows]

    async def get_patient(self, patient_id: str) -> Patient:
        rows = await self._fetch(
            "SELECT patient_id, display_name, birth_year FROM patients WHERE patient_id = ?", (patient_id,)
        )
        if not rows:
            raise NotFound("patient", patient_id)
        return Patient(*rows[0])

    async def set_spo2_scale(self, decision: SpO2ScaleDecision) -> None:
        await self._exec(
            "INSERT INTO spo2_scale_decisions (patient_id, scale, set_by, set_at) VALUES (?, ?, ?, ?)",
            (decision.patient_id, decision.scale.value, decision.set_by, to_us(decision.set_at)),
        )

    async def get_spo2_scale(self, patient_id: str) -> SpO2ScaleDecision | None:
        rows = await self._fetch(
            "SELECT patient_id, scale, set_by, set_at FROM spo2_scale_decisions WHERE patient_id = ? "
            "ORDER BY set_at DESC, id DESC LIMIT 1",
            (patient_id,),
        )
        if not rows:
            return None
        return codec.spo2_decision_from_row(rows[0], from_us)

    async def add_stay(self, stay: Stay) -> None:
        await self._exec(
            f"INSERT OR REPLACE INTO stays ({_STAY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                stay.stay_id,
                stay.patient_id,
                stay.ward_id,
                stay.setting.value,
                to_us(stay.start_at),
                stay.bed_id,
                _opt_us(stay.end_at),
            ),
        )

    async def end_stay(self, stay_id: str, *, end_at: datetime) -> None:
        def end(conn: _Conn) -> None:
            if conn.execute("UPDATE stays SET end_at = ? WHERE stay_id = ?", (to_us(end_at), stay_id)).rowcount == 0:
                raise NotFound("stay", stay_id)

        await self._write(end)

    async def list_stays(self, *, ward_id: str, at: datetime) -> list[Stay]:
        at_us = to_us(at)
        rows = await self._fetch(
            f"SELECT {_STAY_COLUMNS} FROM stays WHERE ward_id = ? AND {_open_at('start_at', 'end_at')} "
            "ORDER BY start_at, stay_id",
            (ward_id, at_us, at_us),
        )
        return [codec.stay_from_row(row, from_us) for row in rows]

    async def stays_of_patients(self, patient_ids: Sequence[str], *, at: datetime) -> dict[str, Stay]:
        at_us = to_us(at)
        rows = await self._fetch(
            f"SELECT {_STAY_COLUMNS} FROM stays WHERE patient_id IN ({_marks(patient_ids)}) "
            f"AND {_open_at('start_at', 'end_at')} ORDER BY start_at, stay_id",
            [*patient_ids, at_us, at_us],
        )
        return {stay.patient_id: stay for stay in (codec.stay_from_row(row, from_us) for row in rows)}

    async def add_care_team_member(self, member: CareTeamMember) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO care_team VALUES (?, ?, ?, ?, ?, ?)",
            (
                member.patient_id,
                member.member_id,
                member.role.value,
                member.organisation,
                to_us(member.start_at),
                _opt_us(member.end_at),
            ),
        )

    async def list_care_team(self, patient_id: str, *, at: datetime) -> list[CareTeamMember]:
        at_us = to_us(at)
        rows = await self._fetch(
            "SELECT patient_id, member_id, role, organisation, start_at, end_at FROM care_team "
            f"WHERE patient_id = ? AND {_open_at('start_at', 'end_at')} ORDER BY start_at, member_id",
            (patient_id, at_us, at_us),
        )
        return [codec.care_team_from_row(row, from_us) for row in rows]

    # --- devices -------------------------------------------------------------------------------------------
    async def register_device(self, device: Device) -> None:
        await self._exec(
            f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
            "site_id = excluded.site_id, kind = excluded.kind, model = excluded.model",
            (device.device_id, device.site_id, device.kind.value, device.model, to_us(device.registered_at)),
        )

    async def get_device(self, device_id: str) -> Device:
        rows = await self._fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ?", (device_id,))
        if not rows:
            raise NotFound("device", device_id)
        return codec.device_from_row(rows[0], from_us)

    async def list_devices(self, *, site_ids: Sequence[str] | None = None) -> list[Device]:
        if site_ids is None:
            rows = await self._fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY device_id")
        else:
            rows = await self._fetch(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE site_id IN ({_marks(site_ids)}) ORDER BY device_id",
                list(site_ids),
            )
        return [codec.device_from_row(row, from_us) for row in rows]

    async def pair_device(self, pairing: Pairing) -> None:
        start_us = to_us(pairing.start_at)

        def pair(conn: _Conn) -> None:
            open_row = conn.execute(
                "SELECT patient_id, start_at FROM pairings WHERE device_id = ? AND end_at IS NULL",
                (pairing.device_id,),
            ).fetchone()
            if open_row == (pairing.patient_id, start_us) and pairing.end_at is None:
                return  # the same pairing again (idempotent seeding)
            conn.execute(
                "UPDATE pairings SET end_at = ? WHERE device_id = ? AND end_at IS NULL", (start_us, pairing.device_id)
            )
            conn.execute(
                "INSERT INTO pairings (device_id, patient_id, bed_id, start_at, end_at) VALUES (?, ?, ?, ?, ?)",
                (pairing.device_id, pairing.patient_id, pairing.bed_id, start_us, _opt_us(pairing.end_at)),
            )

        await self._write(pair)

    async def unpair_device(self, device_id: str, *, end_at: datetime) -> None:
        await self._exec(
            "UPDATE pairings SET end_at = ? WHERE device_id = ? AND end_at IS NULL", (to_us(end_at), device_id)
        )

    async def pairings_of_devices(self, device_ids: Sequence[str]) -> dict[str, list[Pairing]]:
        rows = await self._fetch(
            f"SELECT {_PAIRING_COLUMNS} FROM pairings WHERE device_id IN ({_marks(device_ids)}) ORDER BY start_at, id",
            list(device_ids),
        )
        result: dict[str, list[Pairing]] = {}
        for row in rows:
            pairing = codec.pairing_from_row(row, from_us)
            result.setdefault(pairing.device_id, []).append(pairing)
        return result

    async def save_device_status(self, status: DeviceStatus) -> None:
        await self._exec(
            f"INSERT INTO device_status ({_STATUS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) "
            "DO UPDATE SET online = excluded.online, reported_at = excluded.reported_at, "
            "battery_percent = excluded.battery_percent, signal_dbm = excluded.signal_dbm, "
            "firmware = excluded.firmware WHERE excluded.reported_at >= device_status.reported_at",
            (
                status.device_id,
                int(status.online),
                to_us(status.reported_at),
                status.battery_percent,
                status.signal_dbm,
                status.firmware,
            ),
        )

    async def list_device_status(self, *, device_ids: Sequence[str] | None = None) -> list[DeviceStatus]:
        if device_ids is None:
            rows = await self._fetch(f"SELECT {_STATUS_COLUMNS} FROM device_status ORDER BY device_id")
        else:
            rows = await self._fetch(
                f"SELECT {_STATUS_COLUMNS} FROM device_status WHERE device_id IN ({_marks(device_ids)}) "
                "ORDER BY device_id",
                list(device_ids),
            )
        return [codec.device_status_from_row(row, from_us) for row in rows]

    async def last_reading_at(self, device_ids: Sequence[str]) -> dict[str, datetime]:
        def newest(conn: _Conn) -> dict[str, datetime]:
            result: dict[str, datetime] = {}
            for device_id in dict.fromkeys(device_ids):  # one indexed MAX per device
                (at_us,) = conn.execute(
                    "SELECT MAX(measured_at) FROM observations WHERE device_id = ?", (device_id,)
                ).fetchone()
                if at_us is not None:
                    result[device_id] = from_us(at_us)
            return result

        return await self._run(newest)
