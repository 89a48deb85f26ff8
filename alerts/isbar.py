"""The ISBAR message of an alert (Identify, Situation, Background, Assessment, Recommendation), made from its facts.

ISBAR is the structure Norwegian health services use to hand a patient over between levels of care (the nurse on a
sykestue calling the doctor on call, the doctor calling the hospital specialist). Pure: the facts are read by the
store (core/store/alert_facts.py); times are shown in the unit's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.rules import PARAMETER_NAMES
from core.alert_facts import AlertFacts
from core.types import (
    AlertKind,
    AlertSeverity,
    AlertState,
    CareSetting,
    ClinicalRisk,
    Consciousness,
    LatestValue,
    Parameter,
    PatientLimit,
    PatientScore,
    RiskLevel,
    SiteKind,
    SpO2Scale,
)

__all__ = ["CLINICAL_TIME_ZONE", "ISBAR_PARTS", "STALE_VALUE_AGE", "Isbar", "clinical_time", "isbar_of"]

# Every unit vaktrom serves is in Norway; a site-level zone comes with sites outside it.
CLINICAL_TIME_ZONE = ZoneInfo("Europe/Oslo")
# A value older than this is shown with its age: at the bedside values arrive every few seconds, so a 10 min old
# one means the monitor or the patient has moved; at home the age tells when the spot check was.
STALE_VALUE_AGE = timedelta(minutes=10)

# The parts' names, in order, as JSON keys (webhook body, API).
ISBAR_PARTS = ("identify", "situation", "background", "assessment", "recommendation")

_SITE_KIND_WORDS = {
    SiteKind.SYKESTUE: "sykestue",
    SiteKind.KAD: "municipal acute bed (KAD/ØHD)",
    SiteKind.HOME_PROGRAMME: "home follow-up programme",
}
_KIND_WORDS = {
    AlertKind.NEWS2: "NEWS2",
    AlertKind.ML_RISK: "ML deterioration flag",
    AlertKind.DEVICE_SILENT: "device silent",
    AlertKind.DEVICE_BATTERY_LOW: "device battery low",
    AlertKind.PATIENT_LIMIT: "outside the patient's own limits",
    AlertKind.RESPIRATORY_DEPRESSION: "possible opioid respiratory depression",
    AlertKind.RESPIRATORY_TREND: "breathing slowing (opioid care flag)",
    AlertKind.WITHDRAWAL_RISING: "withdrawal score rising",
    AlertKind.WORKLIST_ESCALATION: "escalated from the home follow-up worklist",
}
_PARAMETER_ORDER = (
    Parameter.RESP_RATE,
    Parameter.SPO2,
    Parameter.SUPPLEMENTAL_O2,
    Parameter.SYSTOLIC_BP,
    Parameter.PULSE,
    Parameter.CONSCIOUSNESS,
    Parameter.TEMPERATURE,
)
# The chart's response and minimum monitoring frequency (NEWS2.md, RCP 2017), in a municipal unit's words: the
# "medical team" is the unit's doctor or the doctor on call (legevakt), "higher level of care" the hospital.
_RECOMMENDATION = {
    ClinicalRisk.HIGH: (
        "Emergency response: the doctor on call assesses the patient now, with critical-care competence; discuss "
        "transfer to hospital with the hospital specialist on call. Monitor continuously."
    ),
    ClinicalRisk.MEDIUM: (
        "Urgent response: inform the doctor now for an urgent assessment by a clinician competent in acute "
        "illness. Observations at least every hour."
    ),
    ClinicalRisk.LOW_MEDIUM: (
        "Urgent ward-based response: the nurse informs the doctor; observations at least every hour."
    ),
    ClinicalRisk.LOW: "The nurse assesses and decides whether to increase monitoring or escalate.",
}


# The response follows the alert (what was escalated), not a later, lower score while the alert is still open.
_RISK_OF_SEVERITY = {
    AlertSeverity.HIGH: ClinicalRisk.HIGH,
    AlertSeverity.MEDIUM: ClinicalRisk.MEDIUM,
    AlertSeverity.LOW_MEDIUM: ClinicalRisk.LOW_MEDIUM,
}


@dataclass(frozen=True, slots=True)
class Isbar:
    identify: str
    situation: str
    background: str
    assessment: str
    recommendation: str

    def text(self) -> str:
        """The five parts on five lines, for a pager or a phone's message view."""
        parts = zip("ISBAR", self.sections(), strict=True)
        return "\n".join(f"{letter}: {section}" for letter, section in parts)

    def sections(self) -> tuple[str, str, str, str, str]:
        return self.identify, self.situation, self.background, self.assessment, self.recommendation


