"""Alert webhooks to hospital gateways: sign, send, classify the result, verify answers, back off. No database.

Signature format, version 1 (what a gateway's integration engineer implements)
------------------------------------------------------------------------------
Each alert is ``POST <webhook url>`` with the JSON message as the body and these headers::

    Content-Type:      application/json
    Vaktrom-Delivery:  <delivery id>    1-64 ASCII letters, digits, '_', ':' or '-', starting with a letter or digit
    Vaktrom-Timestamp: <timestamp>      Unix time in whole seconds (UTC) when it was signed, decimal digits only
    Vaktrom-Signature: v1=<mac>         <mac>: 64 lowercase hex digits of HMAC-SHA256(key=secret, msg=signed)

    signed = ASCII bytes of "<timestamp>.<delivery id>." followed by the raw body bytes, exactly as sent

To verify, take the raw body before parsing it, recompute <mac> with the shared secret, compare in constant time
(``hmac.compare_digest``) and accept when a ``v1=`` value matches and the timestamp is within 300 s of your clock.
While a secret is rotated the header carries several comma-separated values (``v1=<mac>,v1=<mac>``): accept if any
matches; ignore values of other schemes. The timestamp and delivery id are inside the MAC so a captured request cannot
be replayed later or re-labelled as another delivery; ids never contain '.', so the signed bytes split one way only.
We retry when we cannot tell whether a request arrived, so the same delivery may come twice: de-duplicate on
Vaktrom-Delivery.

Answers. The response to the POST may have an empty body, or be ``{"status": "<status>", "by": "<person id>"}``
(``by`` optional; other keys are ignored), status one of ``delivered``, ``read``, ``accepted``, ``declined`` (the
IHE PCD-06/07 dissemination statuses). A later answer is POSTed back to vaktrom as the same JSON with the same three
headers, signed with the same secret over that answer's body and the delivery id it answers.

Outcomes: 2xx is delivered; a timeout, a connection error, 408, 429 and 5xx are retried (honouring Retry-After);
anything else, redirects included (never followed), failed. A 2xx with an unreadable answer still counts as
delivered, because the message did arrive: the answer is ignored and the reason says why.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from core.errors import WebhookRejected

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "DELIVERY_HEADER",
    "MAX_ANSWER_BYTES",
    "MAX_ATTEMPTS",
    "MAX_RETRY_AFTER_S",
    "MIN_SECRET_BYTES",
    "SIGNATURE_HEADER",
    "SIGNATURE_TOLERANCE_S",
    "TIMESTAMP_HEADER",
    "Answer",
    "SendOutcome",
    "SendResult",
    "WebhookAnswer",
    "is_exhausted",
    "parse_answer",
    "retry_delay_s",
    "send_webhook",
    "signature_headers",
    "validate_webhook_url",
    "verify_signature",
]

logger = logging.getLogger(__name__)

DELIVERY_HEADER = "Vaktrom-Delivery"
TIMESTAMP_HEADER = "Vaktrom-Timestamp"
SIGNATURE_HEADER = "Vaktrom-Signature"

# Five minutes, as Stripe and Slack use: covers clock skew and queueing at the gateway, yet a captured answer
# cannot be replayed once the alert has moved on.
SIGNATURE_TOLERANCE_S = 300.0
# 128 bits: a shorter secret could be guessed offline from a single signed request.
MIN_SECRET_BYTES = 16
# Rotation needs two values; more only gives a forger more tries per request.
_MAX_SIGNATURE_VALUES = 8
# An answer is a few dozen bytes; the bound keeps a broken gateway from filling our memory.
MAX_ANSWER_BYTES = 16 * 1024
# A gateway asking for a longer pause gets this one: a page later than 10 min is of no clinical use, and the
# escalation policy, not the gateway, decides when to try the next person.
MAX_RETRY_AFTER_S = 600.0
# Full jitter on 2 s doubling to 5 min: after a gateway outage, a ward's queued alerts do not all return at once.
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
# Eight tries span about 8.5 min at most (2+4+...+256 s): past that the alert escalates to another channel or
# person rather than waiting on a gateway that is down.
MAX_ATTEMPTS = 8
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_MAX_URL_CHARS = 2048

# No '.' in ids: it separates the fields of the signed bytes (module docstring).
_DELIVERY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:-]{0,63}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAC = re.compile(r"[0-9a-f]{64}")
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")
_UNKNOWN_ID = "(unknown)"


class WebhookAnswer(enum.StrEnum):
    """What the gateway or the person did with the message (IHE PCD-06/07 dissemination statuses)."""

    DELIVERED = "delivered"
    READ = "read"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Answer:
    status: WebhookAnswer
    by: str | None = None  # the gateway's id of the person who read, accepted or declined


class SendOutcome(enum.StrEnum):
    DELIVERED = "delivered"  # the gateway took it (2xx)
    RETRY = "retry"  # it may not have arrived: try again after retry_delay_s
    FAILED = "failed"  # the gateway refused it; trying again will not help


# A refusal needs a person to fix the URL or the gateway; a retry is recovered from; a delivery is routine.
_LOGGED_AS = {
    SendOutcome.DELIVERED: (logging.DEBUG, "delivered"),
    SendOutcome.RETRY: (logging.WARNING, "to be retried"),
    SendOutcome.FAILED: (logging.ERROR, "failed"),
}


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: SendOutcome
    status_code: int | None  # None when no HTTP response arrived
    answer: Answer | None
    reason: str  # for people: "HTTP 503 from gateway", "timed out after 5.0 s", "connection refused"
    retry_after_s: float | None  # the gateway's Retry-After, bounded to MAX_RETRY_AFTER_S
    elapsed_s: float


# Person ids come from each hospital's own system: bounded, printable, otherwise free.
_PersonId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _AnswerBody(BaseModel):
    # Unlike our own wire formats, extra keys are allowed: gateways add their own (message ids, device names).
    model_config = ConfigDict(frozen=True, extra="ignore")
    status: WebhookAnswer
    by: _PersonId | None = None


def signature_headers(secret: bytes, *, delivery_id: str, body: bytes, timestamp_s: int) -> dict[str, str]:
    """The headers of one signed request. Raises ValueError for a short secret or an id the format forbids."""
    _check_secret(secret)
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise ValueError(f"delivery id {delivery_id!r} must be 1-64 letters, digits, '_', ':' or '-'")
    if timestamp_s < 0:
        raise ValueError(f"timestamp_s must be Unix seconds, got {timestamp_s}")
    return {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp_s),
        SIGNATURE_HEADER: f"v1={_mac(secret, timestamp_s=str(timestamp_s), delivery_id=delivery_id, body=body)}",
    }


def verify_signature(
    secret: bytes,
    *,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> str:
    """The delivery id of a signed request. Header names match in any case; `now` is tz-aware.

    Raises WebhookRejected for a missing, repeated or malformed header, a timestamp more than `tolerance_s` from
    `now`, or a MAC that matches none of the v1 values.
    """
    _check_secret(secret)
    delivery_id, stamp, macs = _signed_fields(headers)
    age_s = _unix_s(now) - int(stamp)
    if abs(age_s) > tolerance_s:
        when = f"{age_s:.0f} s old" if age_s > 0 else f"{-age_s:.0f} s in the future"
        raise WebhookRejected(delivery_id, reason=f"timestamp is {when} (tolerance {tolerance_s:g} s)")
    expected = _mac(secret, timestamp_s=stamp, delivery_id=delivery_id, body=body)
    # A list, not a generator: every value is compared, so the time taken does not tell which one matched.
    if not any([hmac.compare_digest(expected, mac) for mac in macs]):
        reason = "signature does not match (wrong secret, or body, delivery id or timestamp altered)"
        raise WebhookRejected(delivery_id, reason=reason)
    return delivery_id


def parse_answer(delivery_id: str, body: bytes) -> Answer | None:
    """A gateway's answer, or None for an empty (or blank) body. Raises WebhookRejected saying what is wrong."""
    if not body.strip():
        return None
    if len(body) > MAX_ANSWER_BYTES:
        raise WebhookRejected(delivery_id, reason=f"answer is longer than {MAX_ANSWER_BYTES} bytes")
    try:
        parsed = _AnswerBody.model_validate_json(body)
    except ValidationError as exc:
        raise WebhookRejected(delivery_id, reason=_first_error(exc)) from None
    return Answer(status=parsed.status, by=parsed.by)


