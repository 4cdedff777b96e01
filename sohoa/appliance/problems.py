"""One problem `sohoa config check` reports (config_check and broker_check both make them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    key: str  # the setting, or "" for the whole file
    message: str
    message_vi: str
    warning: bool = False

    def line(self) -> str:
        level = "WARNING" if self.warning else "ERROR"
        where = f"{self.key}: " if self.key else ""
        return f"{level} {where}{self.message} / {self.message_vi}"


def _err(key: str, message: str, message_vi: str) -> Problem:
    return Problem(key, message, message_vi)


def _warn(key: str, message: str, message_vi: str) -> Problem:
    return Problem(key, message, message_vi, warning=True)