def isbar_of(facts: AlertFacts) -> Isbar:
    return Isbar(_identify(facts), _situation(facts), _background(facts), _assessment(facts), _recommend(facts))


def clinical_time(at: datetime) -> str:
    """ "14.01 21:36": day, month and wall-clock time in the units' zone, as the staff read it."""
    return at.astimezone(CLINICAL_TIME_ZONE).strftime("%d.%m %H:%M")


def _ago(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _place(facts: AlertFacts) -> str:
    site = f"{facts.site.name} ({_SITE_KIND_WORDS[facts.site.kind]})" if facts.site is not None else "no site"
    ward = facts.ward.name if facts.ward is not None else None
    if facts.stay is not None and facts.stay.setting is CareSetting.HOME:
        return f"at home, followed by {ward or site}" + (f", {site}" if ward else "")
    where = [site] + ([ward] if ward else []) + ([f"bed {facts.bed.label}"] if facts.bed is not None else [])
    return ", ".join(where)


def _identify(facts: AlertFacts) -> str:
    alert = facts.alert
    what = f"Alert {alert.alert_id}: {_KIND_WORDS.get(alert.kind, alert.kind.value)}, {alert.priority.value} priority"
    if alert.patient_id is None:
        return f"Device {alert.device_id} at {_place(facts)}. {what}."
    who = alert.patient_id
    if facts.patient is not None:
        born = f", born {facts.patient.birth_year}" if facts.patient.birth_year else ""
        who = f"{facts.patient.display_name} ({facts.patient.patient_id}{born})"
    return f"{who}, {_place(facts)}. {what}."


def _value_words(value: LatestValue, score: PatientScore | None) -> str:
    p, v = value.parameter, value.value
    if p is Parameter.SUPPLEMENTAL_O2:
        return "on oxygen" if v >= 1 else "on air"
    if p is Parameter.CONSCIOUSNESS:
        return f"consciousness {Consciousness(int(v)).name.replace('_', ' ').lower()}"
    if p is Parameter.SPO2:
        scale = score.spo2_scale if score is not None else SpO2Scale.SCALE_1
        return f"SpO2 {v:.0f} % (scale {int(scale)})"
    if p is Parameter.TEMPERATURE:
        return f"temperature {v:.1f} °C"
    unit = "mmHg" if p in (Parameter.SYSTOLIC_BP, Parameter.DIASTOLIC_BP) else "/min"
    return f"{PARAMETER_NAMES[p]} {v:.0f} {unit}"


def _now_values(facts: AlertFacts) -> str:
    words = []
    for parameter in _PARAMETER_ORDER:
        value = facts.latest.get(parameter)
        if value is None:
            continue
        age = facts.at - value.measured_at
        stale = f" ({_ago(age)} ago)" if age > STALE_VALUE_AGE else ""
        words.append(_value_words(value, facts.score) + stale)
    return ", ".join(words) if words else "no values stored"


def _situation(facts: AlertFacts) -> str:
    alert = facts.alert
    opened = f"Opened {clinical_time(alert.opened_at)} ({_ago(facts.at - alert.opened_at)} ago)"
    state = alert.state.value
    if alert.state is AlertState.ACKNOWLEDGED and alert.acknowledged_at is not None:
        state = f"acknowledged by {alert.acknowledged_by} at {clinical_time(alert.acknowledged_at)}"
    now = f" Now: {_now_values(facts)}." if alert.patient_id is not None else ""
    return f"{alert.message}. {opened}, {state}.{now}"


def _stay_words(facts: AlertFacts) -> str:
    stay = facts.stay
    if stay is None:
        return "No current stay recorded."
    length, since = facts.at - stay.start_at, clinical_time(stay.start_at)
    day = length.days + 1
    if stay.setting is CareSetting.HOME:
        return f"Followed at home since {since} (day {day}); spot checks, not continuous monitoring."
    kind = _SITE_KIND_WORDS[facts.site.kind] if facts.site is not None else "unit"
    hours = int(length.total_seconds() // 3600)
    return f"In a {kind} bed since {since}: day {day} of the stay ({hours} h); continuously monitored."


def _background(facts: AlertFacts) -> str:
    if facts.alert.patient_id is None:
        return "A device alert with no patient paired to the device."
    parts = [_stay_words(facts)]
    scale = facts.spo2_scale
    if scale is not None and scale.scale is SpO2Scale.SCALE_2:
        parts.append(f"SpO2 scale 2 (target 88-92 %) prescribed by {scale.set_by} on {clinical_time(scale.set_at)}.")
    else:
        parts.append("SpO2 scale 1.")
    if facts.limits:
        parts.append("Own limits: " + "; ".join(_limit_words(limit) for limit in facts.limits) + ".")
    team = [f"{m.role.value.replace('_', ' ')} {m.member_id} ({m.organisation})" for m in facts.care_team]
    parts.append("Care team: " + ("; ".join(team) if team else "none recorded") + ".")
    return " ".join(parts)


def _limit_words(limit: PatientLimit) -> str:
    unit = "%" if limit.parameter is Parameter.SPO2 else ""
    low = f"{limit.low:g}" if limit.low is not None else ""
    high = f"{limit.high:g}" if limit.high is not None else ""
    span = f"{low}-{high}" if low and high else (f"at least {low}" if low else f"at most {high}")
    return f"{PARAMETER_NAMES[limit.parameter]} {span}{' ' + unit if unit else ''} ({limit.reason}, {limit.set_by})"


def _components(score: PatientScore) -> str:
    points = [
        f"{PARAMETER_NAMES[p]} {score.parameter_scores[p]}" for p in _PARAMETER_ORDER if p in score.parameter_scores
    ]
    total = f"NEWS2 {score.total}" if score.complete else f"NEWS2 at least {score.total} (incomplete)"
    missing = f"; missing: {', '.join(PARAMETER_NAMES[p] for p in score.missing)}" if score.missing else ""
    return f"{total} at {clinical_time(score.computed_at)}: {', '.join(points)}{missing}."


def _assessment(facts: AlertFacts) -> str:
    if facts.alert.patient_id is None:
        return "Nothing is measured while the device is silent."
    parts = [_components(facts.score) if facts.score is not None else "No NEWS2 score yet."]
    if facts.trend:
        then = ", ".join(f"{p.total}{'' if p.complete else '+'} {p.hours_ago} h ago" for p in facts.trend)
        now = f", {facts.score.total} now" if facts.score is not None else ""
        parts.append(f"Trend: {then}{now}.")
    risk = facts.risk
    if risk is not None and risk.level is RiskLevel.RAISED:
        reasons = "; ".join(risk.reasons) if risk.reasons else "no reasons given"
        parts.append(f"ML deterioration flag raised ({reasons}); advisory, NEWS2 drives the response.")
    return " ".join(parts)


def _recommend(facts: AlertFacts) -> str:
    kind = facts.alert.kind
    if kind is AlertKind.DEVICE_SILENT:
        return "Check the device and the patient now: the patient is not being monitored."
    if kind is AlertKind.DEVICE_BATTERY_LOW:
        return "Charge or replace the battery before the device stops."
    if kind is AlertKind.PATIENT_LIMIT:  # the doctor who set the limits asked to hear of this
        risk = facts.score.risk if facts.score is not None else ClinicalRisk.LOW
        return "Assess the patient and inform the doctor who set the limits. NEWS2: " + _RECOMMENDATION[risk]
    if kind is AlertKind.WITHDRAWAL_RISING:  # a nurse's scoring, not a monitor's: the scale says what changed
        return "Assess the patient, review the withdrawal treatment with the doctor; repeat the scale within the hour."
    if kind is AlertKind.ML_RISK:  # its severity is the flag's, not the chart's: the chart's row is the score's
        risk = facts.score.risk if facts.score is not None else ClinicalRisk.LOW
        return "Review the patient and take a full set of observations; the flag is advisory. " + _RECOMMENDATION[risk]
    return _RECOMMENDATION[_RISK_OF_SEVERITY.get(facts.alert.severity, ClinicalRisk.LOW)]
