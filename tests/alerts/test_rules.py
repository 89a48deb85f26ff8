"""Which NEWS2 scores alert, at what severity, and what the nurse reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.rules import alert_message, news2_alert_severity
from core.types import NEWS2_PARAMETERS, AlertSeverity, Parameter, PatientScore
from scoring.news2 import clinical_risk

AT = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def _score(scores: dict[Parameter, int], *, missing: tuple[Parameter, ...] = ()) -> PatientScore:
    """A score as the scorer would build it: every parameter not in `missing` scored (0 unless given)."""
    full = {p: scores.get(p, 0) for p in NEWS2_PARAMETERS if p not in missing}
    total = sum(full.values())
    single_param_3 = 3 in full.values()
    return PatientScore(
        patient_id="p1",
        computed_at=AT,
        total=total,
        complete=not missing,
        risk=clinical_risk(total, single_param_3=single_param_3),
        single_param_3=single_param_3,
        parameter_scores=full,
        missing=missing,
    )


RR, SPO2, OXY, SBP, HR, ACVPU, TEMP = NEWS2_PARAMETERS


@pytest.mark.parametrize(
    ("scores", "missing", "severity"),
    [
        ({}, (), None),  # 0: routine monitoring
        ({RR: 2, HR: 2}, (), None),  # 4: low, the nurse assesses
        ({ACVPU: 3}, (), AlertSeverity.LOW_MEDIUM),  # a single 3
        ({RR: 3, HR: 1}, (), AlertSeverity.LOW_MEDIUM),  # 4 with a single 3
        ({RR: 2, HR: 2, TEMP: 1}, (), AlertSeverity.MEDIUM),  # 5
        ({RR: 2, SPO2: 1, OXY: 2, SBP: 1}, (), AlertSeverity.MEDIUM),  # 6
        ({ACVPU: 3, HR: 2}, (), AlertSeverity.MEDIUM),  # 5 with a single 3: medium wins
        ({RR: 2, SPO2: 1, OXY: 2, SBP: 1, HR: 1}, (), AlertSeverity.HIGH),  # 7
        ({RR: 2, SPO2: 1, OXY: 2, SBP: 1, HR: 2, TEMP: 1}, (), AlertSeverity.HIGH),  # the worked example, 9
        ({RR: 3, SPO2: 3, OXY: 2, SBP: 3, HR: 3, ACVPU: 3, TEMP: 3}, (), AlertSeverity.HIGH),  # 20, the maximum
        ({RR: 2, HR: 2, TEMP: 1}, (SPO2, OXY), AlertSeverity.MEDIUM),  # incomplete and already 5
        ({RR: 3, HR: 3, TEMP: 2}, (SPO2, OXY, SBP, ACVPU), AlertSeverity.HIGH),  # incomplete and already 8
        (
            {ACVPU: 3},
            (RR, SPO2, OXY, SBP, HR, TEMP),
            AlertSeverity.LOW_MEDIUM,
        ),  # only consciousness charted, and it is V
        ({RR: 2}, (SPO2, OXY, SBP, HR, ACVPU, TEMP), None),  # incomplete below every threshold: no alert yet
    ],
)
def test_news2_alert_severity(
    scores: dict[Parameter, int], missing: tuple[Parameter, ...], severity: AlertSeverity | None
) -> None:
    assert news2_alert_severity(_score(scores, missing=missing)) is severity


@pytest.mark.parametrize(
    ("scores", "missing", "message"),
    [
        ({RR: 2, SPO2: 1, OXY: 2, SBP: 1, HR: 1}, (), "NEWS2 7 (high risk) — emergency response"),
        ({RR: 2, HR: 2, TEMP: 1}, (), "NEWS2 5 (medium risk) — urgent response: inform the doctor now"),
        (
            {ACVPU: 3},
            (),
            "NEWS2 3 (low-medium risk: 3 in consciousness) — urgent ward-based response: inform the doctor",
        ),
        (
            {RR: 3, SBP: 3},
            (SPO2, OXY, HR, ACVPU, TEMP),
            "NEWS2 ≥6 (medium risk; incomplete: no SpO2, no air or oxygen, no pulse, no consciousness,"
            " no temperature) — urgent response: inform the doctor now",
        ),
        (
            {RR: 2, HR: 2, SPO2: 1},
            (TEMP,),
            "NEWS2 ≥5 (medium risk; incomplete: no temperature) — urgent response: inform the doctor now",
        ),
        (
            {RR: 3, HR: 1},
            (TEMP,),
            "NEWS2 ≥4 (low-medium risk: 3 in respiration rate; incomplete: no temperature)"
            " — urgent ward-based response: inform the doctor",
        ),
        ({RR: 1}, (), "NEWS2 1 (low risk) — nurse assesses"),
    ],
)
def test_alert_message_tells_the_nurse_score_risk_and_response(
    scores: dict[Parameter, int], missing: tuple[Parameter, ...], message: str
) -> None:
    assert alert_message(_score(scores, missing=missing)) == message
