"""Column types that mean the same on both engines: a UTC instant, JSON, a flag, an id sequence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = ["Flag", "Json", "RowId", "UtcDateTime", "from_us", "json_text", "require_utc", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def require_utc(at: datetime) -> datetime:
    """Refuse naive datetimes: a store never guesses a time zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected a tz-aware datetime, got naive {at.isoformat()}")
    return at


def to_us(at: datetime) -> int:
    """Microseconds since the Unix epoch (how SQLite keeps times: exact, ordered, compact)."""
    return (require_utc(at) - _EPOCH) // _US


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A tz-aware instant, read back in UTC: `timestamptz` on PostgreSQL, integer microseconds on SQLite."""

    impl = sa.Integer
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.Integer())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return require_utc(value) if dialect.name == "postgresql" else to_us(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if isinstance(value, datetime) else from_us(int(value))


class Json(sa.TypeDecorator[Any]):
    """JSON: `jsonb` on PostgreSQL (its engine serialises with orjson), TEXT on SQLite (TEXT affinity, as the first
    schema had it: a column declared JSON would get NUMERIC affinity there)."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return orjson.loads(value)


# 0/1 on SQLite (as the first schema had it), boolean on PostgreSQL.
Flag = sa.Boolean().with_variant(sa.Integer(), "sqlite")
# A surrogate key: SQLite's INTEGER PRIMARY KEY AUTOINCREMENT, PostgreSQL's bigint identity.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
