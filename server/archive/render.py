"""The viewer's server side: a stored document's PDF, one page at a time as PNG, its positioned text, its
signature and its integrity.

Pages are rendered on demand with poppler (`pdftoppm -f N -l N`: one page, never the whole document) and
cached on disk under the server's data folder, as are the PDFs taken out of their stored package. The cache
is keyed by the stored file's size and mtime, so a stored file changed behind the archive's back is read
again (and then fails its checks) rather than served from a copy made while it was sound.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import threading
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from protocol.errors import UserError
from protocol.hashing import sha256_file
from protocol.i18n import N_
from protocol.package import PackageContents
from protocol.signatures import validate_pdf_signatures
from server.archive.stored import read_stored
from server.catalogue.catalog import fold_aligned
from server.store.storage import StorageError

log = logging.getLogger(__name__)

WIDTHS = (160, 900, 1800)  # thumbnail, page, zoomed page (pixels wide)
TIMEOUT = 60
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()
_VERDICTS: dict[tuple[str, str], dict[str, Any]] = {}  # by stored file state; cleared when it grows large
MAX_VERDICTS = 4096


class ViewerError(UserError):
    """What the viewer cannot show; `status` is the HTTP status to answer with."""

    key = "not_viewable"
    default = N_("This document cannot be shown.")

    def __init__(self, message: str, status: int = 404, **params: Any):
        super().__init__(message, status=status, **params)


def _lock(key: str) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(key, threading.Lock())


@dataclass(frozen=True)
class StoredDocument:
    objid: str
    doc_id: str
    package: Path  # the stored zip
    member: str  # the PDF's path inside the package folder
    listed_sha256: str  # what the package's METS says the PDF's hash is
    pdf: Path  # the PDF taken out into the cache
    cache: Path  # this document's cache folder
    page_count: int


def _cache_root(ctx: Any) -> Path:
    return Path(ctx.config.data_dir) / "cache" / "viewer"


def open_document(ctx: Any, objid: str, doc_id: str) -> StoredDocument:
    """The document's PDF from the latest stored version, taken out once per stored file state."""
    try:
        stored = ctx.store.get(objid)
    except StorageError:  # not even a possible OBJID
        stored = None
    if stored is None:
        raise ViewerError(N_("no stored package %(objid)s"), objid=objid)
    contents: PackageContents = read_stored(stored.path)
    doc = next((d for d in contents.documents if d.doc_id == doc_id), None)
    if doc is None or not doc.pdf_member:
        raise ViewerError(N_("no document %(doc_id)s in %(objid)s"), doc_id=doc_id, objid=objid)
    listed = next((f.sha256 for f in contents.files if f.path == doc.pdf_member), "")
    st = stored.path.stat()
    key = hashlib.sha256(f"{stored.path}|{st.st_size}|{st.st_mtime_ns}|{doc_id}".encode()).hexdigest()[:32]
    cache = _cache_root(ctx) / key
    pdf = cache / "document.pdf"
    if not pdf.exists():
        with _lock(key):
            if not pdf.exists():
                cache.mkdir(parents=True, exist_ok=True)
                tmp = cache / f".{uuid.uuid4().hex}.part"
                try:
                    with zipfile.ZipFile(stored.path) as zf, zf.open(f"{contents.folder}/{doc.pdf_member}") as src, \
                            open(tmp, "wb") as out:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
                    os.replace(tmp, pdf)
                except (KeyError, zipfile.BadZipFile, OSError) as exc:
                    tmp.unlink(missing_ok=True)
                    raise ViewerError(N_("cannot read %(pdf_member)s from the stored package: %(exc)s"),
                                      pdf_member=doc.pdf_member, exc=exc, status=500) from exc
    pages = _page_count(pdf, cache)
    return StoredDocument(objid, doc_id, stored.path, doc.pdf_member, listed, pdf, cache, pages)


_PREWARM = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sohoa-viewer-prewarm")


def prewarm(ctx: Any, objid: str, doc_ids: list[str]) -> None:
    """Take a hồ sơ's documents out of their package and render their first pages in the background, one at
    a time, while the archivist reads the hồ sơ page: "Xem" then opens at cache speed. Best effort."""

    def run() -> None:
        for doc_id in doc_ids[:20]:
            try:
                page_png(open_document(ctx, objid, doc_id), 1, WIDTHS[1])
            except Exception:  # noqa: BLE001 - the viewer itself reports any problem when opened
                log.debug("prewarm of %s/%s failed", objid, doc_id, exc_info=True)

    _PREWARM.submit(run)


def _page_count(pdf: Path, cache: Path) -> int:
    marker = cache / "pages"
    if marker.exists():
        return int(marker.read_text() or 0)
    done = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, timeout=TIMEOUT, check=False)
    pages = 0
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("Pages:"):
            pages = int(line.split()[1])
    marker.write_text(str(pages))
    return pages


