"""The rule for every integer id in a path or a query: a row id the database can hold."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["BIGINT_MAX", "RowId"]

# Row ids are signed 64-bit on both engines (PostgreSQL bigint, SQLite INTEGER). A larger number names no row, and
# the drivers raise on it (OverflowError, "bigint out of range") rather than find nothing: refused here with a 422.
BIGINT_MAX = 2**63 - 1

RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]  # in a path as is; in a query inside Query(...)
