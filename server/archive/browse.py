"""Browse queries: fonds -> hồ sơ -> documents, each hồ sơ read from its stored package.

Lists come from the catalogue (one row a package); a hồ sơ's page reads the stored package itself through
protocol.package's reader (the one parser), so what an archivist sees is what is stored, not a copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from protocol import metadata
from protocol.package import PackageContents, PackageError
from protocol.package.ead import DOC_FIELDS, FILE_FIELDS
from server.archive import states
from server.archive.stored import read_stored


def catalog_rows(catalog: Any, sql: str, args: list[Any]) -> list[dict[str, Any]]:
    """Rows of a read-only query on either catalogue backend (`?` placeholders)."""
    if hasattr(catalog, "_rows"):  # PostgreSQL
        return catalog._rows(sql.replace("?", "%s"), args)
    with catalog._lock:
        cur = catalog.db.execute(sql, args)
        names = [c[0] for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def fonds_list(ctx: Any) -> list[dict[str, Any]]:
    """Every fonds holding stored hồ sơ (current versions), with its name when the records know it."""
    rows = catalog_rows(ctx.catalog, "SELECT fonds_code, COUNT(*) AS hoso, SUM(number_of_page) AS pages "
                        "FROM packages WHERE superseded_by IS NULL GROUP BY fonds_code ORDER BY fonds_code", [])
    names = {r["code"]: r["name"] for r in ctx.db.query("SELECT code, name FROM fonds")}
    return [dict(r, name=names.get(r["fonds_code"], "")) for r in rows]


def hoso_list(ctx: Any, fonds_code: str) -> list[dict[str, Any]]:
    rows = catalog_rows(
        ctx.catalog,
        "SELECT objid, file_code, title, start_date, end_date, total_doc, number_of_page, added_at, station_id "
        "FROM packages WHERE fonds_code = ? AND superseded_by IS NULL ORDER BY file_code",
        [fonds_code],
    )
    st = states.state_of(ctx.db, [r["objid"] for r in rows])
    return [dict(r, state=st[r["objid"]]) for r in rows]


def catalogued(ctx: Any, objid: str) -> dict[str, Any] | None:
    return ctx.catalog.package(objid)


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_cached(path: Path) -> str:
    """The file's SHA-256, hashed again only when its size or mtime changed."""
    from protocol.hashing import sha256_file

    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        if len(_HASHES) > 4096:
            _HASHES.clear()
        _HASHES[key] = sha256_file(path)
    return _HASHES[key]


def _labelled(fields: list, values: dict[str, str]) -> list[dict[str, str]]:
    """Each field in TT05 order, with the meaning of a code (e.g. typeName 02 -> Quyết định)."""
    out = []
    for f in fields:
        value = values.get(f.element, "")
        meaning = ""
        if f.table and value:
            table = getattr(metadata, f.table, {})
            meaning = ", ".join(table.get(v.strip(), "") for v in value.split(",") if table.get(v.strip()))
        out.append({"name": f.element, "value": value, "meaning": meaning, "required": f.required})
    return out


def check_report(ctx: Any, sha256: str) -> dict[str, Any] | None:
    """The ingest receipt (every check's result) of the upload that brought these exact bytes."""
    row = ctx.db.one("SELECT receipt FROM uploads WHERE sha256 IN (?, ?) AND state = 'accepted' "
                     "ORDER BY updated_at DESC", (sha256.lower(), sha256.upper()))
    return json.loads(row["receipt"]) if row and row["receipt"] else None


_MAKERS: dict[tuple[str, str], frozenset[str]] = {}  # (objid, package sha256) -> people; a version never changes


def makers(ctx: Any, objid: str) -> frozenset[str]:
    """The people the hồ sơ's PREMIS history names (operators who captured, digitised, reviewed it): the
    supervisor's defect rates count against them, and acceptance refuses them as validators."""
    stored = ctx.store.get(objid)
    if stored is None:
        return frozenset()
    key = (objid, stored.sha256)
    if key not in _MAKERS:
        people: set[str] = set()
        for event in timeline(read_stored(stored.path)):
            people.update(p.strip() for p in (event["person"] or "").split(",") if p.strip())
        if len(_MAKERS) > 10_000:
            _MAKERS.clear()
        _MAKERS[key] = frozenset(people)
    return _MAKERS[key]


