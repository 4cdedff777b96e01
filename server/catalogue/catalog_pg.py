"""The archive catalogue on PostgreSQL: the same interface and search behaviour as server/catalogue/catalog.py.

Several server processes share one PostgreSQL catalogue. Search uses the same folding as SQLite: every
text is stored folded ("Đồng Nai" -> "dong nai") next to a tsvector of its words, with a GIN index;
queries are folded the same way, ranked by ts_rank, and when the user typed diacritics the hits that
contain every word exactly move first. Words are split in Python (letters and digits, as FTS5's unicode61
does), not by PostgreSQL's parser, so "TH.1" is the phrase "th 1" in both backends.

Concurrency: catalogueing one OBJID takes a transaction-scoped advisory lock on it, so two servers adding
the same package at once leave one set of rows (the second replaces the first), never two.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from protocol.i18n import N_
from protocol.package.model import PackageContents
from server.catalogue.catalog import (
    SEARCH_BUDGET_S,
    Hit,
    QueryError,
    _exact,
    _snippet,
    fold,
    package_rows,
    query_words,
    texts_from_zip,
)

log = logging.getLogger(__name__)

# Letters and digits only; "_" is a separator, as in FTS5's unicode61 tokenizer.
_WORD_RE = re.compile(r"[^\W_]+")
_MAX_LEXEME = 200  # PostgreSQL refuses lexemes over 2 KB; no real word is near this
_MAX_POSITION, _MAX_POSITIONS = 16383, 256  # PostgreSQL's limits per position and per lexeme

SCHEMA = """
CREATE TABLE IF NOT EXISTS packages (
  objid TEXT PRIMARY KEY,
  file_code TEXT, kind TEXT, record_status TEXT, title TEXT, fonds_code TEXT,
  start_date TEXT, end_date TEXT,
  total_doc INTEGER, number_of_page INTEGER, number_of_paper INTEGER,
  stored_path TEXT, sha256 TEXT, station_id TEXT, added_at TEXT, superseded_by TEXT, hoso TEXT
);
CREATE INDEX IF NOT EXISTS packages_file_code ON packages (file_code);
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY,
  objid TEXT NOT NULL, doc_id TEXT, doc_code TEXT, ordinal INTEGER, subject TEXT, organ_name TEXT,
  issued_date TEXT, type_name TEXT, page_count INTEGER, pdf_member TEXT, fields TEXT, text TEXT
);
CREATE INDEX IF NOT EXISTS documents_objid ON documents (objid);
CREATE TABLE IF NOT EXISTS search (
  id BIGSERIAL PRIMARY KEY,
  objid TEXT NOT NULL, doc_id TEXT NOT NULL, raw TEXT NOT NULL, folded TEXT NOT NULL,
  tsv TSVECTOR NOT NULL
);
CREATE INDEX IF NOT EXISTS search_objid ON search (objid);
CREATE INDEX IF NOT EXISTS search_tsv ON search USING GIN (tsv);
"""

def _pg_migrations() -> list:
    from protocol.migrations import Migration

    return [Migration(1, "first release (0.1.0)", SCHEMA),
            Migration(2, "packages listed by time added",
                      "CREATE INDEX IF NOT EXISTS packages_added_at ON packages (added_at);")]


MIGRATIONS = _pg_migrations()

PACKAGE_COLUMNS = (
    "objid", "file_code", "kind", "record_status", "title", "fonds_code", "start_date", "end_date",
    "total_doc", "number_of_page", "number_of_paper", "stored_path", "sha256", "station_id", "added_at",
    "superseded_by", "hoso",
)
DOCUMENT_COLUMNS = (
    "id", "objid", "doc_id", "doc_code", "ordinal", "subject", "organ_name", "issued_date", "type_name",
    "page_count", "pdf_member", "fields", "text",
)
LISTING = ("objid, file_code, kind, record_status, title, total_doc, number_of_page, stored_path, sha256, "
           "station_id, added_at, superseded_by")


def words(folded: str) -> list[str]:
    """The index terms of a folded text, in order."""
    return [w for w in _WORD_RE.findall(folded) if len(w) <= _MAX_LEXEME]


def tsvector(folded: str) -> str:
    """The tsvector literal of a folded text, built here rather than by PostgreSQL's parser so the
    index terms are exactly the query's terms (its parser drops "²", splits other words differently)."""
    positions: dict[str, list[int]] = {}
    for n, term in enumerate(words(folded), start=1):
        at = positions.setdefault(term, [])
        pos = min(n, _MAX_POSITION)
        if len(at) < _MAX_POSITIONS and (not at or at[-1] != pos):
            at.append(pos)
    return " ".join(f"'{t}':{','.join(map(str, at))}" for t, at in positions.items())


