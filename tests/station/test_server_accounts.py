"""Operator accounts are managed at the archive: the station checks a PIN with the archive while online and
keeps its own keyed verifier for operators who logged in there, so they (and only they) can log in offline.
No PIN hash ever leaves the archive (issue #14.10)."""

from __future__ import annotations

import pytest

from server.accounts.operators import deactivate_operator, set_operator
from station.auth import Accounts, AuthError, Offline


def test_station_checks_pins_online_and_offline_only_for_who_logged_in_here(tmp_path, sane_test_device,
                                                                             archive_server):
    from station.config import StationConfig
    from station.service import Station

    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    set_operator(ctx.db, "nv01", name="Trần Thị Lan", role="operator", pin="4321")
    set_operator(ctx.db, "nv02", name="Lê Văn Bình", role="operator", pin="8765")
    token = tmp_path / "token"
    token.write_text(creds["token"])
    config = StationConfig(data_dir=tmp_path / "st", device=sane_test_device, workers=1, station_id="tram-01",
                           server_url=live.url, token_file=token, sync_interval=3600)
    station = Station(config)
    station._start_sync()  # only the sync side is needed here
    try:
        assert station.refresh_accounts() == 2
        rows = station.store.query("SELECT code, pin_hash FROM operators ORDER BY code")
        assert [(r["code"], r["pin_hash"]) for r in rows] == [("nv01", ""), ("nv02", "")]  # names, no PIN data
        online = Accounts(station.store, online=station.verify_operator)
        assert online.login("nv01", "4321").operator == "nv01"
        with pytest.raises(AuthError):
            online.login("nv01", "0000")
        [row] = station.store.query("SELECT pin_hash FROM operators WHERE code = 'nv01'")
        assert row["pin_hash"].startswith("k1$")  # this station's keyed verifier, not the archive's hash

        def unreachable(code: str, pin: str):
            raise Offline("server down")

        offline = Accounts(station.store, online=unreachable)
        assert offline.login("nv01", "4321").operator == "nv01"  # logged in here before: works offline
        with pytest.raises(AuthError):
            offline.login("nv01", "0000")
        with pytest.raises(AuthError) as never:
            offline.login("nv02", "8765")  # never logged in here: needs the archive the first time
        assert never.value.code == "offline_first_login"

        deactivate_operator(ctx.db, "nv01")  # the archive withdraws the account
        station.refresh_accounts()
        with pytest.raises(AuthError):
            online.login("nv01", "4321")
        with pytest.raises(AuthError):
            offline.login("nv01", "4321")
    finally:
        station.sync.stop()
