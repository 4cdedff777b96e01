"""The archive catalogue: hồ sơ and documents with full-text search (SQLite FTS5 via sqlite-utils).

Vietnamese search ignores diacritics and đ/Đ: the index holds a folded copy of every text ("Đồng Nai" ->
"dong nai"), and queries are folded the same way. FTS5's own `remove_diacritics` cannot do this alone,
because đ is a letter of its own, not d with a mark. A query typed with diacritics still finds the same
hits, and hits that match it exactly (diacritics included) rank first.
The interface (`CatalogBackend`: add_package, search, package, packages, close) is small so a PostgreSQL
backend (server/catalogue/catalog_pg.py) can replace it; server/databases.py picks one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from protocol.clock import iso_vn
from protocol.errors import UserError
from protocol.i18n import N_
from protocol.package.model import DocumentEntry, PackageContents
from protocol.pdftext import pdf_text
from protocol.scratch import scratch
from protocol.sqlitetx import write_transaction

log = logging.getLogger(__name__)

# A query is "broad" when it matches more than BROAD_ROWS rows of the index. bm25 costs ~8 µs a matching
# row, so ranking 100,000 matches took 0.8 s of CPU at 1 M pages; and words in that many rows have a bm25
# IDF of ~0, so the full ranking said nothing anyway. Below 20,000 matches (~160 ms of bm25 at most) every
# query keeps full ranking, and so does any query with one word that still tells documents apart.
BROAD_ROWS = 20_000
# A query is what a person types: a 20,000-word query took 13-19 s and held the catalogue. Bounded here, for
# both backends, and each search has a time budget on its own read connection (writers never wait for it).
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 12
SEARCH_BUDGET_S = 2.0
# A broad query ranks only its newest BROAD_WINDOW matches: 5,000 rows cost 38–68 ms CPU at 1 M pages.
BROAD_WINDOW = 5_000


def fold(text: str) -> str:
    """Lower case without diacritics, đ -> d: the form both index and queries use."""
    text = (text or "").replace("đ", "d").replace("Đ", "D")
    stripped = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped).casefold()


class _FoldTable(dict):
    """char code -> its one-character fold, computed once per distinct character: `str.translate` then
    folds a long OCR text at C speed (the per-character Python loop took ~7 µs a character)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = (fold(char) or char)[:1]
        self[code] = value
        return value


_FOLD_TABLE = _FoldTable()


def fold_aligned(text: str) -> str:
    """`fold`, one character for one character, so positions in the folded text are positions in the
    (NFC) original: the snippet shown to users is cut from the original with its diacritics."""
    return unicodedata.normalize("NFC", text or "").translate(_FOLD_TABLE)


