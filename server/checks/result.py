"""What a check returns, and the verdict over all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocol.errors import Message
from protocol.i18n import DEFAULT


@dataclass
class CheckResult:
    name: str
    ok: bool
    reasons: list[str] = field(default_factory=list)  # English, one line each
    summary: str = ""  # msgid: what an operator sees when the check fails, in their language
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def said(self) -> Message:
        return Message(self.summary, self.params)

    def text(self, lang: str = DEFAULT) -> str:
        return self.said.text(lang)

    def to_dict(self) -> dict:
        """The summary travels by key ("msgid", "params"; "message" in English): the station and the archive's
        screens show it in their own language from the one catalogue."""
        said = self.said.as_dict() if self.summary else {"message": "", "msgid": "", "params": {}}
        return {"name": self.name, "ok": self.ok, "reasons": list(self.reasons), **said}


@dataclass
class Verdict:
    ok: bool
    checks: list[CheckResult]
    objid: str | None = None
    file_code: str | None = None
    texts: dict[str, str] | None = None  # docId -> text layer, when run_checks was asked for it (not in to_dict)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "objid": self.objid,
            "file_code": self.file_code,
            "failed": [c.name for c in self.failures],
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile zip from exhausting the server."""

    max_total: int = 16 << 30  # declared uncompressed bytes in the whole zip
    max_members: int = 20_000
    max_ratio: int = 100  # uncompressed / compressed, for members larger than ratio_floor
    ratio_floor: int = 1 << 20
    max_clock_skew: int = 24 * 3600  # seconds a signing time may run ahead of the server's clock
