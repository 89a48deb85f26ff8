"""The GP's daily summary in the store, on SQLite and PostgreSQL: a schedule when a GP joins a care team, fired once
at 08:00 with the patients' alerts of the day, and the summary sent like any other delivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson

from alerts.digests import compose_digest
from alerts.timers import fire_due_summaries
from core.escalation import ContactPoint, DeliveryPurpose, DeliveryState, RecipientRateLimit, WebhookEndpoint
from core.store import Store
from core.types import (
    AlertKind,
    AlertSeverity,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    Patient,
    Site,
    SiteKind,
    Stay,
    Ward,
)
from tests.core.conftest import StoreFactory

JOINED = datetime(2025, 1, 13, 12, 0, tzinfo=UTC)
FIRST_DUE = datetime(2025, 1, 14, 7, 0, tzinfo=UTC)  # 08:00 in Oslo the next morning


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def gp_with_two_patients(store: Store) -> None:
    """dr-gp is GP of pat-1 (in a sykestue bed) and pat-2 (at home); dr-other is GP of pat-3; a nurse of pat-1 too."""
    await store.upsert_site(Site("s1", "Kautokeino sykestue", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("w1", "s1", "Senger"))
    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", "http://127.0.0.1:9/hook", b"secret", "gateway"))
    for n, gp in ((1, "dr-gp"), (2, "dr-gp"), (3, "dr-other")):
        await store.upsert_patient(Patient(f"pat-{n}", f"Patient {n}"))
        setting = CareSetting.HOME if n == 2 else CareSetting.BEDSIDE
        await store.add_stay(Stay(f"st{n}", f"pat-{n}", "w1", setting, JOINED - timedelta(days=5)))
        await store.add_care_team_member(CareTeamMember(f"pat-{n}", gp, CareTeamRole.GP, "Legekontoret", JOINED))
        await store.set_contact_points(gp, [ContactPoint(gp, "gw", f"phone-{gp}")])
    nurse = CareTeamMember("pat-1", "nurse-home", CareTeamRole.MUNICIPAL_NURSE, "Hjemmetjenesten", JOINED)
    await store.add_care_team_member(nurse)


async def news2_alert(store: Store, patient_id: str, at: datetime, *, kind: AlertKind = AlertKind.NEWS2) -> int:
    change = await store.raise_alert(
        patient_id=patient_id, device_id=None, ward_id="w1", kind=kind, severity=AlertSeverity.HIGH,
        message="NEWS2 7", at=at,
    )  # fmt: skip
    return change.alert.alert_id


async def test_a_gp_joining_a_care_team_gets_a_summary_due_the_next_morning_and_a_nurse_does_not(
    store: Store,
) -> None:
    await gp_with_two_patients(store)
    schedule = await store.digest_schedule("dr-gp")
    assert schedule is not None and (schedule.next_due_at, schedule.covered_from) == (FIRST_DUE, JOINED)
    assert await store.digest_schedule("nurse-home") is None


async def test_the_summary_lists_the_gps_own_patients_alerts_of_the_day_once(store: Store) -> None:
    await gp_with_two_patients(store)
    first = await news2_alert(store, "pat-1", JOINED + timedelta(hours=9))
    await news2_alert(store, "pat-3", JOINED + timedelta(hours=9))  # another GP's patient
    clock = Clock(FIRST_DUE + timedelta(seconds=1))
    assert await fire_due_summaries(store, clock) == 2  # dr-gp and dr-other
    assert await fire_due_summaries(store, clock) == 0  # fired once: the schedule moved on

    [summary] = [d for d, _ in await store.claim_deliveries(clock(), lease_s=30) if d.person_id == "dr-gp"]
    assert (summary.purpose, summary.alert_id, summary.address) == (DeliveryPurpose.DIGEST, None, "phone-dr-gp")
    body = orjson.loads(summary.body)
    assert [(p["patient_id"], [a["alert_id"] for a in p["alerts"]]) for p in body["patients"]] == [("pat-1", [first])]
    schedule = await store.digest_schedule("dr-gp")
    assert schedule is not None and (schedule.next_due_at, schedule.covered_from) == (
        FIRST_DUE + timedelta(days=1),
        FIRST_DUE,
    )


async def test_an_alert_resolved_before_the_day_is_not_repeated_and_a_quiet_day_sends_nothing(store: Store) -> None:
    await gp_with_two_patients(store)
    alert_id = await news2_alert(store, "pat-2", JOINED + timedelta(hours=1))
    await store.resolve_alert(alert_id, at=JOINED + timedelta(hours=2), by="dr-lund", reason="treated")
    await fire_due_summaries(store, Clock(FIRST_DUE))
    for sent, _ in await store.claim_deliveries(FIRST_DUE, lease_s=30):  # the first day's summary goes out
        await store.record_delivery(sent.delivery_id, DeliveryState.DELIVERED, at=FIRST_DUE)
    await fire_due_summaries(store, Clock(FIRST_DUE + timedelta(days=1)))
    assert await store.claim_deliveries(FIRST_DUE + timedelta(days=1), lease_s=30) == []


async def test_two_workers_at_eight_send_each_summary_once(open_store: StoreFactory) -> None:
    first, second = await open_store(), await open_store()
    await gp_with_two_patients(first)
    await news2_alert(first, "pat-1", JOINED + timedelta(hours=9))
    await news2_alert(first, "pat-3", JOINED + timedelta(hours=9))
    at = FIRST_DUE + timedelta(seconds=1)
    counts = await asyncio.gather(
        first.fire_due_digests(at, compose_digest), second.fire_due_digests(at, compose_digest)
    )
    assert sum(len(c) for c in counts) == 2
    claimed = await first.claim_deliveries(at, lease_s=30, rate=RecipientRateLimit(10, 60.0))
    assert sorted(d.person_id for d, _ in claimed) == ["dr-gp", "dr-other"]


async def test_the_summary_shows_a_patients_alerts_only_from_while_the_gp_was_on_their_care_team(store: Store) -> None:
    """dr-gp leaves pat-2's team at 14:00 and joins pat-4's at 18:00: only alerts unresolved during those hours."""
    await gp_with_two_patients(store)
    await store.upsert_patient(Patient("pat-4", "Patient 4"))
    await store.add_stay(Stay("st4", "pat-4", "w1", CareSetting.BEDSIDE, JOINED - timedelta(days=5)))
    before_left = await news2_alert(store, "pat-2", JOINED + timedelta(hours=1))
    await store.end_care_team_membership("pat-2", "dr-gp", role=CareTeamRole.GP, at=JOINED + timedelta(hours=2))
    await news2_alert(store, "pat-2", JOINED + timedelta(hours=9), kind=AlertKind.PATIENT_LIMIT)  # after leaving
    done_before_joining = await news2_alert(store, "pat-4", JOINED + timedelta(hours=1))
    await store.resolve_alert(done_before_joining, at=JOINED + timedelta(hours=3), by="dr-lund", reason="treated")
    still_open = await news2_alert(store, "pat-4", JOINED + timedelta(hours=4), kind=AlertKind.PATIENT_LIMIT)
    await store.add_care_team_member(
        CareTeamMember("pat-4", "dr-gp", CareTeamRole.GP, "Legekontoret", JOINED + timedelta(hours=6))
    )

    clock = Clock(FIRST_DUE + timedelta(seconds=1))
    await fire_due_summaries(store, clock)

    [summary] = [d for d, _ in await store.claim_deliveries(clock(), lease_s=30) if d.person_id == "dr-gp"]
    body = orjson.loads(summary.body)
    assert [(p["patient_id"], [a["alert_id"] for a in p["alerts"]]) for p in body["patients"]] == [
        ("pat-2", [before_left]),
        ("pat-4", [still_open]),
    ]
