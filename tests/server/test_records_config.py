"""The `database` setting: the server and its admin commands keep their records where it says (SQLite file
by default, PostgreSQL when set), and `sohoa config check` reports a bad, unsafe or unreachable URL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_catalog_pg import pg_database

from server.app import build_context
from server.config import load_config
from server.databases import open_server_db
from server.records.db import ServerDB
from server.records.db_pg import PgServerDB
from sohoa.appliance.config_check import check_server_config
from tests.support.servers import close_context

ROOT = Path(__file__).resolve().parents[2]


def _toml(tmp_path: Path, extra: str = "") -> Path:
    data = tmp_path / "srv"
    data.mkdir(exist_ok=True)
    path = tmp_path / "server.toml"
    path.write_text(f'data_dir = "{data}"\n{extra}', encoding="utf-8")
    return path


def test_default_is_the_sqlite_file_and_a_non_postgres_value_is_refused(tmp_path: Path) -> None:
    config = load_config(_toml(tmp_path))
    assert config.database == "" and config.db_target == config.db_path
    context = build_context(config)
    assert isinstance(context.db, ServerDB) and config.db_path.is_file()
    close_context(context)
    for bad in (
        'database = "sqlite:///srv/server.db"',
        'database = "/var/lib/sohoa/server.db"',
        'catalog_url = "mysql://db/sohoa"',
    ):
        with pytest.raises(ValueError, match="expected a postgresql:// URL"):
            load_config(_toml(tmp_path, bad + "\n"))


def test_server_and_admin_commands_use_postgres_when_set(tmp_path: Path) -> None:
    with pg_database() as url:
        path = _toml(tmp_path, f'database = "{url}"\ncatalog_url = "{url}"\n')
        config = load_config(path)
        context = build_context(config)
        try:
            assert isinstance(context.db, PgServerDB)
            argv = [sys.executable, "-m", "sohoa.cli", "server", "--config", str(path)]

            def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
                return subprocess.run([*argv, *args], capture_output=True, text=True, input=stdin, timeout=60, cwd=ROOT)

            added = run("add-station", "tram-01")
            assert added.returncode == 0, added.stderr
            assert context.db.authenticate("tram-01", json.loads(added.stdout)["token"])
            assert run("add-operator", "op-01", "--name", "Lê Thị Hoa", stdin="2468\n").returncode == 0
            from server.accounts.operators import operators

            assert [o["code"] for o in operators(context.db)] == ["op-01"]
            assert run("revoke-station", "tram-01").returncode == 0
            assert context.db.stations()[0]["revoked"] == 1
            missing = run("revoke-station", "tram-99")
            assert missing.returncode != 0 and "tram-99" in missing.stderr
            assert not config.db_path.exists(), "records went to the SQLite file although database is set"
        finally:
            close_context(context)


def test_config_check_reports_database_problems(tmp_path: Path) -> None:
    with pg_database() as url:
        good = check_server_config(_toml(tmp_path, f'database = "{url}"\ncatalog_url = "{url}"\n'))
        assert [p for p in good if p.key in ("database", "catalog_url")] == [], [p.line() for p in good]

        half = check_server_config(_toml(tmp_path, f'database = "{url}"\n'))
        [warning] = [p for p in half if p.key == "catalog_url"]
        assert warning.warning and "không tìm thấy" in warning.text("vi")
        other_half = check_server_config(_toml(tmp_path, f'catalog_url = "{url}"\n'))
        assert [p.warning for p in other_half if p.key == "database"] == [True]

    secret = check_server_config(_toml(tmp_path, 'database = "postgresql://sohoa:hunter2@127.0.0.1/sohoa"\n'))
    [problem] = [p for p in secret if p.key == "database"]
    assert not problem.warning and ".pgpass" in problem.message and "hunter2" not in problem.line()

    gone = check_server_config(_toml(tmp_path, 'database = "postgresql://127.0.0.1:1/sohoa"\n'))
    [problem] = [p for p in gone if p.key == "database"]
    assert not problem.warning and "cannot connect" in problem.message and "Không kết nối" in problem.text("vi")

    malformed = check_server_config(_toml(tmp_path, 'database = "postgresql://h/db?sslmode=nope&x"\n'))
    assert [p.warning for p in malformed if p.key == "database"] == [False], [p.line() for p in malformed]

    wrong = check_server_config(_toml(tmp_path, 'database = "sqlite:///x.db"\n'))
    assert any("postgresql://" in p.message and not p.warning for p in wrong), [p.line() for p in wrong]


def test_open_server_db_picks_by_value(tmp_path: Path) -> None:
    db = open_server_db(tmp_path / "x.db")
    try:
        assert isinstance(db, ServerDB) and (tmp_path / "x.db").is_file()
    finally:
        db.close()
