"""Times as the rules want them: ISO 8601 with milliseconds and +07:00, never Z."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

VN_TZ = timezone(timedelta(hours=7), "ICT")


def now_vn() -> datetime:
    """The current instant in Vietnam time, whatever the machine's zone."""
    return datetime.now(VN_TZ)


def iso_vn(moment: datetime | None = None, *, millis: bool = True) -> str:
    """`2026-06-12T11:45:37.707+07:00` (or without milliseconds)."""
    moment = (moment or now_vn()).astimezone(VN_TZ)
    spec = "milliseconds" if millis else "seconds"
    return moment.isoformat(timespec=spec)


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 time that carries an offset; naive times are refused."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {text!r}")
    return moment
