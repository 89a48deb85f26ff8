"""One batch of MQTT messages -> one durable store write: parse, validate, attribute, append (retrying outages)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pydantic import ValidationError

from core.errors import InvalidPayload
from core.events import RescoreRequest
from core.mqtt import RawMessage
from core.store import Store
from core.store.observations import duplicate_dead_letter
from core.topics import parse_device_topic, rescore_topic
from core.types import AppendResult, DeadLetter, DeviceStatus, Parameter, Reading
from ingest.attribution import DeviceDirectory, PackCandidates, attribute, device_problem
from ingest.metrics import IngestMetrics
from ingest.senml import first_error, quoted
from ingest.status import parse_status
from ingest.store_retry import StoreRefusal, retry_storage, until_answered
from ingest.validation import Candidate, ValidationLimits, validate_pack

__all__ = [
    "REASON_DUPLICATE",
    "REASON_INTERNAL_ERROR",
    "REASON_REFUSED",
    "BatchOutcome",
    "ParsedBatch",
    "PreparedBatch",
    "StatusReport",
    "append_batch",
    "parse_batch",
    "parse_batch_in_chunks",
    "prepare_batch",
    "save_statuses",
]

logger = logging.getLogger(__name__)

REASON_INTERNAL_ERROR = "internal error"
REASON_DUPLICATE = "duplicate reading"
# What the store refused for the data itself (PostgreSQL: a NUL in a text column), not for an outage.
REASON_REFUSED = "refused by the store"
# A refused dead letter's own reason is kept in its new one, cut to this (reasons are a sentence or two).
REFUSED_REASON_MAX_CHARS = 500
# A dead letter keeps at most this much of a payload: enough to debug a device, not a way to fill the database.
DEAD_LETTER_MAX_BYTES = 64 * 1024
# Messages parsed between two turns of the event loop (~25 ms of CPU on today's machines; see parse_batch_in_chunks).
PARSE_CHUNK = 250


@dataclass(frozen=True, slots=True)
class StatusReport:
    topic: str
    site_id: str
    status: DeviceStatus
    payload: bytes


@dataclass(slots=True)
class ParsedBatch:
    packs: list[PackCandidates] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    statuses: list[StatusReport] = field(default_factory=list)
    rescore_patient_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    readings: tuple[Reading, ...]  # stored now (duplicates excluded)
    statuses: tuple[StatusReport, ...]  # stored now
    dead_lettered: int
    duplicates: int


def dead_letter(message: RawMessage, reason: str, *, device_id: str | None) -> DeadLetter:
    return DeadLetter(
        topic=message.topic,
        payload=message.payload[:DEAD_LETTER_MAX_BYTES],
        reason=reason,
        received_at=datetime.fromtimestamp(message.received_at, UTC),
        device_id=device_id,
    )


def parse_batch(
    messages: Sequence[RawMessage], *, root: str, limits: ValidationLimits, into: ParsedBatch | None = None
) -> ParsedBatch:
    """Pure CPU work: never raises. A bug on one message dead-letters that message as "internal error".
    `into`: add to this batch (parsing a batch in chunks) instead of a new one."""
    batch = into if into is not None else ParsedBatch()
    control_topic = rescore_topic(root)
    for message in messages:
        try:
            if message.topic == control_topic:
                _parse_rescore(message, batch)
            else:
                _parse_device_message(message, batch, root=root, limits=limits)
        except Exception:
            logger.exception("Unexpected failure parsing a message on %s", message.topic)
            batch.dead_letters.append(dead_letter(message, REASON_INTERNAL_ERROR, device_id=None))
    return batch


async def parse_batch_in_chunks(
    messages: Sequence[RawMessage], *, root: str, limits: ValidationLimits, chunk: int = PARSE_CHUNK
) -> ParsedBatch:
    """`parse_batch`, giving the event loop a turn between chunks. A full batch is 0.1-0.3 s of CPU, while the
    previous batch's commit is in flight: PostgreSQL waits for us to read each of its answers, and acks wait too."""
    batch = ParsedBatch()
    for start in range(0, len(messages), chunk):
        if start:
            await asyncio.sleep(0)  # a turn for the other tasks' I/O, not a wait
        parse_batch(messages[start : start + chunk], root=root, limits=limits, into=batch)
    return batch


def _parse_rescore(message: RawMessage, batch: ParsedBatch) -> None:
    try:
        request = RescoreRequest.model_validate_json(message.payload)
    except ValidationError as exc:
        batch.dead_letters.append(dead_letter(message, first_error(exc), device_id=None))
        return
    batch.rescore_patient_ids.update(request.patient_ids)