def tsquery(query: str) -> str:
    """A tsquery (text form) requiring every folded query word; "th.1" becomes the phrase 'th' <-> '1'.
    Terms are letters and digits only, so nothing in them needs escaping. '' when nothing is searchable."""
    parts = []
    for word in query_words(query):
        terms = words(word)
        if terms:
            parts.append("(" + " <-> ".join(f"'{t}'" for t in terms) + ")")
    return " & ".join(parts)


def pg_package_rows(contents: PackageContents, **kwargs: Any) -> tuple[dict, list[dict], list[dict]]:
    """catalog.package_rows plus each search row's tsvector."""
    row, doc_rows, search_rows = package_rows(contents, **kwargs)
    for search in search_rows:
        search["tsv"] = tsvector(search["folded"])
    return row, doc_rows, search_rows


class PgCatalog:
    """Catalog over PostgreSQL: add_package, search, package, packages, close (see server/catalogue/catalog.py).

    One connection per process, shared by the server's threads under a lock like the SQLite backend (the
    work-order overview reads `catalog.db.execute(...)` under `catalog._lock`, which works here too)."""

    def __init__(self, url: str, *, backup_dir: Path | None = None):
        self.url = url
        self._lock = threading.RLock()
        self._readers = threading.local()  # searches: their own connection, never the writers' lock
        self.budget_s = SEARCH_BUDGET_S
        self._opened: list[psycopg.Connection] = []
        self.db = self._connect()
        from protocol.migrations import migrate_postgres

        with self._lock:  # every server starts this at once: one at a time (an advisory lock inside)
            migrate_postgres(self.db, MIGRATIONS, component="catalog", url=url, backup_dir=backup_dir)

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, application_name="sohoa-catalog")

    def _reader(self) -> psycopg.Connection:
        """This thread's search connection; PostgreSQL cancels a statement past the budget."""
        conn = getattr(self._readers, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(self.url, autocommit=True, application_name="sohoa-catalog-search",
                                   options=f"-c statement_timeout={int(self.budget_s * 1000)}")
            self._readers.conn = conn
            self._opened.append(conn)  # list.append is atomic: no lock shared with the writers
        return conn

    def _conn(self) -> psycopg.Connection:
        """The connection, reopened if PostgreSQL restarted or dropped it (the next request recovers)."""
        if self.db.closed or self.db.broken:
            log.warning("catalog connection lost; reconnecting to PostgreSQL")
            self.db = self._connect()
        return self.db

    def add_package(
        self,
        contents: PackageContents,
        *,
        stored_path: Path | str,
        sha256: str,
        station_id: str,
        texts: dict[str, str] | None = None,
        extract_text: bool = True,
    ) -> None:
        """Catalogue an accepted package; same semantics as Catalog.add_package (re-adding replaces, a
        REPLACEMENT supersedes earlier packages of the same hồ sơ)."""
        texts = dict(texts or {})
        if extract_text and stored_path and not texts:
            texts = texts_from_zip(Path(stored_path), contents.folder, contents.documents)
        row, doc_rows, search_rows = pg_package_rows(
            contents, stored_path=stored_path, sha256=sha256, station_id=station_id, texts=texts
        )
        objid = row["objid"]
        cols = ", ".join(PACKAGE_COLUMNS)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in PACKAGE_COLUMNS if c not in ("objid", "superseded_by"))
        with self._lock, self._conn().transaction() as tx:
            conn = tx.connection
            # Two servers cataloguing the same OBJID: the second waits, then replaces the first's rows.
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [objid])
            conn.execute("DELETE FROM search WHERE objid = %s", [objid])
            conn.execute("DELETE FROM documents WHERE objid = %s", [objid])
            conn.execute(
                f"INSERT INTO packages ({cols}) VALUES ({', '.join(['%s'] * len(PACKAGE_COLUMNS))}) "
                f"ON CONFLICT (objid) DO UPDATE SET {updates}",
                [row[c] for c in PACKAGE_COLUMNS],
            )
            with conn.cursor() as cur:
                if doc_rows:
                    cur.executemany(
                        f"INSERT INTO documents ({', '.join(DOCUMENT_COLUMNS)}) "
                        f"VALUES ({', '.join(['%s'] * len(DOCUMENT_COLUMNS))})",
                        [[d[c] for c in DOCUMENT_COLUMNS] for d in doc_rows],
                    )
                cur.executemany(
                    "INSERT INTO search (objid, doc_id, raw, folded, tsv) "
                    "VALUES (%s, %s, %s, %s, %s::tsvector)",
                    [[s["objid"], s["doc_id"], s["raw"], s["folded"], s["tsv"]] for s in search_rows],
                )
            if row["record_status"] == "REPLACEMENT" and row["file_code"]:
                conn.execute(
                    "UPDATE packages SET superseded_by = %s WHERE file_code = %s AND objid != %s "
                    "AND superseded_by IS NULL",
                    [objid, row["file_code"], objid],
                )
        log.info("catalogued %s (%s): %d documents", objid, row["file_code"], len(doc_rows))

    def search(
        self, query: str, *, limit: int = 20, include_superseded: bool = False, exact: bool = False
    ) -> list[Hit]:
        """Hồ sơ and documents matching every word of `query`, diacritics and đ/Đ ignored.
        `exact=True` keeps only hits that contain every word with its diacritics."""
        tsq = tsquery(query)
        if not tsq:
            return []
        folded_words = query_words(query)
        exact_words = [_exact(w) for w in query.split() if any(ch.isalnum() for ch in w)]
        has_marks = fold(query) != _exact(query)
        need = max(limit * 5, 50) if (exact or has_marks) else limit  # exact hits picked from a wider set
        sup = "" if include_superseded else "AND p.superseded_by IS NULL"
        # Rank in the index and join packages (superseded filter) first; read the large text rows and
        # the document subject only for the best few.
        sql = f"""
            WITH q AS (SELECT %s::tsquery AS q),
            top AS (
                SELECT s.id, ts_rank(s.tsv, q.q) AS rank, p.file_code, p.title
                FROM search s CROSS JOIN q JOIN packages p ON p.objid = s.objid
                WHERE s.tsv @@ q.q {sup}
                ORDER BY rank DESC, s.id LIMIT %s)
            SELECT s.objid, s.doc_id, s.raw, s.folded, top.file_code, top.title, d.subject, -top.rank
            FROM top JOIN search s ON s.id = top.id
            LEFT JOIN documents d ON d.id = s.objid || '|' || s.doc_id
            ORDER BY top.rank DESC, s.id"""
        try:
            rows = self._reader().execute(sql, [tsq, need]).fetchall()
        except psycopg.errors.QueryCanceled as exc:
            raise QueryError(N_("search took longer than %(budget_s)g s: add a rarer word"), budget_s=self.budget_s,
                             status=503) from exc
        hits = []
        for objid, doc_id, raw, folded, file_code, title, subject, score in rows:
            raw_words = _exact(raw)
            is_exact = all(w in raw_words for w in exact_words)
            if exact and not is_exact:
                continue
            # score: lower is better, as FTS5's bm25 in the SQLite backend
            hit = Hit(objid, file_code or "", doc_id or "", title or "", subject or "", "", float(score), is_exact)
            hits.append((hit, raw, folded))
        if has_marks:  # the user typed diacritics: exact matches first, rank within each group
            hits.sort(key=lambda h: (not h[0].exact, h[0].score))
        out = []
        for hit, raw, folded in hits[:limit]:
            hit.snippet = _snippet(raw, folded_words, folded=folded)
            out.append(hit)
        return out

    def _rows(self, sql: str, args: list[Any]) -> list[dict]:
        with self._lock, self._conn().cursor(row_factory=dict_row) as cur:
            return list(cur.execute(sql, args).fetchall())

    def package(self, objid: str) -> dict | None:
        rows = self._rows("SELECT * FROM packages WHERE objid = %s", [objid])
        if not rows:
            return None
        docs = self._rows("SELECT * FROM documents WHERE objid = %s ORDER BY ordinal", [objid])
        pkg = dict(rows[0], hoso=json.loads(rows[0]["hoso"] or "{}"))
        pkg["documents"] = [dict(d, fields=json.loads(d["fields"] or "{}")) for d in docs]
        return pkg

    def packages(self, *, file_code: str | None = None, include_superseded: bool = True) -> list[dict]:
        where, args = ["TRUE"], []
        if file_code:
            where.append("file_code = %s")
            args.append(file_code)
        if not include_superseded:
            where.append("superseded_by IS NULL")
        return self._rows(f"SELECT {LISTING} FROM packages WHERE {' AND '.join(where)} ORDER BY added_at, objid",
                          args)

    def close(self) -> None:
        for conn in self._opened:
            conn.close()
        self.db.close()
