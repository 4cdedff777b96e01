"""Find: full-text search over OCR text and metadata with filters, paging, snippets and the page of each hit.

Written beside server.catalogue.catalog's `Catalog.search` (which the supervisor's page and the API keep using) and over
the same index: the FTS5 table of folded text, so a query with or without diacritics finds the same pages.
On PostgreSQL it ranks with PgCatalog.ranked, as PgCatalog.search does. On SQLite it keeps that search's
plan: ranking happens in the FTS index, and a broad query (more than BROAD_ROWS matches) ranks only its
newest BROAD_WINDOW matches. Raw text is read, and snippets cut, only for the page of results shown. The
page a hit is on comes from pdftotext's form feeds in the stored text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from server.catalogue.catalog import BROAD_ROWS, BROAD_WINDOW, fold, fold_aligned

MAX_QUERY = 200  # characters: longer is not a search, it is a paste; answered at once with a message
MAX_WORDS = 12
PER_PAGE = 20
YEAR_RE = re.compile(r"^\d{4}$")


@dataclass
class Filters:
    fonds: str = ""
    year: str = ""
    file_code: str = ""
    doc_type: str = ""

    def active(self) -> bool:
        return any(asdict(self).values())


@dataclass
class FoundHit:
    objid: str
    file_code: str
    doc_id: str  # "" for a hit on the hồ sơ's own description
    title: str
    subject: str
    fonds_code: str
    type_name: str
    page: int  # 1-based page of the document the first hit is on (1 for metadata hits)
    snippet: list[tuple[str, bool]] = field(default_factory=list)  # (text, is_hit) pieces


@dataclass
class FindResult:
    query: str
    words: list[str]
    hits: list[FoundHit]
    page: int
    has_next: bool
    message: str = ""  # why there is nothing to search for: a key of server.labels.LABELS["find"]


def query_words(query: str) -> list[str]:
    return [w for w in fold(query).split() if any(ch.isalnum() for ch in w)]


def find(catalog: Any, query: str, filters: Filters | None = None, *, page: int = 1,
         per_page: int = PER_PAGE) -> FindResult:
    filters = filters or Filters()
    page = max(1, page)
    query = query or ""
    if len(query) > MAX_QUERY:
        return FindResult(query[:MAX_QUERY], [], [], page, False, "too_long")
    words = query_words(query)
    if not words:
        return FindResult(query, [], [], page, False, "empty")
    if len(words) > MAX_WORDS:
        return FindResult(query, words, [], page, False, "too_many_words")
    if filters.year and not YEAR_RE.match(filters.year):
        return FindResult(query, words, [], page, False, "bad_year")
    pg = hasattr(catalog, "_rows")  # PostgreSQL (as server.archive.browse.catalog_rows tells)
    ids, has_next = (_rank_pg if pg else _rank)(catalog, words, filters, page, per_page)
    return FindResult(query, words, _rows(catalog, ids, words, pg=pg), page, has_next)


def _match(words: list[str]) -> str:
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _filter_sql(filters: Filters, where: list[str], args: list[Any]) -> None:
    """The filters as SQL on packages `p` and documents `d` (joined only when a type is asked)."""
    if filters.fonds:
        where.append("p.fonds_code = ?")
        args.append(filters.fonds)
    if filters.file_code:
        where.append("p.file_code = ?")
        args.append(filters.file_code)
    if filters.doc_type:
        where.append("d.type_name = ?")
        args.append(filters.doc_type)
    if filters.year:  # the hồ sơ's dates are dd/mm/yyyy: the year is in its span
        where.append("substr(p.start_date, -4) <= ? AND substr(p.end_date, -4) >= ?")
        args += [filters.year, filters.year]


def _rank(catalog: Any, words: list[str], filters: Filters, page: int, per_page: int) -> tuple[list[int], bool]:
    """Catalog.search's plan: rank in the FTS index alone (bm25; a broad query only its newest window), then
    join packages/documents for the superseded flag and the filters on the ranked candidates only, widening
    the candidates until the page is full or the matches are exhausted."""
    match = _match(words)
    where: list[str] = ["p.superseded_by IS NULL"]
    args: list[Any] = []
    _filter_sql(filters, where, args)
    join = "LEFT JOIN documents d ON d.id = s.objid || '|' || s.doc_id " if filters.doc_type else ""
    keep_sql = ("SELECT s.id FROM search s JOIN packages p ON p.objid = s.objid " + join
                + "WHERE s.id IN ({ids}) AND " + " AND ".join(where))
    rank_sql = "SELECT rowid, bm25(search_fts) FROM search_fts WHERE search_fts MATCH ? ORDER BY 2 LIMIT ?"
    window_sql = ("SELECT rowid, bm25(search_fts) FROM search_fts WHERE search_fts MATCH ? AND rowid >= ? "
                  "ORDER BY 2, 1 DESC LIMIT ?")
    cut_sql = "SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?"
    offset = (page - 1) * per_page
    need = offset + per_page + 1  # one more than the page: is there a next page?
    want = max(need * 2, 50)
    with catalog._lock:
        db = catalog.db
        broad = db.execute(cut_sql, [match, BROAD_ROWS]).fetchone() is not None
        cut = 0
        if broad:  # as Catalog.search: rank only the newest window, newest first among equal scores
            row = db.execute(cut_sql, [match, max(BROAD_WINDOW, need) - 1]).fetchone()
            cut = row[0] if row else 0
        while True:
            if broad:
                ranked = db.execute(window_sql, [match, cut, want]).fetchall()
            else:
                ranked = db.execute(rank_sql, [match, want]).fetchall()
            ids = [int(r[0]) for r in ranked]
            kept_set = {r[0] for r in db.execute(keep_sql.format(ids=",".join(map(str, ids)) or "NULL"), args)}
            kept = [i for i in ids if i in kept_set]
            if len(kept) >= need or len(ranked) < want:
                break
            want *= 4  # filtered out or superseded: look further down the ranking
    return kept[offset:offset + per_page], len(kept) > offset + per_page


def _rank_pg(catalog: Any, words: list[str], filters: Filters, page: int, per_page: int
             ) -> tuple[list[int], bool]:
    """The same on the PostgreSQL catalogue: PgCatalog.ranked (its GIN index, ts_rank, the newest window of
    a broad query), the filters applied to the matches before they are counted and ranked."""
    from server.catalogue.catalog_pg import tsquery

    tsq = tsquery(" ".join(words))
    if not tsq:
        return [], False
    where = ["p.superseded_by IS NULL"]
    args: list[Any] = []
    _filter_sql(filters, where, args)
    where = [w.replace("?", "%s").replace("substr(p.start_date, -4)", "right(p.start_date, 4)")
             .replace("substr(p.end_date, -4)", "right(p.end_date, 4)") for w in where]
    join = "LEFT JOIN documents d ON d.id = s.objid || '|' || s.doc_id" if filters.doc_type else ""
    ranked = catalog.ranked(tsq, per_page + 1, offset=(page - 1) * per_page, join=join, where=where, args=args)
    ids = [i for i, _ in ranked]
    return ids[:per_page], len(ids) > per_page


def _rows(catalog: Any, ids: list[int], words: list[str], *, pg: bool) -> list[FoundHit]:
    if not ids:
        return []
    sql = f"""
        SELECT s.id, s.objid, s.doc_id, s.raw, s.folded, p.file_code, p.title, p.fonds_code, d.subject, d.type_name
        FROM search s JOIN packages p ON p.objid = s.objid
        LEFT JOIN documents d ON d.id = s.objid || '|' || s.doc_id
        WHERE s.id IN ({",".join("?" * len(ids))})"""
    if pg:  # on the search connection
        rows = {r["id"]: tuple(r.values()) for r in catalog.read(sql.replace("?", "%s"), ids)}
    else:
        with catalog._lock:
            rows = {r[0]: r for r in catalog.db.execute(sql, ids).fetchall()}
    hits = []
    for i in ids:
        if i not in rows:
            continue
        _, objid, doc_id, raw, folded, file_code, title, fonds_code, subject, type_name = rows[i]
        page, pieces = snippet(raw or "", words, folded=folded)
        hits.append(FoundHit(objid, file_code or "", doc_id or "", title or "", subject or "", fonds_code or "",
                             type_name or "", page if doc_id else 1, pieces))
    return hits


def snippet(raw: str, words: list[str], *, width: int = 200, folded: str | None = None
            ) -> tuple[int, list[tuple[str, bool]]]:
    """(page of the first hit, pieces of text around it with every hit marked). Pages are separated by
    form feeds in the text pdftotext gave; positions in the folded text are positions in the original."""
    raw = unicodedata.normalize("NFC", raw)
    if folded is None or len(folded) != len(raw):
        folded = fold_aligned(raw)
    found = [i for i in (folded.find(w) for w in words) if i >= 0]
    pos = min(found, default=0)
    page = raw.count("\f", 0, pos) + 1
    # the snippet stays on the hit's page
    page_start = raw.rfind("\f", 0, pos) + 1
    page_end = raw.find("\f", pos)
    page_end = len(raw) if page_end < 0 else page_end
    start = max(page_start, pos - width // 3)
    end = min(page_end, start + width)
    marks = [False] * (end - start)
    for w in words:
        at = folded.find(w, start)
        while 0 <= at < end:
            for k in range(max(at, start), min(at + len(w), end)):
                marks[k - start] = True
            at = folded.find(w, at + 1)
    pieces: list[tuple[str, bool]] = []
    for k, ch in enumerate(raw[start:end]):
        ch = " " if ch.isspace() else ch
        if pieces and pieces[-1][1] == marks[k]:
            pieces[-1] = (pieces[-1][0] + ch, marks[k])
        else:
            pieces.append((ch, marks[k]))
    pieces = [(re.sub(r" {2,}", " ", text), hit) for text, hit in pieces]
    if start > 0 and pieces:
        pieces.insert(0, ("…", False))
    if end < len(raw):
        pieces.append(("…", False))
    return page, pieces
