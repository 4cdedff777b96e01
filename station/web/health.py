"""What the status bar shows: disk space, archive server, MQTT broker, scanner; and page thumbnails.

Each problem comes with a Vietnamese message that says what to do. The server check reads what the sync
worker last saw (no extra request per page load), plus a short cached probe when nothing is queued.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

from protocol.errors import say
from protocol.i18n import N_

DISK_LOW_BYTES = 2 * 1024**3  # below this, warn: a 300 dpi colour hồ sơ of 100 sheets is ~1-2 GB of PNG
DISK_CRITICAL_BYTES = 512 * 1024**2
_probe: dict[str, Any] = {"at": 0.0, "ok": None}
_probe_lock = threading.Lock()
PROBE_EVERY_S = 20.0


def check(station: Any) -> dict[str, Any]:
    """{"ok": bool, "problems": [{"code", "level", "message", "msgid", "params"}], "disk_free": bytes}; each
    problem's "text" is added in the request's language when it is answered (sohoa.weberrors)."""
    problems = []
    free = shutil.disk_usage(station.config.data_dir).free
    if free < DISK_LOW_BYTES:
        critical = free < DISK_CRITICAL_BYTES
        problems.append({
            "code": "disk_low", "level": "error" if critical else "warning",
            **say(N_("The station disk is nearly full (%(free).1f GB free). Finish and sync the scanned hồ sơ, then "
                     "ask the administrator to clean up before scanning more."), free=free / 1024**3).as_dict()})
    if station.config.server_url and not _server_ok(station):
        problems.append({
            "code": "server_unreachable", "level": "warning",
            **say(N_("The archive server cannot be reached. Scan and finish as usual: the hồ sơ are kept safe on "
                     "the station and sent when the connection is back. If it lasts, check the network cable."))
            .as_dict()})
    telemetry = getattr(station, "telemetry", None)
    if station.config.broker_host and telemetry is not None and not telemetry.connected:
        problems.append({
            "code": "broker_down", "level": "warning",
            **say(N_("The connection to the monitoring server (MQTT) is lost. Work is not affected; the status is "
                     "sent again when the connection is back.")).as_dict()})
    return {"ok": not problems, "problems": problems, "disk_free": free}


def _server_ok(station: Any) -> bool:
    failing = station.store.query(
        "SELECT last_error FROM outbox WHERE state IN ('queued', 'sending') AND last_error IS NOT NULL")
    if failing and any("unreachable" in (r["last_error"] or "") for r in failing):
        return False
    client = getattr(station, "sync_client", None)
    if client is None:
        return True
    with _probe_lock:
        if time.monotonic() - _probe["at"] < PROBE_EVERY_S and _probe["ok"] is not None:
            return bool(_probe["ok"])
        _probe["at"] = time.monotonic()
    import requests

    try:
        ok = requests.get(client.base_url + "/api/v1/health", timeout=2).status_code < 500
    except requests.RequestException:
        ok = False
    _probe["ok"] = ok
    return ok


def thumbnail(data_dir: Path, image: Path, rel: str, *, width: int = 240) -> Path:
    """A small JPEG beside the data (cache/thumbs/...), made once per image."""
    from PIL import Image

    out = data_dir / "cache" / "thumbs" / (rel.replace("/", "_") + f".{width}.jpg")
    if out.exists() and out.stat().st_mtime >= image.stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(image) as opened:
        opened.draft("RGB", (width, width * 2))
        img = opened.convert("RGB")
        img.thumbnail((width, width * 2))
        tmp = out.with_suffix(".tmp")
        img.save(tmp, "JPEG", quality=80)
    tmp.replace(out)
    return out
