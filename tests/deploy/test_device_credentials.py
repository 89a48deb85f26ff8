"""Device credentials issued by vaktrom, applied to a real Mosquitto running the shipped deploy/ configuration
through its dynamic-security plugin: registered, rotated and revoked without a restart, every reply checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import utc_now
from core.errors import Conflict
from core.mqtt import Delivery, MqttClient, MqttOptions, PublishRefused
from core.onboarding import CredentialEnd, DeviceLifecycle
from core.store import Store
from core.store.sqlite import SqliteStore
from core.topics import obs_topic
from core.types import Device, DeviceKind, Site, SiteKind
from devices import onboarding
from devices.broker_accounts import BrokerAccountError, DynamicSecurityAccounts
from devices.credentials import verify_password
from tests.devices.device_sessions import DeviceSession, assert_login_refused
from tests.fixtures.mosquitto import DEVICE_USERS, DYNSEC_ADMIN, SERVICE_PASSWORD, ShippedBroker

pytestmark = pytest.mark.integration

ROOT = "vaktrom/v1"
SITE = "site-1"
TECHNICIAN = "tech-1"
INGEST = "vaktrom-ingest-1"
TIMEOUT_S = 10.0


@pytest.fixture
def broker(shipped_broker: ShippedBroker) -> ShippedBroker:
    return shipped_broker


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    sqlite = SqliteStore(tmp_path / "vaktrom.sqlite3")
    await sqlite.open()
    await sqlite.upsert_site(Site(SITE, "Site 1", SiteKind.SYKESTUE))
    yield sqlite
    await sqlite.close()


def _accounts(broker: ShippedBroker) -> DynamicSecurityAccounts:
    return DynamicSecurityAccounts(url=broker.address.url(), admin_user=DYNSEC_ADMIN, password=SERVICE_PASSWORD)


async def _register(store: Store, broker: ShippedBroker, device_id: str) -> onboarding.IssuedCredential:
    device = Device(device_id, SITE, DeviceKind.PULSE_OXIMETER, "Nonin 3150", utc_now())
    return await onboarding.onboard_device(
        store, _accounts(broker), device=device, serial="SN-1", firmware="2.1",
        calibration_due_at=datetime(2027, 6, 1, tzinfo=UTC), actor=TECHNICIAN,
    )  # fmt: skip


async def test_a_registered_devices_credentials_work_at_once_for_its_own_topics_only_and_read_nothing(
    broker: ShippedBroker, store: Store
) -> None:
    issued = await _register(store, broker, "dev-new")
    ingest = MqttClient(MqttOptions(url=broker.address.url(), client_id=INGEST, password=SERVICE_PASSWORD,
                                    clean_start=True))  # fmt: skip
    ingest.subscribe(f"{ROOT}/+/+/obs", 1)
    await ingest.connect()
    try:
        snoop = MqttClient(MqttOptions(url=broker.address.url(), client_id="dev-new", password=issued.password,
                                       clean_start=True))  # fmt: skip
        snoop.subscribe("#", 1)  # the device's own credentials, asking for everything
        other = MqttClient(MqttOptions(url=broker.address.url(), client_id="dev-b", password=DEVICE_USERS["dev-b"],
                                       clean_start=True))  # fmt: skip
        await snoop.connect()
        await other.connect()
        try:
            assert await snoop.publish(obs_topic(ROOT, SITE, "dev-new"), b"[]") is Delivery.ACCEPTED
            with pytest.raises(PublishRefused) as refused:
                await snoop.publish(obs_topic(ROOT, SITE, "dev-a"), b"[]")  # another device's topic
            assert refused.value.code == 0x87
            await other.publish(obs_topic(ROOT, "site-2", "dev-b"), b"another site's reading")
            async with asyncio.timeout(TIMEOUT_S):
                topics = [(await ingest.inbox.get()).topic for _ in range(2)]
            assert topics == [obs_topic(ROOT, SITE, "dev-new"), obs_topic(ROOT, "site-2", "dev-b")]
            assert snoop.inbox.empty()  # ingest got both; the device's subscription got nothing
        finally:
            await other.disconnect()
            await snoop.disconnect()
    finally:
        await ingest.disconnect()
    current = (await store.current_credentials(["dev-new"]))["dev-new"]
    assert verify_password(issued.password, current.password_hash)  # only the hash is stored
    assert issued.password not in current.password_hash
    assert "dev-new" in broker.log and "dynsec: vaktrom-api-1-admin/vaktrom-api-1-admin | createClient" in broker.log


async def test_a_rotated_device_works_with_the_new_credentials_only(broker: ShippedBroker, store: Store) -> None:
    old = await _register(store, broker, "dev-rot")
    url = broker.address.url()
    async with DeviceSession(url, "dev-rot", old.password) as session:
        new = await onboarding.rotate_credentials(
            store, _accounts(broker), device_id="dev-rot", actor=TECHNICIAN, at=utc_now()
        )
        assert await session.cut_off_within_s() < 1.0  # the connection made with the old password is closed
    await assert_login_refused(url, "dev-rot", old.password)
    async with DeviceSession(url, "dev-rot", new.password) as session:
        assert session.client is not None
        assert await session.client.publish(obs_topic(ROOT, SITE, "dev-rot"), b"[]") is not None
    history = await store.credential_history("dev-rot")
    assert [c.ended_reason for c in history] == [CredentialEnd.ROTATED, None]


async def test_a_revoked_device_is_disconnected_at_once_and_cannot_reconnect(
    broker: ShippedBroker, store: Store
) -> None:
    issued = await _register(store, broker, "dev-rev")
    url = broker.address.url()
    async with DeviceSession(url, "dev-rev", issued.password) as session:
        await onboarding.revoke_device(store, _accounts(broker), device_id="dev-rev", actor=TECHNICIAN, at=utc_now())
        assert await session.cut_off_within_s() < 1.0
    await assert_login_refused(url, "dev-rev", issued.password)
    profile = (await store.device_profiles(["dev-rev"]))["dev-rev"]
    assert onboarding.lifecycle(profile, paired=False, heard_from=True) is DeviceLifecycle.REVOKED
    assert await store.current_credentials(["dev-rev"]) == {}
    assert [e.event for e in await store.device_events("dev-rev")] == ["registered", "revoked"]
    # Given credentials again, it works again: a revoked device is not a decommissioned one.
    again = await onboarding.rotate_credentials(store, _accounts(broker), device_id="dev-rev", actor=TECHNICIAN,
                                                at=utc_now())  # fmt: skip
    async with DeviceSession(url, "dev-rev", again.password):
        pass


async def test_a_broker_that_refuses_the_admin_leaves_nothing_stored(broker: ShippedBroker, store: Store) -> None:
    wrong = DynamicSecurityAccounts(url=broker.address.url(), admin_user=DYNSEC_ADMIN, password="not-the-password")
    device = Device("dev-x", SITE, DeviceKind.THERMOMETER, "Braun", utc_now())
    with pytest.raises(BrokerAccountError) as error:
        await onboarding.onboard_device(store, wrong, device=device, serial="S", firmware=None,
                                        calibration_due_at=None, actor=TECHNICIAN)  # fmt: skip
    assert "refused our credentials" in str(error.value)
    assert [d.device_id for d in await store.list_devices()] == []
    with pytest.raises(Conflict):
        await _register(store, broker, "dev-y")
        await _register(store, broker, "dev-y")


async def test_registrations_at_the_same_moment_all_apply(broker: ShippedBroker, store: Store) -> None:
    # One admin account per API node: its commands go one at a time, or each connection would close the last.
    accounts = _accounts(broker)
    devices = [Device(f"dev-c{n}", SITE, DeviceKind.THERMOMETER, "Braun", utc_now()) for n in range(4)]
    issued = await asyncio.gather(
        *(onboarding.onboard_device(store, accounts, device=d, serial="S", firmware=None, calibration_due_at=None,
                                    actor=TECHNICIAN) for d in devices)
    )  # fmt: skip
    for credential in issued:
        async with DeviceSession(broker.address.url(), credential.device_id, credential.password):
            pass
