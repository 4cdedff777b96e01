"""#14.12 (secrets): server.db keeps no MQTT password in clear, only the hash the broker needs; the secret is
printed once by add-station, and the real broker still accepts it. A row written before is hashed in place."""

from __future__ import annotations

from server.mqtt.broker import BrokerConfig, BrokerProcess, connect_client, free_port, hash_password, is_password_hash
from server.records.db import ServerDB


def test_mqtt_password_only_hashed_at_rest_and_the_broker_accepts_it(tmp_path):
    db = ServerDB(tmp_path / "server.db")
    creds = db.add_station("st-a")
    with db.tx() as conn:  # a station written before hashing: its password in clear
        conn.execute("INSERT INTO stations (id, name, token_hash, mqtt_password, created_at)"
                     " VALUES ('st-old', 'x', 'x', 'old-clear-password', 'now')")
    accounts = db.mqtt_accounts()
    assert all(is_password_hash(v) for v in accounts.values())
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("server.db*"))
    assert accounts["st-a"].encode() in raw, "positive control: the probe reads what the rows hold (the hash)"
    assert creds["mqtt_password"].encode() not in raw
    assert b"old-clear-password" not in raw or _only_in_free_pages(tmp_path)
    config = BrokerConfig(port=free_port(), accounts={**accounts, "server": hash_password("server-pw")},
                          server_user="server")
    with BrokerProcess.from_config(tmp_path / "broker", config) as broker:
        for user, password in (("st-a", creds["mqtt_password"]), ("st-old", "old-clear-password")):
            client, reason = connect_client(host="127.0.0.1", port=broker.port, username=user, password=password)
            client.loop_stop()
            client.disconnect()
            assert reason is not None and not reason.is_failure, user


def _only_in_free_pages(folder) -> bool:  # noqa: ANN001
    """The replaced value may linger in free pages until VACUUM; the live row must be the hash."""
    import sqlite3

    conn = sqlite3.connect(folder / "server.db")
    try:
        [(value,)] = conn.execute("SELECT mqtt_password FROM stations WHERE id = 'st-old'").fetchall()
    finally:
        conn.close()
    return is_password_hash(value)
