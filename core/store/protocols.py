"""What vaktrom keeps, one interface per domain; `Store` is all of them. Both engines pass one contract suite."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.administration import StayChange, UnitImportRow
from core.alert_facts import AlertFacts
from core.backlog import TimerBacklog
from core.care_flags import CareFlag, CareFlagChange
from core.digests import DigestDecision, DigestFacts, DigestSchedule
from core.escalation import (
    ContactPoint,
    Delivery,
    DeliveryState,
    Escalation,
    EscalationPolicy,
    OnCallContext,
    RecipientRateLimit,
    StepFiring,
    WebhookEndpoint,
)
from core.homecare import MeasurementPlan, PlanCheckDecide, PlanTimer, WorklistEvent, WorklistItem, WorklistState
from core.length_of_stay import DueStayLimit
from core.national_id import NationalId
from core.onboarding import Credential, CredentialEnd, DeviceEvent, DeviceProfile, Rejections
from core.oncall import RosterOverride, Rotation
from core.store.outreach_protocol import OutreachStore
from core.store.triage_protocol import TriageStore
from core.types import (
    SYSTEM_ACTOR,
    Alert,
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertPriority,
    AlertSeverity,
    AlertState,
    AlertTransition,
    AppendResult,
    AuditEntry,
    Bed,
    CareTeamMember,
    CareTeamRole,
    DeadLetter,
    Device,
    DeviceStatus,
    HourlyMean,
    LatestValue,
    Pairing,
    Parameter,
    Patient,
    PatientLimit,
    PatientScore,
    PendingAlert,
    Reading,
    RiskAssessment,
    Role,
    Site,
    SpO2ScaleDecision,
    Stay,
    User,
    Ward,
)
from core.withdrawal import WithdrawalAssessment, WithdrawalHistory, WithdrawalScale

__all__ = [
    "AdministrationStore",
    "AlertChange",
    "AlertDecision",
    "AlertStore",
    "AlertUpdate",
    "AuditFilter",
    "AuditStore",
    "BacklogStore",
    "CareFlagStore",
    "ConditionDecision",
    "ConditionUpdate",
    "DeliveryStore",
    "DeviceStore",
    "DigestStore",
    "DueAlertDecision",
    "EscalationStore",
    "HomecareStore",
    "LimitStore",
    "ObservationBucket",
    "ObservationStore",
    "OnboardingStore",
    "PatientAccess",
    "ReferenceStore",
    "RosterStore",
    "ScoreStore",
    "StayLimitDecision",
    "StepDecision",
    "Store",
    "StoreLifecycle",
    "UserStore",
    "WithdrawalDecision",
    "WithdrawalStore",
]


@dataclass(frozen=True, slots=True)
class ObservationBucket:
    """One parameter's readings in [starts_at, starts_at + bucket): their count, mean, lowest and highest value."""

    parameter: Parameter
    starts_at: datetime
    count: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class AlertChange:
    """The alert as stored after a decision, and whether something a person must hear of happened (a history row:
    `phase`). Only timers or hysteresis moving is changed=False."""

    alert: Alert
    changed: bool
    phase: AlertPhase | None = None


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """What a decision writes: the alert as it is to be (`alert_id` is ignored when it opens one; the identity and
    `opened_at` of an existing one never change), and `phase` when a history row is due."""

    alert: Alert
    phase: AlertPhase | None = None
    by: str = SYSTEM_ACTOR
    reason: str = ""


# Run on the key's unresolved alert (or None), locked, inside the write transaction: pure, no I/O. None: no change.
AlertDecision = Callable[[Alert | None], AlertUpdate | None]


@dataclass(frozen=True, slots=True)
class ConditionUpdate:
    """What a confirmation decision writes (alerts/confirmation.py): the alert's update (None: the alert, or its
    absence, stays as it is) and the key's pending condition as it is to be (None: nothing pending)."""

    alert: AlertUpdate | None
    pending: PendingAlert | None


