"""The per-user limit on live WebSockets, measured with real sockets on a real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection

from core.store.sqlite import SqliteStore
from core.types import Role
from dashboard_api.socket_quota import MAX_SOCKETS_PER_USER, SocketQuota
from dashboard_api.ws import CloseCode
from tests.dashboard_api.conftest import FixedClock, Seeded, Served, TokenFactory, build_app, offline_client, serve
from tests.dashboard_api.test_ws import closed_with, receive, ward_socket

REFUSAL = f"You have {MAX_SOCKETS_PER_USER} live streams open on this server; close a tab or page"
RELEASE_TIMEOUT_S = 5.0


@pytest.fixture
async def served(store: SqliteStore, seeded: Seeded, clock: FixedClock, topic_root: str) -> AsyncIterator[Served]:
    # Snapshots come from the store; no broker is needed to count sockets.
    async with serve(build_app(store, offline_client(), topic_root=topic_root, clock=clock)) as server:
        yield server


async def open_boards(
    stack: contextlib.AsyncExitStack, served: Served, token: str, count: int
) -> list[ClientConnection]:
    sockets = []
    for _ in range(count):
        socket = await stack.enter_async_context(ward_socket(served, "/api/v1/ws/wards/w1", token))
        assert (await receive(socket))["type"] == "snapshot"
        sockets.append(socket)
    return sockets


async def released(served: Served, user_id: str, *, down_to: int) -> None:
    """Wait until the server's handlers for the sockets a client closed have ended (the close handshake completes
    before the handler returns)."""
    quota: SocketQuota = served.app.state.socket_quota
    async with asyncio.timeout(RELEASE_TIMEOUT_S):
        while quota.open_sockets(user_id) > down_to:  # noqa: ASYNC110 - nothing a client can await
            await asyncio.sleep(0.01)


@pytest.mark.integration
async def test_a_user_holds_at_most_the_limit_of_sockets_and_the_next_is_closed_4409(
    served: Served, token: TokenFactory
) -> None:
    nurse = token()
    async with contextlib.AsyncExitStack() as stack:
        boards = await open_boards(stack, served, nurse, MAX_SOCKETS_PER_USER)

        async with ward_socket(served, "/api/v1/ws/live?wards=w1", nurse) as one_too_many:
            assert await closed_with(one_too_many) == (CloseCode.TOO_MANY_SOCKETS, REFUSAL)
        async with ward_socket(served, "/api/v1/ws/alerts", nurse) as alerts:
            assert await closed_with(alerts) == (CloseCode.TOO_MANY_SOCKETS, REFUSAL)
        # Another user on the same node is not held up by this one.
        async with ward_socket(served, "/api/v1/ws/wards/w1", token(user="nurse-bo")) as colleague:
            assert (await receive(colleague))["type"] == "snapshot"
        for board in boards:  # the limit's sockets still stream
            assert board.close_code is None

        await boards[0].close()
        await released(served, "nurse-anne", down_to=MAX_SOCKETS_PER_USER - 1)
        async with ward_socket(served, "/api/v1/ws/wards/w1", nurse) as replacement:
            assert (await receive(replacement))["type"] == "snapshot"
    await released(served, "nurse-anne", down_to=0)


@pytest.mark.integration
async def test_streams_the_server_refused_do_not_count_against_the_user(served: Served, token: TokenFactory) -> None:
    technician = token(Role.TECHNICIAN)  # the same user, nurse-anne, in a role that may not stream
    for path in ("/api/v1/ws/wards/w1", "/api/v1/ws/alerts", "/api/v1/ws/live"):
        for _ in range(MAX_SOCKETS_PER_USER // 3 + 1):
            async with ward_socket(served, path, technician) as refused:
                code, _ = await closed_with(refused)
                assert code in (CloseCode.FORBIDDEN, CloseCode.BAD_REQUEST)
    async with contextlib.AsyncExitStack() as stack:
        await open_boards(stack, served, token(), MAX_SOCKETS_PER_USER)
    await released(served, "nurse-anne", down_to=0)
