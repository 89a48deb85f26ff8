"""`one_of`: a list of ids in a query, one SQL text on PostgreSQL whatever its length, the same rows on both engines."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from core.store.sql import id_rows, one_of

_metadata = sa.MetaData()
_rows = sa.Table(
    "one_of_rows",
    _metadata,
    sa.Column("row_id", sa.String, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)
_STORED = {f"p{i}": i for i in range(12)}
# Lengths in the order a scoring cycle might ask them; a length asked again after others checks that a cached
# statement takes the new values, not the first ones.
_ASKED = [["p1", "p2"], ["p3"], [f"p{i}" for i in range(0, 12, 2)], [], ["p11", "absent"], ["p4", "p5"], ["p1", "p2"]]


def _query(ids: list[str]) -> sa.Select[tuple[str, int]]:
    return sa.select(_rows.c.row_id, _rows.c.n).where(one_of(_rows.c.row_id, ids), _rows.c.n >= 0).order_by(_rows.c.n)


@pytest.fixture
def engine(sql_engine: sa.Engine) -> sa.Engine:
    with sql_engine.begin() as conn:
        _metadata.create_all(conn)
        conn.execute(sa.insert(_rows), [{"row_id": k, "n": v} for k, v in _STORED.items()])
    return sql_engine


def test_a_query_returns_exactly_the_listed_rows_for_every_length_asked_in_turn(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        for ids in _ASKED:
            found = conn.execute(_query(ids)).all()
            assert found == sorted(((i, _STORED[i]) for i in set(ids) if i in _STORED), key=lambda row: row[1])


def test_postgresql_gets_one_sql_text_for_any_number_of_ids_so_it_is_parsed_and_prepared_once() -> None:
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    texts = {str(_query(ids).compile(dialect=dialect)) for ids in _ASKED}
    assert len(texts) == 1
    assert "= ANY (" in texts.pop()


def test_sqlite_gets_an_in_list_that_its_index_serves() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        _metadata.create_all(conn)
        literal = _query(["p1", "p2"]).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row) for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {literal}")).all())
    assert "USING INDEX" in plan, plan


def test_id_rows_lists_the_ids_given_as_rows_on_both_engines(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        for ids in (["p1", "p2"], [], ["p3", "p3", "absent"], [f"p{i}" for i in range(600)]):
            rows = id_rows(conn, ids)
            stored = sa.select(_rows.c.n).where(_rows.c.row_id == rows.c.value).scalar_subquery()
            found = conn.execute(sa.select(rows.c.value, stored)).all()
            assert sorted(found, key=str) == sorted(((i, _STORED.get(i)) for i in ids), key=str)
