"""The cover sheet's QR picks the work order: a real cover sheet (processing/separators.py) read from an
import folder, work orders from the real archive server app."""

from __future__ import annotations

from pathlib import Path

from tests.support.records import hoso_record
from tests.support.web import login, seed_accounts


def test_cover_sheet_qr_selects_the_servers_work_order(tmp_path: Path, archive_server, sane_test_device):
    from protocol.metadata import file_code
    from station.config import StationConfig
    from station.processing.separators import Sheet, render_sheet
    from station.service import Station
    from station.web.app import create_app

    live, context = archive_server
    secrets = context.db.add_station("tram-bia")
    context.db.add_fonds("P_UBND_DN", "Phông UBND tỉnh Đồng Nai")
    record = hoso_record()
    code = file_code(record["agency_id"], record["year"], record["notation"])
    wo = context.db.add_workorder(fonds_code="P_UBND_DN", file_code=code, record=record, expected_sheets=3,
                                  station_id="tram-bia")
    (tmp_path / "token").write_text(secrets["token"])
    data = tmp_path / "station"
    for name, sheet in (("bia", Sheet("cover", code)), ("bia-khac", Sheet("cover", "000.00.00.H47.1999.1.VP")),
                        ("tach", Sheet("separator"))):
        (data / "import" / name).mkdir(parents=True)
        render_sheet(sheet, title="Hồ sơ thử").convert("RGB").save(data / "import" / name / "p1.png", dpi=(300, 300))
    station = Station(StationConfig(data_dir=data, device=sane_test_device, station_id="tram-bia", workers=1,
                                    server_url=live.url, token_file=tmp_path / "token"))
    station.start()
    try:
        seed_accounts(station.store)
        client = create_app(station).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + login(client, "op1")["token"]
        resp = client.post("/api/cover", json={"kind": "import", "folder": "bia"})
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["file_code"] == code and resp.get_json()["workorder"]["id"] == wo
        other = client.post("/api/cover", json={"kind": "import", "folder": "bia-khac"})
        assert other.status_code == 400 and other.get_json()["error"] == "no_workorder"
        assert "000.00.00.H47.1999.1.VP" in other.get_json()["text"]
        sep = client.post("/api/cover", json={"kind": "import", "folder": "tach"})
        assert sep.status_code == 400 and sep.get_json()["error"] == "no_cover"
        # the SANE test scanner's picture has no QR: a clear message, nothing stored
        glass = client.post("/api/cover", json={"kind": "sane"})
        assert glass.status_code == 400 and "mã QR" in glass.get_json()["text"]
        assert station.store.batches() == []
        assert station.store.query("SELECT actor FROM audit WHERE action = 'cover.read'") == [{"actor": "op1"}]
    finally:
        station.stop()
