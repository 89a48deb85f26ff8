"""Stand-in for `python -m vaktrom ingest` until vaktrom/cli.py wires it: settings from the environment,
the store they name, then run_ingest until killed. Run as `python -m tests.ingest.ingest_main`."""

from __future__ import annotations

import asyncio

from core.logging import setup_logging
from core.settings import load_settings
from core.store import Store
from core.store_postgres import PostgresStore
from core.store_sqlite import SqliteStore
from ingest.service import run_ingest


async def _main() -> None:
    settings = load_settings()
    setup_logging(settings.log_level)
    store: Store
    if settings.database_url is not None:
        store = PostgresStore(settings.database_url)
    else:
        store = SqliteStore(settings.data_dir / "vaktrom.sqlite3")
    await store.open()
    try:
        await run_ingest(settings, store)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(_main())
