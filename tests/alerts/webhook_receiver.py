"""A real HTTP gateway on 127.0.0.1 for tests: records each request, answers as scripted, checks its signature.

The signature check and the signing of answers are written here from the format in the docstring of
alerts/webhooks.py, deliberately without importing it, so a bug on either side shows up as a mismatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import h11
import httpx

__all__ = ["GatewayReply", "ReceivedRequest", "WebhookReceiver", "sign_as_gateway"]

# A gateway keeps an idle keep-alive connection about this long; also bounds every read and write in tests.
IDLE_TIMEOUT_S = 30.0
_READ_CHUNK_BYTES = 65536


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class GatewayReply:
    """How the receiver answers one request: wait `delay_s`, then drop the connection or send the response."""

    status: int = 200
    json_body: object | None = None  # serialised as JSON; None sends an empty body
    raw_body: bytes | None = None  # sent as is instead of json_body (for broken answers)
    retry_after: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0  # the slow gateway under test, not a wait of the test's own
    drop: bool = False  # close the connection without answering

    def body(self) -> bytes:
        if self.raw_body is not None:
            return self.raw_body
        return b"" if self.json_body is None else json.dumps(self.json_body).encode()


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in the order received
    body: bytes
    arrived_at: datetime
    delivery_id: str | None
    signature_valid: bool
    signature_problem: str | None  # why the signature is not valid, for assertion messages

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name.lower()), None)


def sign_as_gateway(secret: bytes, *, delivery_id: str, body: bytes, timestamp_s: int) -> dict[str, str]:
    """Headers of a request signed as a gateway would sign its answer."""
    stamp = b"%d" % timestamp_s
    mac = hmac.new(secret, stamp + b"." + delivery_id.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "Vaktrom-Delivery": delivery_id,
        "Vaktrom-Timestamp": stamp.decode(),
        "Vaktrom-Signature": "v1=" + mac,
    }


def _signature_problem(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, arrived_at: datetime, tolerance_s: float
) -> str | None:
    """None if the request is signed as documented, else what is wrong with it."""
    delivery_id = headers.get("vaktrom-delivery")
    stamp = headers.get("vaktrom-timestamp")
    signature = headers.get("vaktrom-signature")
    if delivery_id is None or stamp is None or signature is None:
        return "a Vaktrom-Delivery, Vaktrom-Timestamp or Vaktrom-Signature header is missing"
    if headers.get("content-type") != "application/json":
        return f"content type is {headers.get('content-type')!r}, not application/json"
    if "." in delivery_id:
        return "delivery id contains '.'"
    if not (stamp.isascii() and stamp.isdigit()):
        return f"timestamp {stamp!r} is not whole Unix seconds"
    if abs(arrived_at.timestamp() - int(stamp)) > tolerance_s:
        return f"timestamp {stamp} is more than {tolerance_s} s from the arrival time"
    expected = (
        "v1=" + hmac.new(secret, stamp.encode() + b"." + delivery_id.encode() + b"." + body, "sha256").hexdigest()
    )
    if not any(hmac.compare_digest(expected, offered.strip()) for offered in signature.split(",")):
        return "no v1 value matches the HMAC of the request"
    return None


class WebhookReceiver:
    """An HTTP/1.1 server on an ephemeral port of 127.0.0.1, for `async with`.

    Replies come from the queue filled by `reply_with`, first in first out; with the queue empty it answers 200
    with an empty body. Each request is recorded once fully read, before the reply (or its delay) starts.
    """

    def __init__(self, secret: bytes, *, clock: Callable[[], datetime] = _utc_now, tolerance_s: float = 300.0) -> None:
        self._secret = secret
        self._clock = clock
        self._tolerance_s = tolerance_s
        self._replies: deque[GatewayReply] = deque()
        self._requests: list[ReceivedRequest] = []
        self._arrived = asyncio.Condition()
        self._connections: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def requests(self) -> tuple[ReceivedRequest, ...]:
        return tuple(self._requests)

    def reply_with(self, *replies: GatewayReply) -> None:
        self._replies.extend(replies)

    async def wait_for(self, count: int, *, timeout_s: float = 5.0) -> tuple[ReceivedRequest, ...]:
        """The requests once at least `count` have arrived. Raises AssertionError after `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s), self._arrived:
                await self._arrived.wait_for(lambda: len(self._requests) >= count)
        except TimeoutError:
            raise AssertionError(
                f"expected {count} request(s) within {timeout_s} s, got {len(self._requests)}"
            ) from None
        return self.requests

    async def post_answer(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        delivery_id: str,
        status: str,
        by: str | None = None,
        timeout_s: float = 5.0,
    ) -> httpx.Response:
        """POST a signed asynchronous answer, as a gateway does when a person accepts or declines."""
        answer: dict[str, str] = {"status": status} | ({"by": by} if by is not None else {})
        body = json.dumps(answer).encode()
        stamp = int(self._clock().timestamp())
        headers = sign_as_gateway(self._secret, delivery_id=delivery_id, body=body, timestamp_s=stamp)
        async with asyncio.timeout(timeout_s):
            return await client.post(url, content=body, headers=headers, timeout=timeout_s)

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._on_connect, host="127.0.0.1", port=0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await self._server.wait_closed()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, so the task is tracked before the loop runs anything else and __aexit__ can cancel it.
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            while (request := await _read_request(connection, reader)) is not None:
                reply = await self._record(*request)
                if not await _send_reply(connection, writer, reply):
                    return
                connection.start_next_cycle()
        except (ConnectionError, TimeoutError, h11.ProtocolError):
            return  # the client went away, stayed idle or spoke no HTTP: nothing to record
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _record(self, head: h11.Request, body: bytes) -> GatewayReply:
        headers = tuple((name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in head.headers)
        by_name = dict(headers)
        arrived_at = self._clock()
        problem = _signature_problem(self._secret, by_name, body, arrived_at=arrived_at, tolerance_s=self._tolerance_s)
        received = ReceivedRequest(
            method=head.method.decode(),
            path=head.target.decode(),
            headers=headers,
            body=body,
            arrived_at=arrived_at,
            delivery_id=by_name.get("vaktrom-delivery"),
            signature_valid=problem is None,
            signature_problem=problem,
        )
        async with self._arrived:
            self._requests.append(received)
            self._arrived.notify_all()
        return self._replies.popleft() if self._replies else GatewayReply()


async def _read_request(connection: h11.Connection, reader: asyncio.StreamReader) -> tuple[h11.Request, bytes] | None:
    """The next request's head and body, or None once the client has closed the connection."""
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            async with asyncio.timeout(IDLE_TIMEOUT_S):
                connection.receive_data(await reader.read(_READ_CHUNK_BYTES))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return head, bytes(body)
        else:  # ConnectionClosed, or PAUSED after a reply that ends the connection
            return None


async def _send_reply(connection: h11.Connection, writer: asyncio.StreamWriter, reply: GatewayReply) -> bool:
    """Answer as scripted; False when the connection is to be closed afterwards."""
    if reply.delay_s:
        await asyncio.sleep(reply.delay_s)
    if reply.drop:
        writer.transport.abort()
        return False
    body = reply.body()
    headers = [("content-length", str(len(body)))]
    if body and reply.raw_body is None:
        headers.append(("content-type", "application/json"))
    if reply.retry_after is not None:
        headers.append(("retry-after", reply.retry_after))
    headers.extend(reply.headers)
    data = connection.send(h11.Response(status_code=reply.status, headers=headers)) or b""
    data += connection.send(h11.Data(data=body)) or b""
    data += connection.send(h11.EndOfMessage()) or b""
    writer.write(data)
    async with asyncio.timeout(IDLE_TIMEOUT_S):
        await writer.drain()
    return connection.our_state is not h11.MUST_CLOSE
