"""A closed worklist item journalled as FHIR: every produced resource validates (fhir.resources' R4B models, the
closest it ships to R4 4.0.1: the resources used here are the same in both), coded from the VKP code systems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.observation import Observation
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.vkp_fhir import VKP_ALERT_CODE_SYSTEM, VKP_DETECTED_ISSUE_PROFILE, worklist_bundle
from core.homecare import VkpCode, WorklistEvent, WorklistItem, WorklistKind, WorklistState
from core.types import Parameter, Reading

OPENS = datetime(2026, 12, 2, 7, tzinfo=UTC)
CLOSES = OPENS + timedelta(hours=1)
CLOSED_AT = CLOSES + timedelta(minutes=40)
ITEM = WorklistItem(
    item_id="9f1c2b7d",
    site_id="hjemme",
    patient_id="p-4",
    kind=WorklistKind.MISSED_MEASUREMENT,
    vkp_code=VkpCode.MEASUREMENT_NOT_REPORTED,
    summary="Measurement not reported: spo2 (window 2026-12-02 08:00-09:00 Europe/Oslo)",
    opened_at=CLOSES,
    state=WorklistState.CLOSED,
    missing_loinc=("59408-5",),
    window_opens_at=OPENS,
    window_closes_at=CLOSES,
    owner="cli:ola",
    closed_at=CLOSED_AT,
    outcome="measured",
)
HISTORY = [
    WorklistEvent(ITEM.item_id, CLOSES, "system", "opened", ITEM.summary),
    WorklistEvent(ITEM.item_id, CLOSED_AT - timedelta(minutes=5), "cli:ola", "claimed"),
    WorklistEvent(ITEM.item_id, CLOSED_AT, "cli:ola", "closed", "Ringte, målte 95 % på telefon"),
]
PULSE = Reading("kit-4", "p-4", Parameter.PULSE, 72, OPENS + timedelta(minutes=10), OPENS + timedelta(minutes=10))


READ_PARAMETERS = [
    Parameter.SPO2,
    Parameter.PULSE,
    Parameter.TEMPERATURE,
    Parameter.SYSTOLIC_BP,
    Parameter.CONSCIOUSNESS,
]


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_a_closed_missed_measurement_is_a_valid_bundle_with_its_vkp_code_outcome_and_observations() -> None:
    bundle = worklist_bundle(ITEM, HISTORY, [PULSE])

    Bundle.model_validate(bundle)  # raises on anything FHIR does not allow
    (issue,) = _resources(bundle, "DetectedIssue")
    DetectedIssue.model_validate(issue)
    assert issue["meta"]["profile"] == [VKP_DETECTED_ISSUE_PROFILE]
    assert issue["code"]["coding"] == [
        {"system": VKP_ALERT_CODE_SYSTEM, "code": "5.3.2", "display": "Måling ikke rapportert"}
    ]
    assert (issue["status"], issue["patient"]) == ("final", {"reference": "Patient/p-4"})
    assert issue["evidence"][0]["code"][0]["coding"] == [{"system": "http://loinc.org", "code": "59408-5"}]
    assert issue["mitigation"][0]["action"]["text"] == "measured: Ringte, målte 95 % på telefon"
    assert issue["mitigation"][0]["author"] == {"reference": "Practitioner/cli-ola"}  # ':' is not allowed in ids
    (observation,) = _resources(bundle, "Observation")
    Observation.model_validate(observation)
    assert issue["implicated"] == [{"reference": f"Observation/{observation['id']}"}]
    assert observation["code"]["coding"][0]["code"] == "8867-4"  # heart rate, LOINC
    assert observation["valueQuantity"] == {
        "value": 72, "unit": "beat/min", "system": "http://unitsofmeasure.org", "code": "/min",
    }  # fmt: skip
    assert [p["id"] for p in _resources(bundle, "Practitioner")] == ["cli-ola"]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(list(WorklistKind)),
    state=st.sampled_from(list(WorklistState)),
    patient_id=st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
    actor=st.from_regex(r"[A-Za-z0-9_.:@-]{1,128}", fullmatch=True),
    text=st.text(min_size=1, max_size=200).filter(str.strip),
    readings=st.lists(st.tuples(st.sampled_from(READ_PARAMETERS), st.floats(min_value=0, max_value=300)), max_size=4),
)
def test_every_item_vaktrom_can_hold_gives_a_valid_bundle(
    kind: WorklistKind,
    state: WorklistState,
    patient_id: str,
    actor: str,
    text: str,
    readings: list[tuple[Parameter, float]],
) -> None:
    code = VkpCode.INACTIVE_PATIENT if kind is WorklistKind.INACTIVE_PATIENT else VkpCode.MEASUREMENT_NOT_REPORTED
    item = WorklistItem(
        item_id="a1", site_id="s", patient_id=patient_id, kind=kind, vkp_code=code, summary=text, opened_at=CLOSES,
        state=state, owner=actor, closed_at=CLOSED_AT if state is WorklistState.CLOSED else None,
        outcome="measured" if state is WorklistState.CLOSED else None,
    )  # fmt: skip
    history = [WorklistEvent("a1", CLOSES, actor, "note", text)]
    if state is WorklistState.CLOSED:
        history.append(WorklistEvent("a1", CLOSED_AT, actor, "closed", text))
    rows = [Reading("kit", patient_id, p, v, OPENS, OPENS) for p, v in readings]

    Bundle.model_validate(worklist_bundle(item, history, rows))
