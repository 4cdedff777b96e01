"""Reading the work order from a hồ sơ's cover sheet: one look at the sheet on the scanner glass (or the
first image of an import folder), its QR decoded, the hồ sơ code matched against the server's work orders.

Nothing is stored: the cover sheet only picks the work order (the processing engineer's payload format,
``SOHOA-COVER:v1:<fileCode>``, see processing/separators.py). The image never enters a batch.
"""

from __future__ import annotations

import threading
from typing import Any

from protocol.i18n import N_
from station.capture.source import CaptureRefused, ScanRequest, open_source


class CoverError(CaptureRefused):
    """No readable cover sheet, or no work order for it; the message says what to do."""


def read_cover(kind: str, options: dict[str, Any]) -> str:
    """The hồ sơ code on the cover sheet in the source; CoverError when there is none."""
    from station.processing import separators, steps

    source = open_source(kind, **options)
    stop = threading.Event()
    images: list[Any] = []

    def on_page(captured: Any) -> None:
        images.append(captured)
        stop.set()  # one sheet is enough

    outcome = source.scan(ScanRequest(source="flatbed", dpi=300), on_page=on_page, stop=stop)
    if not images:
        fault = getattr(outcome, "fault", None)
        if fault is not None and hasattr(fault, "said"):
            raise CoverError("no_cover", fault.said.msgid, **fault.said.params)
        raise CoverError("no_cover", N_("The cover sheet was not scanned. Put it on the glass and try again."))
    captured = images[0]
    sheet = separators.parse_any(steps.find_qr(captured.image, dpi=captured.dpi))
    if sheet is None or sheet.kind != "cover" or not sheet.file_code:
        raise CoverError("no_cover", N_("The cover sheet's QR code cannot be read. Put the cover sheet straight, "
                                        "face down, and try again."))
    return sheet.file_code


def match_workorder(file_code: str, workorders: list[dict[str, Any]]) -> dict[str, Any]:
    for wo in workorders:
        if wo.get("file_code") == file_code:
            return wo
    raise CoverError("no_workorder", N_("There is no work order for hồ sơ %(file_code)s on this station. Check the "
                                        "cover sheet or ask the supervisor."), file_code=file_code)
