"""The rework loop on the server (#17.5), on SQLite and PostgreSQL (records and catalogue): a returned hồ sơ is
on the list of the station that sent it, with its defects, and on no other station's; only that station may
download it; a second package for the same hồ sơ under another OBJID is refused; the new version (same OBJID,
REPLACEMENT, PREMIS link to v1) is stored beside v1, served as the newest, and starts a new acceptance round;
a version linked to an older one is refused."""

from __future__ import annotations

import uuid
from contextlib import ExitStack

import pytest
import requests
from test_catalog_pg import pg_database

from protocol import api
from protocol.errors import Message
from server.archive import decisions, states

DEFECTS = [
    {"class": "major", "kind": "unreadable", "objid": "", "doc_id": "", "page": 1, "note": "Trang mờ, không đọc được"},
    {"class": "minor", "kind": "skew", "objid": "", "doc_id": "", "page": 1, "note": "Trang bị nghiêng"},
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory, demo_keys):
    from server.app import build_context
    from server.config import ServerConfig
    from tests.support.servers import serving

    tmp = tmp_path_factory.mktemp(f"rework-{request.param}")
    with ExitStack() as stack:
        over = {}
        if request.param == "postgresql":
            over = {"database": stack.enter_context(pg_database()), "catalog_url": stack.enter_context(pg_database())}
        context = build_context(ServerConfig(data_dir=tmp / "server", trust_roots=[demo_keys.ca_pem],
                                             archive_signer_p12=demo_keys.agency_p12,
                                             archive_signer_passphrase_file=demo_keys.passphrase_file, **over))
        stations = {sid: context.db.add_station(sid) for sid in ("tram-a", "tram-b")}
        with serving(context) as live:
            yield live.url, context, stations


def _headers(creds: dict) -> dict:
    return {api.HEADER_STATION: creds["station_id"], "Authorization": f"{api.AUTH_SCHEME} {creds['token']}"}


def _build(tmp_path, signed_pdf, notation="160.VP", **kw):
    from protocol.clock import iso_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package
    from tests.support.records import AGENCY, hoso_record

    hoso = FileRecord(**hoso_record(notation=notation))
    doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=AGENCY,
                         subject="Quyết định về việc cấp giấy chứng nhận", number_of_page=1)
    out = tmp_path / uuid.uuid4().hex
    return build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=signed_pdf, page_count=1)],
                         events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:op1",
                                             detail="digitisation", objects=[doc.doc_id(hoso.file_code)])],
                         out_dir=out, **kw)


def _send(url, creds, pkg, batch_uid="B-1", file_code="000.00.00.H47.2001.160.VP"):
    from station.sync.client import SyncClient

    client = SyncClient(url, station_id=creds["station_id"], token=creds["token"])
    return client.send(pkg.path, sha256=pkg.sha256, size=pkg.size,
                       manifest={"file_code": file_code, "batch_uid": batch_uid})


def _return(db, objid):
    defects = [dict(d, objid=objid, doc_id="000.00.00.H47.2001.160.VP.1") for d in DEFECTS]
    did = decisions.propose(db, lot="WO-R", objids=[objid], decision="return", defects=defects,
                            inspector="kiem.tra", address="127.0.0.1", note="Làm lại trang 1")
    decisions.validate(db, did, validator="truong.phong", makers={"op1"}, address="127.0.0.1")
    return did


