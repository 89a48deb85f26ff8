"""A worklist item as FHIR R4, in the style of HL7 Norway's VKP (Velferdsteknologi) DHO profiles: a `DetectedIssue`
coded with the VKP alert code, the `Observation`s it implicates (vital-signs profile, LOINC, UCUM), who handled it and
the outcome; exported for the patient's record (docs/HOME_AND_TEAMS.md, "Journalling").

Plain JSON (dicts): vaktrom produces resources, it does not need a FHIR object model at run time; the tests validate
every produced resource with `fhir.resources`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from core.homecare import VkpCode, WorklistEvent, WorklistItem, WorklistState
from core.thresholds import TriageColour
from core.types import Parameter, Reading
from core.vocabulary import measurement_of

__all__ = [
    "VKP_ALERT_CODE_SYSTEM",
    "VKP_DETECTED_ISSUE_PROFILE",
    "VKP_DISPLAY",
    "VKP_TRIAGE_SYSTEM",
    "worklist_bundle",
]

VKP_ALERT_CODE_SYSTEM = "http://ehelse.no/fhir/CodeSystem/vkp-alert-code-v090"
VKP_DETECTED_ISSUE_PROFILE = "http://ehelse.no/fhir/StructureDefinition/vkp-DetectedIssue-v090"
VITAL_SIGNS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# Identifier systems of vaktrom's own ids (pseudonymous patient ids, user ids): URNs, no host to resolve.
PATIENT_ID_SYSTEM = "urn:vaktrom:patient-id"
USER_ID_SYSTEM = "urn:vaktrom:user-id"
# The displays of the VKP alert code system (v0.9.0, Direktoratet for e-helse) for the codes vaktrom raises.
VKP_DISPLAY = {
    VkpCode.INACTIVE_PATIENT: "Inaktiv pasient",
    VkpCode.MEASUREMENT_NOT_REPORTED: "Måling ikke rapportert",
    VkpCode.MEASUREMENT_REPORTED: "Måledata rapportert",
}
VKP_TRIAGE_SYSTEM = "http://ehelse.no/fhir/CodeSystem/vkp-triage-v090"
# DetectedIssue.severity (FHIR's own high | moderate | low) of each triage colour; the colour itself goes with it.
_SEVERITY = {
    TriageColour.RED: "high",
    TriageColour.ORANGE: "high",
    TriageColour.YELLOW: "moderate",
    TriageColour.GREEN: "low",
    TriageColour.BLUE: "low",
}
# UCUM for vaktrom's canonical units (core/vocabulary.py); the vital-signs profile's units.
_UCUM = {"/min": "/min", "%": "%", "mmHg": "mm[Hg]", "beat/min": "/min", "Cel": "Cel"}
# The vital-signs profile asks for its own code beside a more specific one (SpO2 by pulse oximetry is 59408-5).
_VITAL_SIGNS_CODE = {Parameter.SPO2: ("2708-6", "Oxygen saturation in Arterial blood")}


def _fhir_id(value: str) -> str:
    """A FHIR id ([A-Za-z0-9.-], at most 64): vaktrom's ids with anything else (the ':' of "cli:ola") as '-'."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", value)[:64]


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _reference(kind: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"{kind}/{_fhir_id(resource_id)}"}


def _loinc_coding(parameter: Parameter) -> list[dict[str, str]]:
    measurement = measurement_of(parameter)
    codings = [{"system": LOINC, "code": measurement.loinc, "display": parameter.value}]
    if parameter in _VITAL_SIGNS_CODE:
        code, display = _VITAL_SIGNS_CODE[parameter]
        codings.append({"system": LOINC, "code": code, "display": display})
    return codings


def _vkp_coding(code: VkpCode) -> dict[str, str]:
    return {"system": VKP_ALERT_CODE_SYSTEM, "code": code.value, "display": VKP_DISPLAY[code]}


def _triage_coding(colour: TriageColour) -> dict[str, str]:
    return {"system": VKP_TRIAGE_SYSTEM, "code": colour.value, "display": colour.display}


