"""What every HTTP response and request passes through before any route: security headers, a body size limit read
before parsing, a throttle on failed authentication per client address, a 422 for control characters in a path or
query, and validation errors that never echo input.

ASGI middleware (not FastAPI's `@app.middleware`), so a refused body is never read and WebSocket traffic passes
untouched (a socket whose path or query holds a control character is closed with 4400).
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "FAILED_AUTH_LIMIT",
    "FAILED_AUTH_WINDOW_S",
    "MAX_BODY_BYTES",
    "SECURITY_HEADERS",
    "FailedAuthThrottle",
    "GuardMiddleware",
    "control_character_in",
    "security_headers",
    "validation_error_without_input",
]

# The largest body a route takes is a policy or a rotation, a few kB: 256 kB leaves room and stops a 50 MB upload
# from being read at all.
MAX_BODY_BYTES = 256 * 1024
# A person who mistypes or whose token expired fails a handful of times a minute; a script guessing tokens fails
# hundreds. Per client address and per API node: an attacker spread over nodes meets each node's limit.
FAILED_AUTH_LIMIT = 20
FAILED_AUTH_WINDOW_S = 60.0

# Every response: pages hold a bearer token, so nothing is framed, sniffed, cached or sent on as a referrer; the
# CSP allows scripts and connections to ourselves only (no CDN), and to the identity provider the pages sign in at.
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(:[0-9]{1,5})?")


def security_headers(*, connect_to: Sequence[str] = ()) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of every response. `connect_to`: origins the pages may fetch from besides this node (the
    OpenID Connect provider's, for its discovery document and token endpoint). Raises ValueError on a value that is
    not a bare origin, which could otherwise widen or break the policy."""
    for origin in connect_to:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    connect = " ".join(("'self'", *connect_to))
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"connect-src {connect}; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return (
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
    )


SECURITY_HEADERS = security_headers()

# Ids are printable; a NUL or a newline in a path or query is never one. Refused for every route, those of other
# modules included, before any of them runs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_REFUSED = "Control characters are not allowed"
_SOCKET_BAD_REQUEST = 4400  # dashboard_api/ws.py CloseCode.BAD_REQUEST


@dataclass
class FailedAuthThrottle:
    """Failed authentications per client address in a sliding window (this process only)."""

    limit: int = FAILED_AUTH_LIMIT
    window_s: float = FAILED_AUTH_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        horizon = self.clock() - self.window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]  # an address that stopped failing costs no memory
            return deque()
        return failures

    def retry_after_s(self, client: str) -> int | None:
        """Seconds until this client may try again, or None: it may now."""
        failures = self._recent(client)
        if len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[len(failures) - self.limit] + self.window_s - self.clock()))

    def failed(self, client: str) -> None:
        self._recent(client)
        self._failures.setdefault(client, deque()).append(self.clock())


class GuardMiddleware:
    """Headers on every response; 413 for a body over `max_body_bytes` before it is read (by Content-Length, or
    while streaming); 429 with Retry-After for a client address over its failed-authentication limit; 422 for a
    control character in the path or query (a live socket: closed with 4400)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        throttle: FailedAuthThrottle,
        headers: Sequence[tuple[bytes, bytes]] = SECURITY_HEADERS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.throttle = throttle
        self.headers = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and control_character_in(scope) is not None:
            await _refuse_socket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait_s = self.throttle.retry_after_s(client)
        if wait_s is not None:
            detail = f"Too many failed authentications from this address; retry in {wait_s} s"
            retry_after = (b"retry-after", str(wait_s).encode())
            await _send_json(send, status.HTTP_429_TOO_MANY_REQUESTS, detail, headers=(retry_after, *self.headers))
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _send_json(send, status.HTTP_413_CONTENT_TOO_LARGE, self._too_large(), headers=self.headers)
            return
        where = control_character_in(scope)
        if where is not None:
            error = {"loc": list(where), "msg": _CONTROL_REFUSED, "type": "control_character"}
            await _send_json(send, status.HTTP_422_UNPROCESSABLE_CONTENT, [error], headers=self.headers)
            return
        await self._pass(scope, receive, send, client)

    def _too_large(self) -> str:
        return f"Request body over {self.max_body_bytes // 1024} kB"

    async def _pass(self, scope: Scope, receive: Receive, send: Send, client: str) -> None:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:  # the route's body read fails with this: a 413, not a 500
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self._too_large())
            return message

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == status.HTTP_401_UNAUTHORIZED:
                    self.throttle.failed(client)
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, counted, guarded)


def control_character_in(scope: Scope) -> tuple[str, ...] | None:
    """Where the path or the query holds a control character (C0, DEL, C1), as a validation error's `loc`; None when
    neither does. No id is written with one, and PostgreSQL refuses a NUL in text (a 500 otherwise)."""
    if _CONTROL.search(scope["path"]):
        return ("path",)
    query = scope.get("query_string", b"").decode(errors="replace")  # not latin-1: an unescaped "Å" holds 0x85
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _CONTROL.search(name) or _CONTROL.search(value):
            return ("query",) if _CONTROL.search(name) else ("query", name)
    return None


async def _refuse_socket(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then close with 4400 (docs/API.md, close codes): a refused handshake shows only "failed" in a
    browser. The first subprotocol offered is taken, as a browser fails a handshake that selects none."""
    await receive()  # websocket.connect
    offered: list[str] = scope.get("subprotocols") or []
    await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
    await send({"type": "websocket.close", "code": _SOCKET_BAD_REQUEST, "reason": _CONTROL_REFUSED})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_json(send: Send, code: int, detail: object, *, headers: Sequence[tuple[bytes, bytes]]) -> None:
    body = JSONResponse({"detail": detail}).body
    own = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": [*own, *headers]})
    await send({"type": "http.response.body", "body": body})


async def validation_error_without_input(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each field and the rule it broke, never echoing the input: a body may hold patient data, and a
    NaN in it cannot even be written as JSON (the default handler answered 500)."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
