"""#14.11: one identifier rule (protocol/ids.py) for every command and endpoint; a bad record already in the
records never stops the others (broker accounts, the station's copy of the operator list)."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys

import pytest

from protocol.ids import IdError, check_operator_code, check_station_id
from server.mqtt.broker import BrokerProcess, connect_client, free_port

BAD = ["Bad ID", "../x", "x/../../y", "", "a" * 200, "st+", "#", "st/a", "ÿ", "ST-A", "st a"]


def _sohoa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sohoa", *args], capture_output=True, text=True, timeout=60)


def test_rule():
    assert check_station_id("tram-01") == "tram-01"
    for bad in BAD:
        with pytest.raises(IdError):
            check_station_id(bad)
    assert check_operator_code("nv.an_01") == "nv.an_01"
    for bad in ("../x", "", "a b", "Đạt", "-x", "a" * 33):
        with pytest.raises(IdError):
            check_operator_code(bad)


def test_add_station_refuses_bad_ids_and_broker_config_survives_an_old_bad_row(tmp_path):
    toml = tmp_path / "server.toml"
    toml.write_text(f'data_dir = "{tmp_path / "server"}"\n', encoding="utf-8")
    for bad in ["Bad ID", "../x", "x/../../y", "", "a" * 200]:
        out = _sohoa("server", "--config", str(toml), "add-station", bad)
        assert out.returncode == 2 and "invalid station id" in out.stderr, (bad, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
    good = json.loads(_sohoa("server", "--config", str(toml), "add-station", "st-one").stdout)
    # A row written before the rule existed (or by hand): it must not break every other station.
    from server.records.db import ServerDB

    db = ServerDB(tmp_path / "server" / "server.db")
    with db.tx() as conn:
        conn.execute("INSERT INTO stations (id, name, token_hash, mqtt_password, created_at)"
                     " VALUES ('../Bad ID', 'x', 'x', 'pw', 'now')")
    port = free_port()
    (tmp_path / "mq").mkdir()
    out = _sohoa("server", "--config", str(toml), "broker-config", "--folder", str(tmp_path / "mq"), "--data-dir",
                 str(tmp_path / "mqdata"), "--password-file", str(tmp_path / "mqtt-server"), "--listen-port",
                 str(port), "--bind", "127.0.0.1", "--run-user", getpass.getuser())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stations"] == ["st-one"]
    with BrokerProcess(tmp_path / "mq" / "mosquitto.conf", port=port, log_path=tmp_path / "mq.log"):
        client, reason = connect_client(host="127.0.0.1", port=port, username="st-one",
                                        password=good["mqtt_password"])
        client.loop_stop()
        client.disconnect()
        assert reason is not None and not reason.is_failure


def test_enroll_code_refuses_bad_id(archive):
    from tests.support.web import ADMIN, csrf_from, web_login

    session = web_login(archive.url, *ADMIN)
    page = session.get(archive.url + "/stations", timeout=10)
    for bad in ["../x", "Bad ID", "a" * 200]:
        resp = session.post(archive.url + "/stations/codes", data={"station_id": bad, "csrf_token":
                                                                   csrf_from(page.text)}, timeout=10)
        assert resp.status_code == 400, (bad, resp.status_code)
    assert [s["id"] for s in archive.context.db.stations()] == ["st-a", "st-b"]


def test_station_keeps_good_accounts_when_one_record_is_bad(station):
    from protocol.pins import hash_pin
    from station.auth import Accounts

    accounts = Accounts(station.store)
    good = {"code": "nv.binh", "name": "Bình", "role": "operator", "pin_hash": hash_pin("4321"), "active": True}
    bad = {"code": "../Bad ID", "name": "x", "role": "operator", "pin_hash": hash_pin("4321"), "active": True}
    accounts.cache_accounts([bad, good])
    assert "nv.binh" in [a["code"] for a in accounts.list()]
    assert "../Bad ID" not in [a["code"] for a in accounts.list()]
