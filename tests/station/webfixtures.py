"""A real Station (SANE test backend, processing pool, store) behind the real web app, for the web tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from station.auth import Accounts

PINS = {"op1": "1234", "sup1": "5678", "adm1": "9012"}
ROLES = {"op1": "operator", "sup1": "supervisor", "adm1": "admin"}


def seed_accounts(store) -> None:  # noqa: ANN001
    accounts = Accounts(store)
    for code, pin in PINS.items():
        accounts.add(code=code, name=f"Nguyễn Văn {code}", role=ROLES[code], pin=pin, actor="test")


@pytest.fixture
def station(tmp_path: Path, sane_test_device: str) -> Iterator[object]:
    from station.config import StationConfig
    from station.service import Station

    config = StationConfig(data_dir=tmp_path / "station", device=sane_test_device, workers=1)
    st = Station(config)
    st.start()
    seed_accounts(st.store)
    yield st
    st.stop()


def login(client, code: str = "op1") -> dict:  # noqa: ANN001
    resp = client.post("/api/login", json={"operator": code, "pin": PINS[code]})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def admin_headers(client) -> dict[str, str]:  # noqa: ANN001
    """Bearer headers of an admin session (a hồ sơ typed in by hand, without a server work order, needs one)."""
    token = login(client.application.test_client(), "adm1")["token"]
    return {"Authorization": f"Bearer {token}"}
