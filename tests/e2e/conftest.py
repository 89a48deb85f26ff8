"""The scenario end-to-end tests' store (PostgreSQL, as deployed) and the hospital's pager gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.alerts.webhook_receiver import WebhookReceiver
from tests.e2e.scenario_unit import GATEWAY_SECRET


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A real HTTP gateway: each page and message the escalation sends arrives here, signed with GATEWAY_SECRET."""
    async with WebhookReceiver(GATEWAY_SECRET) as running:
        yield running