def test_rework_list_acl_duplicate_and_new_version(server, tmp_path, signed_pdf):
    url, context, stations = server
    a, b = stations["tram-a"], stations["tram-b"]
    v1 = _build(tmp_path, signed_pdf)
    assert _send(url, a, v1).verdict == "accepted"

    def listing(creds):
        resp = requests.get(url + api.REWORK, headers=_headers(creds), timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    assert listing(a) == {"rework": [], "outcomes": []}  # received: nothing to tell yet
    did = _return(context.db, v1.objid)
    [item] = listing(a)["rework"]
    assert (item["objid"], item["version"], item["sha256"], item["batch_uid"]) == (v1.objid, 1, v1.sha256, "B-1")
    assert item["decision_id"] == did and item["note"] == "Làm lại trang 1"
    assert [(d["kind"], d["page"], d["doc_id"]) for d in item["defects"]] == [
        ("unreadable", 1, "000.00.00.H47.2001.160.VP.1"), ("skew", 1, "000.00.00.H47.2001.160.VP.1")]
    # Another station sees nothing of it and cannot download it; the maker can.
    assert listing(b) == {"rework": [], "outcomes": []}
    fetch = url + api.REWORK_PACKAGE
    assert requests.get(fetch, params={"objid": v1.objid}, headers=_headers(b), timeout=10).status_code == 404
    got = requests.get(fetch, params={"objid": v1.objid}, headers=_headers(a), timeout=10)
    assert got.status_code == 200 and got.headers[api.HEADER_PACKAGE_SHA256] == v1.sha256
    assert got.content == v1.path.read_bytes()
    assert requests.get(url + api.REWORK, timeout=10).status_code == 401

    # The same hồ sơ again under another OBJID, not declared a new version: refused with the reason.
    dup = _build(tmp_path, signed_pdf)
    assert dup.objid != v1.objid
    refused = _send(url, a, dup, batch_uid="B-2")
    assert refused.verdict == "rejected"
    assert any(r.startswith("duplicate: hồ sơ 000.00.00.H47.2001.160.VP") and v1.objid in r for r in refused.reasons)
    from station.web.pages import rejection_reasons  # what the station's home screen shows

    assert rejection_reasons(refused.to_dict()) == [next(Message.from_dict(c).text("vi") for c in refused.checks
                                                         if c["name"] == "duplicate")]
    assert "đã có trong kho lưu trữ, không nhận lần thứ hai" in rejection_reasons(refused.to_dict())[0]
    assert len(context.store.versions(dup.objid)) == 0

    # The rework: same OBJID, REPLACEMENT, PREMIS naming v1. Stored beside v1, newest served, new round.
    package_uuid = v1.objid.rsplit("uuid-", 1)[1]
    v2 = _build(tmp_path, signed_pdf, package_uuid=package_uuid, status="REPLACEMENT",
                previous={"sha256": v1.sha256, "version": 1})
    assert v2.objid == v1.objid and v2.sha256 != v1.sha256
    assert _send(url, a, v2).verdict == "accepted"
    versions = context.store.versions(v1.objid)
    assert [(v.version, v.sha256) for v in versions] == [(1, v1.sha256), (2, v2.sha256)]
    assert context.store.get(v1.objid).sha256 == v2.sha256
    assert context.catalog.package(v1.objid)["sha256"] == v2.sha256
    assert states.state_of(context.db, [v1.objid])[v1.objid] == "received"
    assert listing(a) == {"rework": [], "outcomes": []}
    from protocol.package import read_package
    from protocol.package.premis import previous_version

    assert previous_version(read_package(versions[-1].path).premis_objects) == v1.sha256

    # A third version made from v1 (not the latest) is refused; one from v2 would be fine.
    stale = _build(tmp_path, signed_pdf, package_uuid=package_uuid, status="REPLACEMENT",
                   previous={"sha256": v1.sha256, "version": 1})
    refused = _send(url, a, stale, batch_uid="B-3")
    assert refused.verdict == "rejected"
    assert any(r.startswith("version link: ") and "a newer version (2" in r for r in refused.reasons), refused.reasons
    assert "phiên bản mới hơn" in next(Message.from_dict(c).text("vi") for c in refused.checks
                                       if c["name"] == "version link")
    assert len(context.store.versions(v1.objid)) == 2

    # Accepted: the station is told as an outcome, the rework list stays empty.
    did = decisions.propose(context.db, lot="batch:B-1", objids=[v1.objid], decision="accept", defects=[],
                            inspector="kiem.tra", address="127.0.0.1")
    decisions.validate(context.db, did, validator="truong.phong", makers={"op1"}, address="127.0.0.1")
    out = listing(a)
    assert out["rework"] == [] and [(o["objid"], o["state"], o["version"]) for o in out["outcomes"]] == [
        (v1.objid, "accepted", 2)]
    assert listing(b)["outcomes"] == []

    # The biên bản filed: a version the archive made (no upload brought it); the hồ sơ is still tram-a's.
    from server.archive import bienban

    row = context.db.one("SELECT * FROM acceptance_decisions WHERE id = ?", (did,))
    filed = bienban.file_record(context, dict(row, objids=[v1.objid]), address="127.0.0.1")
    assert filed["versions"] == {v1.objid: 3}
    out = listing(a)
    assert out["rework"] == [] and [(o["objid"], o["state"], o["version"], o["batch_uid"]) for o in out["outcomes"]] \
        == [(v1.objid, "archived", 3, "B-1")]
    assert listing(b) == {"rework": [], "outcomes": []}


def test_station_list_is_one_indexed_query_among_many_other_stations(server, tmp_path, signed_pdf):
    """2,000 returned hồ sơ of other stations around one of tram-b's: tram-b's list holds exactly its own (with
    its defects), tram-a's none of tram-b's; the rows are found through the maker index (records migration 6),
    never by reading every returned hồ sơ."""
    from protocol.clock import iso_vn

    url, context, stations = server
    b = stations["tram-b"]
    mine = _build(tmp_path, signed_pdf, notation="161.VP")  # not the first test's hồ sơ (same server)
    sent = _send(url, b, mine, batch_uid="B-MINE", file_code="000.00.00.H47.2001.161.VP")
    assert sent.verdict == "accepted", sent.reasons
    _return(context.db, mine.objid)
    now = iso_vn()
    with context.db.tx() as conn:
        for n in range(2000):
            objid = f"AIP-OTHER-uuid-{n:08d}"
            conn.execute("INSERT INTO archive_makers (objid, station_id, sha256, batch_uid, updated_at)"
                         " VALUES (?, ?, ?, ?, ?)", (objid, f"tram-x{n % 7}", f"{n:064X}", f"B-{n}", now))
            conn.execute("INSERT INTO archive_states (objid, state, changed_at, changed_by) VALUES (?, ?, ?, ?)",
                         (objid, "returned", now, "test"))

    def listing(creds):
        resp = requests.get(url + api.REWORK, headers=_headers(creds), timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    [item] = listing(b)["rework"]
    assert (item["objid"], item["batch_uid"], item["version"]) == (mine.objid, "B-MINE", 1)
    assert [d["kind"] for d in item["defects"]] == ["unreadable", "skew"]
    assert mine.objid not in {i["objid"] for i in listing(stations["tram-a"])["rework"]}
    sql = ("SELECT s.objid FROM archive_makers m JOIN archive_states s ON s.objid = m.objid"
           " WHERE m.station_id = ? AND s.state IN ('returned', 'accepted', 'archived')")
    if context.db.dialect.name == "sqlite":
        plan = " ".join(str(tuple(r.values())) for r in context.db.query("EXPLAIN QUERY PLAN " + sql, ("tram-b",)))
        assert "archive_makers_station" in plan, plan
    else:
        with context.db.tx() as conn:
            conn.execute("SET LOCAL enable_seqscan = off")  # a 2,000-row table: the planner may scan it anyway
            plan = " ".join(str(r) for r in conn.execute("EXPLAIN " + sql, ("tram-b",)).fetchall())
        assert "archive_makers_station" in plan, plan
