"""Onboarding against the store (both engines): a device registered with its own credentials (a hash only),
its history from box to bed, pairing corrections that never re-attribute readings, decommissioning."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict, InvalidIdentifier, NotFound
from core.onboarding import CredentialEnd, DeviceLifecycle
from core.store import Store
from core.types import Device, DeviceKind, Parameter, Reading
from devices import onboarding
from devices.broker_accounts import StoreReadAccounts
from devices.credentials import verify_password
from tests.devices.conftest import T0, seed_ward

TECH = "tech-1"
ACCOUNTS = StoreReadAccounts()


async def _onboard(store: Store, device_id: str = "dev-1", *, site_id: str = "site-a") -> onboarding.IssuedCredential:
    device = Device(device_id, site_id, DeviceKind.PULSE_OXIMETER, "Nonin 3150", T0)
    return await onboarding.onboard_device(
        store, ACCOUNTS, device=device, serial="SN-77", firmware="2.1", calibration_due_at=T0 + timedelta(days=300),
        actor=TECH,
    )  # fmt: skip


async def test_registering_issues_a_password_shown_once_and_keeps_only_its_hash(store: Store) -> None:
    await seed_ward(store)
    issued = await _onboard(store)
    assert len(issued.password) >= 32 and issued.expires_at == T0 + onboarding.CREDENTIAL_VALIDITY
    credential = (await store.current_credentials(["dev-1"]))["dev-1"]
    assert credential.password_hash.startswith("pbkdf2_sha256$100000$")
    assert verify_password(issued.password, credential.password_hash)
    assert (credential.issued_by, credential.issued_at, credential.ended_at) == (TECH, T0, None)
    profile = (await store.device_profiles(["dev-1"]))["dev-1"]
    assert (profile.serial, profile.firmware, profile.calibration_due_at) == ("SN-77", "2.1", T0 + timedelta(300))
    assert onboarding.lifecycle(profile, paired=False, heard_from=False) is DeviceLifecycle.REGISTERED
    assert [(e.event, e.actor) for e in await store.device_events("dev-1")] == [("registered", TECH)]
    assert await store.current_device_hashes() == {"dev-1": credential.password_hash}


async def test_registering_an_id_twice_or_a_bad_one_is_refused_and_changes_nothing(store: Store) -> None:
    await seed_ward(store)
    await _onboard(store)
    before = await store.current_credentials(["dev-1"])
    with pytest.raises(Conflict, match=r"already registered .* rotate its credentials"):
        await _onboard(store)
    assert await store.current_credentials(["dev-1"]) == before
    with pytest.raises(InvalidIdentifier):
        await _onboard(store, "vaktrom-ingest-1")  # a service account's name is never a device's
    with pytest.raises(NotFound):
        await _onboard(store, "dev-2", site_id="no-such-site")
    assert [d.device_id for d in await store.list_devices()] == ["dev-1"]


async def test_rotation_keeps_the_old_credential_as_history(store: Store) -> None:
    await seed_ward(store)
    first = await _onboard(store)
    second = await onboarding.rotate_credentials(store, ACCOUNTS, device_id="dev-1", actor=TECH, at=T0 + timedelta(1))
    history = await store.credential_history("dev-1")
    assert [(c.ended_reason, c.ended_at) for c in history] == [(CredentialEnd.ROTATED, T0 + timedelta(1)), (None, None)]
    assert not verify_password(first.password, history[1].password_hash)
    assert verify_password(second.password, history[1].password_hash)


async def test_a_backdated_pairing_past_an_attributed_reading_is_refused(store: Store) -> None:
    await seed_ward(store)
    await _onboard(store)
    now = T0 + timedelta(hours=2)
    await onboarding.pair_device(store, device_id="dev-1", patient_id="p1", bed_id=None, actor=TECH, at=T0, now=T0)
    reading_at = T0 + timedelta(hours=1)
    await store.append([Reading("dev-1", "p1", Parameter.PULSE, 80.0, measured_at=reading_at, received_at=reading_at)],
                       [])  # fmt: skip
    with pytest.raises(Conflict, match=r"readings since .* already attributed"):
        await onboarding.unpair_device(store, device_id="dev-1", actor=TECH, at=T0 + timedelta(minutes=30), now=now)
    assert (await store.pairings_of_devices(["dev-1"]))["dev-1"][0].end_at is None  # nothing changed
    ended = await onboarding.unpair_device(
        store, device_id="dev-1", actor=TECH, at=reading_at + timedelta(minutes=1), now=now
    )  # after the newest reading: a correction that moves no reading
    assert ended.end_at == reading_at + timedelta(minutes=1)
    events = [e.event for e in await store.device_events("dev-1")]
    assert events == ["registered", "paired", "unpaired"]


async def test_a_decommissioned_device_keeps_its_history_and_can_do_nothing_more(store: Store) -> None:
    await seed_ward(store)
    await _onboard(store)
    await onboarding.pair_device(store, device_id="dev-1", patient_id="p1", bed_id=None, actor=TECH, at=T0, now=T0)
    with pytest.raises(Conflict, match="unpair it first"):
        await onboarding.decommission_device(store, ACCOUNTS, device_id="dev-1", actor=TECH, at=T0)
    await onboarding.unpair_device(store, device_id="dev-1", actor=TECH, at=T0 + timedelta(1), now=T0 + timedelta(1))
    await onboarding.decommission_device(store, ACCOUNTS, device_id="dev-1", actor=TECH, at=T0 + timedelta(2))
    profile = (await store.device_profiles(["dev-1"]))["dev-1"]
    assert onboarding.lifecycle(profile, paired=False, heard_from=True) is DeviceLifecycle.DECOMMISSIONED
    assert await store.current_device_hashes() == {}
    with pytest.raises(Conflict, match="decommissioned"):
        await onboarding.rotate_credentials(store, ACCOUNTS, device_id="dev-1", actor=TECH, at=T0 + timedelta(3))
    assert [e.event for e in await store.device_events("dev-1")] == ["registered", "paired", "unpaired",
                                                                      "decommissioned"]  # fmt: skip
    assert len(await store.pairings_of_devices(["dev-1"])) == 1  # history kept
