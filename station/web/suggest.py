"""OCR suggestions for a document's form: số / ký hiệu, ngày ban hành and trích yếu, read from the text of
the document's first page. OCR runs on demand in a background thread (Tesseract takes a second or more per
page) and its text is cached beside the data, so asking again is instant and survives a restart.

The operator sees suggestions, never silently filled fields: the text of old documents is often misread.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.errors import say
from protocol.i18n import N_

log = logging.getLogger("sohoa.station.web")

# "Số: 123/QĐ-UBND", "Số 45/2001/NĐ-CP", "Số: 07 /TTr-STNMT" (OCR often puts spaces around the slash)
_NUMBER = re.compile(r"\bS[ốô]\s*[:.]?\s*(\d{1,6})\s*/\s*([0-9A-ZĐa-zđ][0-9A-ZĐa-zđ./\-]*[0-9A-ZĐa-zđ])")
# "Đồng Nai, ngày 04 tháng 3 năm 2001"; Tesseract often reads a 1 as l or I, a 0 as O: taken as digits
_D = r"[0-9lIO|]"
_DATE = re.compile(rf"ngày\s+({_D}{{1,2}})\s+tháng\s+({_D}{{1,2}})\s+năm\s+({_D}{{4}})", re.IGNORECASE)
_DIGITS = str.maketrans("lIO|", "1101")
# "Về việc ...", "V/v ..." up to the first empty line or a sentence that starts the body
_SUBJECT = re.compile(r"^\s*((?:V[ềe]\s+vi[ệe]c|V/v)\b.*(?:\n(?!\s*\n)(?!\s*(?:Căn cứ|Xét|Kính gửi)).*)*)",
                      re.MULTILINE | re.IGNORECASE)


def parse(text: str) -> dict[str, str]:
    """The fields found in `text` (NFC): code_number, code_notation, issued_date (DD/MM/YYYY), subject."""
    text = unicodedata.normalize("NFC", text)
    out: dict[str, str] = {}
    if m := _NUMBER.search(text):
        out["code_number"] = m.group(1).lstrip("0") or "0"
        out["code_notation"] = m.group(2).strip("./-")
    for m in _DATE.finditer(text):
        day, month, year = (int(g.translate(_DIGITS)) for g in m.groups())
        if 1 <= day <= 31 and 1 <= month <= 12 and 1900 <= year <= 2100:  # skip "Căn cứ Luật ... ngày ..."
            out["issued_date"] = f"{day:02d}/{month:02d}/{year:04d}"
            break
    if m := _SUBJECT.search(text):
        subject = " ".join(m.group(1).split())
        out["subject"] = subject[:1].upper() + subject[1:]
    return out


class Suggester:
    """One OCR at a time per page, in background threads; results by page id."""

    def __init__(self, store: Any, data_dir: Path, *, resolve: Callable[[str], Path], lang: str = "vie"):
        self.store = store
        self.data_dir = Path(data_dir)
        self.resolve = resolve  # stored relative path -> file, refusing paths outside the data folder
        self.lang = lang
        self._lock = threading.Lock()
        self._running: dict[int, threading.Thread] = {}
        self._errors: dict[int, dict[str, str]] = {}

    def _cache(self, page_id: int) -> Path:
        return self.data_dir / "cache" / "ocr" / f"{page_id}.txt"

    def get(self, page_id: int) -> dict[str, Any]:
        """{"state": "done", "fields": {...}, "text": ...} | {"state": "running"} | {"state": "error", ...};
        starts the OCR when nothing is known yet."""
        cache = self._cache(page_id)
        if cache.is_file():
            text = cache.read_text(encoding="utf-8")
            return {"state": "done", "fields": parse(text), "text": text[:2000]}
        with self._lock:
            if page_id in self._errors:
                return {"state": "error", **self._errors.pop(page_id)}
            if page_id not in self._running:
                thread = threading.Thread(target=self._run, args=(page_id,), name=f"suggest-{page_id}", daemon=True)
                self._running[page_id] = thread
                thread.start()
        return {"state": "running"}

    def _run(self, page_id: int) -> None:
        from station.output.ocr import OcrError, ocr_page

        try:
            page = self.store.page(page_id)
            # the processed image: deskewed and upright, which OCR needs (a 3° skew loses most of the text)
            rel = page["derivative_path"] or page["path"]
            result = ocr_page(self.resolve(rel), dpi=float(page["dpi"] or 300), lang=self.lang)
            cache = self._cache(page_id)
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(result.text, encoding="utf-8")
            tmp.replace(cache)
        except OcrError as exc:
            self._errors[page_id] = exc.said.as_dict()
        except Exception as exc:  # noqa: BLE001 - a suggestion never breaks the form
            log.exception("OCR suggestion for page %s failed", page_id)
            self._errors[page_id] = {**say(N_("The text on this page could not be read.")).as_dict(),
                                     "message": str(exc)}
        finally:
            with self._lock:
                self._running.pop(page_id, None)
