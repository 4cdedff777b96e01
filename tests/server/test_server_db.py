"""The server's records on both backends (SQLite file, PostgreSQL): the same methods and the same answers,
and what must hold when two server processes share one PostgreSQL database. Two records objects opened on
one target play two servers; threads started together at a barrier play their concurrent requests."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from records_support import open_records, records, records_target  # noqa: F401 - fixtures
from test_catalog_pg import PG_ADMIN, pg_database

from server.accounts import auth, enrollment, operators
from server.databases import open_server_db
from server.records.db import Records, ServerDB
from server.records.db_pg import PgServerDB, pg_sql
from server.workorders.orders import ProgressTracker, assign, overview

SHA = "AB" * 32


def _together(n: int, work: Callable[[int], object]) -> list[object]:
    """Run work(0..n-1) in n threads released at once; returns results (or the exceptions raised)."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - asserted by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _open(db: Records, sha: str = SHA, station: str = "tram-01", size: int = 1000) -> dict:
    return db.open_upload(
        station_id=station,
        sha256=sha,
        size=size,
        file_code="F.1",
        batch_uid="b-1",
        work_order_id=None,
        expected_sheets=3,
    )


def test_backend_is_picked_from_the_setting(records_target) -> None:  # noqa: F811 - fixture
    db = open_server_db(records_target)
    try:
        assert isinstance(db, PgServerDB if str(records_target).startswith("postgresql://") else ServerDB)
    finally:
        db.close()


def test_station_added_at_one_server_authenticates_at_the_other_until_revoked(open_records) -> None:  # noqa: F811
    one, other = open_records(), open_records()
    creds = one.add_station("tram-01", name="Trạm tầng 2")
    assert other.authenticate("tram-01", creds["token"])
    assert not other.authenticate("tram-01", "not-the-token") and not other.authenticate("tram-99", creds["token"])
    from server.mqtt.broker import verify_password

    accounts = other.mqtt_accounts()  # the broker's hash, never the password itself
    assert list(accounts) == ["tram-01"] and verify_password(creds["mqtt_password"], accounts["tram-01"])
    assert creds["mqtt_password"] not in accounts["tram-01"]
    assert [(s["id"], s["name"], s["revoked"]) for s in other.stations()] == [("tram-01", "Trạm tầng 2", 0)]

    assert other.revoke_station("tram-01") is True and other.revoke_station("tram-99") is False
    assert not one.authenticate("tram-01", creds["token"]), "revoked at one server, still let in at the other"
    assert one.mqtt_accounts() == {}
    again = one.add_station("tram-01")  # re-keying lifts the revocation; the old token is dead
    assert other.authenticate("tram-01", again["token"]) and not other.authenticate("tram-01", creds["token"])
    assert pg_sql("LIKE '5%' AND x = ?") == "LIKE '5%%' AND x = %s"  # a literal % survives the rewrite


def test_same_upload_opened_at_once_on_two_servers_is_one_row(open_records) -> None:  # noqa: F811
    servers = [open_records(), open_records()]
    same = _together(8, lambda i: _open(servers[i % 2]))
    assert all(isinstance(r, dict) for r in same), same
    assert len({r["id"] for r in same}) == 1 and same[0]["state"] == "open" and same[0]["received"] == 0
    different = _together(6, lambda i: _open(servers[i % 2], sha=f"{i:064X}"))
    assert len({r["id"] for r in different}) == 6, different
    assert servers[1].query("SELECT COUNT(*) AS n FROM uploads")[0]["n"] == 7
    # the same package from another station is another upload (another station's uploads are not yours)
    assert _open(servers[0], station="tram-02")["id"] != same[0]["id"]
    big = _open(servers[0], sha="C" * 64, size=5_000_000_000)  # a package past 2 GiB: BIGINT columns
    servers[1].set_received(big["id"], 4_500_000_000)
    assert servers[0].upload(big["id"])["received"] == 4_500_000_000


def test_an_upload_is_finished_once_with_one_receipt(open_records) -> None:  # noqa: F811
    servers = [open_records(), open_records()]
    row = _open(servers[0])
    assert row["id"] in servers[0].open_upload_ids()  # positive control: the probe below sees an open one
    won = _together(
        6, lambda i: servers[i % 2].finish_upload(row["id"], state="accepted", receipt={"n": i, "verdict": "accepted"})
    )
    assert sorted(won) == [False] * 5 + [True], won
    stored = servers[1].upload(row["id"])
    assert stored["state"] == "accepted" and f'"n": {won.index(True)}' in stored["receipt"]
    assert servers[0].open_upload_ids() == set()
    assert _open(servers[1])["receipt"] == stored["receipt"]  # re-opening answers with the one receipt


