"""Domain types shared by every package: frozen dataclasses and enums, validated before they get here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime

__all__ = [
    "PARAMETER_OF",
    "SYSTEM_ACTOR",
    "Alert",
    "AlertCategory",
    "AlertKey",
    "AlertKind",
    "AlertPhase",
    "AlertPriority",
    "AlertSeverity",
    "AlertState",
    "AlertTransition",
    "AppendResult",
    "AuditEntry",
    "Bed",
    "CareSetting",
    "CareTeamMember",
    "CareTeamRole",
    "ClinicalRisk",
    "Consciousness",
    "DeadLetter",
    "Device",
    "DeviceKind",
    "DeviceStatus",
    "HourlyMean",
    "LatestValue",
    "Pairing",
    "Parameter",
    "Patient",
    "PatientLimit",
    "PatientScore",
    "PendingAlert",
    "Reading",
    "RiskAssessment",
    "RiskLevel",
    "Role",
    "Site",
    "SiteKind",
    "SpO2Scale",
    "SpO2ScaleDecision",
    "Stay",
    "Ward",
]


class Parameter(enum.StrEnum):
    """A measured or charted quantity. Values are the canonical names used on the wire, in storage and in the API."""

    RESP_RATE = "resp_rate"  # breaths/min
    SPO2 = "spo2"  # percent
    SYSTOLIC_BP = "systolic_bp"  # mmHg
    DIASTOLIC_BP = "diastolic_bp"  # mmHg, shown but not scored by NEWS2
    PULSE = "pulse"  # beats/min (heart rate)
    TEMPERATURE = "temperature"  # degrees Celsius
    CONSCIOUSNESS = "consciousness"  # ACVPU, stored as Consciousness.code
    SUPPLEMENTAL_O2 = "supplemental_o2"  # 1.0 on oxygen, 0.0 on air


# Each parameter by its name, for loops over stored rows: a dict lookup is ~25x cheaper than `Parameter(name)`.
PARAMETER_OF: dict[str, Parameter] = {parameter.value: parameter for parameter in Parameter}


# The seven NEWS2 parameters; DIASTOLIC_BP is displayed only.
NEWS2_PARAMETERS: tuple[Parameter, ...] = (
    Parameter.RESP_RATE,
    Parameter.SPO2,
    Parameter.SUPPLEMENTAL_O2,
    Parameter.SYSTOLIC_BP,
    Parameter.PULSE,
    Parameter.CONSCIOUSNESS,
    Parameter.TEMPERATURE,
)
__all__ += ["NEWS2_PARAMETERS"]


class Consciousness(enum.IntEnum):
    """ACVPU. Stored as the integer code so every reading has a numeric value."""

    ALERT = 0
    NEW_CONFUSION = 1
    VOICE = 2
    PAIN = 3
    UNRESPONSIVE = 4

    @property
    def letter(self) -> str:
        return "ACVPU"[self.value]

    @classmethod
    def from_letter(cls, letter: str) -> Consciousness:
        """'A', 'C', 'V', 'P' or 'U' (case-insensitive); raises ValueError otherwise."""
        index = "ACVPU".find(letter.strip().upper())
        if index < 0 or len(letter.strip()) != 1:
            raise ValueError(f"consciousness must be one of A, C, V, P, U, not {letter!r}")
        return cls(index)


class SpO2Scale(enum.IntEnum):
    SCALE_1 = 1
    SCALE_2 = 2  # only for confirmed hypercapnic respiratory failure, prescribed by a clinician


class ClinicalRisk(enum.StrEnum):
    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


class SiteKind(enum.StrEnum):
    SYKESTUE = "sykestue"  # cottage hospital
    KAD = "kad"  # municipal acute beds (KAD/ØHD)
    HOME_PROGRAMME = "home_programme"  # digital hjemmeoppfølging


class CareSetting(enum.StrEnum):
    BEDSIDE = "bedside"  # continuous monitoring in a bed
    HOME = "home"  # spot checks at home


class Role(enum.StrEnum):
    NURSE = "nurse"
    DOCTOR = "doctor"  # the unit's supervising doctor or the out-of-hours doctor
    SPECIALIST = "specialist"  # hospital specialist on remote call
    COORDINATOR = "coordinator"  # home-monitoring coordinator
    TECHNICIAN = "technician"
    ADMIN = "admin"


class CareTeamRole(enum.StrEnum):
    GP = "gp"
    MUNICIPAL_NURSE = "municipal_nurse"
    SUPERVISING_DOCTOR = "supervising_doctor"
    HOSPITAL_SPECIALIST = "hospital_specialist"
    FACT_TEAM = "fact_team"
    DIGITAL_FACT_TEAM = "digital_fact_team"
    PSHT = "psht"  # patient-centred health team
    LAR_TEAM = "lar_team"  # opioid agonist treatment group
    HOME_COORDINATOR = "home_coordinator"
    RELATIVE = "relative"


class DeviceKind(enum.StrEnum):
    BEDSIDE_MONITOR = "bedside_monitor"
    PULSE_OXIMETER = "pulse_oximeter"
    BP_CUFF = "bp_cuff"
    THERMOMETER = "thermometer"
    HOME_KIT = "home_kit"
    NURSE_TABLET = "nurse_tablet"  # manual entry of ACVPU and oxygen


class AlertKind(enum.StrEnum):
    NEWS2 = "news2"
    ML_RISK = "ml_risk"
    DEVICE_SILENT = "device_silent"
    DEVICE_BATTERY_LOW = "device_battery_low"
    PATIENT_LIMIT = "patient_limit"  # a value outside the limits a doctor set for this patient (alerts/limits.py)
    LENGTH_OF_STAY = "length_of_stay"  # a stay passed its unit's limit (core/length_of_stay.py): advisory
    RESPIRATORY_DEPRESSION = "respiratory_depression"  # opioid care flag + PRODIGY levels (alerts/respiratory.py)
    RESPIRATORY_TREND = "respiratory_trend"  # opioid care flag + RR and SpO2 falling (alerts/respiratory.py)
    WITHDRAWAL_RISING = "withdrawal_rising"  # a withdrawal score banded higher, or severe (alerts/withdrawal.py)
    WORKLIST_ESCALATION = "worklist_escalation"  # a coordinator escalated a home patient's worklist item


# Alerts about the patient rather than the equipment (IEC 60601-1-8 categories); length of stay is about the patient.
_PHYSIOLOGICAL = frozenset(
    {
        AlertKind.NEWS2,
        AlertKind.ML_RISK,
        AlertKind.PATIENT_LIMIT,
        AlertKind.LENGTH_OF_STAY,
        AlertKind.RESPIRATORY_DEPRESSION,
        AlertKind.RESPIRATORY_TREND,
        AlertKind.WITHDRAWAL_RISING,
        AlertKind.WORKLIST_ESCALATION,
    }
)


class AlertSeverity(enum.IntEnum):
    """Ordered: an open alert is only ever raised in place, never lowered."""

    INFO = 0
    LOW_MEDIUM = 1  # NEWS2: 3 in a single parameter
    MEDIUM = 2  # NEWS2 5-6
    HIGH = 3  # NEWS2 >= 7


class AlertState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertPhase(enum.StrEnum):
    """What happened to an alert: one row of its history (docs/ALERTS.md maps these onto IHE PCD-04)."""

    OPENED = "opened"
    RAISED = "raised"  # a higher severity, in place, while open
    REOPENED = "reopened"  # acknowledged, then worse: open again at once
    RENOTIFIED = "renotified"  # acknowledged, the condition persisted past the re-notify interval: open again
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ESCALATED = "escalated"  # a step of its escalation chain fired (or found nobody): the reason says who
    TRANSFERRED = "transferred"  # the patient moved to another ward, and the alert with them (store/stay_alerts.py)


class AlertPriority(enum.StrEnum):
    """IEC 60601-1-8 alarm priority: the response the alert asks for (immediate / prompt / awareness)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AlertCategory(enum.StrEnum):
    """IEC 60601-1-8: a physiological alarm is about the patient, a technical one about the equipment."""

    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