# Run on the key's unresolved alert and pending condition (either may be None), both locked, inside the write
# transaction: pure, no I/O.
ConditionDecision = Callable[[Alert | None, PendingAlert | None], ConditionUpdate]
# Run on one existing alert, locked. May raise (e.g. AlertAlreadyAcknowledged): the transaction then rolls back.
DueAlertDecision = Callable[[Alert], AlertUpdate | None]
# Run on a due chain, locked, with its alert, who is on call at the site and the alert's facts: pure, no I/O.
StepDecision = Callable[[Escalation, Alert, OnCallContext, AlertFacts], StepFiring]


class StoreLifecycle(Protocol):
    async def open(self) -> None:
        """Connect and run pending schema migrations (versioned, idempotent)."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the store answers now (for readiness)."""


class ReferenceStore(Protocol):
    """Sites, wards, beds, patients, SpO2 scale decisions, stays and care teams."""

    async def upsert_site(self, site: Site) -> None: ...
    async def upsert_ward(self, ward: Ward) -> None: ...
    async def upsert_bed(self, bed: Bed) -> None: ...
    async def upsert_patient(self, patient: Patient) -> None: ...
    async def list_sites(self, *, include_retired: bool = False) -> list[Site]:
        """Sites in use (retired ones only with include_retired): what boards and pickers offer."""

    async def list_wards(
        self, *, site_ids: Sequence[str] | None = None, include_retired: bool = False
    ) -> list[Ward]: ...
    async def get_ward(self, ward_id: str) -> Ward:
        """Raises NotFound. Retired ones too (history names them)."""

    async def list_beds(self, ward_id: str, *, include_retired: bool = False) -> list[Bed]: ...
    async def get_patient(self, patient_id: str) -> Patient:
        """Raises NotFound."""

    async def get_patients(self, patient_ids: Sequence[str]) -> dict[str, Patient]:
        """Each of them, in one query (a ward board of 1000 beds is one read, not 1000). Raises NotFound naming
        the first missing id, as get_patient would."""

    async def set_spo2_scale(self, decision: SpO2ScaleDecision) -> None: ...
    async def get_spo2_scale(self, patient_id: str) -> SpO2ScaleDecision | None:
        """The latest decision, or None (scale 1)."""

    async def spo2_scales(self, patient_ids: Sequence[str]) -> dict[str, SpO2ScaleDecision]:
        """The latest decision of each patient in one query (patients never decided on are absent: scale 1)."""

    async def add_stay(self, stay: Stay) -> None:
        """Admit to a bed or enrol at home. A stay id that exists is replaced (idempotent seeding)."""

    async def end_stay(self, stay_id: str, *, end_at: datetime) -> None: ...
    async def list_stays(self, *, ward_id: str, at: datetime) -> list[Stay]:
        """Stays in the ward open at `at`."""

    async def stays_of_patients(self, patient_ids: Sequence[str], *, at: datetime) -> dict[str, Stay]:
        """Each patient's stay open at `at` (patients without one are absent)."""

    async def add_care_team_member(self, member: CareTeamMember) -> None: ...
    async def list_care_team(self, patient_id: str, *, at: datetime) -> list[CareTeamMember]: ...


