"""An admin confirms a server found on the LAN; only then does the station sync to it."""

from __future__ import annotations

from tests.support.web import login


def _candidate(live, context, *, fingerprint=None):
    from server.accounts.discovery import key_fingerprint

    return {"name": "Lưu trữ tỉnh Đồng Nai", "api_url": live.url,
            "fingerprint": fingerprint or key_fingerprint(context.public_key_pem),
            "broker_host": "", "broker_port": 0, "addresses": ["127.0.0.1"]}


def _app(station):  # noqa: F811
    from station.web.app import create_app

    return create_app(station)


def test_admin_confirms_a_discovered_server(station, archive_server):  # noqa: F811
    live, context = archive_server
    station.discovered = [_candidate(live, context)]
    client = _app(station).test_client()
    headers = {"Authorization": f"Bearer {login(client, 'adm1')['token']}"}
    listed = client.get("/api/discovery", headers=headers).get_json()
    assert listed["candidates"][0]["api_url"] == live.url and listed["server_url"] == ""
    assert station.sync is None  # discovered is not used
    resp = client.post("/api/discovery/confirm", json={"api_url": live.url}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    assert station.config.server_url == live.url and station.sync is not None
    assert (station.config.data_dir / "discovered-server.json").exists()


def test_operator_cannot_confirm_and_a_wrong_key_is_refused(station, archive_server):  # noqa: F811
    live, context = archive_server
    station.discovered = [_candidate(live, context, fingerprint="00" * 32)]
    client = _app(station).test_client()
    op = {"Authorization": f"Bearer {login(client, 'op1')['token']}"}
    assert client.post("/api/discovery/confirm", json={"api_url": live.url}, headers=op).status_code == 403
    admin = {"Authorization": f"Bearer {login(client, 'adm1')['token']}"}
    resp = client.post("/api/discovery/confirm", json={"api_url": live.url}, headers=admin)
    assert resp.status_code == 409 and resp.get_json()["text"]
    assert station.sync is None and station.config.server_url == ""
