"""What the dashboard shows, and the server-sent events stream that keeps it live.

Two kinds of data: station tiles and telemetry events change many times a second and come straight from
the monitor's change callbacks (pushed within ~50 ms, coalesced per station so a busy floor cannot flood a
browser); the summary (throughput, progress, work orders, rejections) needs database queries, so it is
computed at most once every SUMMARY_EVERY seconds for all viewers together and pushed when it changed.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from protocol.clock import now_vn
from protocol.errors import with_texts
from server.web import supervisor
from server.workorders.orders import ProgressTracker, overview

SUMMARY_EVERY = 3.0  # seconds
COALESCE = 0.05  # seconds: gather changes this long after the first before pushing
KEEPALIVE = 5.0  # also how soon a closed viewer is noticed and its stream slot freed
STREAM_MAX_S = 300.0  # then the stream ends and the browser reconnects: a thread is never pinned for long
QUEUE_MAX = 20_000  # per viewer; beyond this it is sent a fresh snapshot instead
EVENTS_PER_PUSH = 30
_TRACKERS: dict[int, ProgressTracker] = {}
_summary_lock = threading.Lock()
_summary_cache: dict[int, tuple[float, dict[str, Any]]] = {}


def ensure_tracker(ctx: Any) -> None:
    """Follow work-order progress from the monitor's tiles (once per context, as soon as a monitor exists)."""
    if ctx.monitor is None or id(ctx) in _TRACKERS:
        return
    tracker = _TRACKERS[id(ctx)] = ProgressTracker(ctx.db)
    ctx.monitor.subscribe_changes(tracker.on_change)


def stations(ctx: Any) -> dict[str, Any]:
    """Tiles from the monitor, plus registered stations that never reported (shown as unknown)."""
    snap: dict[str, Any] = ctx.monitor.snapshot() if ctx.monitor else {"stations": {}, "broker_connected": False}
    tiles = dict(snap["stations"])
    for row in ctx.db.stations():
        if not row["revoked"] and row["id"] not in tiles:
            tiles[row["id"]] = {"station_id": row["id"], "status": "unknown", "pages_captured": 0}
    return {"stations": dict(sorted(tiles.items())), "broker_connected": snap["broker_connected"],
            "monitor": ctx.monitor is not None}


def throughput(ctx: Any) -> dict[str, Any]:
    """Pages per hour today and per day over the last 7 days, per station and per operator."""
    if ctx.monitor is None:
        return {"today": {"station": [], "operator": []}, "week": {"station": [], "operator": []}}
    now = now_vn()
    today = now.strftime("%Y-%m-%d")
    week = (now - timedelta(days=6)).strftime("%Y-%m-%d")
    return {
        "today": {by: ctx.monitor.throughput(by=by, bucket="hour", since=today) for by in ("station", "operator")},
        "week": {by: ctx.monitor.throughput(by=by, bucket="day", since=week) for by in ("station", "operator")},
        "today_date": today,
    }


def rejections(ctx: Any, limit: int = 20) -> list[dict[str, Any]]:
    rows = ctx.db.query("SELECT id, station_id, file_code, updated_at, receipt FROM uploads WHERE state = 'rejected'"
                        " ORDER BY updated_at DESC LIMIT ?", (limit,))
    for row in rows:
        receipt = json.loads(row.pop("receipt") or "null") or {}
        row["reasons"] = receipt.get("reasons", [])
        row["reasons_vi"] = supervisor.reasons_vi(row["reasons"])
    return rows


