"""Fixtures of the security tests (issue #14): the real server and station apps over real HTTP (waitress on
127.0.0.1), the real broker. Each test module pins one finding of the attack run; docs/security.md says what
stops each. The helpers live in tests/support/web.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import LiveServer
from tests.support.web import Archive, StationWeb, make_archive, seed_accounts


@pytest.fixture
def archive(tmp_path: Path, demo_keys: Any) -> Iterator[Archive]:
    yield from make_archive(tmp_path, trust_roots=[demo_keys.ca_pem])


@pytest.fixture
def station_web(station: Any) -> Iterator[StationWeb]:
    from station.web.app import create_app

    app = create_app(station)
    with LiveServer(app) as live:
        yield StationWeb(live.url, station, app)


@pytest.fixture
def linked_web(tmp_path: Path, sane_test_device: str, archive: Archive) -> Iterator[StationWeb]:
    """Station st-a, synced with the archive fixture's server (its work orders, its operator accounts)."""
    from station.config import StationConfig
    from station.service import Station
    from station.web.app import create_app

    token = tmp_path / "st-a.token"
    token.write_text(archive.secrets["st-a"]["token"])
    config = StationConfig(data_dir=tmp_path / "linked", device=sane_test_device, workers=1, station_id="st-a",
                           server_url=archive.url, token_file=token, sync_interval=3600)
    st = Station(config)
    st.start()
    seed_accounts(st.store)
    app = create_app(st)
    try:
        with LiveServer(app) as live:
            yield StationWeb(live.url, st, app)
    finally:
        st.stop()
