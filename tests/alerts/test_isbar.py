"""The ISBAR message a doctor on call reads on a pager: what each part must say, from the facts it is made of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.isbar import isbar_of
from core.alert_facts import AlertFacts, ScorePoint
from core.types import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertState,
    Bed,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    ClinicalRisk,
    LatestValue,
    Parameter,
    Patient,
    PatientLimit,
    PatientScore,
    RiskAssessment,
    RiskLevel,
    Site,
    SiteKind,
    SpO2Scale,
    SpO2ScaleDecision,
    Stay,
    Ward,
)

# 21:40 in Oslo in winter (UTC+1)
NOW = datetime(2025, 1, 14, 20, 40, tzinfo=UTC)
SITE = Site("s1", "Kautokeino sykestue", SiteKind.SYKESTUE)
WARD = Ward("w1", "s1", "Senger")
PATIENT = Patient("pat-7", "Ola Nordmann", 1948)
VALUES = {
    Parameter.RESP_RATE: 26.0,
    Parameter.SPO2: 91.0,
    Parameter.SUPPLEMENTAL_O2: 0.0,
    Parameter.SYSTOLIC_BP: 98.0,
    Parameter.PULSE: 118.0,
    Parameter.CONSCIOUSNESS: 0.0,
    Parameter.TEMPERATURE: 38.6,
}
# RR 26 -> 3, SpO2 91 scale 1 -> 3, air 0, SBP 98 -> 2, pulse 118 -> 2, alert 0, 38.6 -> 1: total 11 (NEWS2.md)
POINTS = {
    Parameter.RESP_RATE: 3,
    Parameter.SPO2: 3,
    Parameter.SUPPLEMENTAL_O2: 0,
    Parameter.SYSTOLIC_BP: 2,
    Parameter.PULSE: 2,
    Parameter.CONSCIOUSNESS: 0,
    Parameter.TEMPERATURE: 1,
}


def alert(kind: AlertKind = AlertKind.NEWS2, severity: AlertSeverity = AlertSeverity.HIGH, **kw: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": 42,
        "patient_id": "pat-7",
        "ward_id": "w1",
        "kind": kind,
        "severity": severity,
        "state": AlertState.OPEN,
        "message": "NEWS2 11 (high risk) — emergency response",
        "opened_at": NOW - timedelta(minutes=4),
        "updated_at": NOW - timedelta(minutes=4),
    } | kw
    return Alert(**fields)  # type: ignore[arg-type]


def score(total: int = 11, **kw: object) -> PatientScore:
    fields: dict[str, object] = {
        "patient_id": "pat-7",
        "computed_at": NOW - timedelta(seconds=20),
        "total": total,
        "complete": True,
        "risk": ClinicalRisk.HIGH,
        "single_param_3": True,
        "parameter_scores": POINTS,
    } | kw
    return PatientScore(**fields)  # type: ignore[arg-type]


def bedside(**kw: object) -> AlertFacts:
    fields: dict[str, object] = {
        "alert": alert(),
        "at": NOW,
        "site": SITE,
        "ward": WARD,
        "bed": Bed("b3", "w1", "3"),
        "patient": PATIENT,
        "stay": Stay("st1", "pat-7", "w1", CareSetting.BEDSIDE, NOW - timedelta(days=2, hours=3), bed_id="b3"),
        "score": score(),
        "latest": {p: LatestValue(p, v, NOW - timedelta(seconds=20), "mon-3") for p, v in VALUES.items()},
        "trend": (
            ScorePoint(6, 2, True, NOW - timedelta(hours=6, minutes=1)),
            ScorePoint(2, 5, True, NOW - timedelta(hours=2, minutes=1)),
            ScorePoint(1, 7, True, NOW - timedelta(hours=1, minutes=1)),
        ),
    } | kw
    return AlertFacts(**fields)  # type: ignore[arg-type]


def test_identify_names_the_patient_the_unit_and_the_bed_and_the_alert() -> None:
    text = isbar_of(bedside()).identify
    assert "Ola Nordmann (pat-7, born 1948)" in text
    assert "Kautokeino sykestue (sykestue), Senger, bed 3" in text
    assert "Alert 42: NEWS2, high priority" in text


def test_situation_says_what_crossed_when_in_local_time_and_the_values_now() -> None:
    text = isbar_of(bedside()).situation
    assert text.startswith("NEWS2 11 (high risk) — emergency response.")
    assert "Opened 14.01 21:36 (4 min ago), open." in text  # Europe/Oslo, UTC+1 in January
    for words in (
        "respiration rate 26 /min",
        "SpO2 91 % (scale 1)",
        "on air",
        "systolic BP 98 mmHg",
        "pulse 118 /min",
        "consciousness alert",
        "temperature 38.6 °C",
    ):
        assert words in text


def test_a_value_older_than_ten_minutes_shows_its_age() -> None:
    latest = {Parameter.TEMPERATURE: LatestValue(Parameter.TEMPERATURE, 38.6, NOW - timedelta(minutes=45), "thermo")}
    assert "temperature 38.6 °C (45 min ago)" in isbar_of(bedside(latest=latest)).situation


def test_an_acknowledged_alert_says_who_acknowledged_and_when() -> None:
    acked = alert(
        state=AlertState.ACKNOWLEDGED, acknowledged_by="nurse-kari", acknowledged_at=NOW - timedelta(minutes=1)
    )
    assert "acknowledged by nurse-kari at 14.01 21:39" in isbar_of(bedside(alert=acked)).situation


def test_background_gives_the_length_of_stay_the_spo2_scale_and_the_care_team() -> None:
    team = (
        CareTeamMember("pat-7", "lar-alta", CareTeamRole.LAR_TEAM, "LAR Vest-Finnmark", NOW - timedelta(days=300)),
        CareTeamMember("pat-7", "dr-gp", CareTeamRole.GP, "Kautokeino legekontor", NOW - timedelta(days=900)),
    )
    scale = SpO2ScaleDecision("pat-7", SpO2Scale.SCALE_2, "dr-lund", NOW - timedelta(days=1))
    text = isbar_of(bedside(care_team=team, spo2_scale=scale)).background
    assert "In a sykestue bed since 12.01 18:40: day 3 of the stay (51 h); continuously monitored." in text
    assert "SpO2 scale 2 (target 88-92 %) prescribed by dr-lund on 13.01 21:40." in text
    assert "lar team lar-alta (LAR Vest-Finnmark)" in text
    assert "gp dr-gp (Kautokeino legekontor)" in text


def test_background_of_a_patient_with_no_team_or_decision_says_so() -> None:
    text = isbar_of(bedside()).background
    assert "SpO2 scale 1." in text
    assert "Care team: none recorded." in text


def test_assessment_gives_the_components_and_the_trend_up_to_now() -> None:
    text = isbar_of(bedside()).assessment
    assert "NEWS2 11 at 14.01 21:39:" in text
    assert "respiration rate 3, SpO2 3, air or oxygen 0, systolic BP 2, pulse 2, consciousness 0, temperature 1" in text
    assert "Trend: 2 6 h ago, 5 2 h ago, 7 1 h ago, 11 now." in text


def test_an_incomplete_score_is_a_lower_bound_and_names_what_is_missing() -> None:
    partial = score(total=7, complete=False, missing=(Parameter.TEMPERATURE,))
    text = isbar_of(bedside(score=partial)).assessment
    assert "NEWS2 at least 7 (incomplete)" in text
    assert "missing: temperature" in text


def test_a_raised_ml_flag_is_given_with_its_reasons_as_advice() -> None:
    risk = RiskAssessment("pat-7", NOW, 0.31, RiskLevel.RAISED, ("respiration rate not below 16 /min in 24 h",))
    text = isbar_of(bedside(risk=risk)).assessment
    assert "ML deterioration flag raised (respiration rate not below 16 /min in 24 h); advisory" in text


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (AlertSeverity.HIGH, "Emergency response"),  # NEWS2 >= 7: continuous monitoring
        (AlertSeverity.MEDIUM, "Urgent response"),  # 5-6: at least hourly
        (AlertSeverity.LOW_MEDIUM, "Urgent ward-based response"),  # a single 3: at least hourly
    ],
)
def test_recommendation_is_the_charts_response_for_the_alerts_severity(severity: AlertSeverity, expected: str) -> None:
    text = isbar_of(bedside(alert=alert(severity=severity))).recommendation
    assert text.startswith(expected)
    assert ("Monitor continuously" in text) is (severity is AlertSeverity.HIGH)
    assert ("every hour" in text) is (severity is not AlertSeverity.HIGH)


def test_a_home_patient_is_identified_as_at_home_and_followed_by_spot_checks() -> None:
    home_site = Site("h1", "DHO Alta", SiteKind.HOME_PROGRAMME)
    stay = Stay("st2", "pat-7", "hw", CareSetting.HOME, NOW - timedelta(days=40))
    facts = bedside(site=home_site, ward=Ward("hw", "h1", "Heime"), bed=None, stay=stay)
    isbar = isbar_of(facts)
    assert "at home, followed by Heime, DHO Alta (home follow-up programme)" in isbar.identify
    assert "Followed at home since 05.12 21:40 (day 41); spot checks" in isbar.background


def test_a_device_alert_without_a_patient_names_the_device_and_what_to_do() -> None:
    silent = alert(kind=AlertKind.DEVICE_SILENT, severity=AlertSeverity.LOW_MEDIUM, patient_id=None, device_id="mon-9")
    isbar = isbar_of(AlertFacts(silent, NOW, site=SITE, ward=WARD))
    assert isbar.identify.startswith("Device mon-9 at Kautokeino sykestue (sykestue), Senger.")
    assert "not being monitored" in isbar.recommendation


def test_the_text_form_is_five_labelled_lines() -> None:
    isbar = isbar_of(bedside())
    lines = isbar.text().split("\n")
    assert [line[:3] for line in lines] == ["I: ", "S: ", "B: ", "A: ", "R: "]
    assert [line[3:] for line in lines] == list(isbar.sections())


@given(
    kind=st.sampled_from(AlertKind),
    severity=st.sampled_from(AlertSeverity),
    state=st.sampled_from([AlertState.OPEN, AlertState.ACKNOWLEDGED]),
    with_patient=st.booleans(),
    with_score=st.booleans(),
    age_s=st.integers(min_value=0, max_value=30 * 86400),
)
def test_every_message_has_five_parts_and_names_its_alert_and_patient(
    kind: AlertKind, severity: AlertSeverity, state: AlertState, with_patient: bool, with_score: bool, age_s: int
) -> None:
    opened = NOW - timedelta(seconds=age_s)
    subject = alert(kind=kind, severity=severity, state=state, opened_at=opened, updated_at=opened)
    if not with_patient:
        subject = alert(kind=kind, severity=severity, state=state, patient_id=None, device_id="dev-1")
    facts = bedside(alert=subject, score=score() if with_score else None)
    isbar = isbar_of(facts)
    assert all(part.strip() for part in isbar.sections())
    assert f"Alert {subject.alert_id}" in isbar.identify
    assert (subject.patient_id or "dev-1") in isbar.identify


def test_a_value_outside_the_patients_own_limits_asks_for_the_doctor_who_set_them() -> None:
    outside = alert(kind=AlertKind.PATIENT_LIMIT, severity=AlertSeverity.MEDIUM, message="SpO2 86 % below 88 %")
    isbar = isbar_of(bedside(alert=outside, score=score(total=3, risk=ClinicalRisk.LOW)))
    assert "outside the patient's own limits, medium priority" in isbar.identify
    assert isbar.recommendation.startswith("Assess the patient and inform the doctor who set the limits.")
    assert isbar.recommendation.endswith("The nurse assesses and decides whether to increase monitoring or escalate.")


def test_background_gives_the_patients_own_limits_with_who_set_them_and_why() -> None:
    limits = (
        PatientLimit("pat-7", Parameter.SPO2, 88.0, 92.0, "COPD, retains CO2", "dr-lund", NOW - timedelta(days=3)),
        PatientLimit("pat-7", Parameter.PULSE, None, 125.0, "known AF", "dr-lund", NOW - timedelta(days=3)),
    )
    text = isbar_of(bedside(limits=limits)).background
    assert "Own limits: SpO2 88-92 % (COPD, retains CO2, dr-lund); pulse at most 125 (known AF, dr-lund)." in text


def test_a_rising_withdrawal_score_is_named_and_asks_for_the_treatment_to_be_reviewed() -> None:
    rising = alert(kind=AlertKind.WITHDRAWAL_RISING, severity=AlertSeverity.MEDIUM,
                   message="Withdrawal worsening: COWS 13 (moderate), up from 8 (mild)")  # fmt: skip
    isbar = isbar_of(bedside(alert=rising, score=score(total=3, risk=ClinicalRisk.LOW)))
    assert "withdrawal score rising, medium priority" in isbar.identify
    assert isbar.recommendation.startswith("Assess the patient, review the withdrawal treatment with the doctor")


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (AlertKind.RESPIRATORY_DEPRESSION, "possible opioid respiratory depression"),
        (AlertKind.RESPIRATORY_TREND, "breathing slowing (opioid care flag)"),
    ],
)
def test_the_respiratory_alerts_are_named_in_words(kind: AlertKind, words: str) -> None:
    isbar = isbar_of(bedside(alert=alert(kind=kind, severity=AlertSeverity.HIGH)))
    assert f"{words}, " in isbar.identify
