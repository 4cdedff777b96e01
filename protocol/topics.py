"""MQTT topic tree and payloads, version 1.

Every topic lives under `<prefix>/v1/`. A station publishes under its own subtree
`<prefix>/v1/station/<station id>/<kind>`; the server publishes notifications addressed to one station
under `<prefix>/v1/server/<kind>/<station id>`. Putting the station id last on server topics lets the
broker's ACL give each station one read pattern (`server/+/<id>`) and the server one write pattern.

MQTT carries telemetry and notifications only: no data depends on it. Payloads are JSON objects; each
kind has a dataclass here that validates on construction, and a JSON Schema in protocol/schemas/mqtt/.
Within v1 a consumer ignores keys it does not know (new optional keys may appear); a key that changes
meaning or type means v2.

Pure code: no threads, no sockets.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from protocol.clock import iso_vn, parse_iso
from protocol.ids import STATION_ID_RE, is_station_id  # the one identifier rule

VERSION = "v1"
DEFAULT_PREFIX = "sohoa"

# A prefix is one or more plain segments: no wildcards, no empty segments, nothing that could escape
# the tree an ACL grants.
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


class TopicError(ValueError):
    """A topic or station id outside the sohoa tree."""


class PayloadError(ValueError):
    """A payload that does not match its schema."""


class TopicKind(StrEnum):
    # published by a station under station/<id>/<kind>
    STATE = "state"
    PROGRESS = "progress"
    EVENTS = "events"
    SYNC = "sync"
    # published by the server under server/<kind>/<station id>
    RECEIPTS = "receipts"
    WORKORDERS = "workorders"
    COMMANDS = "commands"
    REWORK = "rework"


STATION_KINDS = (TopicKind.STATE, TopicKind.PROGRESS, TopicKind.EVENTS, TopicKind.SYNC)
SERVER_KINDS = (TopicKind.RECEIPTS, TopicKind.WORKORDERS, TopicKind.COMMANDS, TopicKind.REWORK)


@dataclass(frozen=True)
class TopicRef:
    kind: TopicKind
    station_id: str

    @property
    def from_station(self) -> bool:
        return self.kind in STATION_KINDS


def check_station_id(station_id: str) -> str:
    """Return the id if it is [a-z0-9-]{1,32}; raise TopicError otherwise (no wildcards, no slashes)."""
    if not is_station_id(station_id):
        raise TopicError(f"invalid station id {station_id!r}: expected [a-z0-9-]{{1,32}}")
    return station_id


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise TopicError(f"invalid topic prefix {prefix!r}")
    return prefix


def root(prefix: str = DEFAULT_PREFIX) -> str:
    return f"{check_prefix(prefix)}/{VERSION}"


def station_topic(station_id: str, kind: TopicKind | str, prefix: str = DEFAULT_PREFIX) -> str:
    """`<prefix>/v1/station/<id>/<kind>` for state, progress, events, sync."""
    kind = TopicKind(kind)
    if kind not in STATION_KINDS:
        raise TopicError(f"{kind} is not a station topic")
    return f"{root(prefix)}/station/{check_station_id(station_id)}/{kind}"


def server_topic(kind: TopicKind | str, station_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """`<prefix>/v1/server/<kind>/<station id>` for receipts, workorders, commands, rework."""
    kind = TopicKind(kind)
    if kind not in SERVER_KINDS:
        raise TopicError(f"{kind} is not a server topic")
    return f"{root(prefix)}/server/{kind}/{check_station_id(station_id)}"


def all_stations_filter(prefix: str = DEFAULT_PREFIX) -> str:
    """Subscription filter for everything every station publishes (the monitor's)."""
    return f"{root(prefix)}/station/+/+"


def station_inbox_filter(station_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Subscription filter for what the server sends to one station."""
    return f"{root(prefix)}/server/+/{check_station_id(station_id)}"


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> TopicRef:
    """The one place that turns a topic string into (kind, station id). Raises TopicError."""
    base = root(prefix) + "/"
    if not isinstance(topic, str) or not topic.startswith(base):
        raise TopicError(f"topic outside {base}#: {topic!r}")
    parts = topic[len(base):].split("/")
    if len(parts) != 3:
        raise TopicError(f"unknown topic {topic!r}")
    side, first, second = parts
    try:
        if side == "station":
            kind, station_id = TopicKind(second), first
            allowed = STATION_KINDS
        elif side == "server":
            kind, station_id = TopicKind(first), second
            allowed = SERVER_KINDS
        else:
            raise TopicError(f"unknown topic {topic!r}")
    except ValueError as exc:
        raise TopicError(f"unknown topic {topic!r}") from exc
    if kind not in allowed:
        raise TopicError(f"unknown topic {topic!r}")
    return TopicRef(kind, check_station_id(station_id))


def topic_patterns(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Every topic of the tree with `<station_id>` as placeholder (docs and tests compare these)."""
    sid = "<station_id>"
    out = [f"{root(prefix)}/station/{sid}/{kind}" for kind in STATION_KINDS]
    out += [f"{root(prefix)}/server/{kind}/{sid}" for kind in SERVER_KINDS]
    return out


# ---------------------------------------------------------------------------------------------- payloads


def new_id() -> str:
    """A unique id for an event, receipt notification or command (de-duplication key)."""
    return uuid.uuid4().hex


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if hint is float:  # JSON has one number type: an int is a fine float
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return isinstance(value, str) and value in {m.value for m in hint}
    return isinstance(value, hint)


_HINTS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _field_hints(cls: type[Payload]) -> tuple[tuple[str, Any], ...]:
    # Resolving annotations is slow; the monitor constructs hundreds of payloads a second.
    if cls not in _HINTS:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
    return _HINTS[cls]


class Payload:
    """Base of the typed payloads: validates on construction, JSON both ways."""

    # Every payload is a dataclass carrying these two (annotations only: the subclasses declare the fields).
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    station_id: str
    at: str

    kind: ClassVar[TopicKind]
    # fields whose value must be one of a fixed set (kept as plain str in JSON)
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __post_init__(self) -> None:
        for name, hint in _field_hints(type(self)):
            value = getattr(self, name)
            if not _type_ok(value, hint):
                raise PayloadError(f"{type(self).__name__}.{name}: bad value {value!r}")
            if value is not None and name in self.choices and value not in self.choices[name]:
                raise PayloadError(f"{type(self).__name__}.{name}: {value!r} not one of {self.choices[name]}")
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise PayloadError(f"{type(self).__name__}.{name}: negative value {value!r}")
        check_station_id(self.station_id)
        try:
            parse_iso(self.at)
        except ValueError as exc:
            raise PayloadError(f"{type(self).__name__}.at: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes | bytearray) -> typing.Self:
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"{cls.__name__}: not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise PayloadError(f"{cls.__name__}: expected a JSON object")
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> typing.Self:
        names = {f.name for f in dataclasses.fields(cls)}
        # Unknown keys are ignored on purpose: v1 may grow optional keys (see module docstring).
        known = {k: v for k, v in obj.items() if k in names}
        try:
            return cls(**known)
        except TypeError as exc:  # a required key is missing
            raise PayloadError(f"{cls.__name__}: {exc}") from exc


SCANNER_STATES = ("absent", "idle", "scanning", "paused", "fault")
STATION_STATUSES = ("online", "offline")


@dataclass(frozen=True)
class StatePayload(Payload):
    """Retained. Published on every (re)connect before anything else; the last will says offline."""

    kind: ClassVar[TopicKind] = TopicKind.STATE
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"status": STATION_STATUSES, "scanner": SCANNER_STATES}

    station_id: str
    status: str
    at: str = field(default_factory=iso_vn)
    operator: str | None = None
    batch: str | None = None  # batch uid on the station, None when no batch is open
    batch_state: str | None = None  # OPEN, REVIEW, FINISHING, ... (station/store.py BatchState)
    fonds: str | None = None  # fonds code (phông)
    file_code: str | None = None  # hồ sơ code being digitised
    scanner: str = "absent"
    software: str | None = None


@dataclass(frozen=True)
class ProgressPayload(Payload):
    """Counters are cumulative for the open batch, so a lost message loses nothing but resolution."""

    kind: ClassVar[TopicKind] = TopicKind.PROGRESS

    station_id: str
    at: str = field(default_factory=iso_vn)
    batch: str | None = None
    operator: str | None = None
    fonds: str | None = None
    pages_captured: int = 0
    pages_processed: int = 0
    pages_ocred: int = 0
    pages_per_minute: float = 0.0  # as the station measures it (recent window)
    queue_processing: int = 0
    queue_ocr: int = 0
    queue_sync: int = 0


EVENT_KINDS = (
    "fault",  # scanner jam, cover open, disk full, ...
    "fault_cleared",
    "qc_flag",  # a page flagged for review (blank, skew, blur, ...)
    "batch_transition",  # OPEN -> REVIEW -> FINISHING -> SEALED -> SYNCING -> SYNCED | REJECTED
    "telemetry_gap",  # the station's buffer dropped events while the broker was unreachable
    "info",
)


@dataclass(frozen=True)
class EventPayload(Payload):
    """QoS 1, not retained. `event_id` is unique: consumers drop a repeat (QoS 1 may deliver twice)."""

    kind: ClassVar[TopicKind] = TopicKind.EVENTS
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"event": EVENT_KINDS}

    station_id: str
    event: str
    event_id: str = field(default_factory=new_id)
    at: str = field(default_factory=iso_vn)
    batch: str | None = None
    operator: str | None = None
    code: str | None = None  # machine-readable reason, e.g. JAMMED, blank_page, REVIEW
    message: str | None = None  # English (logs)
    msgid: str | None = None  # the same message by key (protocol/translations), shown in the viewer's language
    params: dict[str, Any] = field(default_factory=dict)  # the msgid's %(name)s parameters
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= len(self.event_id) <= 64:
            raise PayloadError("EventPayload.event_id: 1 to 64 characters")


@dataclass(frozen=True)
class SyncPayload(Payload):
    kind: ClassVar[TopicKind] = TopicKind.SYNC

    station_id: str
    at: str = field(default_factory=iso_vn)
    queue_packages: int = 0
    queue_bytes: int = 0
    bytes_sent: int = 0  # total since the station started
    receipts_accepted: int = 0
    receipts_rejected: int = 0
    last_receipt: str | None = None  # package id of the last verdict received
    last_error: str | None = None


@dataclass(frozen=True)
class ReceiptPayload(Payload):
    """Server -> station: a verdict on a package is available over the sync API (which stays the truth)."""

    kind: ClassVar[TopicKind] = TopicKind.RECEIPTS
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"verdict": ("accepted", "rejected")}

    station_id: str
    package_id: str
    verdict: str
    receipt_id: str = field(default_factory=new_id)
    at: str = field(default_factory=iso_vn)
    batch: str | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WorkOrderPayload(Payload):
    """Server -> station: a work order was assigned, changed or withdrawn; fetch it over the API."""

    kind: ClassVar[TopicKind] = TopicKind.WORKORDERS
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"action": ("assigned", "updated", "withdrawn")}

    station_id: str
    work_order_id: str
    action: str
    notice_id: str = field(default_factory=new_id)
    at: str = field(default_factory=iso_vn)
    fonds: str | None = None
    file_code: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class CommandPayload(Payload):
    """Server -> station: a small request (refresh work orders, re-publish state)."""

    kind: ClassVar[TopicKind] = TopicKind.COMMANDS
    choices: ClassVar[dict[str, tuple[str, ...]]] = {
        "command": ("refresh_workorders", "publish_state", "sync_now")
    }

    station_id: str
    command: str
    command_id: str = field(default_factory=new_id)
    at: str = field(default_factory=iso_vn)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReworkPayload(Payload):
    """Server -> station: an acceptance decision on a hồ sơ this station made was validated (`returned` for
    rework, `accepted`, `archived`); fetch the list over the sync API (GET /api/v1/rework)."""

    kind: ClassVar[TopicKind] = TopicKind.REWORK
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"state": ("returned", "accepted", "archived")}

    station_id: str
    objid: str
    state: str
    notice_id: str = field(default_factory=new_id)
    at: str = field(default_factory=iso_vn)
    file_code: str | None = None
    batch: str | None = None  # the station's batch uid of the version decided on