def summary(ctx: Any, *, max_age: float = 0.0) -> dict[str, Any]:
    """Throughput, progress per fonds and work order, recent rejections and events (cached `max_age` s)."""
    key = id(ctx)
    with _summary_lock:
        cached = _summary_cache.get(key)
        if cached and time.monotonic() - cached[0] < max_age:
            return cached[1]
        tracker = _TRACKERS.get(id(ctx))
        if tracker is not None:
            tracker.flush()
        work = overview(ctx.db, ctx.catalog)
        data = {
            "throughput": throughput(ctx),
            "fonds": work["fonds"],
            "workorders": work["orders"][:200],
            "rejections": rejections(ctx),
            "events": _events(ctx),
            "pace": supervisor.pace(ctx, work),
            "defects": supervisor.defect_rates(ctx),
        }
        _summary_cache[key] = (time.monotonic(), data)
        return data


def _events(ctx: Any) -> list[dict[str, Any]]:
    if ctx.monitor is None:
        return []
    keep = ("event_id", "station_id", "event", "code", "at", "message", "operator")
    out = []
    for e in ctx.monitor.recent_events(limit=20):
        sent = json.loads(e["payload"]) if e.get("payload") else {}  # the whole event, its message by key
        out.append({**{k: e.get(k) for k in keep}, "msgid": sent.get("msgid"), "params": sent.get("params") or {}})
    return out


def dashboard_data(ctx: Any) -> dict[str, Any]:
    ensure_tracker(ctx)
    return with_texts({**stations(ctx), **summary(ctx)}, None)


def _sse(kind: str, data: dict[str, Any]) -> str:
    data = with_texts(data, None)  # a fault's or event's words in every language: the page picks its own
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def stream(ctx: Any) -> Iterator[str]:
    """The /events body: a snapshot, then `delta` (tiles, events) and `summary` messages until the viewer goes."""
    ensure_tracker(ctx)
    changes: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=QUEUE_MAX)
    overflow = threading.Event()

    def on_change(change: dict[str, Any]) -> None:
        try:
            changes.put_nowait(change)
        except queue.Full:
            overflow.set()

    unsubscribe = ctx.monitor.subscribe_changes(on_change) if ctx.monitor else (lambda: None)
    try:
        yield "retry: 2000\n\n"
        yield _sse("snapshot", dashboard_data(ctx))
        last_sent = time.monotonic()
        last_summary = last_sent
        summary_seen = json.dumps(summary(ctx), sort_keys=True, default=str)
        ends = time.monotonic() + STREAM_MAX_S
        while time.monotonic() < ends:
            try:
                first = changes.get(timeout=1.0)
            except queue.Empty:
                first = None
            if overflow.is_set():  # the viewer fell behind: start it again from a snapshot
                overflow.clear()
                _drain(changes)
                yield _sse("snapshot", dashboard_data(ctx))
                last_sent = time.monotonic()
                continue
            if first is not None:
                yield _sse("delta", _coalesce(first, changes))
                last_sent = time.monotonic()
            if time.monotonic() - last_summary >= SUMMARY_EVERY:
                last_summary = time.monotonic()
                data = summary(ctx, max_age=SUMMARY_EVERY)
                seen = json.dumps(data, sort_keys=True, default=str)
                if seen != summary_seen:
                    summary_seen = seen
                    yield _sse("summary", data)
                    last_sent = time.monotonic()
            if time.monotonic() - last_sent > KEEPALIVE:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
    finally:
        unsubscribe()


def _drain(changes: queue.Queue) -> None:
    while True:
        try:
            changes.get_nowait()
        except queue.Empty:
            return


def _coalesce(first: dict[str, Any], changes: queue.Queue) -> dict[str, Any]:
    """Latest tile per station and the new events, from everything queued within COALESCE seconds."""
    tiles: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + COALESCE
    item: dict[str, Any] | None = first
    while item is not None:
        if item.get("type") == "station":
            tiles[item["station"]["station_id"]] = item["station"]
        elif item.get("type") == "event":
            events.append(item["event"])
        try:
            item = changes.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            item = None
    dropped = max(0, len(events) - EVENTS_PER_PUSH)
    return {"stations": tiles, "events": events[-EVENTS_PER_PUSH:], "events_dropped": dropped,
            "sent_at": time.time()}