# Who did what vaktrom did by itself (an auto-resolve, a re-notification) in an alert's history.
SYSTEM_ACTOR = "vaktrom"


class RiskLevel(enum.StrEnum):
    UNKNOWN = "unknown"  # too little data to say
    LOW = "low"
    RAISED = "raised"  # above the model's operating threshold


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    name: str
    kind: SiteKind
    retired_at: datetime | None = None  # retired: off boards and pickers, kept in history


@dataclass(frozen=True, slots=True)
class Ward:
    ward_id: str
    site_id: str
    name: str
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Bed:
    bed_id: str
    ward_id: str
    label: str
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    """`display_name` is shown to authorised staff only; never logged."""

    patient_id: str
    display_name: str
    birth_year: int | None = None


@dataclass(frozen=True, slots=True)
class SpO2ScaleDecision:
    """Scale 2 is a clinical decision: who set it and when is part of the record."""

    patient_id: str
    scale: SpO2Scale
    set_by: str
    set_at: datetime


@dataclass(frozen=True, slots=True)
class Stay:
    """A patient in a ward: in a bed (bedside) or enrolled at home (bed_id None). Open while end_at is None."""

    stay_id: str
    patient_id: str
    ward_id: str
    setting: CareSetting
    start_at: datetime
    bed_id: str | None = None
    end_at: datetime | None = None
    # When the patient came to a unit of this kind (kept across transfers within one kind); None: start_at.
    admitted_at: datetime | None = None

    @property
    def length_from(self) -> datetime:
        """Where the length of stay is counted from (core/length_of_stay.py)."""
        return self.admitted_at or self.start_at


