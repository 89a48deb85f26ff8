"""Per-patient settings a scoring cycle reads (SpO2 scale, own limits, care flags, personal thresholds): from the
store at most once per TTL, for all stale patients in one query; a rescore request drops them (`forget`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Generic, TypeVar

__all__ = ["PatientCache"]

_T = TypeVar("_T")


class PatientCache(Generic[_T]):
    """`fetch` answers for the patients it is asked about; a patient it leaves out has `default`."""

    def __init__(
        self, fetch: Callable[[Sequence[str]], Awaitable[Mapping[str, _T]]], *, default: _T, ttl_s: float
    ) -> None:
        self._fetch = fetch
        self._default = default
        self._ttl_s = ttl_s
        self._cached: dict[str, tuple[datetime, _T]] = {}
        self._fetching = 0
        self._forgotten_while_fetching: set[str] = set()

    async def get(self, patient_ids: Sequence[str], now: datetime) -> dict[str, _T]:
        stale = [
            p for p in patient_ids if (c := self._cached.get(p)) is None or (now - c[0]).total_seconds() > self._ttl_s
        ]
        answer = {p: c[1] for p in patient_ids if (c := self._cached.get(p)) is not None and p not in stale}
        if stale:  # one query for all of them: after a restart that is the whole unit
            self._fetching += 1
            try:
                fetched = await self._fetch(stale)
            finally:
                self._fetching -= 1
            for patient_id in stale:
                answer[patient_id] = fetched.get(patient_id, self._default)
                # A change announced while the query ran may be newer than its answer: ask again next time.
                if patient_id not in self._forgotten_while_fetching:
                    self._cached[patient_id] = (now, answer[patient_id])
            if not self._fetching:
                self._forgotten_while_fetching.clear()
        return answer

    def forget(self, patient_ids: Iterable[str]) -> None:
        for patient_id in patient_ids:
            self._cached.pop(patient_id, None)
            if self._fetching:
                self._forgotten_while_fetching.add(patient_id)
