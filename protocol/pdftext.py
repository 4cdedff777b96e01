"""A PDF's text layer as poppler's pdftotext reads it: the one way both sides get it.

The station runs it on each signed document and packs the result (data/text/{docId}.txt, docs/packages.md);
the archive's catalogue indexes that file, and runs pdftotext itself only for packages without it. The form:
UTF-8, NFC, every page followed by a form feed (pdftotext's own output), so the number of form feeds is the
number of pages, and the page a character is on is 1 + the form feeds before it (server.archive.find,
server.archive.gates).
"""

from __future__ import annotations

import logging
import subprocess
import unicodedata
from pathlib import Path

log = logging.getLogger(__name__)

PAGE_END = "\f"


def start_pdf_text(path: Path) -> subprocess.Popen[bytes] | None:
    """pdftotext started on `path` (the archive's checks start it first and do their work while it runs)."""
    try:
        return subprocess.Popen(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    except OSError as exc:
        log.warning("pdftotext failed: %s", exc)
        return None


def finish_pdf_text(proc: subprocess.Popen[bytes] | None, *, timeout: float = 60) -> str:
    """Its text, NFC ('' when it failed or ran past `timeout`)."""
    if proc is None:
        return ""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        log.warning("pdftotext failed: %s", exc)
        return ""
    return unicodedata.normalize("NFC", out.decode("utf-8", "replace")) if proc.returncode == 0 else ""


def pdf_text(path: Path, *, timeout: float = 60) -> str:
    """Text layer of the PDF at `path` ('' when there is none or pdftotext fails)."""
    return finish_pdf_text(start_pdf_text(Path(path)), timeout=timeout)


def page_count(text: str) -> int:
    """Pages in a text layer of this form: its form feeds."""
    return text.count(PAGE_END)


def decode(data: bytes) -> str | None:
    """A packed text file's text, or None when it is not UTF-8 (the caller then reads the PDF instead)."""
    try:
        return unicodedata.normalize("NFC", data.decode("utf-8"))
    except UnicodeDecodeError:
        return None
