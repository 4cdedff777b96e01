"""The server's MQTT subscriber: live per-station state, throughput time series, stalled/offline stations.

paho's network thread only parses nothing and queues; one worker thread decodes messages, updates the
in-memory picture, writes SQLite (one transaction per burst of messages) and notifies subscribers, so a
slow dashboard or disk never backs up the broker connection.

Throughput comes from the stations' cumulative `pages_captured` per batch: the monitor keeps the last
value per (station, batch) in the database, adds the difference to a per-minute bucket keyed by station,
operator and fonds (minute of the station's timestamp, Vietnam time), and so counts each page once even
across its own restarts, lost messages and duplicates.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import sqlite_utils

from protocol.clock import VN_TZ, iso_vn, parse_iso
from protocol.topics import (
    DEFAULT_PREFIX,
    EventPayload,
    Payload,
    PayloadError,
    ProgressPayload,
    StatePayload,
    SyncPayload,
    TopicError,
    all_stations_filter,
    decode,
    parse_topic,
    server_topic,
)
from sohoa.mqttclient import new_client

log = logging.getLogger(__name__)

ChangeCallback = Callable[[dict[str, Any]], None]
RATE_WINDOW = 60.0  # seconds of station time behind pages_per_minute
_BUCKETS = {"minute": 16, "hour": 13, "day": 10}  # prefix length of "YYYY-MM-DDTHH:MM"
_STATE_KEYS = ("operator", "batch", "batch_state", "fonds", "file_code", "scanner", "software")
_GROUPS = {"station": "station_id", "operator": "operator", "fonds": "fonds", "total": None}


@dataclass
class StationView:
    """One station as the dashboard tile shows it."""

    station_id: str
    status: str = "unknown"  # online | offline | unknown (nothing retained yet)
    operator: str | None = None
    batch: str | None = None
    batch_state: str | None = None
    fonds: str | None = None
    file_code: str | None = None
    scanner: str | None = None
    software: str | None = None
    last_seen: str | None = None  # server time of the last message
    status_since: str | None = None
    pages_captured: int = 0
    pages_processed: int = 0
    pages_ocred: int = 0
    pages_per_minute: float = 0.0  # computed by the monitor from counters
    reported_pages_per_minute: float = 0.0  # as the station says
    queue_processing: int = 0
    queue_ocr: int = 0
    queue_sync: int = 0
    sync: dict[str, Any] | None = None
    last_fault: dict[str, Any] | None = None
    stalled: bool = False
    silent: bool = False  # marked offline by the monitor: no message for `silent_after` seconds
    # internal, monotonic seconds; not part of the snapshot
    _last_advance: float = field(default=0.0, repr=False)
    _last_message: float = field(default=0.0, repr=False)
    _rate: deque[tuple[float, int]] = field(default_factory=deque, repr=False)

    def public(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies the rate window on every change (hot path).
        out = {name: getattr(self, name) for name in _PUBLIC_FIELDS}
        for key in ("sync", "last_fault"):
            if out[key] is not None:
                out[key] = dict(out[key])
        return out


_PUBLIC_FIELDS = tuple(f.name for f in fields(StationView) if not f.name.startswith("_"))


class Monitor:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        db_path: Path,
        prefix: str = DEFAULT_PREFIX,
        stall_after: float = 120.0,
        silent_after: float = 200.0,
        tick: float = 0.5,
        tls_ca: str | None = None,
    ):
        self.host, self.port, self.prefix = host, port, prefix
        self.stall_after = stall_after
        self.silent_after = silent_after  # > 3 station heartbeats (60 s by default)
        self.tick = tick
        self.db_path = Path(db_path)
        self._lock = threading.RLock()  # guards _stations and the database connection
        self._stations: dict[str, StationView] = {}
        self._subscribers: list[ChangeCallback] = []
        self._inbox: queue.Queue[tuple[str, bytes, float] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._closed = False
        self._broker_connected = False
        self.messages = 0
        self.rejected = 0  # undecodable or off-tree messages
        self.duplicates = 0
        conn = sqlite3.connect(str(self.db_path), check_same_thread=False, isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        self._init_db()
        self._client = new_client(f"sohoa-monitor-{uuid.uuid4().hex[:8]}", username=username, password=password,
                                  tls_ca=tls_ca)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # ------------------------------------------------------------------------------------------ database

    def _init_db(self) -> None:
        db = self.db
        db.execute("PRAGMA busy_timeout = 5000")
        db.enable_wal()  # the catalog and the dashboard read while we write
        db.execute("PRAGMA synchronous = NORMAL")
        db.table("throughput").create(
            {"minute": str, "station_id": str, "operator": str, "fonds": str, "pages": int},
            pk=("minute", "station_id", "operator", "fonds"),
            if_not_exists=True,
        )
        db.table("telemetry_events").create(
            {
                "event_id": str, "station_id": str, "event": str, "code": str, "at": str,
                "received_at": str, "batch": str, "operator": str, "message": str,
                "payload": str,
            },
            pk="event_id",
            if_not_exists=True,
        )
        db.table("progress_marks").create(
            {"station_id": str, "batch": str, "pages_captured": int}, pk=("station_id", "batch"),
            if_not_exists=True,
        )
        db.table("station_status").create(
            {"station_id": str, "status": str, "last_seen": str, "payload": str}, pk="station_id",
            if_not_exists=True,
        )
        db.table("telemetry_events").create_index(["station_id", "at"], if_not_exists=True)

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._worker is not None:
            return
        if self._closed:
            raise RuntimeError("a stopped monitor has closed its database; make a new Monitor")
        self._worker = threading.Thread(target=self._work, name="sohoa-monitor", daemon=True)
        self._worker.start()
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        """Stop, and let go of the broker connection and the database: a stopped monitor is closed.

        Its descriptors are closed here, not when the object is collected: a server holds its context (and so
        its monitor) for as long as it lives.
        """
        if self._worker is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client.reinitialise()  # closes paho's wake-up socket pair, which it keeps until collected
            self._inbox.put(None)
            self._worker.join(10)
            if self._worker.is_alive():
                log.warning("monitor worker still busy 10 s after stop; closing its database under it")
            self._worker = None
            self._broker_connected = False
        with self._lock:
            if not self._closed:
                self.db.conn.close()
                self._closed = True

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------- reading

    def snapshot(self) -> dict[str, Any]:
        """Every known station's current state, for the dashboard (JSON-ready)."""
        with self._lock:
            stations = {sid: view.public() for sid, view in sorted(self._stations.items())}
        return {"at": iso_vn(), "broker_connected": self._broker_connected, "stations": stations}

    def station(self, station_id: str) -> dict[str, Any] | None:
        with self._lock:
            view = self._stations.get(station_id)
            return view.public() if view else None

    def subscribe_changes(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call `callback(change)` on every change, from the monitor's thread; returns an unsubscribe.

        A change is {"type": "station", "station": <tile dict>} or {"type": "event", "event": <event>}.
        Keep callbacks quick (put on a queue): they run one after another.
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def throughput(
        self, *, by: str = "station", bucket: str = "minute", since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        """Pages captured per bucket (minute, hour, day) and per station / operator / fonds / total.

        `since` and `until` are bucket strings or ISO times in Vietnam time, compared as text.
        """
        if bucket not in _BUCKETS or by not in _GROUPS:
            raise ValueError(f"bucket must be one of {list(_BUCKETS)}, by one of {list(_GROUPS)}")
        column = _GROUPS[by]
        size = _BUCKETS[bucket]
        key = f", {column} AS {by}" if column else ""
        group = f", {column}" if column else ""
        where, params = [], []
        if since:
            where.append("minute >= ?")
            params.append(since[:16])
        if until:
            where.append("minute < ?")
            params.append(until[:16])
        sql = (
            f"SELECT substr(minute, 1, {size}) AS {bucket}{key}, SUM(pages) AS pages FROM throughput"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" GROUP BY substr(minute, 1, {size}){group} ORDER BY 1{group}"
        )
        with self._lock:
            return [dict(row) for row in self.db.query(sql, params)]

    def recent_events(self, *, limit: int = 50, station_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM telemetry_events"
        params: list[Any] = []
        if station_id:
            sql += " WHERE station_id = ?"
            params.append(station_id)
        sql += " ORDER BY at DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            return [dict(row) for row in self.db.query(sql, params)]

    def wait_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll snapshot() until `predicate(snapshot)` holds; raise TimeoutError with the last one."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            if time.monotonic() > deadline:
                raise TimeoutError(f"monitor condition not met in {timeout} s; last snapshot: {snap}")
            time.sleep(0.05)

    # ------------------------------------------------------------------------------------------ writing

    def publish(self, payload: Payload) -> mqtt.MQTTMessageInfo:
        """Send a server notification (ReceiptPayload, WorkOrderPayload, CommandPayload) to its station."""
        topic = server_topic(payload.kind, payload.station_id, self.prefix)
        return self._client.publish(topic, payload.to_json(), qos=1)

    # ------------------------------------------------------------------------------------------- inside

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("monitor: broker refused the connection: %s", reason)
            return
        self._broker_connected = True
        client.subscribe(all_stations_filter(self.prefix), qos=1)
        log.info("monitor subscribed on %s:%s", self.host, self.port)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._broker_connected = False

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put((message.topic, bytes(message.payload), time.monotonic()))

    def _work(self) -> None:
        next_check = time.monotonic() + self.tick
        while True:
            item: tuple[str, bytes, float] | tuple[()] | None
            try:
                item = self._inbox.get(timeout=max(0.0, next_check - time.monotonic()))
            except queue.Empty:
                item = ()
            if item is None:
                return
            batch = [item] if item else []
            while len(batch) < 500:  # one transaction for a burst
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._inbox.put(None)
                    break
                batch.append(more)
            changes: list[dict[str, Any]] = []
            if batch:
                touched: dict[str, StationView] = {}
                with self._lock:
                    with self.db.conn:
                        self.db.execute("BEGIN")
                        for topic, data, received in batch:
                            try:
                                self._handle(topic, data, received, changes, touched)
                            except Exception:  # keep the monitor alive whatever one message holds
                                self.rejected += 1
                                log.exception("monitor failed on a message on %s", topic)
                    # One tile update per station per burst, after its events.
                    changes.extend({"type": "station", "station": v.public()} for v in touched.values())
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.tick
                self._check_stalled(changes)
            self._notify(changes)

    def _handle(
        self, topic: str, data: bytes, received: float, changes: list[dict[str, Any]],
        touched: dict[str, StationView],
    ) -> None:
        self.messages += 1
        try:
            ref = parse_topic(topic, self.prefix)
            payload = decode(ref, data)
        except (TopicError, PayloadError) as exc:
            self.rejected += 1
            log.warning("monitor ignored a message on %s: %s", topic, exc)
            return
        view = self._stations.get(ref.station_id)
        if view is None:
            view = self._stations[ref.station_id] = StationView(ref.station_id, _last_advance=received)
        view.last_seen = iso_vn()
        view._last_message = received
        if view.silent:
            view.silent = False
            if not (isinstance(payload, StatePayload) and payload.status == "offline"):
                view.status, view.status_since = "online", iso_vn()  # it was alive after all
        if isinstance(payload, StatePayload):
            self._on_state(view, payload, received)
        elif isinstance(payload, ProgressPayload):
            self._on_progress(view, payload, received)
        elif isinstance(payload, EventPayload):
            if not self._on_event(view, payload, changes):
                return
            if payload.event not in ("fault", "fault_cleared"):
                return  # the tile did not change (last_seen alone is not worth a push)
        elif isinstance(payload, SyncPayload):
            view.sync = payload.to_dict()
        touched[view.station_id] = view

    def _on_state(self, view: StationView, state: StatePayload, received: float) -> None:
        if state.status != view.status:
            # a will's `at` is when its connection opened, not when the station went away
            view.status_since = state.at if state.status == "online" else iso_vn()
            view._last_advance = received  # a station coming online is not stalled yet
        if state.batch != view.batch:
            view._last_advance = received
        if state.status == "online" or view.status == "unknown":
            # An offline state may be a last will, fixed when that connection opened: its details can
            # be older than what this monitor already knows, so then only the status is taken from it.
            for key in _STATE_KEYS:
                setattr(view, key, getattr(state, key))
        view.status = state.status
        if state.status == "offline":
            view.stalled = False
        # Plain SQL: sqlite-utils' upsert would commit the burst's transaction half-way.
        self.db.execute(
            "INSERT OR REPLACE INTO station_status (station_id, status, last_seen, payload) "
            "VALUES (?, ?, ?, ?)",
            [view.station_id, state.status, view.last_seen, state.to_json()],
        )

    def _on_progress(self, view: StationView, progress: ProgressPayload, received: float) -> None:
        for key in ("pages_captured", "pages_processed", "pages_ocred", "queue_processing", "queue_ocr",
                    "queue_sync"):
            setattr(view, key, getattr(progress, key))
        view.reported_pages_per_minute = progress.pages_per_minute
        delta = self._advance(view.station_id, progress.batch or "", progress.pages_captured)
        moment = parse_iso(progress.at).astimezone(VN_TZ)
        if delta > 0:
            view._last_advance = received
            view.stalled = False
            self.db.execute(
                "INSERT INTO throughput (minute, station_id, operator, fonds, pages) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (minute, station_id, operator, fonds) "
                "DO UPDATE SET pages = pages + excluded.pages",
                [moment.strftime("%Y-%m-%dT%H:%M"), view.station_id, progress.operator or "",
                 progress.fonds or "", delta],
            )
            view._rate.append((moment.timestamp(), delta))
        # The rate window follows the station's clock, so buffered old progress does not inflate it.
        horizon = max(moment.timestamp(), time.time()) - RATE_WINDOW
        while view._rate and view._rate[0][0] < horizon:
            view._rate.popleft()
        view.pages_per_minute = float(sum(d for _, d in view._rate)) * 60.0 / RATE_WINDOW

    def _advance(self, station_id: str, batch: str, captured: int) -> int:
        """Pages new since the last progress of this batch (0 for a repeat or a counter that went back)."""
        row = self.db.execute(
            "SELECT pages_captured FROM progress_marks WHERE station_id = ? AND batch = ?",
            [station_id, batch],
        ).fetchone()
        before = row[0] if row else 0
        if captured <= before:
            return 0
        self.db.execute(
            "INSERT INTO progress_marks (station_id, batch, pages_captured) VALUES (?, ?, ?) "
            "ON CONFLICT (station_id, batch) DO UPDATE SET pages_captured = excluded.pages_captured",
            [station_id, batch, captured],
        )
        return captured - before

    def _on_event(self, view: StationView, event: EventPayload, changes: list[dict[str, Any]]) -> bool:
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO telemetry_events (event_id, station_id, event, code, at, received_at, "
            "batch, operator, message, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [event.event_id, event.station_id, event.event, event.code, event.at, iso_vn(), event.batch,
             event.operator, event.message, event.to_json()],
        )
        if cursor.rowcount == 0:  # QoS 1 redelivery or a replayed buffer: seen already
            self.duplicates += 1
            return False
        if event.event == "fault":
            view.last_fault = event.to_dict()
        elif event.event == "fault_cleared" and view.last_fault is not None:
            view.last_fault = {**view.last_fault, "cleared_at": event.at}
        changes.append({"type": "event", "event": event.to_dict()})
        return True

    def _check_stalled(self, changes: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._lock:
            for view in self._stations.values():
                if view.status == "online" and now - view._last_message > self.silent_after:
                    # Online but mute: its will never came (e.g. it died while the broker was down).
                    view.status, view.silent, view.status_since = "offline", True, iso_vn()
                    view.stalled = False
                    changes.append({"type": "station", "station": view.public()})
                    continue
                open_batch = view.batch is not None and view.batch_state in (None, "OPEN")
                stalled = (
                    view.status == "online" and open_batch and now - view._last_advance > self.stall_after
                )
                if stalled != view.stalled:
                    view.stalled = stalled
                    changes.append({"type": "station", "station": view.public()})

    def _notify(self, changes: list[dict[str, Any]]) -> None:
        if not changes:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for change in changes:
            for callback in subscribers:
                try:
                    callback(change)
                except Exception:  # one broken dashboard connection must not stop the others
                    log.exception("monitor change subscriber failed")
