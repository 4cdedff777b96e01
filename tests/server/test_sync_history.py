"""A hồ sơ re-scanned and sent again: as a REPLACEMENT it keeps the history (earlier versions stay in the
store, the catalogue hides superseded packages by default); without it, stored content is never
overwritten."""

from __future__ import annotations

import uuid

import pytest

from station.sync.client import SyncClient

FILE_CODE = "000.00.00.H47.2001.160.VP"


@pytest.fixture
def build(tmp_path, signed_pdf, hoso_fields):
    """build(status=..., package_uuid=..., title=...) -> a real package around the signed document."""
    from protocol.clock import iso_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package

    def make(*, status: str = "NEW", package_uuid: str | None = None, title: str | None = None):
        over = {"title": title} if title else {}
        hoso = FileRecord(**hoso_fields(**over))
        doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=hoso.agency_name,
                             subject="Quyết định về việc cấp giấy chứng nhận", number_of_page=1)
        out = tmp_path / f"pkg-{uuid.uuid4().hex[:8]}"
        return build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=signed_pdf, page_count=1)],
                             events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:op1",
                                                 detail="digitisation", objects=[doc.doc_id(hoso.file_code)])],
                             out_dir=out, status=status, package_uuid=package_uuid)

    return make


def _send(live, creds, pkg):
    client = SyncClient(live.url, station_id=creds["station_id"], token=creds["token"], timeout=30)
    return client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={"file_code": FILE_CODE})


def test_replacement_with_a_new_objid_supersedes_in_the_catalogue(archive_server, build):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    first = build()
    second = build(status="REPLACEMENT", title="Hồ sơ cấp giấy chứng nhận quyền sử dụng đất (quét lại)")
    assert _send(live, creds, first).verdict == "accepted"
    receipt = _send(live, creds, second)
    assert receipt.verdict == "accepted", receipt.reasons
    assert ctx.store.get(first.objid).sha256 == first.sha256  # the earlier package is kept
    assert ctx.store.get(second.objid).sha256 == second.sha256
    assert {h.objid for h in ctx.catalog.search("dong nai")} == {second.objid}
    assert {h.objid for h in ctx.catalog.search("dong nai", include_superseded=True)} == {first.objid,
                                                                                          second.objid}
    rows = {p["objid"]: p for p in ctx.catalog.packages(file_code=FILE_CODE)}
    assert rows[first.objid]["superseded_by"] == second.objid
    assert [p["objid"] for p in ctx.catalog.packages(include_superseded=False)] == [second.objid]


def test_same_objid_new_bytes_needs_replacement_and_becomes_version_2(archive_server, build):
    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    package_uuid = str(uuid.uuid4())
    first = build(package_uuid=package_uuid)
    assert _send(live, creds, first).verdict == "accepted"

    sneaky = build(package_uuid=package_uuid, title="Hồ sơ cấp đất (sửa lại, không khai báo thay thế)")
    refused = _send(live, creds, sneaky)
    assert refused.verdict == "rejected"
    assert any("RECORDSTATUS=REPLACEMENT" in r for r in refused.reasons), refused.reasons
    assert [v.sha256 for v in ctx.store.versions(first.objid)] == [first.sha256]

    rescan = build(package_uuid=package_uuid, status="REPLACEMENT", title="Hồ sơ cấp đất (quét lại)")
    receipt = _send(live, creds, rescan)
    assert receipt.verdict == "accepted", receipt.reasons
    versions = ctx.store.versions(first.objid)
    assert [(v.version, v.sha256) for v in versions] == [(1, first.sha256), (2, rescan.sha256)]
    assert versions[0].path.read_bytes() == first.path.read_bytes()  # history intact
    assert ctx.store.get(first.objid).version == 2
    assert ctx.catalog.package(first.objid)["hoso"]["title"].endswith("(quét lại)")
    assert ctx.store.fixity().clean
