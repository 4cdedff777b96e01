"""The signing PIN typed on the finish screen for a PKCS#11 token (a real SoftHSM2 token): asked for,
a wrong PIN refused in Vietnamese before anything runs, the right one signs; the PIN is never logged or
stored."""

from __future__ import annotations

import logging
from pathlib import Path

from test_output_signing_pkcs11 import KEY, PIN, TOKEN, token  # noqa: F401 - fixture

from tests.support.records import hoso_record
from tests.support.wait import wait_until
from tests.support.web import admin_headers, login, seed_accounts


def test_finish_asks_for_the_token_pin_and_never_keeps_it(tmp_path: Path, token, sane_test_device, caplog):  # noqa: F811
    from station.config import StationConfig
    from station.service import Station
    from station.web.app import create_app

    module, _ca = token
    config = StationConfig(data_dir=tmp_path / "station", device=sane_test_device, workers=1,
                           pkcs11_module=module, pkcs11_token=TOKEN, pkcs11_key=KEY, agency_name="Sở Nội vụ")
    station = Station(config)
    station.start()
    caplog.set_level(logging.DEBUG)
    try:
        seed_accounts(station.store)
        client = create_app(station).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + login(client, "op1")["token"]
        bid = client.post("/api/batches", json={"record": hoso_record()},
                          headers=admin_headers(client)).get_json()["id"]
        client.post(f"/api/batches/{bid}/scan", json={"kind": "sane", "request": {"source": "flatbed", "dpi": 300}})
        station.wait_idle(60)
        assert station.pool.drain(timeout=120)
        client.post(f"/api/batches/{bid}/review")
        pid = client.get(f"/api/batches/{bid}").get_json()["pages"][0]["id"]
        client.post(f"/api/pages/{pid}/accept")  # the test picture's QC flags, if any
        doc = {"ordinal": 1, "type_name": "02", "issued_date": "28/02/2001", "organ_name": "UBND tỉnh Đồng Nai",
               "subject": "Quyết định về việc cấp đất", "page_ids": [pid]}
        assert client.post(f"/api/batches/{bid}/documents?check=1",
                           json={"documents": [{"ordinal": 1, "record": doc}]}).status_code == 200

        assert b'id="sign-pin-box"' in client.get(f"/batch/{bid}/finish").data
        resp = client.post(f"/api/batches/{bid}/finish", json={})
        assert resp.status_code == 400 and resp.get_json()["error"] == "pin_required"
        resp = client.post(f"/api/batches/{bid}/finish", json={"pin": "000000"})
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["text"] == "Sai mã PIN của token ký số."
        assert station.store.batch(bid)["state"] == "REVIEW"  # nothing started

        assert client.post(f"/api/batches/{bid}/finish", json={"pin": PIN}).status_code == 202

        def sealed() -> bool:
            assert bid not in station.last_error, station.last_error
            return station.store.batch(bid)["state"] == "SEALED"

        wait_until(sealed, 180, "the batch to be sealed", interval=0.3)
        # a wrong PIN later is still refused (the open session does not let any PIN through)
        assert client.post(f"/api/batches/{bid}/finish", json={"pin": "999999"}).status_code in (400, 409)

        audit = str(station.store.query("SELECT * FROM audit"))
        # Positive controls: the same probes see the signing happen (its audit row, its logger's records).
        assert "batch.sealed" in audit and any(r.name == "station.output.signing" for r in caplog.records)
        assert PIN not in audit and "000000" not in audit
        assert PIN not in caplog.text and "000000" not in caplog.text
        raw = b"".join(p.read_bytes() for p in config.db_path.parent.glob(config.db_path.name + "*"))  # and WAL
        assert b'"title"' in raw, "positive control: the probe sees the JSON the station stores"
        assert b'"pin"' not in raw
    finally:
        station.stop()