PAYLOADS: dict[TopicKind, type[Payload]] = {
    cls.kind: cls
    for cls in (
        StatePayload,
        ProgressPayload,
        EventPayload,
        SyncPayload,
        ReceiptPayload,
        WorkOrderPayload,
        CommandPayload,
        ReworkPayload,
    )
}


def decode(ref: TopicRef, data: str | bytes | bytearray) -> Payload:
    """Decode a payload received on `ref`'s topic; its station id must match the topic's."""
    payload = PAYLOADS[ref.kind].from_json(data)
    if payload.station_id != ref.station_id:
        raise PayloadError(
            f"payload station_id {payload.station_id!r} on a topic of {ref.station_id!r}"
        )
    return payload


# ------------------------------------------------------------------------------------------- JSON Schema


def _schema_for(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            inner = _schema_for(non_null[0])
        else:
            inner = {"anyOf": [_schema_for(a) for a in non_null]}
        if type(None) not in args:
            return inner
        kind = inner.get("type")
        if isinstance(kind, str):
            return {**inner, "type": [kind, "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    if origin is list:
        return {"type": "array", "items": _schema_for(typing.get_args(hint)[0])}
    if origin is dict:
        return {"type": "object"}
    plain: dict[Any, dict[str, Any]] = {str: {"type": "string"}, int: {"type": "integer", "minimum": 0},
                                        float: {"type": "number", "minimum": 0}, bool: {"type": "boolean"}}
    return plain[hint]


def json_schema(cls: type[Payload]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one payload class, derived from the dataclass itself."""
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        prop = _schema_for(hints[f.name])
        if f.name in cls.choices:
            allowed: list[Any] = list(cls.choices[f.name])
            prop["enum"] = allowed + ([None] if "null" in prop.get("type", []) else [])
        if f.name == "station_id":
            prop["pattern"] = "^" + STATION_ID_RE.pattern + "$"
        if f.name == "at":
            prop["format"] = "date-time"
        props[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://sohoa.local/schemas/mqtt/{VERSION}/{cls.kind}.schema.json",
        "title": f"sohoa MQTT {VERSION} {cls.kind} payload",
        "description": (cls.__doc__ or "").strip(),
        "type": "object",
        "required": required,
        "properties": props,
        "additionalProperties": True,
    }
