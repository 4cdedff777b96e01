"""The archive catalogue on PostgreSQL: the same interface and search behaviour as server/catalogue/catalog.py.

Several server processes share one PostgreSQL catalogue. Search uses the same folding as SQLite: every
text is stored folded ("Đồng Nai" -> "dong nai") next to a tsvector of its words, with a GIN index;
queries are folded the same way, ranked by ts_rank, and when the user typed diacritics the hits that
contain every word exactly move first. Words are split in Python (letters and digits, as FTS5's unicode61
does), not by PostgreSQL's parser, so "TH.1" is the phrase "th 1" in both backends.

Ranking: ts_rank reads (detoasts) the tsvector of every row it ranks: 12–30 µs a row for two words, up to
120 µs for six common ones (1 M pages, documents of 10 pages). So, as the SQLite backend but with smaller
numbers, a broad query (more than PG_BROAD_ROWS matches) ranks only its newest PG_BROAD_WINDOW matches,
newest first among equal scores; a selective one ranks all. The matches come from the GIN index alone (a
bitmap scan: no tsvector is read for a query of plain words). Searches run on their own connection with
sequential scans off: the planner does not count the detoasting, so at 1 M pages it read every tsvector
for "dong nai" (1.0 s) rather than use the index (31 ms).

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
# Measured at 1 M pages (docs/scaling.md): with 2,000 / 1,000 the bench's 16 queries take 10–165 ms, with
# SQLite's 20,000 / 5,000 up to 650 ms (ranking 5,000 rows of a six-word query alone took 600 ms).
PG_BROAD_ROWS = 2_000
PG_BROAD_WINDOW = 1_000

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

    def __init__(self, url: str, *, backup_dir: Path | None = None, broad_rows: int | None = PG_BROAD_ROWS,
                 broad_window: int = PG_BROAD_WINDOW):
        """`broad_rows`/`broad_window`: as Catalog's (`broad_rows=None` ranks every match)."""
        self.url = url
        self.broad_rows = broad_rows
        self.broad_window = broad_window
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
                                   options=f"-c statement_timeout={int(self.budget_s * 1000)} -c enable_seqscan=off")
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
        `exact=True` keeps only hits that contain every word with its diacritics. Order: as Catalog.search."""
        tsq = tsquery(query)
        if not tsq:
            return []
        folded_words = query_words(query)
        exact_words = [_exact(w) for w in query.split() if any(ch.isalnum() for ch in w)]
        has_marks = fold(query) != _exact(query)
        need = max(limit * 5, 50) if (exact or has_marks) else limit  # exact hits picked from a wider set
        ranked = self.ranked(tsq, need, where=[] if include_superseded else ["p.superseded_by IS NULL"])
        rows = {r["id"]: r for r in self.read(
            """SELECT s.id, s.objid, s.doc_id, s.raw, s.folded, p.file_code, p.title, d.subject
               FROM search s JOIN packages p ON p.objid = s.objid
               LEFT JOIN documents d ON d.id = s.objid || '|' || s.doc_id
               WHERE s.id = ANY(%s)""", [[i for i, _ in ranked]])}
        hits = []
        for i, rank in ranked:
            r = rows.get(i)
            if r is None:  # re-catalogued between the two reads: its rows were replaced
                continue
            is_exact = all(w in _exact(r["raw"]) for w in exact_words)
            if exact and not is_exact:
                continue
            # score: lower is better, as FTS5's bm25 in the SQLite backend
            hit = Hit(r["objid"], r["file_code"] or "", r["doc_id"] or "", r["title"] or "", r["subject"] or "", "",
                      -rank, is_exact)
            hits.append((hit, r["raw"], r["folded"]))
        if has_marks:  # the user typed diacritics: exact matches first, rank within each group
            hits.sort(key=lambda h: (not h[0].exact, h[0].score))
        out = []
        for hit, raw, folded in hits[:limit]:
            hit.snippet = _snippet(raw, folded_words, folded=folded)
            out.append(hit)
        return out

    def ranked(self, tsq: str, limit: int, *, offset: int = 0, join: str = "", where: list[str] | None = None,
               args: list[Any] | None = None) -> list[tuple[int, float]]:
        """(search row id, ts_rank) of the matches of `tsq` ranked `offset` to `offset + limit`, best first.
        `join` and `where` narrow the matches (packages are `p`, search rows `s`; %s placeholders take
        `args`). More than `broad_rows` matches: only the newest max(broad_window, offset + limit) matches
        are ranked, newest first among equal scores, the window widened while the narrowing leaves the
        page short; else all, oldest first among equal scores (module docstring: the costs)."""
        cap = None if self.broad_rows is None else self.broad_rows + 1
        ids = self._newest(tsq, cap)
        every = cap is None or len(ids) < cap  # `ids` holds every match
        broad = not every
        window = max(self.broad_window, offset + limit) if broad else len(ids)
        # Ranked by row id, never by the match itself: given a join or a filter, the planner tests `@@` on
        # rows fetched through another index, reading every tsvector (0.55 s for a query with 121 matches).
        pick = f"""SELECT s.id, ts_rank(s.tsv, %s::tsquery) AS rank
                   FROM search s JOIN packages p ON p.objid = s.objid {join}
                   WHERE {" AND ".join(["s.id = ANY(%s)", *(where or [])])}
                   ORDER BY rank DESC, s.id {"DESC" if broad else "ASC"} LIMIT %s OFFSET %s"""
        while True:
            if window > len(ids) and not every:
                ids = self._newest(tsq, window)
                every = len(ids) < window
            rows = self.read(pick, [tsq, ids[:window], *(args or []), limit, offset])
            if not broad or len(rows) >= limit or (every and window >= len(ids)):
                return [(int(r["id"]), float(r["rank"])) for r in rows]
            window *= 4  # the narrowing left the page short: look further back

    def _newest(self, tsq: str, limit: int | None) -> list[int]:
        """Ids of the newest `limit` (None: all) matches, from the GIN index's bitmap alone: no tsvector is
        read for a query of plain words. "id + 0" keeps the planner off a backward walk of the primary key,
        which would test `@@` on every row it passes (0.27 s for the newest 5,000 of "dong nai")."""
        return [r["id"] for r in self.read(
            "SELECT s.id FROM search s WHERE s.tsv @@ %s::tsquery ORDER BY s.id + 0 DESC LIMIT %s", [tsq, limit])]

    def read(self, sql: str, args: list[Any]) -> list[dict]:
        """Rows of a search query, on this thread's search connection within the time budget."""
        try:
            with self._reader().cursor(row_factory=dict_row) as cur:
                return list(cur.execute(sql, args).fetchall())
        except psycopg.errors.QueryCanceled as exc:
            raise QueryError(N_("search took longer than %(budget_s)g s: add a rarer word"), budget_s=self.budget_s,
                             status=503) from exc

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