def test_enrollment_code_has_one_winner_across_servers(open_records) -> None:  # noqa: F811
    servers = [open_records(), open_records()]
    code = enrollment.create_enrollment_code(servers[0], "tram-05", name="Trạm 5", created_by="chi.admin")
    assert [(p["station_id"], p["name"]) for p in enrollment.pending_codes(servers[1])] == [("tram-05", "Trạm 5")]
    with pytest.raises(enrollment.EnrollmentError) as err:
        enrollment.burn_code(servers[1], code, station_id="tram-06")
    assert err.value.code == "station_mismatch"  # a wrong station id does not burn it
    results = _together(8, lambda i: enrollment.burn_code(servers[i % 2], code.lower()))
    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1 and winners[0]["station_id"] == "tram-05", results
    assert all(isinstance(r, enrollment.EnrollmentError) and r.code == "bad_code" for r in results if r not in winners)
    assert enrollment.pending_codes(servers[0]) == []


def test_expired_codes_are_refused_and_purged(records: Records) -> None:  # noqa: F811
    code = enrollment.create_enrollment_code(records, "tram-01", ttl_s=1)
    records.query("SELECT 1")  # the same connection keeps working after the schema was added
    time.sleep(1.1)  # the clock passing the 1 s time-to-live is the point
    with pytest.raises(enrollment.EnrollmentError):
        enrollment.burn_code(records, code)
    with records.tx() as conn:
        conn.execute("UPDATE enrollment_codes SET expires_at = ?", (time.time() - 8 * 86400,))
    enrollment.create_enrollment_code(records, "tram-02")  # purges codes a week past their expiry
    assert [r["station_id"] for r in records.query("SELECT station_id FROM enrollment_codes")] == ["tram-02"]


def test_fonds_work_orders_and_progress(open_records) -> None:  # noqa: F811
    one, other = open_records(), open_records()
    one.add_station("st-a")
    one.add_fonds("G09", "Phông UBND", record={"note": "đầu"})
    other.add_fonds("G09", "Phông UBND tỉnh Đồng Nai", archive_code="H47")  # an upsert, not a second row
    assert other.query("SELECT code, name, archive_code FROM fonds") == [
        {"code": "G09", "name": "Phông UBND tỉnh Đồng Nai", "archive_code": "H47"}
    ]
    low = one.add_workorder(fonds_code="G09", file_code="H47.2001.1", record={"title": "Hồ sơ một"}, expected_sheets=4)
    high = one.add_workorder(
        fonds_code="G09",
        file_code="H47.2001.2",
        record={"title": "Hồ sơ hai"},
        expected_sheets=6,
        station_id="st-a",
        priority=4,
    )
    assert [w["id"] for w in other.workorders(station_id="st-a")] == [high, low]  # unassigned ones are offered
    assert other.workorders(station_id="st-b") == [other.workorders()[1]]
    assert other.workorders()[0]["record"] == {"title": "Hồ sơ hai"}
    assert assign(other, [low, high], None) == [high]  # `low` has no station: nothing to change
    assert _together(4, lambda i: assign([one, other][i % 2], [low], "st-a")).count([low]) == 1
    with pytest.raises(ValueError):
        assign(one, [low], "st-zz")

    tracker = ProgressTracker(one)
    tile = {"station_id": "st-a", "batch": "B1", "file_code": "H47.2001.1", "batch_state": "OPEN", "pages_captured": 9}
    tracker.on_change({"type": "station", "station": tile})
    tracker.on_change({"type": "station", "station": {**tile, "batch_state": "REVIEW", "pages_captured": 5}})
    view = {o["id"]: o for o in overview(other)["orders"]}
    assert view[low]["pages_scanned"] == 9 and view[low]["stage"] == "scanned"  # a late, smaller count never lowers it
    other.set_workorder_state(low, "accepted")
    assert {o["id"]: o["stage"] for o in overview(one)["orders"]} == {low: "accepted", high: "new"}


def test_operator_accounts_are_shared(open_records) -> None:  # noqa: F811
    one, other = open_records(), open_records()
    operators.set_operator(one, "op-01", name="Nguyễn Văn An", role="operator", pin="2468")
    operators.set_operator(other, "op-01", name="Nguyễn Văn An", role="supervisor", pin="1357")
    [row] = operators.operators(one)
    assert (row["code"], row["role"], row["active"]) == ("op-01", "supervisor", 1) and "pin_hash" not in row
    assert operators.check_pin(other, "op-01", "1357") and not operators.check_pin(other, "op-01", "2468")
    assert operators.deactivate_operator(one, "op-01") and not operators.deactivate_operator(one, "op-99")
    assert operators.operators(other)[0]["active"] == 0


