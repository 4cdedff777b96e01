"""The one place that picks each database's backend: SQLite (one server) or PostgreSQL (several servers).

Each database is one interface with two backends: the records (`Records`: `ServerDB` on SQLite,
`PgServerDB` on PostgreSQL) and the catalogue (`CatalogBackend`: `Catalog` on SQLite FTS5, `PgCatalog` on
PostgreSQL). The setting decides: a `postgresql://` URL (server.config.is_postgres) or the path of the
SQLite file. The PostgreSQL modules build on the SQLite ones (shared statements, folding, snippets), so the
choice lives here, above both, and neither backend imports the other's chooser.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from server.config import is_postgres
from server.records.db import Records, ServerDB

if TYPE_CHECKING:
    from server.catalogue.catalog import CatalogBackend


def open_server_db(url_or_path: str | Path, *, backup_dir: Path | None = None) -> Records:
    """`postgresql://user@host/db` -> PgServerDB (shared by several server processes); anything else is
    the path of the SQLite file (one server). `backup_dir`: where pg_dump writes before a PostgreSQL
    schema migration (the server passes data_dir/migration-backups; SQLite backs up beside itself)."""
    if is_postgres(url_or_path):
        from server.records.db_pg import PgServerDB

        return PgServerDB(str(url_or_path), backup_dir=backup_dir)
    return ServerDB(Path(url_or_path))


def open_catalog(url_or_path: str | Path, *, backup_dir: Path | None = None) -> CatalogBackend:
    """`postgresql://user@host/db` -> PgCatalog (shared by several server processes); anything else is
    the path of a SQLite catalogue (one server). `backup_dir`: where pg_dump writes before a PostgreSQL
    schema migration (SQLite backs up beside itself)."""
    if is_postgres(url_or_path):
        from server.catalogue.catalog_pg import PgCatalog

        return PgCatalog(str(url_or_path), backup_dir=backup_dir)
    from server.catalogue.catalog import Catalog  # sqlite_utils and pdftotext: loaded by the servers that search

    return Catalog(Path(url_or_path))
