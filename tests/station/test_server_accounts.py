"""Operator accounts are managed at the archive and cached on the station for offline login."""

from __future__ import annotations

import pytest

from server.operators import deactivate_operator, set_operator
from station.auth import Accounts, AuthError


def test_station_caches_the_servers_operators(tmp_path, sane_test_device, archive_server):
    from station.config import StationConfig
    from station.service import Station

    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    set_operator(ctx.db, "nv01", name="Trần Thị Lan", role="operator", pin="4321")
    token = tmp_path / "token"
    token.write_text(creds["token"])
    config = StationConfig(data_dir=tmp_path / "st", device=sane_test_device, workers=1, station_id="tram-01",
                           server_url=live.url, token_file=token, sync_interval=3600)
    station = Station(config)
    station._start_sync()  # only the sync side is needed here
    try:
        assert station.refresh_accounts() == 1
        accounts = Accounts(station.store)
        session = accounts.login("nv01", "4321")
        assert session.operator == "nv01"
        with pytest.raises(AuthError):
            accounts.login("nv01", "0000")
        rows = station.store.query("SELECT pin_hash FROM operators WHERE code = 'nv01'")
        assert rows[0]["pin_hash"].startswith("scrypt$") and "4321" not in rows[0]["pin_hash"]

        deactivate_operator(ctx.db, "nv01")  # the archive withdraws the account
        station.refresh_accounts()
        with pytest.raises(AuthError):
            accounts.login("nv01", "4321")
    finally:
        station.sync.stop()


def test_operators_api_needs_a_station(archive_server):
    import requests

    live, ctx = archive_server
    set_operator(ctx.db, "nv02", name="X", role="operator", pin="1111")
    assert requests.get(live.url + "/api/v1/operators", timeout=10).status_code == 401
