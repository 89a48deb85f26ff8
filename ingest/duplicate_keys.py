"""JSON objects that repeat a key: orjson (like most parsers) keeps the last value silently; we refuse them."""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["records_with_repeated_keys", "repeated_key"]

logger = logging.getLogger(__name__)


class _Repeated(dict[str, Any]):
    """An object that named `key` more than once (what `json.loads` hands back for it)."""

    key: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    repeated = _Repeated(result)
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def records_with_repeated_keys(raw: bytes, pack: list[Any]) -> dict[int, str]:
    """{record index: first repeated key} of a pack already parsed (by orjson) from `raw`.

    Fast when there is nothing to find: every key on the wire is followed by one ':' outside a string, so when
    `raw` holds no more ':' than the parsed records hold keys, no key was repeated (and no object is nested). The
    ':' inside strings ("urn:dev:vaktrom:...") are counted from the parsed strings, unless the payload escapes
    characters (a ':' written as \\u003a is not in `raw`). Only a payload these counts cannot clear is parsed a
    second time, by `json.loads` with a hook that sees every pair.
    """
    keys = sum(len(record) for record in pack if type(record) is dict)
    colons = raw.count(b":")
    if colons <= keys or (b"\\u" not in raw and colons - _colons_in_strings(pack) <= keys):
        return {}
    decoded = _decode_pairs(raw)
    if not isinstance(decoded, list):
        return {}
    return {index: record.key for index, record in enumerate(decoded) if isinstance(record, _Repeated)}


def _colons_in_strings(pack: list[Any]) -> int:
    count = 0
    for record in pack:
        if type(record) is dict:
            for key, value in record.items():
                count += key.count(":") + (value.count(":") if type(value) is str else 0)
    return count


def repeated_key(raw: bytes, *, keys: int) -> str | None:
    """The first key the JSON object in `raw` repeats at its top level, if any; `keys`: how many it has parsed."""
    if raw.count(b":") <= keys:
        return None
    decoded = _decode_pairs(raw)
    return decoded.key if isinstance(decoded, _Repeated) else None


def _decode_pairs(raw: bytes) -> object:
    try:
        return json.loads(raw, object_pairs_hook=_pairs)
    except (ValueError, RecursionError) as exc:
        # orjson read it, so this is JSON that only the stdlib parser minds (e.g. nesting past its recursion
        # limit): nothing to say about its keys. pydantic still validates every record.
        logger.debug("Could not re-read a payload for repeated keys: %s", exc)
        return None
