"""One problem `sohoa config check` reports (config_check and broker_check both make them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.errors import Message, say
from protocol.i18n import DEFAULT


@dataclass(frozen=True)
class Problem:
    key: str  # the setting, or "" for the whole file
    said: Message  # what is wrong and what to do, by key
    warning: bool = False

    @property
    def message(self) -> str:
        return self.said.message

    def text(self, lang: str = DEFAULT) -> str:
        return self.said.text(lang)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **self.said.as_dict(), "warning": self.warning}

    def line(self) -> str:
        """English: the command line speaks English (logs, technicians)."""
        level = "WARNING" if self.warning else "ERROR"
        where = f"{self.key}: " if self.key else ""
        return f"{level} {where}{self.message}"


def _err(key: str, message: str, **params: Any) -> Problem:
    return Problem(key, say(message, **params))


def _warn(key: str, message: str, **params: Any) -> Problem:
    return Problem(key, say(message, **params), warning=True)