def test_web_accounts_are_shared(open_records) -> None:  # noqa: F811
    """The dashboard's accounts: made at one server, usable at the other; re-set and disabled anywhere."""
    one, other = open_records(), open_records()
    assert auth.create_user(one, " Admin.Lan ", "mật-khẩu-dài-1", role="admin") == auth.User("admin.lan", "admin")
    assert auth.verify_login(other, "ADMIN.LAN", "mật-khẩu-dài-1") == auth.User("admin.lan", "admin")
    assert auth.verify_login(other, "admin.lan", "mật-khẩu-sai") is None
    assert auth.verify_login(other, "khong-co", "mật-khẩu-dài-1") is None
    assert auth.active_user(other, "admin.lan") == auth.User("admin.lan", "admin")
    [row] = auth.list_users(one)
    assert (row["name"], row["role"], row["disabled"]) == ("admin.lan", "admin", 0) and row["last_login"]
    stored = one.one("SELECT password_hash FROM web_users WHERE name = ?", ("admin.lan",))["password_hash"]
    assert stored.startswith("scrypt$") and "mật-khẩu" not in stored

    auth.create_user(other, "admin.lan", "mật-khẩu-mới-2", role="supervisor")  # reset: new password and role
    assert auth.verify_login(one, "admin.lan", "mật-khẩu-dài-1") is None
    assert auth.verify_login(one, "admin.lan", "mật-khẩu-mới-2") == auth.User("admin.lan", "supervisor")

    assert auth.disable_user(one, "Admin.Lan") and not auth.disable_user(one, "khong-co")
    assert auth.active_user(other, "admin.lan") is None  # at once, at the other server
    assert auth.verify_login(other, "admin.lan", "mật-khẩu-mới-2") is None
    assert [u["disabled"] for u in auth.list_users(other)] == [1]
    auth.create_user(one, "admin.lan", "mật-khẩu-mới-3", role="admin")  # re-creating enables it again
    assert auth.active_user(other, "admin.lan") == auth.User("admin.lan", "admin")


def test_web_accounts_of_an_existing_server_db_are_kept(tmp_path: Path) -> None:
    """A server.db written before accounts moved onto the records (same table, opened by sqlite3 itself)."""
    path = tmp_path / "server.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE web_users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,"
        " disabled INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, last_login TEXT);"
    )
    old.execute(
        "INSERT INTO web_users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
        ("giamsat", auth.hash_password("mật-khẩu-cũ-1"), "supervisor", "2026-01-01T00:00:00+07:00"),
    )
    old.commit()
    old.close()
    db = open_server_db(path)
    try:
        assert auth.verify_login(db, "giamsat", "mật-khẩu-cũ-1") == auth.User("giamsat", "supervisor")
        auth.create_user(db, "quantri", "mật-khẩu-mới-1", role="admin")
        assert [u["name"] for u in auth.list_users(db)] == ["giamsat", "quantri"]
    finally:
        db.close()


def test_a_failed_transaction_leaves_nothing(records: Records) -> None:  # noqa: F811
    with pytest.raises(RuntimeError):
        with records.tx() as conn:
            conn.execute("INSERT INTO fonds (code, name, record) VALUES (?, ?, '{}')", ("G1", "x"))
            raise RuntimeError("crash mid-transaction")
    assert records.query("SELECT code FROM fonds") == []
    with pytest.raises(records.errors):
        records.add_workorder(fonds_code="G1", file_code=None, record={}, expected_sheets=1)  # NOT NULL
    assert records.workorders() == [] and records.query("SELECT 1 AS one") == [{"one": 1}]
    with records.tx() as conn:  # positive control: the same row, committed, is what the probe above would see
        conn.execute("INSERT INTO fonds (code, name, record) VALUES (?, ?, '{}')", ("G1", "x"))
    assert [r["code"] for r in records.query("SELECT code FROM fonds")] == ["G1"]


# -- PostgreSQL only: what exists only because several processes share the database --------------------


def test_upload_lock_makes_the_other_server_wait() -> None:
    with pg_database() as url:
        one, other = PgServerDB(url), PgServerDB(url)
        try:
            order: list[str] = []
            held = threading.Event()

            def first() -> None:
                with one.upload_lock("u1"):
                    held.set()
                    time.sleep(0.5)  # holding the lock a known time is the point: the other server waits it out
                    order.append("first done")

            thread = threading.Thread(target=first)
            thread.start()
            assert held.wait(10)
            began = time.monotonic()
            with other.upload_lock("u1"):
                order.append("second in")
                waited = time.monotonic() - began
            with other.upload_lock("u2"), one.upload_lock("u3"):  # other uploads never wait
                pass
            thread.join(10)
            assert order == ["first done", "second in"] and waited >= 0.3, (order, waited)
        finally:
            one.close()
            other.close()


def test_servers_starting_together_create_the_schema_once() -> None:
    with pg_database() as url:
        opened = _together(4, lambda i: PgServerDB(url))
        try:
            assert all(isinstance(db, PgServerDB) for db in opened), opened
            tables = {
                r["table_name"]
                for r in opened[0].query(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            }
            assert {"stations", "fonds", "workorders", "uploads"} <= tables
        finally:
            for db in opened:
                if isinstance(db, PgServerDB):
                    db.close()


def test_a_lost_connection_is_replaced(tmp_path: Path) -> None:
    """PostgreSQL restarted or the connection cut: the request that finds out fails, the next one works."""
    with pg_database() as url:
        db = PgServerDB(url)
        try:
            db.add_station("tram-01")
            pid = db.one("SELECT pg_backend_pid() AS pid")["pid"]
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(psycopg.OperationalError):
                db.stations()
            assert [s["id"] for s in db.stations()] == ["tram-01"]
            assert db.one("SELECT pg_backend_pid() AS pid")["pid"] != pid
        finally:
            db.close()
