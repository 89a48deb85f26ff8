"""What a stay change does to the patient's alerts, inside the stay change's transaction.

An alert is shown, sounded and escalated by its ward (`alerts.ward_id`): the ward board lists a ward's alerts, the
alert's events go to its ward's topic, and its chain pages its ward's site's roster. So the patient's alerts follow
them. A transfer moves each unresolved alert about the patient (not a device's: the device stays at its bed, and
device health resolves an alert of a device no longer paired) to the new ward, with a `transferred` history row; an
open one at another site starts a new chain there, since the receiving unit's staff have not been told and the
sending unit's are no longer responsible. A discharge or the end of home follow-up resolves them: nobody watches the
patient any more, an acknowledged one would go on re-notifying the old unit, and one left open would swallow the
next stay's first alert of its kind (one unresolved alert per patient and kind). Pending conditions (the confirmation
delay) move or end with them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from core.store import schema as s
from core.store.alert_rows import alert_of_row, insert_transition
from core.store.alerts import resolve_alerts_in
from core.store.escalations import ChainLookups, follow_alert
from core.store.protocols import AlertChange
from core.types import SYSTEM_ACTOR, Alert, AlertPhase, AlertState

__all__ = ["end_patient_alerts", "move_patient_alerts"]

_a = s.alerts
_p = s.pending_alerts


def _patient_alerts(conn: sa.Connection, patient_id: str) -> list[Alert]:
    """The patient's unresolved alerts that are not a device's, locked in id order (the alert family's lock order:
    the alert, then its chain, then its deliveries)."""
    query = (
        sa.select(_a)
        .where(_a.c.patient_id == patient_id, _a.c.device_id.is_(None), s.UNRESOLVED)
        .order_by(_a.c.alert_id)
        .with_for_update()
    )
    return [alert_of_row(row) for row in conn.execute(query).all()]


def move_patient_alerts(conn: sa.Connection, patient_id: str, *, ward_id: str, at: datetime) -> list[AlertChange]:
    """A transfer to `ward_id`: the patient's alerts (and pending conditions) move there; see the module's doc."""
    conn.execute(sa.update(_p).where(_p.c.patient_id == patient_id, _p.c.device_id == "").values(ward_id=ward_id))
    lookups = ChainLookups()
    changes = []
    for alert in _patient_alerts(conn, patient_id):
        if alert.ward_id == ward_id:
            continue
        row = conn.execute(
            sa.update(_a).where(_a.c.alert_id == alert.alert_id).values(ward_id=ward_id, updated_at=at).returning(*_a.c)
        ).one()
        moved = alert_of_row(row)
        from_site = lookups.site_of(conn, alert)
        to_site = lookups.site_of(conn, moved)
        rechain = moved.state is AlertState.OPEN and to_site != from_site
        reason = f"patient moved from ward {alert.ward_id} to ward {ward_id}"
        if rechain:
            reason += f": escalation starts again at site {to_site}"
        insert_transition(conn, moved, AlertPhase.TRANSFERRED, at=at, by=SYSTEM_ACTOR, reason=reason)
        if rechain:
            follow_alert(conn, moved, AlertPhase.TRANSFERRED, lookups=lookups)
        changes.append(AlertChange(moved, changed=True, phase=AlertPhase.TRANSFERRED))
    return changes


def end_patient_alerts(conn: sa.Connection, patient_id: str, *, at: datetime, why: str) -> list[AlertChange]:
    """A discharge or the end of home follow-up (`why`): the patient's alerts resolve and their pending conditions
    end; see the module's doc."""
    conn.execute(sa.delete(_p).where(_p.c.patient_id == patient_id, _p.c.device_id == ""))
    ids = [alert.alert_id for alert in _patient_alerts(conn, patient_id)]
    changes = resolve_alerts_in(conn, ids, at=at, by=SYSTEM_ACTOR, reason=why) if ids else []
    return [change for change in changes if change.changed]