def page_png(doc: StoredDocument, page: int, width: int) -> Path:
    """One page as PNG, `width` pixels wide (one of WIDTHS), rendered once and cached."""
    if not 1 <= page <= doc.page_count:
        raise ViewerError(N_("page %(page)s outside 1..%(page_count)s"), page=page, page_count=doc.page_count)
    width = min(WIDTHS, key=lambda w: abs(w - width))
    out = doc.cache / f"p{page:04d}-w{width}.png"
    if out.exists():
        return out
    with _lock(str(out)):
        if not out.exists():
            stem = doc.cache / f".{uuid.uuid4().hex}"
            cmd = ["pdftoppm", "-f", str(page), "-l", str(page), "-singlefile", "-png",
                   "-scale-to-x", str(width), "-scale-to-y", "-1", str(doc.pdf), str(stem)]
            done = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, check=False)
            made = stem.with_suffix(".png")
            if done.returncode != 0 or not made.exists():
                made.unlink(missing_ok=True)
                raise ViewerError(N_("pdftoppm failed on page %(page)s: %(error)s"),
                                  page=page, error=done.stderr.decode()[-300:], status=500)
            os.replace(made, out)
    return out


def text_layer(doc: StoredDocument, page: int, words: list[str] | None = None) -> dict[str, Any]:
    """The page's words with their boxes as fractions of the page (from the PDF's text layer: the OCR text),
    each marked `hit` when its folded form contains one of the folded `words`."""
    if not 1 <= page <= doc.page_count:
        raise ViewerError(N_("page %(page)s outside 1..%(page_count)s"), page=page, page_count=doc.page_count)
    cached = doc.cache / f"p{page:04d}.bbox.html"
    if not cached.exists():
        done = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-bbox", "-enc", "UTF-8",
                               str(doc.pdf), "-"], capture_output=True, timeout=TIMEOUT, check=False)
        if done.returncode != 0:
            raise ViewerError(N_("pdftotext failed on page %(page)s"), page=page, status=500)
        tmp = cached.with_name(f".{uuid.uuid4().hex}")
        tmp.write_bytes(done.stdout)
        os.replace(tmp, cached)
    root = etree.fromstring(cached.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True,
                                                                 recover=True))
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    page_el = root.find(".//h:page", ns)
    if page_el is None:
        return {"page": page, "width": 0, "height": 0, "words": []}
    pw, ph = float(page_el.attrib["width"]), float(page_el.attrib["height"])
    folded_words = [w for w in (words or []) if w]
    out = []
    for w in page_el.iterfind("h:word", ns):
        text = w.text or ""
        x0, y0, x1, y1 = (float(w.attrib[k]) for k in ("xMin", "yMin", "xMax", "yMax"))
        folded = fold_aligned(text)
        out.append({"t": text, "x": x0 / pw, "y": y0 / ph, "w": (x1 - x0) / pw, "h": (y1 - y0) / ph,
                    "hit": any(f in folded for f in folded_words)})
    return {"page": page, "width": pw, "height": ph, "words": out}


def integrity(ctx: Any, doc: StoredDocument) -> dict[str, Any]:
    """Is the stored file what was stored? The package's hash against the one in its name (and ledger), the
    PDF's hash against the package's METS, and the signature (signer, time, intact, trusted)."""
    stored = ctx.store.get(doc.objid)
    st = doc.package.stat()
    key = (str(doc.package), f"{st.st_size}|{st.st_mtime_ns}|{doc.doc_id}")
    if key in _VERDICTS:
        return _VERDICTS[key]
    package_ok = sha256_file(doc.package).upper() == (stored.sha256 if stored else "").upper()
    pdf_sha = sha256_file(doc.pdf)
    pdf_ok = bool(doc.listed_sha256) and pdf_sha.upper() == doc.listed_sha256.upper()
    verdict = validate_pdf_signatures(doc.pdf, trust_roots=ctx.config.trust_root_pems())
    reasons = list(verdict.reasons)
    intact = not any("changed" in r or "digest" in r or "cannot read" in r for r in reasons)
    trusted = not any("trusted root" in r or "no trust roots" in r for r in reasons)
    if not package_ok:
        reasons.insert(0, "the stored package no longer matches its recorded hash (fixity failed)")
    if not pdf_ok:
        reasons.insert(0, "the PDF does not match the checksum listed in the package")
    result = {
        "ok": package_ok and pdf_ok and verdict.ok,
        "package_ok": package_ok,
        "pdf_ok": pdf_ok,
        "signature": {
            "ok": verdict.ok,
            "signer": verdict.signer,
            "signed_at": verdict.signed_at,
            "timestamp": verdict.timestamp,
            "intact": intact and bool(verdict.signer),
            "trusted": trusted and bool(verdict.signer),
        },
        "reasons": reasons,
    }
    if len(_VERDICTS) >= MAX_VERDICTS:
        _VERDICTS.clear()
    _VERDICTS[key] = result
    return result