def timeline(contents: PackageContents, station_id: str = "") -> list[dict[str, Any]]:
    """PREMIS events, oldest first, with who (person), which station and which scanner (device) acted.
    Events carry no station of their own: the package's events happened at the station that sent it."""
    out = []
    for ev in sorted(contents.events, key=lambda e: e.get("at", "")):
        agents = ev.get("agents", [])
        extra = ev.get("extra", {})

        def pick(prefix: str, agents: list[str] = agents) -> str:
            return ", ".join(a.split(":", 1)[1] for a in agents if a.startswith(prefix + ":"))

        out.append({
            "at": ev.get("at", ""), "type": ev.get("type", ""), "detail": ev.get("detail", ""),
            "outcome": ev.get("outcome", ""),
            "person": pick("person") or extra.get("operator", "")
            or ", ".join(a for a in agents if ":" not in a or a.split(":", 1)[0] not in ("device", "software")),
            "station": extra.get("station", "") or pick("station") or station_id,
            "scanner": pick("device") or extra.get("scanner", ""),
            "software": pick("software"),
            "objects": ev.get("objects", []),
            "extra": extra,
        })
    return out


def page_images(ctx: Any, objid: str, documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """doc_id -> {"type", "pages"}: each page's resolution and colour, read from the stored PDFs."""
    import pikepdf

    from protocol.pdfa_check import page_images as read_images
    from server.archive import render

    out = {}
    try:
        for d in documents:
            doc = render.open_document(ctx, objid, d["doc_id"])
            out[d["doc_id"]] = {"type": d.get("type", ""), "pages": read_images(doc.pdf)}
    except (render.ViewerError, OSError, ValueError, pikepdf.PdfError):
        return None
    return out


def hoso_view(ctx: Any, objid: str) -> dict[str, Any] | None:
    """Everything the hồ sơ page shows, read from the stored package (latest version)."""
    from server.store.storage import StorageError

    try:
        stored = ctx.store.get(objid)
    except StorageError:  # not even a possible OBJID
        return None
    row = catalogued(ctx, objid)
    if stored is None or row is None:
        return None
    problems: list[str] = []
    try:
        contents = read_stored(stored.path)
    except (PackageError, OSError) as exc:
        contents, problems = None, [str(exc)]
    kind = (contents.kind if contents else row.get("kind")) or "SIP"
    hoso = contents.hoso if contents else row.get("hoso", {})
    documents = []
    for d in contents.documents if contents else []:
        documents.append({
            "doc_id": d.doc_id, "doc_code": d.doc_code, "ordinal": d.ordinal, "page_count": d.page_count,
            "subject": d.fields.get("subject", ""), "type": d.fields.get("typeName", ""),
            "type_name": metadata.TYPE_NAME.get(d.fields.get("typeName", ""), ""),
            "fields": _labelled(DOC_FIELDS.get(kind, DOC_FIELDS["SIP"]), d.fields),
        })
    from server.archive import gates

    # A version the archive made itself (the acceptance record filed in documentation/) has no upload of its
    # own: its data files are the ones checked when the newest version a station sent was received.
    receipt = next((r for v in reversed(ctx.store.versions(objid)) if (r := check_report(ctx, v.sha256))), None)
    texts = [{"doc_id": d.get("doc_id", ""), "page_count": d.get("page_count", 0), "text": d.get("text", "")}
             for d in row.get("documents", [])]
    package_ok = sha256_cached(stored.path).upper() == stored.sha256.upper()
    gate_list = gates.evaluate(hoso=hoso, documents=texts, receipt=receipt, package_ok=package_ok,
                               images=page_images(ctx, objid, documents), rules=ctx.config.acceptance)
    versions = [{"version": v.version, "sha256": v.sha256, "size": v.size, "path": v.path.name}
                for v in ctx.store.versions(objid)]
    return {
        "objid": objid,
        "file_code": row.get("file_code", ""),
        "title": hoso.get("title", ""),
        "fonds_code": row.get("fonds_code", ""),
        "kind": kind,
        "state": states.state_of(ctx.db, [objid])[objid],
        "station_id": row.get("station_id", ""),
        "added_at": row.get("added_at", ""),
        "sha256": stored.sha256,
        "version": stored.version,
        "fields": _labelled(FILE_FIELDS.get(kind, FILE_FIELDS["SIP"]), hoso),
        "documents": documents,
        "report": receipt,
        "gates": gate_list,
        "timeline": timeline(contents, row.get("station_id", "")) if contents else [],
        "versions": versions,
        "problems": problems + (contents.problems if contents else []),
    }