def _parse_device_message(message: RawMessage, batch: ParsedBatch, *, root: str, limits: ValidationLimits) -> None:
    topic = parse_device_topic(root, message.topic)
    if topic is None:
        batch.dead_letters.append(dead_letter(message, "topic: not a vaktrom device topic", device_id=None))
        return
    received_at = datetime.fromtimestamp(message.received_at, UTC)
    try:
        if topic.kind == "status":
            status = parse_status(
                topic.device_id, message.payload, received_at=received_at, future_tolerance_s=limits.future_tolerance_s
            )
            batch.statuses.append(StatusReport(message.topic, topic.site_id, status, message.payload))
            return
        candidates, rejections = validate_pack(topic.device_id, message.payload, received_at=received_at, limits=limits)
    except InvalidPayload as exc:
        logger.warning("Dead-lettered message on %s: %s", message.topic, exc.reason)
        batch.dead_letters.append(dead_letter(message, exc.reason, device_id=topic.device_id))
        return
    if candidates:
        batch.packs.append(PackCandidates(message.topic, topic.site_id, tuple(candidates)))
    batch.dead_letters.extend(
        DeadLetter(message.topic, r.record, r.reason, received_at, topic.device_id) for r in rejections
    )


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch ready for its one durable write: attributed readings, every dead letter, statuses to save."""

    readings: tuple[Reading, ...]
    dead_letters: tuple[DeadLetter, ...]
    statuses: tuple[StatusReport, ...]
    in_batch_duplicates: int
    rescore_patient_ids: frozenset[str]


async def prepare_batch(
    store: Store, directory: DeviceDirectory, batch: ParsedBatch, *, metrics: IngestMetrics
) -> PreparedBatch:
    """Attribute readings and check statuses (reads only): may run while the previous batch is being written."""
    packs, in_batch_duplicates = _split_duplicates(batch.packs)
    attribution = await retry_storage(lambda: attribute(store, directory, packs), what="attribution", metrics=metrics)
    statuses, status_rejects = await retry_storage(
        lambda: _check_statuses(directory, batch.statuses), what="status lookup", metrics=metrics
    )
    return PreparedBatch(
        readings=tuple(attribution.readings),
        dead_letters=(*batch.dead_letters, *attribution.dead_letters, *in_batch_duplicates, *status_rejects),
        statuses=tuple(statuses),
        in_batch_duplicates=len(in_batch_duplicates),
        rescore_patient_ids=frozenset(batch.rescore_patient_ids),
    )


async def append_batch(store: Store, prepared: PreparedBatch, *, metrics: IngestMetrics) -> BatchOutcome:
    """Durably store the batch's readings and dead letters (ONE append); returns once stored, however long that takes.
    It may run beside the previous batch's append: the store settles a reading in both as one row and one duplicate.

    An append the store refuses for its data (not an outage) is stored in parts instead, halved until each refused
    reading or dead letter is alone: those become REASON_REFUSED dead letters, everything else is stored."""
    readings, dead_letters = prepared.readings, prepared.dead_letters
    answer = await until_answered(lambda: store.append(readings, dead_letters), what="append", metrics=metrics)
    refusals: dict[int, DeadLetter] = {}  # index in readings + dead_letters -> the dead letter stored instead
    if isinstance(answer, StoreRefusal):
        logger.error(
            "The store refused a batch of %d readings and %d dead letters (%s); storing it in parts to find what it "
            "refuses",
            len(readings),
            len(dead_letters),
            answer.line(),
            exc_info=answer.error,
        )
        answer = await _append_in_parts(
            store, (*readings, *dead_letters), range(len(readings) + len(dead_letters)), refusals, metrics=metrics
        )
    result = answer  # the whole batch's, or its parts' together
    duplicates = set(result.duplicates)
    refused = {readings[i] for i in refusals if i < len(readings)}
    if duplicates or refused:
        stored = tuple(r for r in readings if r not in duplicates and r not in refused)
    else:
        stored = readings
    kept = (letter for i, letter in enumerate(dead_letters, start=len(readings)) if i not in refusals)
    metrics.count_dead_letters(letter.reason for letter in (*kept, *refusals.values()))
    metrics.count_dead_letters([REASON_DUPLICATE] * len(result.duplicates))
    return BatchOutcome(
        readings=stored,
        statuses=prepared.statuses,
        dead_lettered=len(dead_letters) + len(refused) + len(result.duplicates),
        duplicates=prepared.in_batch_duplicates + len(result.duplicates),
    )


async def _append_in_parts(
    store: Store,
    items: Sequence[Reading | DeadLetter],
    part: range,
    refusals: dict[int, DeadLetter],
    *,
    metrics: IngestMetrics,
) -> AppendResult:
    """Append `items[part]` (each part one transaction), halving a refused part; a lone refused item is
    dead-lettered in its place, into `refusals`. k refused items among n cost about 2k log2(n) appends."""
    readings = [item for item in items[part.start : part.stop] if isinstance(item, Reading)]
    letters = [item for item in items[part.start : part.stop] if isinstance(item, DeadLetter)]
    answer = await until_answered(lambda: store.append(readings, letters), what="append (in parts)", metrics=metrics)
    if not isinstance(answer, StoreRefusal):
        return answer
    if len(part) == 1:
        refusals[part.start] = await _dead_letter_refused(store, items[part.start], answer, metrics=metrics)
        return AppendResult(stored=0, dead_lettered=1)
    middle = part.start + len(part) // 2
    first = await _append_in_parts(store, items, range(part.start, middle), refusals, metrics=metrics)
    second = await _append_in_parts(store, items, range(middle, part.stop), refusals, metrics=metrics)
    return AppendResult(
        stored=first.stored + second.stored,
        duplicates=first.duplicates + second.duplicates,
        dead_lettered=first.dead_lettered + second.dead_lettered,
    )


async def _dead_letter_refused(
    store: Store, item: Reading | DeadLetter | StatusReport, refused: StoreRefusal, *, metrics: IngestMetrics
) -> DeadLetter:
    """Store a dead letter for what the store refused, naming why; returns it.

    Its topic and device id are the item's; should the store refuse those too, they are stored `quoted`. A store
    that refuses even that has a bug: then this retries like any unexpected failure (retry_storage)."""
    if isinstance(item, Reading):
        letter = replace(duplicate_dead_letter(item), reason=f"{REASON_REFUSED}: {refused.line()}")
    elif isinstance(item, StatusReport):
        letter = DeadLetter(
            item.topic,
            item.payload,
            f"{REASON_REFUSED}: {refused.line()}",
            item.status.reported_at,
            item.status.device_id,
        )
    else:
        was = quoted(item.reason, max_chars=REFUSED_REASON_MAX_CHARS)
        letter = replace(item, reason=f"{REASON_REFUSED}: {refused.line()}; its reason was: {was}")
    logger.warning(
        "Dead-lettered what the store refused from %s on %s: %s", letter.device_id, letter.topic, letter.reason
    )
    answer = await until_answered(
        lambda: store.append([], [letter]), what="refused item's dead letter", metrics=metrics
    )
    if isinstance(answer, StoreRefusal):
        device_id = None if letter.device_id is None else quoted(letter.device_id)
        letter = replace(letter, topic=quoted(letter.topic), device_id=device_id)
        await retry_storage(lambda: store.append([], [letter]), what="refused item's dead letter", metrics=metrics)
    return letter


async def save_statuses(
    store: Store, statuses: Sequence[StatusReport], *, metrics: IngestMetrics
) -> list[StatusReport]:
    """Store device statuses one by one, in arrival order (the caller keeps batches in order too); those stored. A
    status the store refuses for its data is dead-lettered with REASON_REFUSED instead, and not announced."""
    saved = []
    for report in statuses:
        save = functools.partial(store.save_device_status, report.status)
        answer = await until_answered(save, what="device status", metrics=metrics)
        if not isinstance(answer, StoreRefusal):
            saved.append(report)
        else:
            logger.error(
                "The store refused the status of %s (%s)", report.status.device_id, answer.line(), exc_info=answer.error
            )
            letter = await _dead_letter_refused(store, report, answer, metrics=metrics)
            metrics.dead_lettered += 1
            metrics.count_dead_letters([letter.reason])
    return saved


def _split_duplicates(packs: Sequence[PackCandidates]) -> tuple[list[PackCandidates], list[DeadLetter]]:
    """The same (device, parameter, time) twice in one batch (a redelivery): keep the first, dead-letter the rest."""
    # Keyed on the time as integer microseconds: hashing a datetime costs several times more, on every reading.
    seen: set[tuple[str, Parameter, int]] = set()
    unique: list[PackCandidates] = []
    duplicates: list[DeadLetter] = []
    for pack in packs:
        kept: list[Candidate] = []
        for c in pack.candidates:
            key = (c.device_id, c.parameter, c.measured_us)
            if key in seen:
                duplicates.append(
                    DeadLetter(pack.topic, c.record_bytes(), REASON_DUPLICATE, c.received_at, c.device_id)
                )
            else:
                seen.add(key)
                kept.append(c)
        if len(kept) == len(pack.candidates):
            unique.append(pack)
        elif kept:
            unique.append(PackCandidates(pack.topic, pack.site_id, tuple(kept)))
    return unique, duplicates


async def _check_statuses(
    directory: DeviceDirectory, reports: Sequence[StatusReport]
) -> tuple[list[StatusReport], list[DeadLetter]]:
    """Status reports of devices registered at their topic's site; the others as dead letters."""
    if not reports:
        return [], []
    devices = await directory.devices(sorted({r.status.device_id for r in reports}))
    accepted: list[StatusReport] = []
    rejected: list[DeadLetter] = []
    for report in reports:
        device = devices.get(report.status.device_id)
        reason = device_problem(device, report.site_id)
        if reason is None:
            accepted.append(report)
        else:
            rejected.append(
                DeadLetter(report.topic, report.payload, reason, report.status.reported_at, report.status.device_id)
            )
    return accepted, rejected
