"""Live histories become the feature function's grid: a chunk of patients gives what each one gives alone."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from core.types import Parameter
from models.features import FEATURE_NAMES
from models.history import PatientHistory, features_from_history, features_of_histories
from tests.models.conftest import ADMITTED_AT, Reading, readings_of, synthetic_hours


def test_patients_computed_together_get_exactly_what_each_gets_alone() -> None:
    # The live pipeline stacks a chunk of patients into one grid: nothing may leak from one patient to the next.
    hours = synthetic_hours(4, seed=11)
    histories = []
    for patient, hour in zip(range(4), (5, 40, 59, 20), strict=True):
        rows = np.flatnonzero(hours.patient == patient)
        readings = readings_of(hours.grid, range(int(rows[0]), int(rows[0]) + hour + 1))
        if patient == 1:  # oxygen charted only long before the window: carried forward, and to nobody else
            readings = [r for r in readings if r.parameter is not Parameter.SUPPLEMENTAL_O2]
            readings.append(Reading(Parameter.SUPPLEMENTAL_O2, 1.0, ADMITTED_AT - timedelta(hours=300)))
        now = ADMITTED_AT + timedelta(hours=float(hours.grid.hours_since_admission[rows[0] + hour]))
        histories.append(
            PatientHistory.from_readings(
                readings, now=now, age_years=50.0 + patient, male=None, admitted_at=ADMITTED_AT
            )
        )
    together = features_of_histories(histories)
    for i, history in enumerate(histories):
        alone = features_of_histories([history])[0]
        np.testing.assert_array_equal(together[i], alone, err_msg=f"patient {i}")
    on_oxygen = FEATURE_NAMES.index("on_oxygen")
    assert together[1, on_oxygen] == 1.0
    assert features_of_histories([]).shape == (0, len(FEATURE_NAMES))


def test_the_latest_oxygen_charting_of_an_hour_counts() -> None:
    now = ADMITTED_AT + timedelta(hours=10)
    vitals = [
        Reading(p, v, now - timedelta(minutes=5)) for p, v in ((Parameter.PULSE, 80.0), (Parameter.RESP_RATE, 16.0))
    ]
    later_off = [
        Reading(Parameter.SUPPLEMENTAL_O2, 1.0, now - timedelta(minutes=50)),
        Reading(Parameter.SUPPLEMENTAL_O2, 0.0, now - timedelta(minutes=10)),  # taken off oxygen since
    ]
    features = features_from_history([*vitals, *later_off], now=now, age_years=70, male=None, admitted_at=ADMITTED_AT)
    assert features[FEATURE_NAMES.index("on_oxygen")] == 0.0
    # Given in the other order: still the later charting counts, not the last one given.
    features = features_from_history(
        [*vitals, *reversed(later_off)], now=now, age_years=70, male=None, admitted_at=ADMITTED_AT
    )
    assert features[FEATURE_NAMES.index("on_oxygen")] == 0.0