class DeviceStore(Protocol):
    """Devices, pairings to patients over time, status reports."""

    async def register_device(self, device: Device) -> None:
        """Idempotent on device_id."""

    async def get_device(self, device_id: str) -> Device:
        """Raises NotFound."""

    async def list_devices(
        self, *, site_ids: Sequence[str] | None = None, device_ids: Sequence[str] | None = None
    ) -> list[Device]:
        """Registered devices, by id; only those of these sites, or with these ids, when given."""

    async def pair_device(self, pairing: Pairing) -> None:
        """Start a pairing; an open pairing of the same device is ended at `pairing.start_at` first."""

    async def unpair_device(self, device_id: str, *, end_at: datetime) -> None:
        """End the device's open pairing, if any."""

    async def pairings_of_devices(self, device_ids: Sequence[str]) -> dict[str, list[Pairing]]:
        """Every pairing (past and open) of each device, oldest first, for attribution by reading time."""

    async def save_device_status(self, status: DeviceStatus) -> None:
        """Keep the newest status per device (an older report never overwrites a newer one)."""

    async def list_device_status(self, *, device_ids: Sequence[str] | None = None) -> list[DeviceStatus]: ...
    async def last_reading_at(self, device_ids: Sequence[str]) -> dict[str, datetime]:
        """Newest measured_at per device that has any reading."""


class OnboardingStore(Protocol):
    """Device onboarding (issue 10): profiles, credentials as hashes with their history, each device's events."""

    async def onboard_device(
        self, device: Device, *, profile: DeviceProfile, credential: Credential, event: DeviceEvent
    ) -> None: ...

    async def issue_credential(self, credential: Credential, *, event: DeviceEvent) -> None: ...

    async def end_credential(self, device_id: str, *, reason: CredentialEnd, event: DeviceEvent) -> None: ...

    async def record_device_event(self, event: DeviceEvent) -> None: ...

    async def device_profiles(self, device_ids: Sequence[str]) -> dict[str, DeviceProfile]: ...

    async def current_credentials(self, device_ids: Sequence[str] | None = None) -> dict[str, Credential]: ...

    async def credential_history(self, device_id: str) -> list[Credential]: ...

    async def device_events(self, device_id: str) -> list[DeviceEvent]: ...

    async def current_device_hashes(self) -> dict[str, str]: ...

    async def device_rejections(self, device_ids: Sequence[str], *, since: datetime) -> dict[str, Rejections]: ...