def _observation(reading: Reading, index: int, colour: TriageColour | None = None) -> dict[str, Any]:
    unit = measurement_of(reading.parameter).canonical_unit
    observation = _vital_sign(reading, index, unit)
    if colour is not None:  # the colour this reading triaged to under the patient's personal thresholds
        observation["interpretation"] = [{"coding": [_triage_coding(colour)], "text": colour.display}]
    return observation


def _vital_sign(reading: Reading, index: int, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{index}",
        "meta": {"profile": [VITAL_SIGNS_PROFILE]},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": _loinc_coding(reading.parameter)},
        "subject": _reference("Patient", reading.patient_id),
        "effectiveDateTime": _instant(reading.measured_at),
        "valueQuantity": {"value": reading.value, "unit": unit, "system": UCUM, "code": _UCUM.get(unit, unit)},
        "device": {"identifier": {"system": "urn:vaktrom:device-id", "value": reading.device_id}},
    }


def _detected_issue(item: WorklistItem, history: Sequence[WorklistEvent], observation_ids: Sequence[str]) -> Any:
    closed = next((e for e in history if e.action == "closed"), None)
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": _fhir_id(item.item_id),
        "meta": {"profile": [VKP_DETECTED_ISSUE_PROFILE]},
        "status": "final" if item.state is WorklistState.CLOSED else "preliminary",
        "code": {
            "coding": [
                {"system": VKP_ALERT_CODE_SYSTEM, "code": item.vkp_code.value, "display": VKP_DISPLAY[item.vkp_code]}
            ],
            "text": item.summary,
        },
        "patient": _reference("Patient", item.patient_id),
        "identifiedDateTime": _instant(item.opened_at),
        "detail": item.summary,
    }
    if item.missing_loinc:  # what was not reported, as the evidence of the issue
        issue["evidence"] = [{"code": [{"coding": [{"system": LOINC, "code": c} for c in item.missing_loinc]}]}]
    if observation_ids:
        issue["implicated"] = [_reference("Observation", i) for i in observation_ids]
    if item.triage_colour is not None:  # the profiles bind no element to the triage codes: evidence carries them
        issue["severity"] = _SEVERITY.get(item.triage_colour, "low")
        evidence: dict[str, Any] = {"code": [{"coding": [_triage_coding(item.triage_colour)]}]}
        if observation_ids:
            evidence["detail"] = [_reference("Observation", i) for i in observation_ids]
        issue["evidence"] = [*issue.get("evidence", []), evidence]
    if closed is not None:
        issue["author"] = _reference("Practitioner", closed.actor)
        issue["mitigation"] = [
            {
                "action": {"text": f"{item.outcome}: {closed.text}"},
                "date": _instant(closed.at),
                "author": _reference("Practitioner", closed.actor),
            }
        ]
    return issue


def worklist_bundle(
    item: WorklistItem,
    history: Sequence[WorklistEvent],
    readings: Sequence[Reading],
    colours: Mapping[Reading, TriageColour] | None = None,
) -> Any:
    """A `collection` Bundle: the DetectedIssue, the patient (by pseudonymous id only), every person who acted on
    the item, and the readings it implicates (numeric vital signs), each with the triage colour it had under the
    patient's personal thresholds where `colours` gives one."""
    numeric = [r for r in readings if r.parameter not in (Parameter.CONSCIOUSNESS, Parameter.SUPPLEMENTAL_O2)]
    colours = colours or {}
    observations = [_observation(r, n, colours.get(r)) for n, r in enumerate(numeric, start=1)]
    people = sorted({e.actor for e in history if e.actor != "system"})
    resources: list[dict[str, Any]] = [
        _detected_issue(item, history, [o["id"] for o in observations]),
        {
            "resourceType": "Patient",
            "id": _fhir_id(item.patient_id),
            "identifier": [{"system": PATIENT_ID_SYSTEM, "value": item.patient_id}],
        },
        *(
            {"resourceType": "Practitioner", "id": _fhir_id(p), "identifier": [{"system": USER_ID_SYSTEM, "value": p}]}
            for p in people
        ),
        *observations,
    ]
    return {
        "resourceType": "Bundle",
        "id": _fhir_id(f"worklist-{item.item_id}"),
        "type": "collection",
        "timestamp": _instant(item.closed_at or item.opened_at),
        "entry": [{"fullUrl": f"urn:vaktrom:{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