def _snippet(raw: str, words: list[str], width: int = 160, folded: str | None = None) -> str:
    raw = unicodedata.normalize("NFC", raw or "")
    folded = fold_aligned(raw) if folded is None or len(folded) != len(raw) else folded
    pos = min((i for i in (folded.find(w) for w in words) if i >= 0), default=0)
    start = max(0, pos - width // 3)
    end = min(len(raw), start + width)
    return ("…" if start else "") + " ".join(raw[start:end].split()) + ("…" if end < len(raw) else "")


def _exact(text: str) -> str:
    return unicodedata.normalize("NFC", text or "").casefold()


@dataclass
class Hit:
    objid: str
    file_code: str
    doc_id: str  # "" when the hit is the hồ sơ itself
    title: str  # hồ sơ title
    subject: str  # document subject ("" for a hồ sơ hit)
    snippet: str
    score: float
    exact: bool  # every query word found with its diacritics

    def to_dict(self) -> dict:
        return asdict(self)


class QueryError(UserError, ValueError):
    """A query that is too long or too costly: the message says what to change (400 / 503 on the web)."""

    key = "query"

    def __init__(self, message: str, status: int = 400, **params: Any):
        super().__init__(message, status=status, **params)


def query_words(query: str) -> list[str]:
    """The folded words of a query (control characters dropped), within the caps; QueryError beyond them."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(N_("query longer than %(max_query_chars)s characters: shorten it"),
                         max_query_chars=MAX_QUERY_CHARS)
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in query)
    words = list(dict.fromkeys(w for w in fold(cleaned).split() if any(ch.isalnum() for ch in w)))
    if len(words) > MAX_QUERY_TERMS:
        raise QueryError(N_("more than %(max_query_terms)s words: keep the rarest ones"),
                         max_query_terms=MAX_QUERY_TERMS)
    return words


class CatalogBackend(Protocol):
    """What the server uses of a catalogue, whichever database holds it (Catalog, PgCatalog)."""

    def add_package(
        self,
        contents: PackageContents,
        *,
        stored_path: Path | str,
        sha256: str,
        station_id: str,
        texts: dict[str, str] | None = None,
        extract_text: bool = True,
    ) -> None: ...

    def search(
        self, query: str, *, limit: int = 20, include_superseded: bool = False, exact: bool = False
    ) -> list[Hit]: ...

    def package(self, objid: str) -> dict | None: ...

    def packages(self, *, file_code: str | None = None, include_superseded: bool = True) -> list[dict]: ...

    def close(self) -> None: ...


class Catalog:
    def __init__(self, db_path: Path, *, broad_rows: int | None = BROAD_ROWS, broad_window: int = BROAD_WINDOW) -> None:
        """`broad_rows`/`broad_window`: see `search`; `broad_rows=None` ranks every match (the old way)."""
        self.broad_rows = broad_rows
        self.broad_window = broad_window
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        # Several server processes may write one catalogue file: wait for the write lock, never fail at once.
        conn = sqlite3.connect(str(self.db_path), check_same_thread=False, timeout=60)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()  # writers (and the migration) only: searches read on their own connection
        self._readers = threading.local()
        self._opened: list[sqlite3.Connection] = []  # every reader, closed with the catalogue
        self._opened_lock = threading.Lock()
        self.budget_s = SEARCH_BUDGET_S
        from protocol.migrations import Migration, migrate_sqlite

        migrate_sqlite(conn, self.db_path, [
            Migration(1, "first release (0.1.0)", lambda _conn: self._first_schema()),
            Migration(2, "packages listed by time added",
                      "CREATE INDEX IF NOT EXISTS packages_added_at ON packages (added_at);"),
        ], label="catalogue")

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection: under WAL it reads a snapshot while a writer commits."""
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False, timeout=60)
            self._readers.conn = conn
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    @contextmanager
    def _budget(self, conn: sqlite3.Connection) -> Iterator[None]:
        """Interrupt a read that runs past `budget_s` (SQLite's progress handler) → QueryError 503."""
        deadline = time.monotonic() + self.budget_s
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1_000)
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            raise QueryError(N_("search took longer than %(budget_s)g s: add a rarer word"), budget_s=self.budget_s,
                             status=503) from exc
        finally:
            conn.set_progress_handler(None, 0)

    def _first_schema(self) -> None:
        """Version 1 (idempotent: a database of the first release already has it)."""
        if "packages" not in self.db.table_names():
            self.db.table("packages").create(
                {
                    "objid": str,
                    "file_code": str,
                    "kind": str,
                    "record_status": str,
                    "title": str,
                    "fonds_code": str,
                    "start_date": str,
                    "end_date": str,
                    "total_doc": int,
                    "number_of_page": int,
                    "number_of_paper": int,
                    "stored_path": str,
                    "sha256": str,
                    "station_id": str,
                    "added_at": str,
                    "superseded_by": str,
                    "hoso": str,
                },
                pk="objid",
            )
            self.db.table("packages").create_index(["file_code"])
        if "documents" not in self.db.table_names():
            self.db.table("documents").create(
                {
                    "id": str,
                    "objid": str,
                    "doc_id": str,
                    "doc_code": str,
                    "ordinal": int,
                    "subject": str,
                    "organ_name": str,
                    "issued_date": str,
                    "type_name": str,
                    "page_count": int,
                    "pdf_member": str,
                    "fields": str,
                    "text": str,
                },
                pk="id",
            )
            self.db.table("documents").create_index(["objid"])
        if "search" not in self.db.table_names():
            # rowid-keyed table of folded text; the FTS5 index mirrors it through triggers.
            self.db.table("search").create({"id": int, "objid": str, "doc_id": str, "raw": str, "folded": str}, pk="id")
            self.db.table("search").create_index(["objid"])
            self.db.table("search").enable_fts(["folded"], create_triggers=True, tokenize="unicode61")

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
        """Catalogue an accepted package (as read by protocol.package.read_package). Re-adding the same OBJID
        replaces its rows; a REPLACEMENT supersedes earlier packages of the same hồ sơ (kept, hidden
        from default searches)."""
        texts = dict(texts or {})
        if extract_text and stored_path and not texts:
            texts = texts_from_zip(Path(stored_path), contents.folder, contents.documents)
        row, doc_rows, search_rows = package_rows(
            contents, stored_path=stored_path, sha256=sha256, station_id=station_id, texts=texts
        )
        objid, file_code, status = row["objid"], row["file_code"], row["record_status"]
        with self._lock, self._write():
            self.db.table("search").delete_where("objid = ?", [objid])
            self.db.table("documents").delete_where("objid = ?", [objid])
            self.db.table("packages").upsert(row, pk="objid")
            self.db.table("documents").insert_all(doc_rows, pk="id", replace=True)
            self.db.table("search").insert_all(search_rows)
            if status == "REPLACEMENT" and file_code:
                self.db.execute(
                    "UPDATE packages SET superseded_by = ? WHERE file_code = ? AND objid != ? "
                    "AND superseded_by IS NULL",
                    [objid, file_code, objid],
                )
        log.info("catalogued %s (%s): %d documents", objid, file_code, len(doc_rows))

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction taken up front (BEGIN IMMEDIATE): with another process writing, a transaction
        that read first could not upgrade and would fail at once instead of waiting its turn."""
        with write_transaction(self.db.conn):
            yield

    def search(
        self, query: str, *, limit: int = 20, include_superseded: bool = False, exact: bool = False
    ) -> list[Hit]:
        """Hồ sơ and documents matching every word of `query`, diacritics and đ/Đ ignored.
        `exact=True` keeps only hits that contain every word with its diacritics.

        Order: bm25 relevance; when the user typed diacritics, exact matches first. A broad query (more than
        `broad_rows` matching rows, e.g. "hồ sơ" or "quyết định") ranks only its newest `broad_window`
        matches, newest first among equal scores: for words in nearly every page relevance says nothing
        (bm25's IDF is ~0), and ranking them all cost ~1 s at 1 M pages. What an archivist sees: every hit
        still contains every word, but a very common query shows hits among the recent records, not the best
        of the whole archive; adding a rarer word (a place, a name, a number) gives full ranking again.
        """
        words = query_words(query)
        if not words:
            return []
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        # Rank in the FTS index alone, then read the (large) text rows and the superseded flag only for
        # the best few: joining before the LIMIT read every match (80 ms at 20,000 pages, 10 x slower).
        rank_sql = "SELECT rowid, bm25(search_fts) FROM search_fts WHERE search_fts MATCH ? ORDER BY 2 LIMIT ?"
        # FTS5 applies the rowid range inside the index: only the window's rows get a bm25.
        window_sql = (
            "SELECT rowid, bm25(search_fts) FROM search_fts WHERE search_fts MATCH ? AND rowid >= ? "
            "ORDER BY 2, 1 DESC LIMIT ?"
        )
        # The rowid of the (n+1)-th newest match: FTS5 walks the doclists newest first without bm25, ~0.5–2 ms
        # per 5,000 matches at 1 M pages. It both counts (broad or not) and finds the window's cut-off row.
        cut_sql = "SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?"
        keep_sql = "SELECT s.id FROM search s JOIN packages p ON p.objid = s.objid WHERE s.id IN ({ids}) {sup}"
        rows_sql = """
            SELECT s.id, s.objid, s.doc_id, s.raw, s.folded, p.file_code, p.title, d.subject
            FROM search s JOIN packages p ON p.objid = s.objid
            LEFT JOIN documents d ON d.id = s.objid || '|' || s.doc_id
            WHERE s.id IN ({ids})"""
        exact_words = [_exact(w) for w in query.split() if any(ch.isalnum() for ch in w)]
        has_marks = fold(query) != _exact(query)
        rerank = exact or has_marks  # exact matches are picked or moved up from a wider candidate set
        need = max(limit * 5, 50) if rerank else limit
        want = need + 20  # superseded packages are rare: one round almost always suffices
        sup = "" if include_superseded else "AND p.superseded_by IS NULL"
        db = self._reader()
        with self._budget(db):
            # Counting the matches up to broad_rows costs 1–13 ms at 1 M pages; fts5vocab's per-term document
            # counts were slower (8–120 ms a query: it walks each word's whole doclist) and only a bound.
            broad = False
            if self.broad_rows is not None:
                broad = db.execute(cut_sql, [match, self.broad_rows]).fetchone() is not None
            window = max(self.broad_window, want)
            while True:
                if broad:  # fewer matches than the window (no cut-off row): rank them all, still newest first
                    cut = db.execute(cut_sql, [match, window - 1]).fetchone()
                    scores = dict(db.execute(window_sql, [match, cut[0] if cut else 0, want]).fetchall())
                else:
                    scores = dict(db.execute(rank_sql, [match, want]).fetchall())
                ids = ",".join(str(int(i)) for i in scores) or "NULL"
                kept = [r[0] for r in db.execute(keep_sql.format(ids=ids, sup=sup)).fetchall()]
                if len(kept) >= need or len(scores) < want:  # enough, or every match (in the window) seen
                    break
                want *= 4  # superseded hits filled the candidates: look further down, and further back
                window = max(window, want)
            # newest first among equal scores for a broad query; a selective one keeps the plain bm25 order
            order = (lambda i: (scores[i], -i)) if broad else scores.__getitem__
            top = sorted(kept, key=order)[:need]
            found = db.execute(rows_sql.format(ids=",".join(map(str, top)) or "NULL")).fetchall()
        rows = [(*r[1:], scores[r[0]]) for r in sorted(found, key=lambda r: order(r[0]))]
        hits = []
        for objid, doc_id, raw, folded, file_code, title, subject, score in rows:
            raw_words = _exact(raw)
            is_exact = all(w in raw_words for w in exact_words)
            if exact and not is_exact:
                continue
            hit = Hit(objid, file_code or "", doc_id or "", title or "", subject or "", "", float(score), is_exact)
            hits.append((hit, raw, folded))
        if has_marks:  # the user typed diacritics: exact matches first, FTS rank within each group (stable sort)
            hits.sort(key=lambda h: (not h[0].exact, h[0].score))
        out = []
        for hit, raw, folded in hits[:limit]:  # snippets only for what is returned
            hit.snippet = _snippet(raw, words, folded=folded)
            out.append(hit)
        return out

    def package(self, objid: str) -> dict | None:
        reader = sqlite_utils.Database(self._reader())
        rows = list(reader["packages"].rows_where("objid = ?", [objid]))
        if not rows:
            return None
        docs = list(reader["documents"].rows_where("objid = ?", [objid], order_by="ordinal"))
        pkg = dict(rows[0], hoso=json.loads(rows[0]["hoso"] or "{}"))
        pkg["documents"] = [dict(d, fields=json.loads(d["fields"] or "{}")) for d in docs]
        return pkg

    def packages(self, *, file_code: str | None = None, include_superseded: bool = True) -> list[dict]:
        where, args = [], []
        if file_code:
            where.append("file_code = ?")
            args.append(file_code)
        if not include_superseded:
            where.append("superseded_by IS NULL")
        # a read: its own connection, no writer waits
        return list(
            sqlite_utils.Database(self._reader())["packages"].rows_where(
                " AND ".join(where) or None,
                args or None,
                order_by="added_at",
                select="objid, file_code, kind, record_status, title, "
                "total_doc, number_of_page, stored_path, sha256, "
                "station_id, added_at, superseded_by",
            )
        )

    def close(self) -> None:
        for conn in self._opened:
            conn.close()
        self.db.conn.close()


def package_rows(
    contents: PackageContents, *, stored_path: Path | str, sha256: str, station_id: str, texts: dict[str, str]
) -> tuple[dict, list[dict], list[dict]]:
    """The packages row, documents rows and search rows of one package (shared by both backends)."""
    objid = contents.objid
    hoso = dict(contents.hoso)

    def num(key: str) -> int:
        try:
            return int(hoso.get(key) or 0)
        except ValueError:
            return 0

    row = {
        "objid": objid,
        "file_code": contents.file_code,
        "kind": contents.kind,
        "record_status": contents.record_status,
        "title": hoso.get("title", ""),
        "fonds_code": contents.fonds_code,
        "start_date": hoso.get("startDate", ""),
        "end_date": hoso.get("endDate", ""),
        "total_doc": num("totalDoc"),
        "number_of_page": num("numberOfPage"),
        "number_of_paper": num("numberOfPaper"),
        "stored_path": str(stored_path),
        "sha256": sha256,
        "station_id": station_id,
        "added_at": iso_vn(),
        "superseded_by": None,
        "hoso": json.dumps(hoso, ensure_ascii=False),
    }
    hoso_raw = " ".join(
        hoso.get(k, "") for k in ("title", "keyword", "description", "fileCode", "arcFileCode", "paperFileCode")
    )
    search_rows = [{"objid": objid, "doc_id": "", "raw": hoso_raw}]
    doc_rows = []
    for d in contents.documents:
        fields = dict(d.fields)
        doc_id = d.doc_id
        text = texts.get(doc_id, "")
        doc_rows.append(
            {
                "id": f"{objid}|{doc_id}",
                "objid": objid,
                "doc_id": doc_id,
                "doc_code": d.doc_code,
                "ordinal": d.ordinal,
                "subject": fields.get("subject", ""),
                "organ_name": fields.get("organName", ""),
                "issued_date": fields.get("issuedDate", ""),
                "type_name": fields.get("typeName", ""),
                "page_count": d.page_count,
                "pdf_member": d.pdf_member,
                "fields": json.dumps(fields, ensure_ascii=False),
                "text": text,
            }
        )
        keys = ("subject", "organName", "keyword", "codeNumber", "codeNotation", "autograph", "description")
        search_rows.append(
            {"objid": objid, "doc_id": doc_id, "raw": " ".join([*(fields.get(k, "") for k in keys), doc_id, text])}
        )
    for search in search_rows:
        search["folded"] = fold_aligned(search["raw"])
    return row, doc_rows, search_rows


def texts_from_zip(path: Path, folder: str, documents: list[DocumentEntry]) -> dict[str, str]:
    """docId -> text layer of a stored package: its text file when it has one whose form feeds count the
    document's pages (numberOfPage, which ingest held to the PDF), else pdftotext on every core (it
    dominated a large hồ sơ's commit)."""
    import zipfile
    from concurrent.futures import ThreadPoolExecutor

    if not path.is_file() or not zipfile.is_zipfile(path):
        return {}
    with scratch("text") as tmp, zipfile.ZipFile(path) as zf:
        jobs: dict[str, Path] = {}
        packed: dict[str, str] = {}
        names = set(zf.namelist())
        for n, d in enumerate(documents):
            member = f"{folder}/{d.pdf_member}"
            text = _packed_text(zf, f"{folder}/{d.text_member}", d) if d.text_member else None
            if text is not None:
                packed[d.doc_id] = text
            elif member in names:
                dest = Path(tmp) / f"{n}.pdf"  # our own name, never the member's
                with zf.open(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                jobs[d.doc_id] = dest
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            texts = dict(zip(jobs, pool.map(pdf_text, jobs.values()), strict=True))
    return {**texts, **packed}


def _packed_text(zf: Any, member: str, doc: DocumentEntry) -> str | None:
    import zipfile

    from protocol.pdftext import decode, page_count

    try:
        text = decode(zf.read(member))
    except (KeyError, OSError, zipfile.BadZipFile) as exc:
        log.warning("%s unreadable (%s): pdftotext reads the PDF", member, exc)
        return None
    if text is None or page_count(text) != doc.page_count:
        log.warning("%s: not UTF-8 or not %d pages: pdftotext reads the PDF", member, doc.page_count)
        return None
    return text
