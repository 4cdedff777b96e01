"""Fixtures that run a test against both backends of the server's records: SQLite (the default file) and
PostgreSQL (a fresh database on this machine's server, dropped afterwards). No tests here.

`records_target` is what `database` would be set to (a SQLite path or a postgresql:// URL);
`open_records()` opens one more records object on that target: two of them play two servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_catalog_pg import pg_database

from server.databases import open_server_db
from server.records.db import Records

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def records_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    if request.param == "sqlite":
        yield tmp_path / "server.db"
        return
    with pg_database() as url:
        yield url


@pytest.fixture
def open_records(records_target: str | Path) -> Iterator[Callable[[], Records]]:
    opened: list[Records] = []

    def make() -> Records:
        db = open_server_db(records_target)
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()  # before the PostgreSQL database is dropped


@pytest.fixture
def records(open_records: Callable[[], Records]) -> Records:
    return open_records()
