"""Shared pieces of the acceptance (nghiệm thu) tests: a real server with the archive's signing key configured,
two real hồ sơ sent by two stations (so two lots), and the accounts of an inspector, a validator and the
operator who digitised them (named in the packages' PREMIS). No tests here."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from archive_support import build_and_send
from test_catalog_pg import pg_database

from server.accounts.auth import create_user
from tests.support.web import ADMIN, ARCHIVIST, csrf_from
from tests.support.web import web_login as login

VALIDATOR = ("truong.phong", "mat-khau-phe-duyet")
MAKER = ("le.van.quet", "mat-khau-van-hanh")  # the operator in the packages' PREMIS transfer event
LOT_RETURN, LOT_ACCEPT = "station:tram-01", "station:tram-02"


@dataclass
class Acceptance:
    url: str
    context: Any
    objids: dict[str, str]  # lot -> a hồ sơ it holds; "other": the second hồ sơ of LOT_ACCEPT
    ca_pem: bytes

    def session(self, who: tuple[str, str] = ARCHIVIST) -> requests.Session:
        return login(self.url, *who)

    def post(self, session: requests.Session, path: str, data: dict[str, str], page: str) -> requests.Response:
        token = csrf_from(session.get(self.url + page, timeout=60).text)
        return session.post(self.url + path, data={**data, "csrf_token": token}, timeout=120)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def acceptance(request, tmp_path_factory, demo_keys, three_page_pdf):
    """The same server on either backend of its records (decisions, samples, states, audit)."""
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(pg_database()) if request.param == "postgresql" else ""
        yield from _serve(tmp_path_factory, demo_keys, three_page_pdf, database)


def _serve(tmp_path_factory, demo_keys, three_page_pdf, database: str):
    from server.app import build_context
    from server.config import ServerConfig
    from tests.support.servers import serving

    tmp = tmp_path_factory.mktemp("acceptance")
    context = build_context(ServerConfig(data_dir=tmp / "server", trust_roots=[demo_keys.ca_pem],
                                         archive_signer_p12=demo_keys.agency_p12,
                                         archive_signer_passphrase_file=demo_keys.passphrase_file,
                                         database=database))
    for (name, password), role in ((ADMIN, "admin"), (ARCHIVIST, "archivist"), (VALIDATOR, "archivist"),
                                   (MAKER, "archivist")):
        create_user(context.db, name, password, role=role)
    context.db.add_fonds("P_UBND_DN", "UBND tỉnh Đồng Nai")
    with serving(context) as live:
        a, _ = build_and_send(tmp, three_page_pdf, context, live.url, station="tram-01")
        b, _ = build_and_send(tmp, three_page_pdf, context, live.url, station="tram-02", notation="161.VP")
        c, _ = build_and_send(tmp, three_page_pdf, context, live.url, station="tram-02", notation="162.VP")
        yield Acceptance(live.url, context, {LOT_RETURN: a.objid, LOT_ACCEPT: b.objid, "other": c.objid},
                         demo_keys.ca_pem.read_bytes())
