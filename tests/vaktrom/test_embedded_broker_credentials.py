"""The embedded broker applies the device credentials vaktrom issues from the store, while it runs: a registered
device logs in, a rotated one only with its new password, a revoked one is cut off and cannot come back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.clock import utc_now
from core.errors import BrokerAuthFailed
from core.mqtt import MqttClient, MqttOptions
from core.settings import Settings
from core.store import Store
from core.store.sqlite import SqliteStore
from core.topics import obs_topic
from core.types import Device, DeviceKind, Site, SiteKind
from devices import onboarding
from devices.broker_accounts import StoreReadAccounts
from tests.devices.device_sessions import DeviceSession, assert_login_refused
from tests.vaktrom.conftest import free_port
from vaktrom.broker_policy import BrokerPolicy, vaktrom_accounts
from vaktrom.embedded_broker import DEVICE_CREDENTIALS_POLL_S, embedded_broker

ROOT = "vaktrom/v1"
SITE = "site-1"
SERVICE_PASSWORD = "embedded-service-password-for-tests"
TECHNICIAN = "tech-1"
TIMEOUT_S = 5.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    sqlite = SqliteStore(tmp_path / "vaktrom.sqlite3")
    await sqlite.open()
    await sqlite.upsert_site(Site(SITE, "Site 1", SiteKind.SYKESTUE))
    yield sqlite
    await sqlite.close()


@pytest.fixture
async def broker_url(store: Store, tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(data_dir=tmp_path, mqtt_password=SecretStr(SERVICE_PASSWORD))
    policy = BrokerPolicy(topic_root=ROOT, services=vaktrom_accounts(settings), device_hashes={})
    async with embedded_broker(policy=policy, port=free_port(), device_hashes=store.current_device_hashes) as url:
        yield url


async def _register(store: Store, url: str, device_id: str) -> str:
    """Register the device and wait until the broker accepts its credentials (its next read of the store)."""
    device = Device(device_id, SITE, DeviceKind.BEDSIDE_MONITOR, "Philips MX40", utc_now())
    issued = await onboarding.onboard_device(
        store, StoreReadAccounts(), device=device, serial="SN", firmware=None, calibration_due_at=None,
        actor=TECHNICIAN,
    )  # fmt: skip
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            try:
                async with DeviceSession(url, device_id, issued.password, v5=False):
                    return issued.password
            except BrokerAuthFailed:
                await asyncio.sleep(DEVICE_CREDENTIALS_POLL_S / 4)


async def test_a_registered_device_logs_in_and_its_reading_reaches_ingest(broker_url: str, store: Store) -> None:
    password = await _register(store, broker_url, "dev-new")
    ingest = MqttClient(MqttOptions(url=broker_url, client_id="vaktrom-ingest-1", password=SERVICE_PASSWORD,
                                    protocol_v5=False, clean_start=True))  # fmt: skip
    ingest.subscribe(f"{ROOT}/+/+/obs", 1)
    await ingest.connect()
    try:
        async with DeviceSession(broker_url, "dev-new", password, v5=False) as device:
            assert device.client is not None
            await device.client.publish(obs_topic(ROOT, SITE, "dev-new"), b"[]")
            async with asyncio.timeout(TIMEOUT_S):
                assert (await ingest.inbox.get()).topic == obs_topic(ROOT, SITE, "dev-new")
    finally:
        await ingest.disconnect()
    await assert_login_refused(broker_url, "dev-new", "a-guessed-password", v5=False)


async def test_a_rotated_device_works_with_the_new_credentials_only(broker_url: str, store: Store) -> None:
    old = await _register(store, broker_url, "dev-rot")
    async with DeviceSession(broker_url, "dev-rot", old, v5=False) as session:
        new = await onboarding.rotate_credentials(
            store, StoreReadAccounts(), device_id="dev-rot", actor=TECHNICIAN, at=utc_now()
        )
        assert await session.cut_off_within_s() < 1.0  # within the broker's next read of the store
    await assert_login_refused(broker_url, "dev-rot", old, v5=False)
    async with DeviceSession(broker_url, "dev-rot", new.password, v5=False):
        pass


async def test_a_revoked_device_is_disconnected_at_once_and_cannot_reconnect(broker_url: str, store: Store) -> None:
    password = await _register(store, broker_url, "dev-rev")
    async with DeviceSession(broker_url, "dev-rev", password, v5=False) as session:
        await onboarding.revoke_device(store, StoreReadAccounts(), device_id="dev-rev", actor=TECHNICIAN, at=utc_now())
        assert await session.cut_off_within_s() < 1.0
    await assert_login_refused(broker_url, "dev-rev", password, v5=False)


async def test_a_device_registered_a_moment_ago_logs_in_at_its_first_try(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The broker's poll of the store never comes round in this test: only a login can make it read the store.
    monkeypatch.setattr("vaktrom.embedded_broker.DEVICE_CREDENTIALS_POLL_S", 3600.0)
    settings = Settings(data_dir=tmp_path, mqtt_password=SecretStr(SERVICE_PASSWORD))
    policy = BrokerPolicy(topic_root=ROOT, services=vaktrom_accounts(settings), device_hashes={})
    async with embedded_broker(policy=policy, port=free_port(), device_hashes=store.current_device_hashes) as url:
        device = Device("dev-first", SITE, DeviceKind.PULSE_OXIMETER, "Nonin 3150", utc_now())
        issued = await onboarding.onboard_device(
            store, StoreReadAccounts(), device=device, serial="SN", firmware=None, calibration_due_at=None,
            actor=TECHNICIAN,
        )  # fmt: skip

        async with DeviceSession(url, "dev-first", issued.password, v5=False):  # no BrokerAuthFailed, no retry
            pass
        await assert_login_refused(url, "dev-first", "a-guessed-password", v5=False)
