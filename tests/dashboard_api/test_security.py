"""What an external security test found at the API's edge (issue 9): headers, body size, failed-auth throttling,
the OpenAPI document behind a token, and two inputs that answered 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard_api.security import FAILED_AUTH_LIMIT, MAX_BODY_BYTES, FailedAuthThrottle
from tests.dashboard_api.conftest import Seeded, TokenFactory, auth

HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize(
    "path",
    ["/api/v1/patients/p1", "/", "/static/index.html", "/static/js/ward.js", "/api/v1/nope", "/healthz"],
)
async def test_every_response_carries_the_security_headers_and_the_csp(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, path: str
) -> None:
    response = await api.get(path, headers=auth(token()))
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]


async def test_the_openapi_document_needs_a_token_and_no_docs_page_loads_scripts_from_a_cdn(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    anonymous = await api.get("/api/v1/openapi.json")
    assert anonymous.status_code == 401
    signed_in = await api.get("/api/v1/openapi.json", headers=auth(token()))
    assert signed_in.status_code == 200 and "/api/v1/patients/{patient_id}" in signed_in.json()["paths"]
    assert (await api.get("/api/v1/docs")).status_code == 404


async def test_a_huge_body_is_refused_before_it_is_read(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/v1/alerts/1/resolve", content=b"x", headers={"Content-Length": str(50 * 1024 * 1024)}
    )
    assert (response.status_code, response.json()) == (413, {"detail": "Request body over 256 kB"})


async def test_a_streamed_body_is_cut_off_at_the_limit(api: httpx.AsyncClient, token: TokenFactory) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    response = await api.post("/api/v1/alerts/1/resolve", content=chunks(), headers=auth(token()))
    assert (response.status_code, response.json()) == (413, {"detail": "Request body over 256 kB"})


async def test_repeated_failed_authentication_from_one_address_is_throttled(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    forged = {"Authorization": "Bearer not-a-token"}
    statuses = [(await api.get("/api/v1/me", headers=forged)).status_code for _ in range(FAILED_AUTH_LIMIT + 5)]
    assert statuses[:FAILED_AUTH_LIMIT] == [401] * FAILED_AUTH_LIMIT
    assert statuses[FAILED_AUTH_LIMIT:] == [429] * 5
    refused = await api.get("/api/v1/me", headers=auth(token()))  # the same address, now with a good token
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60


def test_the_throttle_forgets_failures_older_than_its_window_and_counts_per_address() -> None:
    now = [1000.0]
    throttle = FailedAuthThrottle(limit=3, window_s=60.0, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after_s("10.0.0.1") == 60
    assert throttle.retry_after_s("10.0.0.2") is None
    now[0] += 59.5
    assert throttle.retry_after_s("10.0.0.1") == 1
    now[0] += 0.5
    assert throttle.retry_after_s("10.0.0.1") is None


async def test_an_out_of_range_history_bound_is_a_422_naming_it(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get(
        "/api/v1/patients/p1/observations", params={"until": "0001-01-01T00:00:01Z"}, headers=auth(token())
    )
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "until must lie between 2000-01-01 and tomorrow"},
    )


async def test_a_nan_in_a_body_is_a_422_that_does_not_echo_the_input(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    response = await api.post(
        "/api/v1/patients/p1/observations",
        content=b'{"supplemental_o2": NaN}',
        headers=auth(token()) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "supplemental_o2"] and "boolean" in error["msg"]
    assert "input" not in error


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    since=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    until=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
)
async def test_no_history_window_answers_500(
    api: httpx.AsyncClient, token: TokenFactory, since: datetime, until: datetime
) -> None:
    params = {"since": since.isoformat(), "until": until.isoformat()}
    for path in ("observations", "scores/history", "observations/trend"):
        response = await api.get(f"/api/v1/patients/p1/{path}", params=params, headers=auth(token()))
        assert response.status_code in (200, 422), response.text
