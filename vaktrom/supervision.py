"""Living under a supervisor: wait out dependencies at start, say what is awaited, stop on SIGTERM within a bound."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Readiness", "StartupGate", "notify_systemd", "run_until_terminated", "until_reachable"]

logger = logging.getLogger(__name__)

# Start-up waits. After a power cut the database and broker hosts may boot after ours: the first retry is quick (a
# service still starting answers within a second), later ones capped at 30 s, so a long outage costs a log line and
# one connection attempt per half minute, never an exit. Jitter keeps a rack of workers from retrying in step.
STARTUP_RETRY_MIN_S = 0.5
STARTUP_RETRY_MAX_S = 30.0
_T = TypeVar("_T")


def notify_systemd(state: str) -> None:
    """Tell systemd (a `Type=notify` unit, deploy/systemd) e.g. "READY=1" or "STATUS=...". A no-op elsewhere."""
    # NOTIFY_SOCKET is systemd's protocol, not a vaktrom setting: it is read here, where the process meets its
    # supervisor, and nowhere else.
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    address = "\0" + path[1:] if path.startswith("@") else path  # "@": an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        logger.warning("Could not notify systemd (%s): %s", state.split("=", 1)[0], exc)


class Readiness:
    """What a starting process still waits for. The API's /readyz and systemd's status line both show it."""

    def __init__(self) -> None:
        self.waiting_for: str | None = "starting"
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    def waiting(self, what: str) -> None:
        if what != self.waiting_for:
            self.waiting_for = what
            notify_systemd(f"STATUS=waiting for {what}")

    def set_ready(self) -> None:
        self.waiting_for, self._ready = None, True
        notify_systemd("READY=1\nSTATUS=running")


async def until_reachable(
    attempt: Callable[[], Awaitable[_T]],
    *,
    what: str,
    unavailable: tuple[type[Exception], ...],
    readiness: Readiness | None = None,
) -> _T:
    """`attempt()` until it stops raising one of `unavailable`: capped, jittered backoff, one log line per try.

    Anything else (bad credentials, a setting that is wrong) is raised at once: waiting would not fix it.
    """
    delay_s, tries = STARTUP_RETRY_MIN_S, 0
    while True:
        tries += 1
        try:
            result = await attempt()
        except unavailable as exc:
            wait_s = random.uniform(delay_s / 2, delay_s)
            logger.warning("Waiting for %s (try %d: %s); trying again in %.1f s", what, tries, exc, wait_s)
            if readiness is not None:
                readiness.waiting(what)
            await asyncio.sleep(wait_s)  # backoff, not a synchronisation
            delay_s = min(delay_s * 2, STARTUP_RETRY_MAX_S)
            continue
        if tries > 1:
            logger.info("%s reached after %d tries", what[0].upper() + what[1:], tries)
        return result


class StartupGate:
    """An ASGI app that answers for the real one until it is installed: /healthz 200, anything else 503 saying what
    is awaited (a load balancer keeps the node out meanwhile), WebSockets closed with 1013 "try again later"."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            alive = scope.get("path") == "/healthz"
            body = {"status": "ok"} if alive else {"status": f"starting: waiting for {self._readiness.waiting_for}"}
            await send({
                "type": "http.response.start", "status": 200 if alive else 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", b"5")],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": orjson.dumps(body)})
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1013})


async def run_until_terminated(
    main: Callable[[asyncio.Event], Awaitable[None]], *, grace_s: float, started: Callable[[], bool]
) -> bool:
    """Run `main(stop)`; on SIGTERM set `stop` and give it `grace_s` to finish what it holds.

    Before `started()` (nothing is held yet: still waiting for a dependency) SIGTERM cancels at once. Returns True
    when a SIGTERM ended it; raises what `main` raised.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    work = asyncio.ensure_future(main(stop))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((work, stopping), return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            await _wind_down(work, grace_s=grace_s, started=started())
    finally:
        stopping.cancel()
        loop.remove_signal_handler(signal.SIGTERM)
        if not work.done():  # cancelled from outside (Ctrl-C)
            work.cancel()
    if not work.cancelled():
        work.result()
    return stop.is_set()


async def _wind_down(work: asyncio.Future[None], *, grace_s: float, started: bool) -> None:
    notify_systemd("STOPPING=1")
    if not started:
        logger.info("SIGTERM while starting: stopping now (nothing is held yet)")
        work.cancel()
        await asyncio.wait((work,))
        return
    logger.info("SIGTERM: finishing what is in hand (at most %.0f s)", grace_s)
    try:
        async with asyncio.timeout(grace_s):
            await asyncio.shield(work)
    except TimeoutError:
        logger.warning(
            "Still busy %.0f s after SIGTERM (is the database down?): stopping anyway. Nothing is lost: the broker "
            "delivers whatever was not acknowledged again",
            grace_s,
        )
        work.cancel()
        await asyncio.wait((work,))
