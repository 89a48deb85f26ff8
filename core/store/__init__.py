"""Storage: one schema (`schema.py`), queries written once by domain, one thin module per engine.

Import the engines from their modules (`core.store.sqlite.SqliteStore`, `core.store.postgres.PostgresStore`) so that
a process only loads the driver it uses.
"""

from __future__ import annotations

from core.store.protocols import (
    AlertChange,
    AlertDecision,
    AlertStore,
    AlertUpdate,
    AuditFilter,
    AuditStore,
    ConditionDecision,
    ConditionUpdate,
    DeliveryStore,
    DeviceStore,
    DigestStore,
    DueAlertDecision,
    EscalationStore,
    LimitStore,
    ObservationBucket,
    ObservationStore,
    PatientAccess,
    ReferenceStore,
    RosterStore,
    ScoreStore,
    StepDecision,
    Store,
    StoreLifecycle,
    UserStore,
)

__all__ = [
    "AlertChange",
    "AlertDecision",
    "AlertStore",
    "AlertUpdate",
    "AuditFilter",
    "AuditStore",
    "ConditionDecision",
    "ConditionUpdate",
    "DeliveryStore",
    "DeviceStore",
    "DigestStore",
    "DueAlertDecision",
    "EscalationStore",
    "LimitStore",
    "ObservationBucket",
    "ObservationStore",
    "PatientAccess",
    "ReferenceStore",
    "RosterStore",
    "ScoreStore",
    "StepDecision",
    "Store",
    "StoreLifecycle",
    "UserStore",
]
