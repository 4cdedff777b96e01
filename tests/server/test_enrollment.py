"""Station enrollment and revocation, for real: the server app over HTTP, a real mosquitto rendered from the
project's templates and reloaded with SIGHUP, the station's `enroll()` and the `sohoa station-enroll` CLI."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import requests
from records_support import records_target  # noqa: F401 - fixture

from protocol import api
from server.accounts import auth, enrollment
from server.mqtt.broker import BrokerConfig, BrokerProcess, connect_client, free_port
from station.enroll import EnrollError, enroll, update_station_toml
from station.sync.client import SyncClient, SyncError
from tests.support.servers import nginx_site
from tests.support.web import ADMIN, SUPERVISOR, csrf_from, web_login

CODE_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path, records_target):  # noqa: F811 - fixture: records in SQLite, then in PostgreSQL
    """Server app + a live mosquitto whose accounts follow the station table (BrokerSync, SIGHUP)."""
    from server.app import build_context, create_app
    from server.config import ServerConfig, is_postgres
    from tests.support.servers import serving

    database = str(records_target) if is_postgres(records_target) else ""
    context = build_context(ServerConfig(data_dir=tmp_path / "server", database=database))
    auth.create_user(context.db, *ADMIN, role="admin")
    auth.create_user(context.db, *SUPERVISOR, role="supervisor")
    base = BrokerConfig(port=free_port(), accounts={"server": "server-pw"}, server_user="server")
    folder = tmp_path / "broker"
    with BrokerProcess.from_config(folder, base) as broker:
        app = create_app(context)
        enrollment.attach_broker_sync(app, enrollment.BrokerSync(folder, base, enrollment.signal_process(broker)))
        with serving(context, app) as live:  # the databases closed before the PostgreSQL one is dropped
            yield live.url, context, broker


def _mqtt(broker: BrokerProcess, user: str, password: str):
    return connect_client(host="127.0.0.1", port=broker.port, username=user, password=password)


def _mode(path: str | Path) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def test_code_is_typeable_single_use_and_stored_hashed(tmp_path: Path):
    db = tmp_path / "server.db"
    code = enrollment.create_enrollment_code(db, "tram-01", name="Trạm phòng 2")
    assert CODE_RE.fullmatch(code), code
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("server.db*"))  # the database and its WAL
    assert "Trạm phòng 2".encode() in raw, "positive control: the probe reads what the row holds"
    assert code.replace("-", "").encode() not in raw, "the code must not be stored in clear"
    assert [p["station_id"] for p in enrollment.pending_codes(db)] == ["tram-01"]
    # Typed by hand: lower case, no dashes, O for 0 and I/L for 1 are the same code.
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert enrollment.burn_code(db, typed)["station_id"] == "tram-01"
    with pytest.raises(enrollment.EnrollmentError) as err:
        enrollment.burn_code(db, code)
    assert err.value.code == "bad_code" and "đã dùng" in err.value.text("vi")
    assert enrollment.pending_codes(db) == []


@pytest.mark.parametrize("station_id", ["Tram 1", "a/b", "#", "x" * 33, "server", ""])
def test_code_refuses_station_ids_unusable_as_mqtt_names(tmp_path: Path, station_id: str):
    with pytest.raises(enrollment.EnrollmentError) as err:
        enrollment.create_enrollment_code(tmp_path / "s.db", station_id)
    assert err.value.code == "bad_station_id" and err.value.text("vi")


def test_expired_code_is_refused(tmp_path: Path):
    db = tmp_path / "server.db"
    code = enrollment.create_enrollment_code(db, "tram-01", ttl_s=1)
    time.sleep(1.05)  # the clock passing the 1 s time-to-live is the point
    with pytest.raises(enrollment.EnrollmentError, match="expired"):
        enrollment.burn_code(db, code)


def test_enroll_gives_a_working_identity_and_a_replay_fails(server, tmp_path: Path):
    url, ctx, broker = server
    code = enrollment.create_enrollment_code(ctx.db, "tram-01")
    data = tmp_path / "station"
    result = enroll(url, code, data)

    files = result["files"]
    assert _mode(data / "secrets") == 0o700
    for name in ("token", "mqtt_password", "server_key"):
        assert _mode(files[name]) == 0o600, name
    assert Path(files["server_key"]).read_text() == ctx.public_key_pem
    assert "server_ca" not in files  # plain HTTP server: no CA to pin

    # The fragment is valid TOML that the station's own config loader accepts, secrets read from files.
    from station.config import load_config

    toml_path = tmp_path / "station.toml"
    toml_path.write_text(f'data_dir = "{data}"\n' + result["fragment"], encoding="utf-8")
    config = load_config(toml_path)
    assert config.station_id == "tram-01" and config.server_url == url
    assert tomllib.loads(Path(result["fragment_path"]).read_text()) == result["settings"]

    client = SyncClient(config.server_url, station_id=config.station_id, token=config.token())
    assert client.workorders() == []  # the token authenticates
    mqtt_client, reason = _mqtt(broker, "tram-01", config.broker_password())
    assert reason is not None and not reason.is_failure, f"MQTT account not live after enrollment: {reason}"
    mqtt_client.disconnect()
    mqtt_client.loop_stop()

    with pytest.raises(EnrollError) as err:
        enroll(url, code, tmp_path / "thief")
    assert err.value.status == 403 and err.value.code == "bad_code"
    assert not (tmp_path / "thief").exists(), "a refused enrollment stores nothing"
    assert client.workorders() == [], "a replayed code must not re-key the enrolled station"


def test_station_id_mismatch_keeps_the_code(server, tmp_path: Path):
    url, ctx, _ = server
    code = enrollment.create_enrollment_code(ctx.db, "tram-01")
    with pytest.raises(EnrollError) as err:
        enroll(url, code, tmp_path / "s", station_id="tram-02")
    assert err.value.status == 409 and err.value.code == "station_mismatch"
    assert enroll(url, code, tmp_path / "s", station_id="tram-01")["station_id"] == "tram-01"


def test_concurrent_redemptions_have_one_winner(server):
    url, ctx, _ = server
    code = enrollment.create_enrollment_code(ctx.db, "tram-01")
    statuses: list[int] = []

    def attempt() -> None:
        statuses.append(requests.post(url + "/api/v1/enroll", json={"code": code}, timeout=30).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [403] * 5


def test_guessing_codes_is_rate_limited(server):
    url, ctx, _ = server
    code = enrollment.create_enrollment_code(ctx.db, "tram-01")
    for _ in range(10):
        resp = requests.post(url + "/api/v1/enroll", json={"code": "AAAA-BBBB-CCCC"}, timeout=10)
        assert resp.status_code == 403
    blocked = requests.post(url + "/api/v1/enroll", json={"code": code}, timeout=10)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "thử lại" in blocked.json()["text"]
    for bad in (None, {"code": 5}, {"code": "x", "station_id": []}):
        assert requests.post(url + "/api/v1/enroll", json=bad, timeout=10).status_code in (400, 429)


def test_admin_creates_code_lists_and_revokes_and_broker_drops_the_station(server, tmp_path: Path):
    url, ctx, broker = server
    admin = web_login(url, *ADMIN)
    page = admin.get(url + "/stations", timeout=10)
    assert page.status_code == 200 and "Tạo mã đăng ký trạm" in page.text
    created = admin.post(url + "/stations/codes", timeout=10, data={
        "csrf_token": csrf_from(page.text), "station_id": "tram-07", "name": "Trạm tầng 3", "hours": "2"})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    code = CODE_RE.search(created.text).group(0)
    assert "sohoa station-enroll" in created.text
    other = enroll(url, enrollment.create_enrollment_code(ctx.db, "tram-08"), tmp_path / "b")
    mine = enroll(url, code, tmp_path / "a")
    token = Path(mine["files"]["token"]).read_text().strip()
    password = Path(mine["files"]["mqtt_password"]).read_text().strip()
    listed = admin.get(url + "/api/v1/web/stations", timeout=10).json()["stations"]
    assert [(s["id"], s["name"], s["revoked"]) for s in listed] == [("tram-07", "Trạm tầng 3", 0),
                                                                   ("tram-08", "tram-08", 0)]

    live, reason = _mqtt(broker, "tram-07", password)
    assert not reason.is_failure
    dropped = threading.Event()
    live.on_disconnect = lambda *a: dropped.set()

    page = admin.get(url + "/stations", timeout=10)
    revoked = admin.post(url + "/stations/tram-07/revoke", data={"csrf_token": csrf_from(page.text)},
                         allow_redirects=False, timeout=10)
    assert revoked.status_code == 302
    # API: refused from the very next request.
    with pytest.raises(SyncError) as err:
        SyncClient(url, station_id="tram-07", token=token).workorders()
    assert err.value.status == 401
    # Broker: the live connection is dropped and a new one refused; the other station is untouched.
    assert dropped.wait(5), f"mosquitto kept the revoked station connected: {broker.log_tail()}"
    again, reason = _mqtt(broker, "tram-07", password)
    assert reason is not None and reason.is_failure, "the revoked station's MQTT login must be refused"
    ok, reason = _mqtt(broker, "tram-08", Path(other["files"]["mqtt_password"]).read_text().strip())
    assert not reason.is_failure
    ok.disconnect()
    ok.loop_stop()
    assert "tram-07" not in (tmp_path / "broker" / "passwd").read_text()
    page = admin.get(url + "/stations", timeout=10)
    assert re.search(r'data-station="tram-07">\s*<td>tram-07</td><td>Trạm tầng 3</td><td>Đã thu hồi', page.text)
    unknown = admin.post(url + "/stations/nope/revoke", data={"csrf_token": csrf_from(page.text)}, timeout=10)
    assert unknown.status_code == 404

    # A new code re-enrolls the revoked station with fresh secrets: the old token stays dead.
    again = enroll(url, enrollment.create_enrollment_code(ctx.db, "tram-07"), tmp_path / "a2")
    assert SyncClient(url, station_id="tram-07", token=Path(again["files"]["token"]).read_text().strip()
                      ).workorders() == []
    with pytest.raises(SyncError):
        SyncClient(url, station_id="tram-07", token=token).workorders()


def test_supervisor_cannot_enroll_or_revoke(server):
    url, ctx, _ = server
    ctx.db.add_station("tram-01")
    sup = web_login(url, *SUPERVISOR)
    assert sup.get(url + "/stations", timeout=10).status_code == 403
    token = csrf_from(sup.get(url + "/", timeout=10).text)
    assert sup.post(url + "/stations/codes", data={"csrf_token": token, "station_id": "x"},
                    timeout=10).status_code == 403
    assert sup.post(url + "/stations/tram-01/revoke", data={"csrf_token": token}, timeout=10).status_code == 403
    assert ctx.db.stations()[0]["revoked"] == 0 and enrollment.pending_codes(ctx.db) == []


def test_server_ca_is_returned_and_a_different_pinned_ca_refused(server, tmp_path: Path):
    from sohoa.appliance.tls import make_ca

    url, ctx, _ = server
    ca = make_ca(ctx.config.data_dir / "tls", name="Trung tâm Lưu trữ (thử)")
    other = make_ca(tmp_path / "other", name="Không phải CA của kho")
    code = enrollment.create_enrollment_code(ctx.db, "tram-01")
    with pytest.raises(EnrollError, match="different CA"):
        enroll(url, code, tmp_path / "s", ca_file=other.cert)
    assert not (tmp_path / "s").exists()
    code = enrollment.create_enrollment_code(ctx.db, "tram-01")
    result = enroll(url, code, tmp_path / "s")
    assert Path(result["files"]["server_ca"]).read_bytes() == ca.cert.read_bytes()
    assert result["settings"]["server_ca_file"] == result["files"]["server_ca"]
    assert result["ca_sha256"] == enrollment.ca_fingerprint(ca.cert.read_bytes())
    out = subprocess.run(["openssl", "x509", "-in", str(ca.cert), "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith(result["ca_sha256"])  # what the admin reads off the page is openssl's


def test_update_station_toml_keeps_other_lines(tmp_path: Path):
    path = tmp_path / "station.toml"
    path.write_text('# tram\ndata_dir = "/d"\nserver_url = "http://old"\ndevice = "test:0"\n', encoding="utf-8")
    update_station_toml(path, {"server_url": "https://new", "token_file": "/d/secrets/token"})
    assert path.read_text().startswith("# tram\n")
    assert tomllib.loads(path.read_text()) == {"data_dir": "/d", "server_url": "https://new", "device": "test:0",
                                               "token_file": "/d/secrets/token"}


@pytest.mark.parametrize("records_target", ["sqlite"], indirect=True)  # the station's CLI: one backend is enough
def test_cli_enrolls_and_reports_refusals(server, tmp_path: Path):
    url, ctx, _ = server
    code = enrollment.create_enrollment_code(ctx.db, "tram-01")
    toml_path = tmp_path / "station.toml"
    toml_path.write_text(f'data_dir = "{tmp_path / "st"}"\n', encoding="utf-8")
    argv = [sys.executable, "-m", "sohoa.cli", "station-enroll", "--server", url, "--code", code,
            "--data", str(tmp_path / "st"), "--config", str(toml_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert 'station_id = "tram-01"' in done.stdout and "token_file" in done.stdout
    assert tomllib.loads(toml_path.read_text())["token_file"] == str(tmp_path / "st" / "secrets" / "token")
    again = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert again.returncode == 2 and "enrollment code unknown, already used or expired" in again.stderr
    assert "Mã đăng ký không đúng" not in again.stderr  # the command line speaks English


def test_enroll_over_https_pins_the_ca(tmp_path: Path, archive_server):
    from sohoa.appliance.tls import make_ca, make_server_cert

    live, ctx = archive_server
    ca = make_ca(tmp_path / "tls", name="Trung tâm Lưu trữ tỉnh Đồng Nai (thử)")
    make_server_cert(ca, tmp_path / "tls", hostnames=["localhost"], ips=["127.0.0.1"])
    (ctx.config.data_dir / "tls").mkdir(parents=True, exist_ok=True)
    shutil.copy(ca.cert, ctx.config.data_dir / "tls" / "ca.crt")
    with nginx_site(live.port, tmp_path / "tls", tmp_path / "nginx") as (port, _):
        url = f"https://127.0.0.1:{port}"
        code = enrollment.create_enrollment_code(ctx.db, "tram-01")
        with pytest.raises(EnrollError, match="not trusted"):
            enroll(url, code, tmp_path / "s")  # system CAs only: refused before the code is sent
        result = enroll(url, code, tmp_path / "s", ca_file=ca.cert)  # the code was not burnt above
        assert result["settings"]["server_url"] == url
        pinned = Path(result["settings"]["server_ca_file"])
        assert pinned.read_bytes() == ca.cert.read_bytes()
        token = Path(result["files"]["token"]).read_text().strip()
        resp = requests.get(url + api.WORKORDERS, verify=str(pinned), timeout=10,
                            headers={api.HEADER_STATION: "tram-01", "Authorization": f"Bearer {token}"})
        assert resp.status_code == 200
