"""The broker's device accounts, kept in step with the credentials vaktrom issues.

Mosquitto: its dynamic-security plugin, administered over MQTT (`$CONTROL/dynamic-security/v1`) by vaktrom's
admin service account (`<API client id>-admin`, the API node's password); every command's reply is checked. The
plugin hashes the password into its own file and closes the device's live connection when its password is changed
or its account deleted. The embedded broker needs nothing here: it reads the store's credentials itself.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

import orjson

from core.errors import VaktromError
from core.mqtt import MqttClient, MqttOptions

__all__ = [
    "BrokerAccountError",
    "BrokerAccounts",
    "DynamicSecurityAccounts",
    "StoreReadAccounts",
    "UnadministeredAccounts",
]

logger = logging.getLogger(__name__)

_COMMAND_TOPIC = "$CONTROL/dynamic-security/v1"
_RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"
# A command is answered in milliseconds on a healthy broker; more than this and the technician should retry.
REPLY_TIMEOUT_S = 10.0
_ALREADY_EXISTS = "Client already exists"
_NOT_FOUND = "Client not found"


class BrokerAccountError(VaktromError):
    """The broker did not apply a device account change (refused it, or did not answer): API 503."""

    def __init__(self, device_id: str, *, detail: str) -> None:
        self.device_id = device_id
        self.detail = detail
        super().__init__(f"the broker did not apply the change to device {device_id}'s account: {detail}")


class BrokerAccounts(Protocol):
    async def set_password(self, device_id: str, password: str, *, new: bool) -> None:
        """Create the account (`new`) or change its password; a changed password closes its live connection."""

    async def remove(self, device_id: str) -> None:
        """Delete the account and close its live connection; a missing account is already removed."""


class StoreReadAccounts:
    """The embedded broker reads the store's current credentials itself (every 0.2 s): nothing to send."""

    async def set_password(self, device_id: str, password: str, *, new: bool) -> None:
        return None

    async def remove(self, device_id: str) -> None:
        return None


class UnadministeredAccounts:
    """vaktrom may not change the broker's accounts (no admin credentials configured): every change refused."""

    def __init__(self, why: str) -> None:
        self._why = why

    async def set_password(self, device_id: str, password: str, *, new: bool) -> None:
        raise BrokerAccountError(device_id, detail=self._why)

    async def remove(self, device_id: str) -> None:
        raise BrokerAccountError(device_id, detail=self._why)


class DynamicSecurityAccounts:
    """Mosquitto's dynamic-security plugin, one short admin connection per change."""

    def __init__(self, *, url: str, admin_user: str, password: str, protocol_v5: bool = True) -> None:
        self._options = MqttOptions(
            url=url, client_id=admin_user, password=password, protocol_v5=protocol_v5, clean_start=True
        )
        # One command at a time per process: the broker binds the client id to the admin's user name, so a second
        # connection of this admin would close the first one, and its reply with it.
        self._one_at_a_time = asyncio.Lock()

    async def set_password(self, device_id: str, password: str, *, new: bool) -> None:
        create = {"command": "createClient", "username": device_id, "password": password}
        change = {"command": "setClientPassword", "username": device_id, "password": password}
        first = create if new else change
        error = await self._command(device_id, first)
        if error == (_ALREADY_EXISTS if new else _NOT_FOUND):  # the broker knew better: the other command
            error = await self._command(device_id, change if new else create)
        if error is not None:
            raise BrokerAccountError(device_id, detail=error)
        logger.info("Broker account of device %s %s", device_id, "created" if new else "given a new password")

    async def remove(self, device_id: str) -> None:
        error = await self._command(device_id, {"command": "deleteClient", "username": device_id})
        if error not in (None, _NOT_FOUND):
            raise BrokerAccountError(device_id, detail=error)
        logger.info("Broker account of device %s deleted (its connection closed)", device_id)

    async def _command(self, device_id: str, command: dict[str, str]) -> str | None:
        """Send one command and wait for its reply; the reply's error, or None when it was applied."""
        async with self._one_at_a_time:
            return await self._command_alone(device_id, command)

    async def _command_alone(self, device_id: str, command: dict[str, str]) -> str | None:
        correlation = uuid.uuid4().hex
        client = MqttClient(self._options)
        client.subscribe(_RESPONSE_TOPIC, qos=1)
        try:
            await client.connect(timeout_s=REPLY_TIMEOUT_S)
            payload = orjson.dumps({"commands": [command | {"correlationData": correlation}]})
            await client.publish(_COMMAND_TOPIC, payload, qos=1, timeout_s=REPLY_TIMEOUT_S)
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                while True:
                    reply = orjson.loads((await client.inbox.get()).payload)
                    for response in reply.get("responses", []):
                        if response.get("correlationData") == correlation:
                            error = response.get("error")
                            return None if error is None else str(error)
        except TimeoutError:
            detail = f"no reply to {command['command']} in {REPLY_TIMEOUT_S} s"
            raise BrokerAccountError(device_id, detail=detail) from None
        except VaktromError as exc:  # refused login, refused publish, broker away
            raise BrokerAccountError(device_id, detail=str(exc)) from exc
        finally:
            await client.disconnect()