@dataclass(frozen=True, slots=True)
class CareTeamMember:
    patient_id: str
    member_id: str  # a staff user id or a team id
    role: CareTeamRole
    organisation: str  # e.g. "Hammerfest kommune", "UNN Tromsø", "FACT Vest-Finnmark"
    start_at: datetime
    end_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    site_id: str
    kind: DeviceKind
    model: str
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class Pairing:
    """Device -> patient for [start_at, end_at). Readings are attributed by their own timestamp, never by now."""

    device_id: str
    patient_id: str
    start_at: datetime
    bed_id: str | None = None
    end_at: datetime | None = None

    def covers(self, at: datetime) -> bool:
        return self.start_at <= at and (self.end_at is None or at < self.end_at)


@dataclass(frozen=True, slots=True)
class Reading:
    """One stored measurement. `value` is numeric for every parameter (ACVPU as its code, oxygen as 0/1)."""

    device_id: str
    patient_id: str
    parameter: Parameter
    value: float
    measured_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Something that could not become a reading, kept with the reason so nothing is silently lost."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What a durable append did: readings stored, and readings refused as duplicates (also dead-lettered)."""

    stored: int
    duplicates: tuple[Reading, ...] = ()
    dead_lettered: int = 0


@dataclass(frozen=True, slots=True)
class LatestValue:
    parameter: Parameter
    value: float
    measured_at: datetime
    device_id: str


@dataclass(frozen=True, slots=True)
class HourlyMean:
    """Mean of one parameter's readings in one hour-long bucket counted back from a moment: bucket 0 holds
    readings measured in (until - 1 h, until], bucket k those in (until - (k+1) h, until - k h]."""

    parameter: Parameter
    hours_ago: int
    mean: float
    count: int