async def send_webhook(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: bytes,
    delivery_id: str,
    body: bytes,
    now: datetime,
    timeout_s: float,
) -> SendResult:
    """POST one signed delivery and classify what happened; never raises for network or HTTP trouble.

    `url` has passed validate_webhook_url. `now` (tz-aware) is the signing time and dates an HTTP-date Retry-After.
    The whole exchange, answer included, ends within `timeout_s`. Redirects are never followed. Raises ValueError
    only for a programming error: a short secret, an id the format forbids, a naive `now`.
    """
    headers = signature_headers(secret, delivery_id=delivery_id, body=body, timestamp_s=int(_unix_s(now)))
    host = _host_of(url)
    started_s = time.perf_counter()
    try:
        request = client.build_request("POST", url, content=body, headers=headers, timeout=httpx.Timeout(timeout_s))
        reply = await _exchange(client, request, timeout_s=timeout_s)
    except (TimeoutError, httpx.TimeoutException):
        outcome, reason = SendOutcome.RETRY, f"timed out after {timeout_s:.1f} s"
    except httpx.TransportError as exc:
        outcome, reason = _transport_failure(exc)
    except httpx.InvalidURL as exc:
        outcome, reason = SendOutcome.FAILED, f"invalid webhook URL: {exc}"
    else:
        result = _classify(delivery_id, host, reply, now=now, elapsed_s=time.perf_counter() - started_s)
        return _logged(delivery_id, host, result)
    return _logged(delivery_id, host, SendResult(outcome, None, None, reason, None, time.perf_counter() - started_s))


