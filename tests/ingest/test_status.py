"""Device status reports: what docs/MQTT.md accepts is read as sent, anything else refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import InvalidPayload
from ingest.status import parse_status

RECEIVED_AT = datetime(2025, 10, 9, 12, 0, tzinfo=UTC)


def _parse(raw: bytes) -> object:
    return parse_status("dev-a", raw, received_at=RECEIVED_AT, future_tolerance_s=120)


def test_a_report_is_read_as_sent_whole_numbers_included() -> None:
    status = _parse(b'{"online": true, "battery_percent": 50, "signal_dbm": -67, "firmware": "2.1", "t": 1760000000}')

    assert status == parse_status(
        "dev-a",
        b'{"online": true, "battery_percent": 50.0, "signal_dbm": -67.0, "firmware": "2.1", "t": 1760000000.0}',
        received_at=RECEIVED_AT,
        future_tolerance_s=120,
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"online": "yes"}', "online: Input should be a valid boolean"),
        (b'{"online": 1}', "online: Input should be a valid boolean"),
        (b'{"online": true, "battery_percent": "50"}', "battery_percent: Input should be a valid number"),
        (b'{"online": true, "signal_dbm": "-67"}', "signal_dbm: Input should be a valid number"),
        (b'{"online": true, "t": "1760000000"}', "t: Input should be a valid number"),
        (b'{"online": true, "online": false}', "online: the key appears more than once"),
        (b'{"online": true, "battery_percent": 90, "battery_percent": 5}', "battery_percent: the key appears more"),
    ],
)
def test_a_report_of_the_wrong_type_or_with_a_repeated_key_is_refused_naming_the_field(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        _parse(raw)

    assert caught.value.reason.startswith(reason), caught.value.reason


def test_a_report_dated_more_than_a_week_back_is_refused_naming_the_clock() -> None:
    """A device whose clock reset (to 1970) reports a low battery. Stored, it was older than the device's last report
    and kept out of sight without a word: no battery alert, no dead letter. Refused, it is a dead letter saying why."""
    with pytest.raises(InvalidPayload) as caught:
        _parse(b'{"online": true, "battery_percent": 4, "t": 1000}')

    assert caught.value.reason == "t: older than 7 days (1970-01-01T00:16:40+00:00); set the device's clock"
    week_old = RECEIVED_AT.timestamp() - 7 * 86400 + 1
    assert _parse(b'{"online": true, "t": %d}' % week_old) is not None