@dataclass(frozen=True, slots=True)
class PatientScore:
    """A patient's NEWS2 at one moment. When incomplete, `total` is a lower bound of the full score."""

    patient_id: str
    computed_at: datetime
    total: int
    complete: bool
    risk: ClinicalRisk
    single_param_3: bool
    parameter_scores: dict[Parameter, int] = field(default_factory=dict)
    missing: tuple[Parameter, ...] = ()
    spo2_scale: SpO2Scale = SpO2Scale.SCALE_1


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """The ML deterioration flag for one patient at one moment."""

    patient_id: str
    computed_at: datetime
    probability: float | None  # None when there is too little data
    level: RiskLevel
    reasons: tuple[str, ...] = ()  # top contributors, in words a nurse understands
    model_version: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: int
    patient_id: str | None  # None for a device alert with no paired patient
    ward_id: str | None
    kind: AlertKind
    severity: AlertSeverity
    state: AlertState
    message: str
    opened_at: datetime
    updated_at: datetime
    device_id: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolve_reason: str | None = None
    # Hysteresis: when the condition was first seen clear in the current run of clear observations (None while it
    # persists). The alert auto-resolves once it has stayed clear for the kind's hold time.
    clear_since: datetime | None = None
    # While acknowledged and the condition persists: when it is announced again (a durable timer: a column, fired by
    # whichever worker claims it).
    renotify_at: datetime | None = None

    @property
    def key(self) -> AlertKey:
        return AlertKey(self.patient_id, self.device_id, self.kind)

    def resolved(self, *, at: datetime, by: str, reason: str) -> Alert:
        """This alert ended: resolved at `at` by `by` for `reason`, its timer disarmed."""
        return replace(
            self,
            state=AlertState.RESOLVED,
            resolved_at=at,
            resolved_by=by,
            resolve_reason=reason,
            updated_at=at,
            renotify_at=None,
        )

    @property
    def category(self) -> AlertCategory:
        if self.kind in _PHYSIOLOGICAL:
            return AlertCategory.PHYSIOLOGICAL
        return AlertCategory.TECHNICAL

    @property
    def priority(self) -> AlertPriority:
        """NEWS2 >= 7 high (emergency response); 5-6 and a single parameter 3 medium (both an urgent response on
        the RCP chart); the ML flag low (it asks for a look, not a response); a value outside the patient's own
        limits medium (the doctor who set them asked to hear of it); a stay past its unit's limit low (a review, not
        a response); a device fault medium when it leaves a bedside patient unmonitored, otherwise low. A technical
        alert is never high. Possible opioid respiratory depression is high: a patient breathing 5 times a minute
        needs someone now, whatever NEWS2 adds up to."""
        if self.kind is AlertKind.RESPIRATORY_DEPRESSION:
            return AlertPriority.HIGH
        if self.kind is AlertKind.RESPIRATORY_TREND:
            return AlertPriority.MEDIUM  # breathing slowing, not yet depressed: a prompt look
        if self.kind is AlertKind.WITHDRAWAL_RISING:  # severe withdrawal (delirium, seizures ahead) needs someone now
            return AlertPriority.HIGH if self.severity >= AlertSeverity.HIGH else AlertPriority.MEDIUM
        if self.kind is AlertKind.PATIENT_LIMIT:
            return AlertPriority.MEDIUM
        if self.kind is AlertKind.WORKLIST_ESCALATION:  # a coordinator asks a clinician to act: at least prompt
            return AlertPriority.HIGH if self.severity >= AlertSeverity.HIGH else AlertPriority.MEDIUM
        if self.kind is AlertKind.NEWS2:
            if self.severity >= AlertSeverity.HIGH:
                return AlertPriority.HIGH
            return AlertPriority.MEDIUM if self.severity >= AlertSeverity.LOW_MEDIUM else AlertPriority.LOW
        if self.kind in (AlertKind.ML_RISK, AlertKind.LENGTH_OF_STAY):
            return AlertPriority.LOW
        return AlertPriority.MEDIUM if self.severity >= AlertSeverity.LOW_MEDIUM else AlertPriority.LOW


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What an alert is about: at most one unresolved alert exists per key, across processes."""

    patient_id: str | None
    device_id: str | None
    kind: AlertKind


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """A condition waiting out its confirmation delay before its alert opens (alerts/confirmation.py): a durable
    timer, one per alert key. `clear_since` is when it was first seen clear again (None while it persists)."""

    key: AlertKey
    ward_id: str | None
    severity: AlertSeverity
    message: str
    since: datetime
    due_at: datetime
    clear_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class PatientLimit:
    """A limit a doctor set for one patient's parameter, e.g. SpO2 88-92 % for COPD. Either bound may be None (no
    bound that side); both None is a cleared limit (kept as history). Who, when and why are part of the record."""

    patient_id: str
    parameter: Parameter
    low: float | None
    high: float | None
    reason: str
    set_by: str
    set_at: datetime

    @property
    def cleared(self) -> bool:
        return self.low is None and self.high is None


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """One row of an alert's history: what happened, to which state and severity, who did it and why."""

    alert_id: int
    at: datetime
    phase: AlertPhase
    state: AlertState
    severity: AlertSeverity
    by: str  # a user id, or SYSTEM_ACTOR
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    online: bool
    reported_at: datetime
    battery_percent: float | None = None
    signal_dbm: float | None = None
    firmware: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who looked at or changed what. `subject` is a patient, ward or alert id, never a name."""

    at: datetime
    user_id: str
    role: Role
    action: str  # e.g. "read.patient", "read.observations", "ack.alert", "ws.ward"; refused ones "denied.<action>"
    subject: str
    detail: str = ""
    patient_id: str | None = None  # the patient whose data it was, when it was a patient's
    grant: str = ""  # what allowed it: "site:<site id>", "team:<care-team role>", "admin"; "" when refused
    source_address: str = ""  # the client's address as the API node saw it
    token_id: str = ""  # the token's `jti`


# --- people (helper B: users and care teams) --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class User:
    """A registered user: the registry, not the token, says which roles and sites they have (docs/ACCESS.md)."""

    user_id: str
    name: str
    roles: tuple[Role, ...]  # each a role a token may ask for; sorted, no repeats
    organisation: str
    site_ids: tuple[str, ...]  # sorted; ("*",) for an all-sites admin
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


__all__ += ["User"]