def retry_delay_s(attempt: int, *, retry_after_s: float | None, rand: Callable[[], float]) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 is the first send).

    Full jitter: uniform in [0, min(BACKOFF_CAP_S, BACKOFF_BASE_S·2^(attempt-1))]. The gateway's Retry-After, bounded
    to MAX_RETRY_AFTER_S, is a floor. `rand` returns a number in [0, 1] (e.g. random.random).
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    fraction = rand()
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"rand() must return a number in [0, 1], got {fraction}")
    # The exponent is capped so a huge attempt count cannot overflow a float; the cap is reached long before.
    delay_s = fraction * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(attempt - 1, 32))
    if retry_after_s is None:
        return delay_s
    return max(delay_s, min(retry_after_s, MAX_RETRY_AFTER_S))


def is_exhausted(attempts: int) -> bool:
    """True once `attempts` sends have been made and the delivery should fail rather than be tried again."""
    return attempts >= MAX_ATTEMPTS


def validate_webhook_url(url: str, *, allow_http_loopback: bool) -> str:
    """`url` unchanged if alerts may be POSTed to it. Raises ValueError saying what to change.

    https only; plain http only to 127.0.0.1, ::1 or localhost and only when `allow_http_loopback` (tests, a gateway
    on the same host). Credentials never go in the URL: the shared secret signs each request instead.
    """
    if not url or len(url) > _MAX_URL_CHARS:
        raise ValueError(f"webhook URL must be 1-{_MAX_URL_CHARS} characters")
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError("webhook URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"webhook URL is not a valid URL: {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError("webhook URL must not contain a user name or password: the webhook secret signs requests")
    host = parts.hostname
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError(f"webhook URL must start with https://, not {scheme or 'no scheme'}")
    if not host:
        raise ValueError("webhook URL has no host name")
    if scheme == "http" and not (allow_http_loopback and host in _LOOPBACK_HOSTS):
        allowed = " (http is allowed only to 127.0.0.1, ::1 or localhost)" if allow_http_loopback else ""
        raise ValueError(f"webhook URL to {host} must use https, not http{allowed}")
    if parts.fragment:
        raise ValueError("webhook URL must not have a '#' fragment: it is never sent to the gateway")
    return url


def _mac(secret: bytes, *, timestamp_s: str, delivery_id: str, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp_s}.{delivery_id}.".encode() + body, hashlib.sha256).hexdigest()


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"webhook secret must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")


def _unix_s(now: datetime) -> float:
    if now.utcoffset() is None:  # a naive time would be read as local time and shift every timestamp
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    return now.timestamp()


def _signed_fields(headers: Mapping[str, str]) -> tuple[str, str, list[str]]:
    """Delivery id, timestamp and v1 MACs from the headers, each checked against the format."""
    names = {name.lower(): name for name in (DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)}
    found: dict[str, str] = {}
    for name, value in headers.items():  # items(), not keys: a multi-dict lists a repeated header twice
        if (canonical := names.get(name.lower())) is not None:
            if canonical in found:  # two values: no way to tell which one the sender meant
                raise WebhookRejected(_UNKNOWN_ID, reason=f"header {canonical} appears more than once")
            found[canonical] = value.strip()
    delivery_id = found.get(DELIVERY_HEADER, _UNKNOWN_ID)
    for name in names.values():
        if name not in found:
            raise WebhookRejected(delivery_id, reason=f"missing {name} header")
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise WebhookRejected(_UNKNOWN_ID, reason=f"malformed {DELIVERY_HEADER} header: {delivery_id[:80]!r}")
    stamp = found[TIMESTAMP_HEADER]
    if not _TIMESTAMP.fullmatch(stamp):
        reason = f"malformed {TIMESTAMP_HEADER} header: expected Unix seconds, got {stamp[:40]!r}"
        raise WebhookRejected(delivery_id, reason=reason)
    return delivery_id, stamp, _v1_values(delivery_id, found[SIGNATURE_HEADER])


def _v1_values(delivery_id: str, header: str) -> list[str]:
    items = [item.strip() for item in header.split(",")]
    if len(items) > _MAX_SIGNATURE_VALUES:
        reason = f"{SIGNATURE_HEADER} header has more than {_MAX_SIGNATURE_VALUES} values"
        raise WebhookRejected(delivery_id, reason=reason)
    macs: list[str] = []
    for scheme, sep, value in (item.partition("=") for item in items):
        if not sep or not scheme or (scheme == "v1" and not _MAC.fullmatch(value)):
            reason = f"malformed {SIGNATURE_HEADER} header: expected v1=<64 lowercase hex digits>, comma-separated"
            raise WebhookRejected(delivery_id, reason=reason)
        if scheme == "v1":
            macs.append(value)
    if not macs:  # other schemes are skipped so a future v2 can be sent alongside v1
        raise WebhookRejected(delivery_id, reason=f"{SIGNATURE_HEADER} header has no v1 value")
    return macs


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "answer"
    given = error.get("input")
    shown = f" (got {given!r:.40})" if error["loc"] and isinstance(given, str) else ""
    return f"{where}: {error['msg']}{shown}"


@dataclass(frozen=True, slots=True)
class _Reply:
    status_code: int
    headers: httpx.Headers
    answer: bytes | None  # a 2xx's body, up to MAX_ANSWER_BYTES + 1; None if it could not be read


async def _exchange(client: httpx.AsyncClient, request: httpx.Request, *, timeout_s: float) -> _Reply:
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with asyncio.timeout_at(deadline):  # httpx bounds each read; this bounds the whole exchange
        response = await client.send(request, stream=True, follow_redirects=False)
    try:
        if not response.is_success:
            return _Reply(response.status_code, response.headers, b"")
        chunks = bytearray()
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in response.aiter_bytes():
                    chunks += chunk
                    if len(chunks) > MAX_ANSWER_BYTES:
                        break
        except (TimeoutError, httpx.TransportError, httpx.DecodingError):
            # The 2xx status has arrived, so the message did: a lost answer must not make us send it again.
            return _Reply(response.status_code, response.headers, None)
        return _Reply(response.status_code, response.headers, bytes(chunks))
    finally:
        await response.aclose()  # local: closes our end, never waits on the gateway


def _classify(delivery_id: str, host: str, reply: _Reply, *, now: datetime, elapsed_s: float) -> SendResult:
    code = reply.status_code
    said = f"HTTP {code} from gateway"
    if 200 <= code < 300:
        try:
            if reply.answer is None:
                raise WebhookRejected(delivery_id, reason="it could not be read (timed out, cut off or badly encoded)")
            answer = parse_answer(delivery_id, reply.answer)
        except WebhookRejected as exc:
            logger.warning("Webhook %s to %s delivered, answer ignored: %s", delivery_id, host, exc.reason)
            answer, said = None, f"{said}; answer ignored: {exc.reason}"
        return SendResult(SendOutcome.DELIVERED, code, answer, said, None, elapsed_s)
    if code in (408, 429) or 500 <= code < 600:
        retry_after_s = _retry_after_s(reply.headers.get("retry-after"), now=now)
        return SendResult(SendOutcome.RETRY, code, None, said, retry_after_s, elapsed_s)
    if 300 <= code < 400:  # following it would send patient data where nobody configured it to go
        said = f"HTTP {code} redirect from gateway, not followed: update the webhook URL"
    return SendResult(SendOutcome.FAILED, code, None, said, None, elapsed_s)


def _retry_after_s(value: str | None, *, now: datetime) -> float | None:
    """Retry-After (RFC 9110 §10.2.3) in seconds from `now`, bounded to [0, MAX_RETRY_AFTER_S]; None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            at = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            logger.debug("Ignoring unreadable Retry-After %r", value[:40])
            return None
        if at.tzinfo is None:  # "-0000" parses naive; HTTP dates are always GMT
            at = at.replace(tzinfo=UTC)
        seconds = (at - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _transport_failure(exc: httpx.TransportError) -> tuple[SendOutcome, str]:
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):  # our request is wrong: resending fails
        return SendOutcome.FAILED, f"could not send: {exc}"
    if isinstance(exc, httpx.ConnectError):
        return SendOutcome.RETRY, _connect_failure(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        return SendOutcome.RETRY, f"gateway closed the connection without a complete answer ({exc})"
    return SendOutcome.RETRY, f"network error: {exc or type(exc).__name__}"


def _connect_failure(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    for _ in range(8):  # httpx wraps the OS error a few levels deep; the bound only guards against a cycle
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"could not resolve the gateway's host name ({cause.strerror})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause}"
        if cause is None:
            break
        cause = cause.__cause__ or cause.__context__
    return f"could not connect: {exc}"


def _host_of(url: str) -> str:
    # Only the host is logged: paths and queries of gateway URLs sometimes carry tokens.
    try:
        return httpx.URL(url).host or "(no host)"
    except httpx.InvalidURL:
        return "(invalid URL)"


def _logged(delivery_id: str, host: str, result: SendResult) -> SendResult:
    # Never the body (patient data) or the secret; the status code and reason say what happened.
    level, verb = _LOGGED_AS[result.outcome]
    logger.log(level, "Webhook %s to %s %s: %s", delivery_id, host, verb, result.reason)
    return result
