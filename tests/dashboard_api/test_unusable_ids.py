"""Ids no row can have are refused with a 422 saying where, on every route and both engines: an integer id beyond
the database's bigint, and a path or query holding a control character (PostgreSQL refuses a NUL in text). Both
answered 500 before."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from core.store.sqlite import SqliteStore
from core.types import Role
from dashboard_api.id_params import BIGINT_MAX
from dashboard_api.security import control_character_in
from dashboard_api.ws import CloseCode
from tests.dashboard_api.conftest import (
    NOW,
    FixedClock,
    Seeded,
    TokenFactory,
    api_on_own_postgres,
    auth,
    build_app,
    offline_client,
    serve,
)

HUGE = "99999999999999999999999"
OVER = str(BIGINT_MAX + 1)  # the first integer PostgreSQL's bigint cannot hold
CONTROL = {"loc": ["path"], "msg": "Control characters are not allowed", "type": "control_character"}


def _out_of_range(loc: list[str]) -> dict[str, object]:
    msg = f"Input should be less than or equal to {BIGINT_MAX}"
    return {"detail": [{"loc": loc, "msg": msg, "type": "less_than_equal"}]}


@pytest.mark.parametrize("alert_id", [HUGE, OVER])
@pytest.mark.parametrize(
    ("method", "path", "body", "role"),
    [
        ("GET", "/api/v1/alerts/{}/history", None, Role.NURSE),
        ("POST", "/api/v1/alerts/{}/ack", None, Role.NURSE),
        ("POST", "/api/v1/alerts/{}/resolve", {"reason": "Sensor fell off"}, Role.NURSE),
        ("POST", "/api/v1/devices/mon-1/alerts/{}/ack", None, Role.TECHNICIAN),
        ("GET", "/api/v1/alerts/{}/escalation", None, Role.NURSE),
        ("GET", "/api/v1/alerts/{}/isbar", None, Role.NURSE),
    ],
)
async def test_an_alert_id_beyond_the_databases_range_is_a_422_naming_it(
    api: httpx.AsyncClient,
    token: TokenFactory,
    store: SqliteStore,
    method: str,
    path: str,
    body: dict[str, str] | None,
    role: Role,
    alert_id: str,
) -> None:
    response = await api.request(method, path.format(alert_id), json=body, headers=auth(token(role)))

    assert (response.status_code, response.json()) == (422, _out_of_range(["path", "alert_id"]))
    assert await store.list_audit(limit=5) == []  # refused before any patient data was looked at


async def test_the_largest_id_the_database_holds_is_an_unknown_alert(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    response = await api.get(f"/api/v1/alerts/{BIGINT_MAX}/history", headers=auth(token()))

    assert (response.status_code, response.json()) == (404, {"detail": f"Alert {BIGINT_MAX} not found"})


async def test_paging_the_audit_log_from_beyond_the_databases_range_is_a_422(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    admin = auth(token(Role.ADMIN, ("*",), user="root"))
    response = await api.get("/api/v1/admin/audit", params={"before_id": HUGE}, headers=admin)

    assert (response.status_code, response.json()) == (422, _out_of_range(["query", "before_id"]))


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/api/v1/patients/p1%0A", ["path"]),
        ("/api/v1/wards/w1%7F", ["path"]),
        ("/api/v1/alerts?ward_id=w1%09&limit=5", ["query", "ward_id"]),
        ("/api/v1/alerts?ward_id=w1&li%00mit=5", ["query"]),
    ],
)
async def test_a_control_character_in_an_id_is_a_422_saying_where_without_echoing_it(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore, url: str, loc: list[str]
) -> None:
    response = await api.get(url, headers=auth(token()))

    assert response.status_code == 422
    assert response.json() == {"detail": [{**CONTROL, "loc": loc}]}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert await store.list_audit(limit=5) == []


async def test_letters_beyond_ascii_are_no_control_characters(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/patients/Å", headers=auth(token()))
    assert (response.status_code, response.json()) == (404, {"detail": "Patient Å has no current stay"})
    # "Å" is C3 85 in UTF-8, and 0x85 a C1 control read as Latin-1; a client may send it escaped or not
    for query in (b"ward_id=%C3%85", "ward_id=Å".encode()):
        assert control_character_in({"type": "http", "path": "/api/v1/alerts", "query_string": query}) is None


@pytest.mark.integration
async def test_on_postgresql_a_nul_in_an_id_and_an_id_beyond_bigint_are_422_not_500() -> None:
    """The auditor's probes: psycopg refuses a NUL in text ("text fields cannot contain NUL") and PostgreSQL an
    integer beyond bigint; each answered 500. Every route is covered, those of other modules included."""
    async with api_on_own_postgres(NOW) as own:
        transport = httpx.ASGITransport(app=own.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://vaktrom.test") as api:
            nul = {}
            for url in ("/api/v1/patients/a%00b", "/api/v1/wards/w%00", "/api/v1/worklist/x%00"):
                response = await api.get(url, headers=auth(own.token))
                nul[url] = (response.status_code, response.json())
            query = await api.get("/api/v1/alerts?ward_id=w%00", headers=auth(own.token))
            huge = await api.get(f"/api/v1/alerts/{OVER}/history", headers=auth(own.token))

    assert nul == dict.fromkeys(nul, (422, {"detail": [CONTROL]}))
    assert (query.status_code, query.json()) == (422, {"detail": [{**CONTROL, "loc": ["query", "ward_id"]}]})
    assert (huge.status_code, huge.json()) == (422, _out_of_range(["path", "alert_id"]))


@pytest.mark.parametrize("path", ["/api/v1/ws/wards/w1%00", "/api/v1/ws/live?wards=w1,w%0A2"])
async def test_a_live_socket_asking_for_an_id_with_a_control_character_is_closed_as_a_bad_request(
    store: SqliteStore, seeded: Seeded, clock: FixedClock, topic_root: str, token: TokenFactory, path: str
) -> None:
    app = build_app(store, offline_client(), topic_root=topic_root, clock=clock)
    protocols = [Subprotocol("bearer"), Subprotocol(token())]
    async with serve(app) as served, connect(served.ws_url + path, subprotocols=protocols) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (CloseCode.BAD_REQUEST, CONTROL["msg"])
