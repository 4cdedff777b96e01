"""The station's MQTT publisher: retained state, progress, events (QoS 1), sync status.

Capture must never wait on MQTT: every public method only takes a short lock and hands the message to
paho's network thread, or to a bounded in-memory buffer while the broker is unreachable. The buffer
keeps the latest progress and sync message (they are cumulative, older ones add nothing) and up to
`buffer_size` events, dropping the oldest and counting what it dropped; on reconnect the state goes
first, then progress/sync, then the buffered events in order, then a `telemetry_gap` event if any
were dropped. A lost message never loses data: packages travel over the sync API.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from protocol.clock import iso_vn
from protocol.errors import say
from protocol.i18n import N_
from protocol.topics import (
    DEFAULT_PREFIX,
    EventPayload,
    Payload,
    PayloadError,
    ProgressPayload,
    StatePayload,
    SyncPayload,
    TopicError,
    TopicKind,
    TopicRef,
    check_station_id,
    decode,
    parse_topic,
    station_inbox_filter,
    station_topic,
)
from sohoa.mqttclient import new_client

log = logging.getLogger(__name__)

CommandCallback = Callable[[TopicRef, Payload], None]

_EVENT_FIELDS = {f.name for f in fields(EventPayload)} - {"station_id", "event", "event_id", "at"}
_PROGRESS_FIELDS = {f.name for f in fields(ProgressPayload)}


class Telemetry:
    def __init__(
        self,
        station_id: str,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        prefix: str = DEFAULT_PREFIX,
        buffer_size: int = 1000,
        keepalive: int = 15,
        heartbeat: float = 60.0,
        on_command: CommandCallback | None = None,
        tls_ca: str | None = None,
    ):
        self.station_id = check_station_id(station_id)
        self.host, self.port, self.prefix = host, port, prefix
        self.keepalive = keepalive
        self.heartbeat = heartbeat
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self.on_command = on_command
        self._lock = threading.Lock()
        self._connected = False
        self._started = False
        self._state = StatePayload(station_id=station_id, status="online")
        self._events: deque[EventPayload] = deque()
        self._buffer_size = buffer_size
        self._pending: dict[TopicKind, Payload] = {}  # latest progress / sync while disconnected
        self.dropped_events = 0  # total since start, for the operator's diagnostics page
        self._gap = 0  # dropped since the last successful drain
        self.connects = 0

        self._client = new_client(f"sohoa-station-{station_id}", username=username, password=password, tls_ca=tls_ca)
        # paho's own queue holds QoS 1 messages in flight; bound it like ours.
        self._client.max_queued_messages_set(buffer_size * 2)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._set_will()

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background; returns at once even if the broker is down."""
        if self._started:
            return
        self._started = True
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive)
        self._client.loop_start()
        self._stop.clear()
        if self.heartbeat > 0:
            self._beat = threading.Thread(target=self._heartbeat, name="sohoa-telemetry-beat", daemon=True)
            self._beat.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Publish the offline state (retained), disconnect cleanly, stop the network thread."""
        if not self._started:
            return
        self._started = False
        self._stop.set()
        if self._beat is not None:
            self._beat.join(2)
            self._beat = None
        info = None
        with self._lock:
            offline = replace(self._state, status="offline", at=iso_vn())
            if self._connected:
                info = self._client.publish(self._topic(TopicKind.STATE), offline.to_json(), 1, retain=True)
        if info is not None:
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:  # connection dropped meanwhile: the will covers it
                log.warning("offline state not confirmed: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            self._connected = False

    def __enter__(self) -> Telemetry:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._events) + len(self._pending)

    @property
    def state(self) -> StatePayload:
        return self._state

    # ------------------------------------------------------------------------------------------- publish

    def set_state(self, **state_fields: Any) -> None:
        """Update operator, batch, batch_state, fonds, file_code, scanner, software; publish retained."""
        if "station_id" in state_fields or "status" in state_fields:
            raise TypeError("station_id and status are managed by Telemetry")
        with self._lock:
            self._state = replace(self._state, at=iso_vn(), **state_fields)  # validates
            if self._connected:
                self._client.publish(self._topic(TopicKind.STATE), self._state.to_json(), 1, retain=True)
        self._set_will()

    def progress(self, **counters: Any) -> None:
        """Cumulative counters of the open batch; batch/operator/fonds default to the current state."""
        for key in ("batch", "operator", "fonds"):
            if key in _PROGRESS_FIELDS:
                counters.setdefault(key, getattr(self._state, key))
        self._send_latest(ProgressPayload(station_id=self.station_id, **counters))

    def sync(self, **sync_fields: Any) -> None:
        self._send_latest(SyncPayload(station_id=self.station_id, **sync_fields))

    def event(self, kind: str, **payload: Any) -> str:
        """Publish an event (QoS 1); unknown keyword arguments go into its `data`. Returns its id."""
        known = {k: v for k, v in payload.items() if k in _EVENT_FIELDS and k != "data"}
        data = dict(payload.get("data") or {})
        data.update({k: v for k, v in payload.items() if k not in _EVENT_FIELDS})
        known.setdefault("batch", self._state.batch)
        known.setdefault("operator", self._state.operator)
        event = EventPayload(station_id=self.station_id, event=kind, data=data, **known)
        with self._lock:
            if not (self._connected and self._publish(event)):
                self._buffer_event(event)
        return event.event_id

    # -------------------------------------------------------------------------------------------- inside

    def _topic(self, kind: TopicKind) -> str:
        return station_topic(self.station_id, kind, self.prefix)

    def _heartbeat(self) -> None:
        # Re-publish the retained state now and then: an idle station publishes nothing else, and the
        # monitor needs a sign of life to spot a station lost while the broker itself was down.
        while not self._stop.wait(self.heartbeat):
            with self._lock:
                if self._connected:
                    self._state = replace(self._state, at=iso_vn())
                    self._publish(self._state)

    def _set_will(self) -> None:
        # The will is fixed when a connection opens; refreshing it keeps the next reconnect's will current.
        offline = replace(self._state, status="offline")
        self._client.will_set(self._topic(TopicKind.STATE), offline.to_json(), qos=1, retain=True)

    def _publish(self, payload: Payload) -> bool:
        """Hand one message to paho (lock held). False if paho refused it (not connected, queue full)."""
        qos = 1 if payload.kind in (TopicKind.EVENTS, TopicKind.STATE) else 0
        info = self._client.publish(
            self._topic(payload.kind), payload.to_json(), qos, retain=payload.kind is TopicKind.STATE
        )
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def _send_latest(self, payload: Payload) -> None:
        with self._lock:
            if not (self._connected and self._publish(payload)):
                self._pending[payload.kind] = payload

    def _buffer_event(self, event: EventPayload) -> None:
        if len(self._events) >= self._buffer_size:
            self._events.popleft()
            self.dropped_events += 1
            self._gap += 1
        self._events.append(event)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connection to %s:%s refused: %s", self.host, self.port, reason)
            return
        self.connects += 1
        with self._lock:
            self._connected = True
            self._state = replace(self._state, status="online", at=iso_vn())
            # State first, so a subscriber never sees progress from a station it believes offline.
            client.publish(self._topic(TopicKind.STATE), self._state.to_json(), 1, retain=True)
            if self.on_command is not None:
                client.subscribe(station_inbox_filter(self.station_id, self.prefix), qos=1)
            self._drain()
        log.info("MQTT connected to %s:%s as %s", self.host, self.port, self.station_id)

    def _drain(self) -> None:
        for kind in (TopicKind.PROGRESS, TopicKind.SYNC):
            pending = self._pending.pop(kind, None)
            if pending is not None and not self._publish(pending):
                self._pending[kind] = pending
                return
        while self._events:
            if not self._publish(self._events[0]):
                return  # still buffered; the next connect drains the rest
            self._events.popleft()
        if self._gap:
            gap = EventPayload(
                station_id=self.station_id,
                event="telemetry_gap",
                code="BUFFER_FULL",
                **say(N_("%(count)s telemetry events dropped while the broker was unreachable"),
                      count=self._gap).as_dict(),
                data={"dropped": self._gap},
            )
            if self._publish(gap):
                self._gap = 0

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        with self._lock:
            self._connected = False
        if self._started:
            log.warning("MQTT connection lost (%s); buffering until the broker is back", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            ref = parse_topic(message.topic, self.prefix)
            payload = decode(ref, message.payload)
        except (TopicError, PayloadError) as exc:
            log.warning("ignored MQTT message on %s: %s", message.topic, exc)
            return
        if ref.station_id != self.station_id or self.on_command is None:
            return
        try:
            self.on_command(ref, payload)
        except Exception:  # a broken handler must not kill paho's network thread
            log.exception("on_command handler failed for %s", message.topic)
