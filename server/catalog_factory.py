"""Pick the catalogue backend from one setting: a PostgreSQL URL, or the path of the SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.config import is_postgres


def open_catalog(url_or_path: str | Path, *, backup_dir: Path | None = None) -> Any:
    """`postgresql://user@host/db` -> PgCatalog (shared by several server processes); anything else is
    the path of a SQLite catalogue (one server). Both have add_package, search, package, packages, close.
    `backup_dir`: where pg_dump writes before a PostgreSQL schema migration (SQLite backs up beside itself)."""
    if is_postgres(url_or_path):
        from server.catalog_pg import PgCatalog

        return PgCatalog(str(url_or_path), backup_dir=backup_dir)
    from server.catalog import Catalog

    return Catalog(Path(url_or_path))
