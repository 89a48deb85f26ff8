"""What the patient view's trend charts read: NEWS2 over time and each vital per 5-minute bucket, audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx

from core.store.sqlite import SqliteStore
from core.types import ClinicalRisk, Role
from tests.dashboard_api.conftest import NOW, Seeded, TokenFactory, auth

SEEDED_AT = NOW - timedelta(seconds=30)  # when seed() measured Ola's pulse and SpO2 and scored him NEWS2 5


async def test_news2_history_is_every_score_of_the_last_day_oldest_first(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    [five] = (await store.current_scores(["p1"])).values()
    older = replace(five, computed_at=NOW - timedelta(hours=3), total=2, risk=ClinicalRisk.LOW)
    too_old = replace(five, computed_at=NOW - timedelta(hours=25), total=9)
    await store.save_scores([older, too_old])

    response = await api.get("/api/v1/patients/p1/scores/history", headers=auth(token()))

    assert response.status_code == 200
    body = response.json()
    assert [(s["total"], s["risk"], s["computed_at"]) for s in body["scores"]] == [
        (2, "low", "2025-01-15T05:00:00Z"),
        (5, "medium", "2025-01-15T07:59:30Z"),
    ]
    assert (body["since"], body["until"], body["truncated"]) == ("2025-01-14T08:00:00Z", "2025-01-15T08:00:00Z", False)
    [entry] = [a for a in await store.list_audit(limit=5) if a.action == "read.score_history"]
    assert (entry.user_id, entry.subject) == ("nurse-anne", "p1")


async def test_vitals_trend_is_one_row_per_parameter_and_bucket(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded
) -> None:
    response = await api.get("/api/v1/patients/p1/observations/trend", headers=auth(token(Role.SPECIALIST)))

    assert response.status_code == 200
    body = response.json()
    assert body["bucket_s"] == 300
    # Buckets count 5 minutes from 08:00 yesterday: 07:59:30 falls in the one starting 07:55.
    assert [(b["parameter"], b["starts_at"], b["count"], b["mean"], b["low"], b["high"]) for b in body["buckets"]] == [
        ("pulse", "2025-01-15T07:55:00Z", 1, 112.0, 112.0, 112.0),
        ("resp_rate", "2025-01-15T05:55:00Z", 1, 22.0, 22.0, 22.0),
        ("spo2", "2025-01-15T07:55:00Z", 1, 93.0, 93.0, 93.0),
    ]


async def test_too_many_buckets_or_a_naive_time_are_refused_with_what_to_change(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded
) -> None:
    fine = await api.get("/api/v1/patients/p1/observations/trend", params={"bucket_s": 10}, headers=auth(token()))
    assert fine.status_code == 422
    assert fine.json()["detail"] == "At most 2000 buckets: choose a longer bucket_s"
    naive = await api.get(
        "/api/v1/patients/p1/scores/history", params={"since": "2025-01-15T00:00:00"}, headers=auth(token())
    )
    assert naive.status_code == 422


async def test_another_sites_patient_is_refused_and_the_attempt_audited(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    for path in ("scores/history", "observations/trend"):
        response = await api.get(f"/api/v1/patients/p3/{path}", headers=auth(token()))
        assert (response.status_code, response.json()) == (404, {"detail": "Patient p3 has no current stay"})
    denied = [a.action for a in await store.list_audit(limit=5) if a.subject == "p3"]
    assert sorted(denied) == ["denied.read.observation_trend", "denied.read.score_history"]


async def test_a_technician_sees_no_patient_history(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded
) -> None:
    response = await api.get("/api/v1/patients/p1/scores/history", headers=auth(token(Role.TECHNICIAN)))
    assert response.status_code == 403
