"""The topic tree, its one parser, the payloads, their JSON Schemas and docs/mqtt.md agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from protocol import topics as t
from protocol.topics import (
    PAYLOADS,
    EventPayload,
    PayloadError,
    ProgressPayload,
    StatePayload,
    TopicError,
    TopicKind,
    TopicRef,
    decode,
    parse_topic,
    server_topic,
    station_topic,
)

ROOT = Path(__file__).resolve().parents[2]


def test_station_topics_round_trip():
    for kind in t.STATION_KINDS:
        topic = station_topic("st-01", kind)
        assert topic == f"sohoa/v1/station/st-01/{kind}"
        assert parse_topic(topic) == TopicRef(kind, "st-01")
        assert parse_topic(topic).from_station


def test_server_topics_round_trip():
    for kind in t.SERVER_KINDS:
        topic = server_topic(kind, "st-01")
        assert topic == f"sohoa/v1/server/{kind}/st-01"
        assert parse_topic(topic) == TopicRef(kind, "st-01")
        assert not parse_topic(topic).from_station


def test_custom_prefix():
    topic = station_topic("a", "state", prefix="tinh/lao-cai")
    assert topic == "tinh/lao-cai/v1/station/a/state"
    assert parse_topic(topic, prefix="tinh/lao-cai") == TopicRef(TopicKind.STATE, "a")
    with pytest.raises(TopicError):
        parse_topic(topic)
    for bad in ("", "a/", "/a", "a/+", "a/#", "a//b"):
        with pytest.raises(TopicError):
            station_topic("a", "state", prefix=bad)


@pytest.mark.parametrize("topic", [
    "sohoa/v2/station/st-01/state",
    "sohoa/v1/station/st-01/receipts",  # a server kind on the station side
    "sohoa/v1/server/state/st-01",  # a station kind on the server side
    "sohoa/v1/station/st-01/state/extra",
    "sohoa/v1/station/st-01",
    "sohoa/v1/station/ST-01/state",
    "sohoa/v1/station/+/state",
    "sohoa/v1/station/#",
    "sohoa/v1/station//state",
    "sohoa/v1/station/" + "a" * 33 + "/state",
    "sohoa/v1/other/st-01/state",
    "other/v1/station/st-01/state",
    "sohoa/v1/station/st-01/unknown",
])
def test_parser_refuses_everything_outside_the_tree(topic: str):
    with pytest.raises(TopicError):
        parse_topic(topic)


@pytest.mark.parametrize("station_id", ["", "A", "st_01", "st/01", "+", "#", "st 01", "a" * 33, "ü"])
def test_bad_station_ids_are_refused(station_id: str):
    with pytest.raises(TopicError):
        station_topic(station_id, "state")
    with pytest.raises(TopicError):
        server_topic("receipts", station_id)


def test_filters():
    assert t.all_stations_filter() == "sohoa/v1/station/+/+"
    assert t.station_inbox_filter("st-01") == "sohoa/v1/server/+/st-01"


def test_payload_round_trip_and_timestamps():
    for cls in PAYLOADS.values():
        sample = _sample(cls)
        again = cls.from_json(sample.to_json())
        assert again == sample
        assert sample.at.endswith("+07:00") and len(sample.at) == len("2026-06-12T11:45:37.707+07:00")


def _sample(cls):
    required = {"station_id": "st-01", "status": "online", "event": "info", "package_id": "p",
                "verdict": "accepted", "work_order_id": "wo-1", "action": "assigned",
                "command": "publish_state", "objid": "urn:G09:uuid-1", "state": "returned"}
    schema = t.json_schema(cls)
    return cls(**{k: required[k] for k in schema["required"]})


def test_payloads_validate():
    with pytest.raises(PayloadError):
        StatePayload(station_id="st-01", status="maybe")
    with pytest.raises(PayloadError):
        StatePayload(station_id="st-01", status="online", scanner="exploded")
    with pytest.raises(PayloadError):
        ProgressPayload(station_id="st-01", pages_captured=-1)
    with pytest.raises(PayloadError):
        ProgressPayload(station_id="st-01", pages_captured="12")
    with pytest.raises(PayloadError):
        ProgressPayload(station_id="st-01", pages_captured=True)
    with pytest.raises(PayloadError):
        EventPayload(station_id="st-01", event="explosion")
    with pytest.raises(PayloadError):
        EventPayload(station_id="st-01", event="info", at="2026-06-12T11:45:37")  # no offset
    with pytest.raises(TopicError):
        StatePayload(station_id="st/01", status="online")
    with pytest.raises(PayloadError):
        StatePayload.from_json('{"status": "online"}')  # no station_id
    with pytest.raises(PayloadError):
        StatePayload.from_json(b"\xff not json")
    with pytest.raises(PayloadError):
        StatePayload.from_json("[1, 2]")
    assert ProgressPayload(station_id="st-01", pages_per_minute=12).pages_per_minute == 12


def test_unknown_keys_are_ignored_within_v1():
    data = json.dumps({"station_id": "st-01", "status": "online", "new_in_v1_3": 7})
    assert StatePayload.from_json(data).status == "online"


def test_event_ids_are_unique():
    ids = {EventPayload(station_id="st-01", event="info").event_id for _ in range(1000)}
    assert len(ids) == 1000


def test_decode_checks_station_id_against_topic():
    payload = StatePayload(station_id="st-02", status="online").to_json()
    with pytest.raises(PayloadError):
        decode(parse_topic(station_topic("st-01", "state")), payload)
    assert decode(parse_topic(station_topic("st-02", "state")), payload).station_id == "st-02"


def test_schema_files_are_generated_from_the_dataclasses():
    folder = ROOT / "protocol" / "schemas" / "mqtt"
    assert sorted(p.name for p in folder.glob("*.schema.json")) == sorted(
        f"{kind}.schema.json" for kind in PAYLOADS
    )
    for kind, cls in PAYLOADS.items():
        on_disk = json.loads((folder / f"{kind}.schema.json").read_text(encoding="utf-8"))
        assert on_disk == t.json_schema(cls), f"regenerate {kind}.schema.json (see docs/mqtt.md)"


def _documented() -> dict[str, list[str]]:
    """Topic headings of docs/mqtt.md and the JSON examples under each."""
    text = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    sections = re.split(r"^### `([^`]+)`\s*$", text, flags=re.M)
    return {
        sections[i]: re.findall(r"```json\n(.*?)```", sections[i + 1], flags=re.S)
        for i in range(1, len(sections), 2)
    }


def test_docs_list_exactly_the_topics_of_the_code():
    assert sorted(_documented()) == sorted(t.topic_patterns())


def test_docs_examples_are_valid_payloads_of_their_topic():
    for pattern, examples in _documented().items():
        assert examples, f"no example payload for {pattern}"
        ref = parse_topic(pattern.replace("<station_id>", "st-01"))
        for example in examples:
            payload = decode(ref, example)
            assert set(json.loads(example)) == set(payload.to_dict()), f"{pattern}: keys differ"


def test_rework_notice_topic_and_payload():
    """The archive's rework notice goes to one station's inbox (the ACL's server/+/<id> pattern) and refuses
    a state the archive does not send."""
    topic = server_topic("rework", "st-01")
    assert topic == "sohoa/v1/server/rework/st-01"
    assert parse_topic(topic) == TopicRef(TopicKind.REWORK, "st-01")
    notice = t.ReworkPayload(station_id="st-01", objid="urn:G09:uuid-1", state="returned", batch="B-1")
    assert decode(parse_topic(topic), notice.to_json()) == notice
    with pytest.raises(PayloadError):
        t.ReworkPayload(station_id="st-01", objid="urn:G09:uuid-1", state="received")
    with pytest.raises(PayloadError):
        decode(parse_topic(server_topic("rework", "st-02")), notice.to_json())