class ObservationStore(Protocol):
    """Readings and dead letters: the durable append, history, hourly means."""

    async def append(self, readings: Sequence[Reading], dead_letters: Sequence[DeadLetter]) -> AppendResult:
        """Durably store readings and dead letters in ONE transaction, then return.

        A reading whose (device_id, parameter, measured_at) is already stored is not stored again: it comes back
        in `duplicates` and is dead-lettered with reason "duplicate reading" in the same transaction. Also
        updates each patient's latest value per parameter (only when newer). When this returns, the caller may
        acknowledge the messages to the broker.
        """

    async def latest_values(self, patient_ids: Sequence[str]) -> dict[str, dict[Parameter, LatestValue]]:
        """Newest value per parameter per patient (any age; the scorer applies max ages)."""

    async def readings(
        self,
        patient_id: str,
        *,
        since: datetime,
        until: datetime,
        parameters: Sequence[Parameter] | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        """Observation history, oldest first."""

    async def hourly_means(
        self, patient_ids: Sequence[str], *, until: datetime, hours: int, parameters: Sequence[Parameter]
    ) -> dict[str, list[HourlyMean]]:
        """Per patient, per parameter and hour bucket (see HourlyMean) over the last `hours` hours: one row per
        non-empty bucket; every patient asked for is a key (with [] when they have none).

        The ML risk model reads trends this way, for a chunk of patients in one query; at one reading a second, raw
        history would be 90k rows a day.
        """

    async def observation_buckets(
        self,
        patient_id: str,
        *,
        since: datetime,
        until: datetime,
        bucket_s: int,
        parameters: Sequence[Parameter] | None = None,
    ) -> list[ObservationBucket]:
        """Readings measured in [since, until) summarised per parameter and `bucket_s`-long bucket counted from
        `since` (empty buckets are absent), by parameter then time: a day of a 1 Hz monitor is 86,400 readings per
        parameter, too many to chart or to send."""

    async def count_readings(self) -> int: ...
    async def list_dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""

    async def count_dead_letters(self) -> int: ...


class ScoreStore(Protocol):
    """NEWS2 scores (history and current) and ML risk assessments."""

    async def save_scores(self, scores: Sequence[PatientScore]) -> None:
        """Append to history and set as current (only when newer than the current one)."""

    async def current_scores(self, patient_ids: Sequence[str]) -> dict[str, PatientScore]: ...
    async def scored_patients(self, *, at: datetime) -> list[str]:
        """The patients in a stay at `at` who have a current score, sorted."""

    async def patients_behind_scoring(self) -> list[str]:
        """Patients whose newest value arrived after their current score was computed (or who have none): ingest
        re-scores them at start, so a reading stored just before a crash still opens its alert. Sorted."""

    async def save_risks(self, risks: Sequence[RiskAssessment]) -> None: ...
    async def current_risks(self, patient_ids: Sequence[str]) -> dict[str, RiskAssessment]: ...
    async def score_history(
        self, patient_id: str, *, since: datetime, until: datetime, limit: int = 10_000
    ) -> list[PatientScore]:
        """The patient's saved NEWS2 scores computed in [since, until], oldest first (for the trend chart)."""


class AlertStore(Protocol):
    """At most one unresolved alert exists per `AlertKey`, across processes (enforced by the database). Every change
    is a decision applied to the locked row in one transaction, with its history row in the same transaction."""

    async def update_alert(self, key: AlertKey, decide: AlertDecision) -> AlertChange | None:
        """Apply `decide` to the key's unresolved alert (or None: it may open one). None when there is none and
        none was opened; changed=False when the decision changed nothing a person must hear of."""

    async def update_alert_by_id(self, alert_id: int, decide: DueAlertDecision) -> AlertChange:
        """Apply `decide` to this alert, in any state. Raises NotFound, or what `decide` raises."""

    async def update_due_alerts(
        self, now: datetime, decide: DueAlertDecision, *, limit: int = 100
    ) -> list[AlertChange]:
        """Claim unresolved alerts whose `renotify_at` is due (rows another worker holds are skipped) and apply
        `decide` to each; a timer the decision leaves due is disarmed. Oldest due first, at most `limit`."""

    async def raise_alert(
        self,
        *,
        patient_id: str | None,
        device_id: str | None,
        ward_id: str | None,
        kind: AlertKind,
        severity: AlertSeverity,
        message: str,
        at: datetime,
    ) -> AlertChange:
        """Open an alert, or raise the unresolved one in place: a higher severity raises it (and re-opens it if it
        was acknowledged); an equal or lower severity changes nothing and returns changed=False."""

    async def raise_alerts(self, proposed: Sequence[Alert]) -> list[AlertChange]:
        """`raise_alert` of each proposed alert (open, at its `opened_at`; `alert_id` ignored), in order, in ONE
        transaction (a ward's devices falling silent at once)."""

    async def resolve_alert(self, alert_id: int, *, at: datetime, by: str, reason: str) -> Alert:
        """Raises NotFound. Resolving a resolved alert returns it unchanged."""

    async def resolve_alerts(
        self, alert_ids: Sequence[int], *, at: datetime, by: str, reason: str
    ) -> list[AlertChange]:
        """`resolve_alert` of each, in order, in ONE transaction (a ward's devices coming back at once). Raises
        NotFound, and then resolves none; an alert already resolved comes back unchanged (changed=False)."""

    async def get_alert(self, alert_id: int) -> Alert:
        """Raises NotFound."""

    async def alert_history(self, alert_id: int) -> list[AlertTransition]:
        """Oldest first; empty for an unknown alert."""

    async def list_alerts(
        self,
        *,
        ward_ids: Sequence[str] | None = None,
        patient_ids: Sequence[str] | None = None,
        kinds: Sequence[AlertKind] | None = None,
        states: Sequence[AlertState] = (AlertState.OPEN, AlertState.ACKNOWLEDGED),
        limit: int = 500,
    ) -> list[Alert]:
        """Newest first."""

    async def update_alert_condition(self, key: AlertKey, decide: ConditionDecision) -> AlertChange | None:
        """Apply `decide` to the key's unresolved alert and pending condition, both locked, in one transaction:
        write the alert's update (with its history row) and the pending condition as decided. None when no alert
        exists afterwards; changed=False when nothing a person must hear of happened."""

    async def fire_due_confirmations(
        self, now: datetime, decide: ConditionDecision, *, limit: int = 100
    ) -> list[AlertChange]:
        """Claim pending conditions whose `due_at` is due (rows another worker holds are skipped) and apply `decide`
        to each with its key's unresolved alert; a pending condition the decision leaves due is dropped. Returns the
        alerts that opened or changed. Oldest due first, at most `limit`."""

    async def pending_alerts(
        self, *, patient_ids: Sequence[str], kinds: Sequence[AlertKind] | None = None
    ) -> list[PendingAlert]:
        """The conditions of these patients waiting out their confirmation delay."""

    async def patients_with_unresolved(self, patient_ids: Sequence[str], *, kinds: Sequence[AlertKind]) -> set[str]:
        """Those of these patients with an unresolved alert or a pending condition of one of these kinds."""


class LimitStore(Protocol):
    """Per-patient limits set by a doctor. Append-only: every change is kept with who, when and why."""

    async def set_patient_limits(self, limits: Sequence[PatientLimit]) -> None:
        """Record each change (a limit with both bounds None clears that parameter's limit), in one transaction."""

    async def patient_limits(self, patient_ids: Sequence[str]) -> dict[str, tuple[PatientLimit, ...]]:
        """The limits in force per patient (cleared ones left out), by parameter; patients with none are absent."""

    async def patient_limit_history(self, patient_id: str) -> list[PatientLimit]:
        """Every change of the patient's limits, oldest first."""


class EscalationStore(Protocol):
    """Policies per site and priority, and each alert's chain. A chain starts, restarts and stops with its alert, in
    the alert's transaction (no alert opens without its chain; none is acknowledged with its chain running)."""

    async def set_escalation_policy(self, policy: EscalationPolicy, *, by: str, at: datetime) -> None:
        """Replace the site's policy for its priority; chains already running keep theirs."""

    async def get_escalation_policy(self, site_id: str, priority: AlertPriority) -> EscalationPolicy:
        """The site's policy, or vaktrom's default for the priority (site_id None)."""

    async def get_escalation(self, alert_id: int) -> Escalation | None: ...
    async def alert_facts(self, alert_id: int, *, at: datetime) -> AlertFacts:
        """What the alert's message says at `at`: place, patient, stay, scores, values, trend, care team. Raises
        NotFound."""

    async def fire_due_escalations(
        self, now: datetime, decide: StepDecision, *, limit: int = 50
    ) -> list[tuple[Alert, StepFiring]]:
        """Claim chains whose next step is due (rows another worker holds are skipped), apply `decide`, and write the
        chain, the step's deliveries (an id already stored is not stored again) and an `escalated` history row."""


class DeliveryStore(Protocol):
    """Every notification of a person, with its state; the sender's lease and retry times are columns."""

    async def claim_deliveries(
        self, now: datetime, *, lease_s: float, limit: int = 50, rate: RecipientRateLimit | None = None
    ) -> list[tuple[Delivery, WebhookEndpoint | None]]:
        """Claim due deliveries (rows another sender holds are skipped): each becomes `sending`, leased."""

    async def record_delivery(
        self,
        delivery_id: str,
        state: DeliveryState,
        *,
        at: datetime,
        retry_at: datetime | None = None,
        outcome: str = "",
        answered_by: str | None = None,
    ) -> Delivery:
        """Move a delivery forward (or back to queued for a retry at `retry_at`); a step whose deliveries were all
        declined or failed hurries its chain. Raises NotFound."""

    async def list_deliveries(self, alert_id: int) -> list[Delivery]: ...
    async def get_delivery(self, delivery_id: str) -> Delivery:
        """Raises NotFound."""


class RosterStore(Protocol):
    """On-call rotations and overrides, webhook endpoints, and how each person is reached."""

    async def add_rotation(self, rotation: Rotation) -> Rotation:
        """Store a validated rotation; returns it with its new id."""

    async def list_rotations(self, *, site_ids: Sequence[str] | None = None) -> list[Rotation]: ...
    async def add_override(self, override: RosterOverride) -> RosterOverride:
        """Raises NotFound for an unknown rotation."""

    async def list_overrides(
        self, rotation_ids: Sequence[int], *, since: datetime, until: datetime
    ) -> list[RosterOverride]: ...
    async def upsert_webhook_endpoint(self, endpoint: WebhookEndpoint) -> None: ...
    async def get_webhook_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        """Raises NotFound."""

    async def set_contact_points(self, person_id: str, points: Sequence[ContactPoint]) -> None: ...
    async def contact_points(self, person_ids: Sequence[str]) -> dict[str, tuple[ContactPoint, ...]]: ...


class DigestStore(Protocol):
    """Care-team members' daily summaries: a schedule row per member in a summary role, made when they join."""

    async def fire_due_digests(self, now: datetime, decide: DigestDecision, *, limit: int = 50) -> list[DigestFacts]:
        """Claim due schedules (rows another worker holds are skipped), apply `decide`, and write the summary's
        deliveries and the next due time in one transaction."""

    async def digest_schedule(self, person_id: str) -> DigestSchedule | None: ...


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Rows matching every given field; `before_id` pages back from the previous page's last row."""

    user_id: str | None = None
    patient_id: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    before_id: int | None = None


@dataclass(frozen=True, slots=True)
class PatientAccess:
    """One line of a patient's "who has seen my data" report: a user, in a role, through a grant."""

    user_id: str
    role: Role
    grant: str
    refused: bool
    accesses: int
    first_at: datetime
    last_at: datetime


class AuditStore(Protocol):
    """Append-only: the database refuses UPDATE and DELETE of audit rows (revision 0008)."""

    async def audit(self, entry: AuditEntry) -> None: ...
    async def audit_many(self, entries: Sequence[AuditEntry]) -> None:
        """Several rows in one transaction."""

    async def list_audit(self, *, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""

    async def find_audit(self, where: AuditFilter, *, limit: int) -> list[tuple[int, AuditEntry]]:
        """(row id, entry) matching `where`, newest first."""

    async def patient_access_report(self, patient_id: str) -> list[PatientAccess]: ...


class UserStore(Protocol):
    """The user registry and care-team grants (core/store/users.py)."""

    async def get_user(self, user_id: str) -> User | None:
        """One row by key: read on every authenticated call."""

    async def list_users(self) -> list[User]: ...
    async def add_user(self, user: User) -> User:
        """Conflict when the id is taken."""

    async def change_user(
        self,
        user_id: str,
        *,
        at: datetime,
        name: str | None = None,
        organisation: str | None = None,
        roles: Sequence[Role] | None = None,
        site_ids: Sequence[str] | None = None,
        disabled: bool | None = None,
    ) -> User:
        """NotFound for an unknown user; a change that may take access away is recorded as an access change."""

    async def team_grants(self, member_id: str, patient_ids: Sequence[str], *, at: datetime) -> dict[str, CareTeamRole]:
        """Patient id -> the member's role in its care team, memberships open at `at`."""

    async def memberships_of(self, member_id: str, *, at: datetime) -> list[CareTeamMember]: ...
    async def end_care_team_membership(
        self, patient_id: str, member_id: str, *, role: CareTeamRole | None, at: datetime
    ) -> list[CareTeamMember]:
        """NotFound when no membership is open; recorded as an access change."""

    async def access_changes_after(self, after_id: int) -> list[tuple[int, str]]: ...
    async def last_access_change_id(self) -> int: ...


class HomecareStore(Protocol):
    """Measurement plans, their timers and the coordinators' worklist (core/homecare.py)."""

    async def set_measurement_plan(self, plan: MeasurementPlan, timers: Sequence[PlanTimer]) -> None:
        """Store the plan (the newest is in force) and replace the patient's timers, in one transaction."""

    async def measurement_plan(self, patient_id: str) -> MeasurementPlan | None: ...
    async def plan_timers(self, patient_id: str) -> list[PlanTimer]: ...
    async def fire_due_plan_checks(
        self, now: datetime, decide: PlanCheckDecide, *, limit: int = 50
    ) -> list[WorklistItem]:
        """Claim due plan timers (others' skipped), apply `decide`, write its item and next due time at once."""

    async def worklist(self, site_id: str, *, states: Sequence[WorklistState], limit: int = 500) -> list[WorklistItem]:
        """A programme's first `limit` items in `states`, the most urgent then the oldest first (only closed: the
        newest closed first), ordered before the limit."""

    async def worklist_item(self, item_id: str) -> tuple[WorklistItem, list[WorklistEvent]]:
        """The item and its history. Raises NotFound."""

    async def update_worklist_item(
        self,
        item_id: str,
        *,
        actor: str,
        action: str,
        at: datetime,
        text: str = "",
        outcome: str | None = None,
        alert_id: int | None = None,
    ) -> WorklistItem:
        """claimed / assigned / escalated / note / closed, recorded in the history. Raises NotFound, or Conflict on
        a closed item or a claim of an item someone else owns (not assigned to the claimant)."""

    async def close_worklist_item(
        self, item_id: str, *, actor: str, at: datetime, outcome: str, comment: str
    ) -> tuple[WorklistItem, bool]:
        """Close the item; True when it was escalated and no other item not closed holds that alert (decided in the
        same transaction, the alert's row locked)."""


class CareFlagStore(Protocol):
    """Care flags (core/care_flags.py): append-only, the newest per patient and flag in force."""

    async def set_care_flags(self, changes: Sequence[CareFlagChange]) -> None: ...
    async def care_flags(self, patient_ids: Sequence[str]) -> dict[str, frozenset[CareFlag]]:
        """The flags in force per patient (patients without any are absent)."""

    async def care_flag_history(self, patient_id: str) -> list[CareFlagChange]: ...


# Given the patient's newest earlier assessments per scale, what to do with the patient's withdrawal alert: its key
# and the lifecycle decision, or None to leave it alone (alerts/withdrawal.py decides).
WithdrawalDecision = Callable[[WithdrawalHistory], tuple[AlertKey, AlertDecision] | None]


class WithdrawalStore(Protocol):
    """Withdrawal assessments (core/withdrawal.py): one row per scoring, never changed."""

    async def add_withdrawal_assessment(
        self, assessment: WithdrawalAssessment, decide: WithdrawalDecision
    ) -> AlertChange | None:
        """Store the assessment and, in the same transaction, apply `decide` to the patient's withdrawal alert (its
        escalation follows in that transaction too). An assessment dated before the newest one of its scale is
        history entered late: stored, and `decide` is not asked. Conflict when the id is taken."""

    async def withdrawal_assessments(
        self, patient_id: str, *, scales: Sequence[WithdrawalScale] | None = None, limit: int = 500
    ) -> list[WithdrawalAssessment]:
        """Newest first (by when assessed, then when recorded), at most `limit`."""


class BacklogStore(Protocol):
    """Due work across every worker, for monitoring (Prometheus: alerts/prometheus.py)."""

    async def timer_backlog(self, at: datetime) -> TimerBacklog:
        """How many escalation steps, re-notifications, confirmations, summaries and deliveries are due at `at`,
        how many steps are late, and every delivery by state."""


class AdministrationStore(Protocol):
    """Administration (core/store/places.py, core/store/stays.py): places that retire, patients with their national
    identity number apart, and stays. Every change is one transaction that checks first and writes nothing when it
    refuses: core.administration.AdminRefused names the field (missing: 404, otherwise 409)."""

    async def create_site(self, site: Site) -> Site: ...
    async def create_ward(self, ward: Ward) -> Ward: ...
    async def create_bed(self, bed: Bed) -> Bed: ...
    async def get_site(self, site_id: str) -> Site: ...
    async def get_bed(self, bed_id: str) -> Bed: ...
    async def rename_site(self, site_id: str, *, name: str) -> Site: ...
    async def rename_ward(self, ward_id: str, *, name: str) -> Ward: ...
    async def rename_bed(self, bed_id: str, *, label: str) -> Bed: ...
    async def retire_site(self, site_id: str, *, at: datetime) -> Site:
        """Refused while any of its wards has a current stay."""

    async def retire_ward(self, ward_id: str, *, at: datetime) -> Ward:
        """Refused while it has a current stay."""

    async def retire_bed(self, bed_id: str, *, at: datetime) -> Bed:
        """Refused while it holds a current stay."""

    async def create_patient(
        self, patient: Patient, *, national_id: NationalId | None, at: datetime, by: str
    ) -> Patient: ...
    async def change_patient(
        self,
        patient_id: str,
        *,
        display_name: str | None = None,
        birth_year: int | None = ...,
        national_id: NationalId | None = ...,
        at: datetime,
        by: str,
    ) -> Patient:
        """Only what is given changes; None clears a birth year or removes the number."""

    async def national_id_of(self, patient_id: str) -> NationalId | None: ...
    async def has_national_id(self, patient_ids: list[str]) -> set[str]: ...
    async def admit(self, *, patient_id: str, bed_id: str, stay_id: str, at: datetime) -> StayChange: ...
    async def transfer(self, *, patient_id: str, bed_id: str, stay_id: str, at: datetime) -> StayChange: ...
    async def discharge(self, *, patient_id: str, at: datetime) -> StayChange: ...
    async def enrol_home(self, *, patient_id: str, ward_id: str, stay_id: str, at: datetime) -> StayChange: ...
    async def end_home(self, *, patient_id: str, at: datetime) -> StayChange: ...
    async def stay_history(self, patient_id: str) -> list[Stay]:
        """Oldest first."""

    async def fire_due_stay_limits(
        self, now: datetime, decide: StayLimitDecision, *, limit: int = 50
    ) -> list[AlertChange]:
        """Claim due length-of-stay timers (SKIP LOCKED), apply `decide` and mark each fired, in one transaction."""

    async def import_unit(
        self, ward_id: str, rows: Sequence[UnitImportRow], *, at: datetime, by: str
    ) -> list[StayChange]:
        """A unit's beds and current patients in one transaction; ImportRefused names the first bad row."""


# Run on the patient's unresolved length-of-stay alert (or None), locked, when a timer is due: pure, no I/O.
StayLimitDecision = Callable[[Alert | None, DueStayLimit], AlertUpdate | None]


class Store(
    StoreLifecycle,
    ReferenceStore,
    DeviceStore,
    OnboardingStore,
    ObservationStore,
    ScoreStore,
    AlertStore,
    EscalationStore,
    DeliveryStore,
    DigestStore,
    RosterStore,
    AuditStore,
    LimitStore,
    BacklogStore,
    HomecareStore,
    CareFlagStore,
    WithdrawalStore,
    UserStore,
    AdministrationStore,
    OutreachStore,
    TriageStore,
    Protocol,
):
    """Everything vaktrom keeps. All methods are coroutines; a backend raises StorageUnavailable when it cannot reach
    its storage. Times are tz-aware UTC. Nothing here keeps state in process memory that another process would need.
    """
