"""What every capture source (a SANE scanner, a folder of images) promises, and the registry of sources.

A source pushes each page to `on_page` as soon as it has it and returns a `ScanOutcome` when the run
ends. Faults end a run but never the station: the pages handed over before the fault stay handed over.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from protocol.errors import UserError, say
from protocol.i18n import DEFAULT, N_

Source = Literal["flatbed", "adf", "adf_duplex"]
Side = Literal["single", "front", "back"]
SOURCES = ("flatbed", "adf", "adf_duplex")

#: Circular 05/2025/TT-BNV Art. 8: paper is captured in colour, >= 24 bit, >= 200 dpi.
MIN_DPI = 200
#: Maps and technical drawings need more.
MIN_DPI_DRAWINGS = 300

#: Page sizes in millimetres (width, height); scanning is always at 100 % scale.
PAGE_SIZES_MM: dict[str, tuple[float, float]] = {
    "A5": (148.0, 210.0),
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
    "Letter": (215.9, 279.4),
    "Legal": (215.9, 355.6),
}


@dataclass(frozen=True)
class ScanRequest:
    source: Source = "flatbed"
    mode: str = "color"
    dpi: int = 300
    page_size: str = "A4"

    def check(self) -> None:
        """Refuse requests that break the archival minimums, before any device is touched."""
        if self.source not in SOURCES:
            raise CaptureRefused("bad_request",
                                 N_("unknown source '%(source)s' (use one of %(sources)s)"),
                                 source=self.source, sources=', '.join(SOURCES))
        if self.mode != "color":
            raise CaptureRefused(
                "not_colour", N_("mode '%(mode)s' refused: the rules require colour, 24-bit"), mode=self.mode)
        check_dpi(self.dpi)
        if self.page_size not in PAGE_SIZES_MM:
            raise CaptureRefused("bad_request", N_("unknown page size '%(page_size)s'"), page_size=self.page_size)


def check_dpi(dpi: float, *, what: str = "resolution") -> None:
    if dpi < MIN_DPI:
        raise CaptureRefused(
            "dpi_too_low",
            N_("%(what)s %(dpi)s dpi refused: the rules require at least %(min_dpi)s dpi (%(min_dpi_drawings)s dpi "
               "for maps and technical drawings). Choose a higher resolution."),
            what=what, dpi=f"{dpi:g}", min_dpi=MIN_DPI, min_dpi_drawings=MIN_DPI_DRAWINGS)


@dataclass
class CapturedImage:
    image: np.ndarray  # uint8, H x W x 3, RGB
    dpi: float
    side: Side
    sheet: int  # 1-based within this run
    device: str
    settings: dict[str, Any] = field(default_factory=dict)  # what the device actually took, read back
    source: str = ""  # 'flatbed' | 'adf' | 'adf_duplex' | 'import'


class CaptureRefused(UserError, ValueError):
    """A request, profile or file that the rules or the device do not allow; nothing was captured."""

    def __init__(self, code: str, message: str | None = None, **params: Any):
        super().__init__(message, key=code, **params)
        self.code = code


#: fault code -> what happened and what to do (English msgid; the catalogue has the Vietnamese).
FAULTS: dict[str, str] = {
    "jammed": N_("Paper jam in the document feeder. Open the cover, take out the jammed sheet, put it back on the "
        "tray and press Continue scanning."),
    "double_feed_or_jam": N_("The feeder stopped: a paper jam, or two sheets fed together (the scanner's "
        "double-feed detection "
        "is on). Take the sheets not yet scanned off the tray, check the page just scanned, separate "
        "sheets stuck together, put them back on the tray and press Continue scanning."),
    "no_paper": N_("No paper in the scanner. Put the documents on the tray and press Continue scanning."),
    "cover_open": N_("The scanner cover is open. Close it and press Continue scanning."),
    "device_busy": N_("The scanner is busy (another program may be using it). Wait a moment and press Continue "
        "scanning."),
    "io_error": N_("Communication with the scanner failed. Check the cable and the power, then press Continue "
        "scanning."),
    "unplugged": N_("The scanner is not connected (unplugged or switched off). Plug the cable back in, switch the "
        "scanner on and press Continue scanning."),
    "cancelled": N_("The scan was cancelled. Press Continue scanning to scan more into this hồ sơ."),
    # The station's watchdog, not the scanner, reports these two (station/capture/sane_source.py).
    "hung": N_("The scanner stopped responding, so the station stopped its driver. Check the scanner (paper jam, "
        "cover, cable, power), switch it off and on if needed, then press Continue scanning."),
    "crashed": N_("The scanner driver stopped unexpectedly. Check the cable and the power, then press Continue "
        "scanning; if it happens again, tell the technician."),
}


class ScanFault(Exception):
    """A scanner fault that ended a run. `code` is stable; the messages tell the operator what to do."""

    def __init__(self, code: str, detail: str = "", *, device: str = ""):
        if code not in FAULTS:
            raise ValueError(f"unknown fault code {code!r}")
        self.code = code
        self.device = device
        self.detail = detail
        self.said = say(N_("%(fault)s The pages scanned before are kept."), fault=say(FAULTS[code]))
        self.message = self.said.message + (f" ({detail})" if detail else "")  # English, for logs
        super().__init__(self.message)

    def text(self, lang: str = DEFAULT) -> str:
        return self.said.text(lang)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, **self.said.as_dict(), "message": self.message, "device": self.device}


@dataclass
class ScanOutcome:
    pages: int
    ended: Literal["empty", "stopped", "fault", "done"]
    fault: ScanFault | None = None


@runtime_checkable
class CaptureSource(Protocol):
    id: str

    def scan(self, request: ScanRequest, *, on_page: Callable[[CapturedImage], None],
             stop: threading.Event) -> ScanOutcome: ...


#: kind -> "module:factory"; imported on first use so that importing this module never loads SANE.
_KINDS: dict[str, str] = {
    "sane": "station.capture.sane_source:SaneSource",
    "import": "station.capture.import_source:ImportSource",
}


def open_source(kind: str, **options: Any) -> CaptureSource:
    """A source by kind: 'sane' (device='test:0', profile=None) or 'import' (folder=..., dpi=None)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown capture source kind {kind!r} (known: {', '.join(sorted(_KINDS))})")
    module_name, _, attr = _KINDS[kind].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**options)

