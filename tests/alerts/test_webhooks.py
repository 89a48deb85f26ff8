"""Alert webhooks: the signature a gateway checks, what each gateway answer means, backoff, and webhook URLs."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.webhooks import (
    BACKOFF_CAP_S,
    MAX_ATTEMPTS,
    MAX_RETRY_AFTER_S,
    Answer,
    SendOutcome,
    SendResult,
    WebhookAnswer,
    is_exhausted,
    parse_answer,
    retry_delay_s,
    send_webhook,
    signature_headers,
    validate_webhook_url,
    verify_signature,
)
from core.errors import WebhookRejected
from tests.alerts.webhook_receiver import GatewayReply, WebhookReceiver, sign_as_gateway

SECRET = bytes.fromhex("5f0c8e2a9b7d41c3a6e8f0b2d4c6e8a0" * 2)
OLD_SECRET = bytes.fromhex("0123456789abcdef" * 4)
AT = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
AT_S = int(AT.timestamp())
BODY = b'{"alert_id": 42, "bed": "3B", "patient": "Kari Nordmann", "news2": 7}'
TIMEOUT_S = 2.0


def _signed(
    *, secret: bytes = SECRET, delivery_id: str = "d-1", body: bytes = BODY, at_s: int = AT_S
) -> dict[str, str]:
    return signature_headers(secret, delivery_id=delivery_id, body=body, timestamp_s=at_s)


def _rejection(headers: dict[str, str], *, body: bytes = BODY, now: datetime = AT) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        verify_signature(SECRET, headers=headers, body=body, now=now)
    return caught.value


# --- signing and verifying -------------------------------------------------------------------------------------


def test_signed_request_carries_the_documented_headers() -> None:
    # The MAC computed here straight from the documented format, not through alerts.webhooks.
    mac = hmac.new(SECRET, f"{AT_S}.d-1.".encode() + BODY, hashlib.sha256).hexdigest()
    assert _signed() == {
        "Content-Type": "application/json",
        "Vaktrom-Delivery": "d-1",
        "Vaktrom-Timestamp": str(AT_S),
        "Vaktrom-Signature": f"v1={mac}",
    }


def test_signed_request_verifies_and_names_its_delivery() -> None:
    assert verify_signature(SECRET, headers=_signed(delivery_id="dlv:7_a-b"), body=BODY, now=AT) == "dlv:7_a-b"


def test_answer_signed_independently_by_a_gateway_is_accepted() -> None:
    answer = b'{"status": "accepted", "by": "dr-lund"}'
    headers = sign_as_gateway(SECRET, delivery_id="d-9", body=answer, timestamp_s=AT_S)
    assert verify_signature(SECRET, headers=headers, body=answer, now=AT) == "d-9"


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_header_names_match_in_any_case(case: Callable[[str], str]) -> None:
    headers = {case(name): value for name, value in _signed().items()}
    assert verify_signature(SECRET, headers=headers, body=BODY, now=AT) == "d-1"


def test_answer_exactly_at_the_tolerance_is_accepted() -> None:
    assert verify_signature(SECRET, headers=_signed(), body=BODY, now=AT + timedelta(seconds=300)) == "d-1"


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        ("Vaktrom-Signature", "missing Vaktrom-Signature header"),
        ("Vaktrom-Timestamp", "missing Vaktrom-Timestamp header"),
        ("Vaktrom-Delivery", "missing Vaktrom-Delivery header"),
    ],
)
def test_answer_without_a_signature_header_is_rejected(drop: str, reason: str) -> None:
    headers = _signed()
    del headers[drop]
    assert _rejection(headers).reason == reason


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("Vaktrom-Signature", "deadbeef", "malformed Vaktrom-Signature header"),
        ("Vaktrom-Signature", "v1=deadbeef", "malformed Vaktrom-Signature header"),
        ("Vaktrom-Signature", "v1=" + "A" * 64, "malformed Vaktrom-Signature header"),
        ("Vaktrom-Signature", "v0=" + "a" * 64, "Vaktrom-Signature header has no v1 value"),
        ("Vaktrom-Signature", ",".join(["v1=" + "a" * 64] * 9), "Vaktrom-Signature header has more than 8 values"),
        ("Vaktrom-Timestamp", "soon", "malformed Vaktrom-Timestamp header: expected Unix seconds, got 'soon'"),
        ("Vaktrom-Timestamp", "-5", "malformed Vaktrom-Timestamp header"),
        ("Vaktrom-Timestamp", "1.7e9", "malformed Vaktrom-Timestamp header"),
        ("Vaktrom-Delivery", "d.1", "malformed Vaktrom-Delivery header: 'd.1'"),
        ("Vaktrom-Delivery", "", "malformed Vaktrom-Delivery header"),
    ],
)
def test_answer_with_a_malformed_header_is_rejected(header: str, value: str, reason: str) -> None:
    headers = _signed() | {header: value}
    assert _rejection(headers).reason.startswith(reason)


def test_repeated_header_is_rejected_as_ambiguous() -> None:
    headers = _signed() | {"vaktrom-delivery": "d-2"}
    assert _rejection(headers).reason == "header Vaktrom-Delivery appears more than once"


def test_stale_answer_is_rejected_with_its_age() -> None:
    rejected = _rejection(_signed(at_s=AT_S - 301))
    assert (rejected.delivery_id, rejected.reason) == ("d-1", "timestamp is 301 s old (tolerance 300 s)")
    assert str(rejected) == "webhook answer for delivery d-1: timestamp is 301 s old (tolerance 300 s)"


def test_answer_from_the_future_is_rejected() -> None:
    assert _rejection(_signed(at_s=AT_S + 400)).reason == "timestamp is 400 s in the future (tolerance 300 s)"


MISMATCH = "signature does not match (wrong secret, or body, delivery id or timestamp altered)"


def test_tampered_body_is_rejected() -> None:
    assert _rejection(_signed(), body=BODY.replace(b"42", b"43")).reason == MISMATCH


def test_signature_moved_to_another_delivery_is_rejected() -> None:
    rejected = _rejection(_signed(delivery_id="d-1") | {"Vaktrom-Delivery": "d-2"})
    assert (rejected.delivery_id, rejected.reason) == ("d-2", MISMATCH)


def test_signature_with_a_changed_timestamp_is_rejected() -> None:
    assert _rejection(_signed() | {"Vaktrom-Timestamp": str(AT_S + 10)}).reason == MISMATCH


def test_answer_signed_with_another_secret_is_rejected() -> None:
    assert _rejection(_signed(secret=OLD_SECRET)).reason == MISMATCH


def test_either_secret_verifies_during_rotation() -> None:
    new, old = _signed()["Vaktrom-Signature"], _signed(secret=OLD_SECRET)["Vaktrom-Signature"]
    headers = _signed() | {"Vaktrom-Signature": f"{new}, {old}"}
    assert verify_signature(SECRET, headers=headers, body=BODY, now=AT) == "d-1"
    assert verify_signature(OLD_SECRET, headers=headers, body=BODY, now=AT) == "d-1"
    with pytest.raises(WebhookRejected, match="signature does not match"):
        verify_signature(b"third-secret-nobody-has", headers=headers, body=BODY, now=AT)


def test_unknown_signature_schemes_are_skipped() -> None:
    headers = _signed()
    headers["Vaktrom-Signature"] = "v2=" + "0" * 64 + "," + headers["Vaktrom-Signature"]
    assert verify_signature(SECRET, headers=headers, body=BODY, now=AT) == "d-1"


@pytest.mark.parametrize(
    ("sign", "message"),
    [
        (lambda: _signed(delivery_id="d.1"), "delivery id 'd.1' must be 1-64 letters"),
        (lambda: _signed(delivery_id="x" * 65), "must be 1-64 letters"),
        (lambda: _signed(secret=b"short"), "webhook secret must be at least 16 bytes, got 5"),
        (lambda: _signed(at_s=-1), "timestamp_s must be Unix seconds"),
    ],
)
def test_signing_refuses_what_the_format_cannot_carry(sign: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sign()


def test_verifying_with_a_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        verify_signature(SECRET, headers=_signed(), body=BODY, now=datetime(2025, 3, 4, 12, 0))


@given(
    body=st.binary(max_size=256),
    delivery_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_:-]{0,63}\Z"),
    position=st.integers(min_value=0),
)
def test_any_body_round_trips_and_any_changed_byte_is_caught(body: bytes, delivery_id: str, position: int) -> None:
    headers = _signed(delivery_id=delivery_id, body=body)
    assert verify_signature(SECRET, headers=headers, body=body, now=AT) == delivery_id
    tampered = bytearray(body or b" ")
    tampered[position % len(tampered)] ^= 0x01
    with pytest.raises(WebhookRejected, match="signature does not match"):
        verify_signature(SECRET, headers=headers, body=bytes(tampered), now=AT)


# --- answers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", None),
        (b" \r\n", None),
        (b'{"status": "delivered"}', Answer(WebhookAnswer.DELIVERED)),
        (b'{"status": "read", "by": "nurse-7"}', Answer(WebhookAnswer.READ, "nurse-7")),
        (b'{"status": "accepted", "by": "dr-lund"}', Answer(WebhookAnswer.ACCEPTED, "dr-lund")),
        (b'{"status": "declined", "by": null}', Answer(WebhookAnswer.DECLINED)),
        (b'{"status": "accepted", "by": "dr-lund", "ascom_msg": 991}', Answer(WebhookAnswer.ACCEPTED, "dr-lund")),
    ],
)
def test_gateway_answers_are_read(body: bytes, expected: Answer | None) -> None:
    assert parse_answer("d-1", body) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"status": "seen"}', "status: Input should be 'delivered', 'read', 'accepted' or 'declined' (got 'seen')"),
        (b'{"by": "dr-lund"}', "status: Field required"),
        (b"accepted", "answer: Invalid JSON"),
        (b'["accepted"]', "answer: Input should be an object"),
        (b'{"status": "accepted", "by": ""}', "by: String should have at least 1 character"),
        (json.dumps({"status": "read", "by": "x" * 129}).encode(), "by: String should have at most 128 characters"),
        (b'{"status": "read", "by": "a\\nb"}', "by: String should match pattern"),
        (b'{"status": "read", "pad": "' + b"x" * 17000 + b'"}', "answer is longer than 16384 bytes"),
    ],
)
def test_unreadable_answers_are_rejected_with_the_rule_they_broke(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse_answer("d-1", body)
    assert caught.value.delivery_id == "d-1"
    assert caught.value.reason.startswith(reason)


# --- sending to a real gateway ---------------------------------------------------------------------------------


@pytest.fixture
async def gateway() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:  # no proxy from the environment between us and 127.0.0.1
        yield client


async def _send(
    client: httpx.AsyncClient, url: str, *, delivery_id: str = "d-1", timeout_s: float = TIMEOUT_S
) -> SendResult:
    return await send_webhook(
        client, url=url, secret=SECRET, delivery_id=delivery_id, body=BODY, now=datetime.now(UTC), timeout_s=timeout_s
    )


async def _one_valid_request(gateway: WebhookReceiver) -> None:
    (request,) = await gateway.wait_for(1)
    assert (request.method, request.path, request.body, request.delivery_id) == ("POST", "/hook", BODY, "d-1")
    assert request.signature_valid, request.signature_problem


integration = pytest.mark.integration


@integration
async def test_gateway_taking_the_alert_silently_is_delivered(
    client: httpx.AsyncClient, gateway: WebhookReceiver
) -> None:
    result = await _send(client, gateway.url)
    assert (result.outcome, result.status_code, result.answer, result.reason) == (
        SendOutcome.DELIVERED,
        200,
        None,
        "HTTP 200 from gateway",
    )
    assert result.retry_after_s is None
    assert 0 < result.elapsed_s < TIMEOUT_S
    await _one_valid_request(gateway)


@integration
@pytest.mark.parametrize(
    ("json_body", "answer"),
    [
        ({"status": "accepted", "by": "dr-lund"}, Answer(WebhookAnswer.ACCEPTED, "dr-lund")),
        ({"status": "declined", "by": "dr-lund"}, Answer(WebhookAnswer.DECLINED, "dr-lund")),
        ({"status": "delivered"}, Answer(WebhookAnswer.DELIVERED)),
    ],
)
async def test_gateway_answer_in_the_response_says_who_took_the_alert(
    client: httpx.AsyncClient, gateway: WebhookReceiver, json_body: object, answer: Answer
) -> None:
    gateway.reply_with(GatewayReply(json_body=json_body))
    result = await _send(client, gateway.url)
    assert (result.outcome, result.status_code, result.answer) == (SendOutcome.DELIVERED, 200, answer)
    await _one_valid_request(gateway)


@integration
async def test_broken_answer_still_counts_as_delivered_and_says_it_was_ignored(
    client: httpx.AsyncClient, gateway: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.reply_with(GatewayReply(status=202, json_body={"status": "seen"}))
    with caplog.at_level(logging.WARNING, logger="alerts.webhooks"):
        result = await _send(client, gateway.url)
    assert (result.outcome, result.status_code, result.answer) == (SendOutcome.DELIVERED, 202, None)
    assert result.reason.startswith("HTTP 202 from gateway; answer ignored: status: Input should be 'delivered'")
    assert [r.getMessage() for r in caplog.records] == [
        f"Webhook d-1 to 127.0.0.1 delivered, answer ignored: {result.reason.split('answer ignored: ')[1]}"
    ]


@integration
@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_gateway_in_trouble_is_retried(client: httpx.AsyncClient, gateway: WebhookReceiver, status: int) -> None:
    gateway.reply_with(GatewayReply(status=status, json_body={"error": "down"}))
    result = await _send(client, gateway.url)
    assert (result.outcome, result.status_code, result.reason, result.retry_after_s) == (
        SendOutcome.RETRY,
        status,
        f"HTTP {status} from gateway",
        None,
    )
    await _one_valid_request(gateway)


@integration
async def test_gateway_busy_with_retry_after_is_retried_no_sooner(
    client: httpx.AsyncClient, gateway: WebhookReceiver
) -> None:
    gateway.reply_with(GatewayReply(status=429, retry_after="7"))
    result = await _send(client, gateway.url)
    assert (result.outcome, result.status_code, result.reason) == (SendOutcome.RETRY, 429, "HTTP 429 from gateway")
    assert result.retry_after_s == 7.0
    assert retry_delay_s(1, retry_after_s=result.retry_after_s, rand=lambda: 0.0) == 7.0
    await _one_valid_request(gateway)


@integration
async def test_retry_after_as_an_http_date_counts_from_now(client: httpx.AsyncClient, gateway: WebhookReceiver) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    gateway.reply_with(GatewayReply(status=503, retry_after=format_datetime(now + timedelta(seconds=30), usegmt=True)))
    result = await send_webhook(
        client, url=gateway.url, secret=SECRET, delivery_id="d-1", body=BODY, now=now, timeout_s=TIMEOUT_S
    )
    assert (result.outcome, result.retry_after_s) == (SendOutcome.RETRY, 30.0)


@integration
@pytest.mark.parametrize(("retry_after", "expected_s"), [("86400", MAX_RETRY_AFTER_S), ("soon", None), ("0", 0.0)])
async def test_retry_after_is_bounded_and_unreadable_ones_ignored(
    client: httpx.AsyncClient, gateway: WebhookReceiver, retry_after: str, expected_s: float | None
) -> None:
    gateway.reply_with(GatewayReply(status=503, retry_after=retry_after))
    result = await _send(client, gateway.url)
    assert (result.outcome, result.retry_after_s) == (SendOutcome.RETRY, expected_s)


@integration
@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_gateway_refusing_the_alert_fails_it(
    client: httpx.AsyncClient, gateway: WebhookReceiver, status: int
) -> None:
    gateway.reply_with(GatewayReply(status=status, retry_after="5"))
    result = await _send(client, gateway.url)
    assert (result.outcome, result.status_code, result.reason, result.retry_after_s) == (
        SendOutcome.FAILED,
        status,
        f"HTTP {status} from gateway",
        None,
    )
    await _one_valid_request(gateway)


@integration
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_not_followed_and_fails_the_alert(gateway: WebhookReceiver, status: int) -> None:
    gateway.reply_with(GatewayReply(status=status, headers=(("location", gateway.url_for("/elsewhere")),)))
    # Even a client that follows redirects elsewhere must not carry patient data to where nobody configured it.
    async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as client:
        result = await _send(client, gateway.url)
    assert (result.outcome, result.status_code, result.reason) == (
        SendOutcome.FAILED,
        status,
        f"HTTP {status} redirect from gateway, not followed: update the webhook URL",
    )
    assert [r.path for r in gateway.requests] == ["/hook"]


@integration
async def test_gateway_too_slow_to_answer_is_retried(client: httpx.AsyncClient, gateway: WebhookReceiver) -> None:
    gateway.reply_with(GatewayReply(delay_s=30.0))
    result = await _send(client, gateway.url, timeout_s=0.3)
    assert (result.outcome, result.status_code, result.answer, result.reason) == (
        SendOutcome.RETRY,
        None,
        None,
        "timed out after 0.3 s",
    )
    assert 0.25 <= result.elapsed_s < 0.3 + 1.0  # the loop may wake a timer a clock tick early
    await _one_valid_request(gateway)


@integration
async def test_gateway_hanging_up_without_answering_is_retried(
    client: httpx.AsyncClient, gateway: WebhookReceiver
) -> None:
    gateway.reply_with(GatewayReply(drop=True))
    result = await _send(client, gateway.url)
    assert (result.outcome, result.status_code) == (SendOutcome.RETRY, None)
    assert result.reason.startswith("gateway closed the connection without a complete answer")
    await _one_valid_request(gateway)


@pytest.fixture
def closed_port() -> Iterator[int]:
    # Bound but not listening: connecting is refused, and no other process can take the port meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@integration
async def test_gateway_not_listening_is_retried(client: httpx.AsyncClient, closed_port: int) -> None:
    result = await _send(client, f"http://127.0.0.1:{closed_port}/hook")
    assert (result.outcome, result.status_code, result.reason) == (SendOutcome.RETRY, None, "connection refused")


@integration
async def test_every_delivery_is_signed_as_documented(client: httpx.AsyncClient, gateway: WebhookReceiver) -> None:
    gateway.reply_with(GatewayReply(status=503), GatewayReply(status=404), GatewayReply(json_body={"status": "read"}))
    for delivery_id in ("d-1", "d-2", "1734", "0f8e2c1a-5b7d-4e3f-9a1b-2c3d4e5f6a7b"):
        await _send(client, gateway.url, delivery_id=delivery_id)
    requests = await gateway.wait_for(4)
    assert [r.delivery_id for r in requests] == ["d-1", "d-2", "1734", "0f8e2c1a-5b7d-4e3f-9a1b-2c3d4e5f6a7b"]
    assert [(r.signature_valid, r.signature_problem) for r in requests] == [(True, None)] * 4


@integration
async def test_gateway_notices_a_delivery_signed_with_the_wrong_secret(
    client: httpx.AsyncClient, gateway: WebhookReceiver
) -> None:
    # The gateway's own check is not vacuous: a wrong secret is caught on its side too.
    await send_webhook(
        client, url=gateway.url, secret=OLD_SECRET, delivery_id="d-1", body=BODY, now=datetime.now(UTC), timeout_s=1
    )
    (request,) = await gateway.wait_for(1)
    assert (request.signature_valid, request.signature_problem) == (
        False,
        "no v1 value matches the HMAC of the request",
    )


@integration
async def test_asynchronous_answer_from_a_gateway_is_verified_and_read(
    client: httpx.AsyncClient, gateway: WebhookReceiver
) -> None:
    # The gateway posts its later answer (here to itself, a real HTTP hop); vaktrom's side must accept it.
    response = await gateway.post_answer(
        client, gateway.url_for("/answers"), delivery_id="d-5", status="accepted", by="dr-lund"
    )
    assert response.status_code == 200
    (request,) = await gateway.wait_for(1)
    assert request.signature_valid, request.signature_problem
    delivery_id = verify_signature(SECRET, headers=dict(request.headers), body=request.body, now=datetime.now(UTC))
    assert (delivery_id, parse_answer(delivery_id, request.body)) == ("d-5", Answer(WebhookAnswer.ACCEPTED, "dr-lund"))


@integration
async def test_logs_name_the_delivery_and_host_but_never_the_patient_data_or_secret(
    client: httpx.AsyncClient, gateway: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.reply_with(GatewayReply(status=503), GatewayReply(status=404))
    with caplog.at_level(logging.DEBUG, logger="alerts.webhooks"):
        for _ in range(3):
            await _send(client, gateway.url_for("/hook?token=abc123"))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Webhook d-1 to 127.0.0.1 to be retried: HTTP 503 from gateway"),
        ("ERROR", "Webhook d-1 to 127.0.0.1 failed: HTTP 404 from gateway"),
        ("DEBUG", "Webhook d-1 to 127.0.0.1 delivered: HTTP 200 from gateway"),
    ]
    assert "Nordmann" not in caplog.text
    assert "abc123" not in caplog.text
    assert SECRET.hex() not in caplog.text


# --- backoff ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "fraction", "retry_after_s", "expected_s"),
    [
        (1, 0.0, None, 0.0),  # full jitter reaches down to zero
        (1, 0.5, None, 1.0),
        (1, 1.0, None, 2.0),  # base
        (2, 1.0, None, 4.0),
        (3, 0.25, None, 2.0),
        (8, 1.0, None, 256.0),
        (9, 1.0, None, 300.0),  # 512 s capped
        (10_000, 1.0, None, 300.0),  # no overflow
        (1, 0.5, 7.0, 7.0),  # Retry-After is a floor
        (6, 1.0, 7.0, 64.0),  # above the floor, backoff wins
        (1, 0.0, 5000.0, 600.0),  # an excessive Retry-After is bounded
    ],
)
def test_retry_waits_grow_with_full_jitter_up_to_the_cap(
    attempt: int, fraction: float, retry_after_s: float | None, expected_s: float
) -> None:
    assert retry_delay_s(attempt, retry_after_s=retry_after_s, rand=lambda: fraction) == expected_s


@pytest.mark.parametrize(
    ("attempt", "fraction", "message"),
    [(0, 0.5, "attempt must be 1 or more, got 0"), (1, 1.5, r"rand\(\) must return a number in \[0, 1\]")],
)
def test_retry_wait_refuses_nonsense(attempt: int, fraction: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retry_delay_s(attempt, retry_after_s=None, rand=lambda: fraction)


@given(
    attempt=st.integers(min_value=1, max_value=200),
    fraction=st.floats(min_value=0.0, max_value=1.0),
    retry_after_s=st.none() | st.floats(min_value=0.0, max_value=10_000.0),
)
def test_retry_wait_is_bounded_and_its_ceiling_never_shrinks(
    attempt: int, fraction: float, retry_after_s: float | None
) -> None:
    delay_s = retry_delay_s(attempt, retry_after_s=retry_after_s, rand=lambda: fraction)
    floor_s = None if retry_after_s is None else min(retry_after_s, MAX_RETRY_AFTER_S)
    assert 0.0 <= delay_s <= BACKOFF_CAP_S or delay_s == floor_s
    if floor_s is not None:
        assert delay_s >= floor_s
    assert retry_delay_s(attempt + 1, retry_after_s=None, rand=lambda: fraction) >= retry_delay_s(
        attempt, retry_after_s=None, rand=lambda: fraction
    )


def test_delivery_gives_up_after_the_last_attempt() -> None:
    assert [is_exhausted(n) for n in (1, MAX_ATTEMPTS - 1, MAX_ATTEMPTS, MAX_ATTEMPTS + 1)] == [
        False,
        False,
        True,
        True,
    ]


# --- webhook URLs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow_http_loopback"),
    [
        ("https://pager.ahus.example/vaktrom", False),
        ("https://vocera.example:8443/hooks/alerts?site=s1", False),
        ("HTTPS://ascom.example/hook", False),
        ("http://127.0.0.1:8123/hook", True),
        ("http://[::1]:9000/hook", True),
        ("http://localhost/hook", True),
        ("https://127.0.0.1/hook", False),
    ],
)
def test_webhook_urls_that_may_carry_alerts(url: str, allow_http_loopback: bool) -> None:
    assert validate_webhook_url(url, allow_http_loopback=allow_http_loopback) == url


@pytest.mark.parametrize(
    ("url", "allow_http_loopback", "message"),
    [
        ("http://pager.ahus.example/hook", False, "webhook URL to pager.ahus.example must use https, not http"),
        ("http://pager.ahus.example/hook", True, "(http is allowed only to 127.0.0.1, ::1 or localhost)"),
        ("http://127.0.0.1:8123/hook", False, "webhook URL to 127.0.0.1 must use https, not http"),
        ("http://127.0.0.2/hook", True, "must use https, not http"),
        ("ftp://pager.ahus.example/hook", False, "webhook URL must start with https://, not ftp"),
        ("pager.ahus.example/hook", False, "webhook URL must start with https://, not no scheme"),
        ("https://ops:hunter2@pager.ahus.example/hook", False, "must not contain a user name or password"),
        ("https://token@pager.ahus.example/hook", False, "must not contain a user name or password"),
        ("https:///hook", False, "webhook URL has no host name"),
        ("https://pager.ahus.example:99999/hook", False, "webhook URL is not a valid URL: Port out of range"),
        ("https://[::1/hook", False, "webhook URL is not a valid URL"),
        ("https://pager.ahus.example/a hook", False, "must not contain spaces or control characters"),
        ("https://pager.ahus.example/\x00", False, "must not contain spaces or control characters"),
        ("https://pager.ahus.example/hook#x", False, "must not have a '#' fragment"),
        ("", False, "webhook URL must be 1-2048 characters"),
        ("https://pager.ahus.example/" + "a" * 2048, False, "webhook URL must be 1-2048 characters"),
    ],
)
def test_webhook_urls_that_are_refused_say_what_to_change(url: str, allow_http_loopback: bool, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_webhook_url(url, allow_http_loopback=allow_http_loopback)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
