"""PostgresStore's reference data (sites, wards, beds, patients, stays, care teams) and devices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core import store_codec as codec
from core.errors import NotFound
from core.postgres_pool import _PostgresPool
from core.store_codec import require_utc, utc
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

__all__: list[str] = []  # parts of PostgresStore: import it from core.store_postgres

_DEVICE_COLUMNS = "device_id, site_id, kind, model, registered_at"
_PAIRING_COLUMNS = "device_id, patient_id, start_at, bed_id, end_at"
_STAY_COLUMNS = "stay_id, patient_id, ward_id, setting, start_at, bed_id, end_at"
_STATUS_COLUMNS = "device_id, online, reported_at, battery_percent, signal_dbm, firmware"
_OPEN_AT = "start_at <= %(at)s AND (end_at IS NULL OR %(at)s < end_at)"


class _PostgresReference(_PostgresPool):
    """Sites, wards, beds, patients, SpO2 scale decisions, stays, care teams; devices, pairings, status."""

    # --- reference data ------------------------------------------------------------------------------------
    async def upsert_site(self, site: Site) -> None:
        await self._exec(
            "INSERT INTO sites VALUES (%s, %s, %s) ON CONFLICT (site_id) DO UPDATE SET name = EXCLUDED.name, "
            "kind = EXCLUDED.kind",
            (site.site_id, site.name, site.kind.value),
        )

    async def upsert_ward(self, ward: Ward) -> None:
        await self._exec(
            "INSERT INTO wards VALUES (%s, %s, %s) ON CONFLICT (ward_id) DO UPDATE SET site_id = EXCLUDED.site_id, "
            "name = EXCLUDED.name",
            (ward.ward_id, ward.site_id, ward.name),
        )

    async def upsert_bed(self, bed: Bed) -> None:
        await self._exec(
            "INSERT INTO beds VALUES (%s, %s, %s) ON CONFLICT (bed_id) DO UPDATE SET ward_id = EXCLUDED.ward_id, "
            "label = EXCLUDED.label",
            (bed.bed_id, bed.ward_id, bed.label),
        )

    async def upsert_patient(self, patient: Patient) -> None:
        await self._exec(
            "INSERT INTO patients VALUES (%s, %s, %s) ON CONFLICT (patient_id) DO UPDATE SET "
            "display_name = EXCLUDED.display_name, birth_year = EXCLUDED.birth_year",
            (patient.patient_id, patient.display_name, patient.birth_year),
        )

    async def list_sites(self) -> list[Site]:
        rows = await self._fetch("SELECT site_id, name, kind FROM sites ORDER BY site_id")
        return [Site(site_id, name, SiteKind(kind)) for site_id, name, kind in rows]

    async def list_wards(self, *, site_ids: Sequence[str] | None = None) -> list[Ward]:
        rows = await self._fetch(
            "SELECT ward_id, site_id, name FROM wards WHERE %(all)s OR site_id = ANY(%(ids)s::text[]) ORDER BY ward_id",
            {"all": site_ids is None, "ids": list(site_ids or ())},
        )
        return [Ward(*row) for row in rows]

    async def get_ward(self, ward_id: str) -> Ward:
        rows = await self._fetch("SELECT ward_id, site_id, name FROM wards WHERE ward_id = %s", (ward_id,))
        if not rows:
            raise NotFound("ward", ward_id)
        return Ward(*rows[0])

    async def list_beds(self, ward_id: str) -> list[Bed]:
        rows = await self._fetch(
            "SELECT bed_id, ward_id, label FROM beds WHERE ward_id = %s ORDER BY bed_id", (ward_id,)
        )
        return [Bed(*row) for row in rows]

    async def get_patient(self, patient_id: str) -> Patient:
        rows = await self._fetch(
            "SELECT patient_id, display_name, birth_year FROM patients WHERE patient_id = %s", (patient_id,)
        )
        if not rows:
            raise NotFound("patient", patient_id)
        return Patient(*rows[0])

    async def set_spo2_scale(self, decision: SpO2ScaleDecision) -> None:
        await self._exec(
            "INSERT INTO spo2_scale_decisions (patient_id, scale, set_by, set_at) VALUES (%s, %s, %s, %s)",
            (decision.patient_id, decision.scale.value, decision.set_by, require_utc(decision.set_at)),
        )

    async def get_spo2_scale(self, patient_id: str) -> SpO2ScaleDecision | None:
        rows = await self._fetch(
            "SELECT patient_id, scale, set_by, set_at FROM spo2_scale_decisions WHERE patient_id = %s "
            "ORDER BY set_at DESC, id DESC LIMIT 1",
            (patient_id,),
        )
        if not rows:
            return None
        return codec.spo2_decision_from_row(rows[0], utc)

    async def add_stay(self, stay: Stay) -> None:
        await self._exec(
            f"INSERT INTO stays ({_STAY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (stay_id) DO UPDATE "
            "SET patient_id = EXCLUDED.patient_id, ward_id = EXCLUDED.ward_id, setting = EXCLUDED.setting, "
            "start_at = EXCLUDED.start_at, bed_id = EXCLUDED.bed_id, end_at = EXCLUDED.end_at",
            (
                stay.stay_id,
                stay.patient_id,
                stay.ward_id,
                stay.setting.value,
                require_utc(stay.start_at),
                stay.bed_id,
                stay.end_at,
            ),
        )

    async def end_stay(self, stay_id: str, *, end_at: datetime) -> None:
        if await self._exec("UPDATE stays SET end_at = %s WHERE stay_id = %s", (require_utc(end_at), stay_id)) == 0:
            raise NotFound("stay", stay_id)

    async def list_stays(self, *, ward_id: str, at: datetime) -> list[Stay]:
        rows = await self._fetch(
            f"SELECT {_STAY_COLUMNS} FROM stays WHERE ward_id = %(ward)s AND {_OPEN_AT} ORDER BY start_at, stay_id",
            {"ward": ward_id, "at": require_utc(at)},
        )
        return [codec.stay_from_row(row, utc) for row in rows]

    async def stays_of_patients(self, patient_ids: Sequence[str], *, at: datetime) -> dict[str, Stay]:
        rows = await self._fetch(
            f"SELECT {_STAY_COLUMNS} FROM stays WHERE patient_id = ANY(%(ids)s::text[]) AND {_OPEN_AT} "
            "ORDER BY start_at, stay_id",
            {"ids": list(patient_ids), "at": require_utc(at)},
        )
        return {stay.patient_id: stay for stay in (codec.stay_from_row(row, utc) for row in rows)}

    async def add_care_team_member(self, member: CareTeamMember) -> None:
        await self._exec(
            "INSERT INTO care_team VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (patient_id, member_id, role, start_at) "
            "DO UPDATE SET organisation = EXCLUDED.organisation, end_at = EXCLUDED.end_at",
            (
                member.patient_id,
                member.member_id,
                member.role.value,
                member.organisation,
                require_utc(member.start_at),
                member.end_at,
            ),
        )

    async def list_care_team(self, patient_id: str, *, at: datetime) -> list[CareTeamMember]:
        rows = await self._fetch(
            "SELECT patient_id, member_id, role, organisation, start_at, end_at FROM care_team "
            f"WHERE patient_id = %(patient)s AND {_OPEN_AT} ORDER BY start_at, member_id",
            {"patient": patient_id, "at": require_utc(at)},
        )
        return [codec.care_team_from_row(row, utc) for row in rows]

    # --- devices -------------------------------------------------------------------------------------------
    async def register_device(self, device: Device) -> None:
        await self._exec(
            f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (device_id) DO UPDATE "
            "SET site_id = EXCLUDED.site_id, kind = EXCLUDED.kind, model = EXCLUDED.model",
            (device.device_id, device.site_id, device.kind.value, device.model, require_utc(device.registered_at)),
        )

    async def get_device(self, device_id: str) -> Device:
        rows = await self._fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = %s", (device_id,))
        if not rows:
            raise NotFound("device", device_id)
        return codec.device_from_row(rows[0], utc)

    async def list_devices(self, *, site_ids: Sequence[str] | None = None) -> list[Device]:
        rows = await self._fetch(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE %(all)s OR site_id = ANY(%(ids)s::text[]) ORDER BY device_id",
            {"all": site_ids is None, "ids": list(site_ids or ())},
        )
        return [codec.device_from_row(row, utc) for row in rows]

    async def pair_device(self, pairing: Pairing) -> None:
        start_at = require_utc(pairing.start_at)
        async with self._connection() as conn, conn.transaction():
            # Serialise pairings of one device across processes (at most one open pairing per device).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("pairing:" + pairing.device_id,))
            cursor = await conn.execute(
                "SELECT patient_id, start_at FROM pairings WHERE device_id = %s AND end_at IS NULL",
                (pairing.device_id,),
            )
            if await cursor.fetchone() == (pairing.patient_id, start_at) and pairing.end_at is None:
                return  # the same pairing again (idempotent seeding)
            await conn.execute(
                "UPDATE pairings SET end_at = %s WHERE device_id = %s AND end_at IS NULL",
                (start_at, pairing.device_id),
            )
            await conn.execute(
                "INSERT INTO pairings (device_id, patient_id, bed_id, start_at, end_at) VALUES (%s, %s, %s, %s, %s)",
                (pairing.device_id, pairing.patient_id, pairing.bed_id, start_at, pairing.end_at),
            )

    async def unpair_device(self, device_id: str, *, end_at: datetime) -> None:
        await self._exec(
            "UPDATE pairings SET end_at = %s WHERE device_id = %s AND end_at IS NULL", (require_utc(end_at), device_id)
        )

    async def pairings_of_devices(self, device_ids: Sequence[str]) -> dict[str, list[Pairing]]:
        rows = await self._fetch(
            f"SELECT {_PAIRING_COLUMNS} FROM pairings WHERE device_id = ANY(%s::text[]) ORDER BY start_at, id",
            (list(device_ids),),
        )
        result: dict[str, list[Pairing]] = {}
        for row in rows:
            pairing = codec.pairing_from_row(row, utc)
            result.setdefault(pairing.device_id, []).append(pairing)
        return result

    async def save_device_status(self, status: DeviceStatus) -> None:
        await self._exec(
            f"INSERT INTO device_status AS ds ({_STATUS_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (device_id) DO UPDATE SET online = EXCLUDED.online, reported_at = EXCLUDED.reported_at, "
            "battery_percent = EXCLUDED.battery_percent, signal_dbm = EXCLUDED.signal_dbm, "
            "firmware = EXCLUDED.firmware WHERE EXCLUDED.reported_at >= ds.reported_at",
            (
                status.device_id,
                status.online,
                require_utc(status.reported_at),
                status.battery_percent,
                status.signal_dbm,
                status.firmware,
            ),
        )

    async def list_device_status(self, *, device_ids: Sequence[str] | None = None) -> list[DeviceStatus]:
        rows = await self._fetch(
            f"SELECT {_STATUS_COLUMNS} FROM device_status WHERE %(all)s OR device_id = ANY(%(ids)s::text[]) "
            "ORDER BY device_id",
            {"all": device_ids is None, "ids": list(device_ids or ())},
        )
        return [codec.device_status_from_row(row, utc) for row in rows]

    async def last_reading_at(self, device_ids: Sequence[str]) -> dict[str, datetime]:
        # One index probe per device (newest first) instead of aggregating every reading of the devices.
        rows = await self._fetch(
            "SELECT d.id, (SELECT max(o.measured_at) FROM observations o WHERE o.device_id = d.id) "
            "FROM unnest(%s::text[]) AS d(id)",
            (list(dict.fromkeys(device_ids)),),
        )
        return {device_id: utc(at) for device_id, at in rows if at is not None}
