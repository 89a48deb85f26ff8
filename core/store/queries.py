"""Every query module in one base class: what both engines' stores are built from."""

from __future__ import annotations

from core.store.alert_facts import AlertFactsQueries
from core.store.alerts import AlertQueries
from core.store.audit import AuditQueries
from core.store.backlog import BacklogQueries
from core.store.care_flags import CareFlagQueries
from core.store.deliveries import DeliveryQueries
from core.store.devices import DeviceQueries
from core.store.digests import DigestQueries
from core.store.escalations import EscalationQueries
from core.store.homecare import HomecareQueries
from core.store.limits import LimitQueries
from core.store.observations import ObservationQueries
from core.store.onboarding import OnboardingQueries
from core.store.outreach import OutreachQueries
from core.store.places import PlaceQueries
from core.store.reference import ReferenceQueries
from core.store.rosters import RosterQueries
from core.store.scores import ScoreQueries
from core.store.stays import StayQueries
from core.store.triage import TriageQueries
from core.store.unit_import import UnitImportQueries
from core.store.users import UserQueries
from core.store.withdrawal import WithdrawalQueries

__all__ = ["StoreQueries"]


class StoreQueries(
    ReferenceQueries,
    DeviceQueries,
    OnboardingQueries,
    ObservationQueries,
    ScoreQueries,
    AlertQueries,
    EscalationQueries,
    AlertFactsQueries,
    DeliveryQueries,
    DigestQueries,
    RosterQueries,
    AuditQueries,
    LimitQueries,
    BacklogQueries,
    HomecareQueries,
    CareFlagQueries,
    WithdrawalQueries,
    UserQueries,
    PlaceQueries,
    StayQueries,
    UnitImportQueries,
    OutreachQueries,
    TriageQueries,
):
    """The queries of every domain, written once; an engine adds where they run, `append`, open, close and ping."""
