"""A station that no longer has a returned hồ sơ's pages reopens it from the archive (#17.5): a real station
finishes a hồ sơ (OCR, PDF/A, signature) and the real server stores it; the archive returns it with defects;
the station's pages, derivatives and packages are deleted; reopening downloads the stored package, rebuilds
the batch (records through protocol.package.records, page images out of the signed PDFs' image layer with
their dpi, the split, the defects on their pages); the operator turns one page and finishes; the server
stores version 2 linked to version 1, whose untouched pages carry v1's very image bytes and text. Hostile
packages (a ../ member, another station's hồ sơ, a PDF without its image layer) are refused with a UserError
and write nothing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pikepdf
import pytest

from protocol.errors import UserError
from station.store import BatchState
from station.sync import rebuild, rework
from station.sync.client import SyncClient
from station.sync.worker import SyncWorker
from tests.support.records import AGENCY, hoso_record

STATION_ID = "tram-rb"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@pytest.fixture
def station(tmp_path, sane_test_device, demo_keys):
    from station.config import StationConfig
    from station.service import Station

    st = Station(StationConfig(data_dir=tmp_path / "station", device=sane_test_device, workers=2,
                               agency_name=AGENCY, station_id=STATION_ID, signing_p12=demo_keys.agency_p12,
                               signing_passphrase_file=demo_keys.passphrase_file))
    st.start()
    yield st
    st.stop()


def _doc(ordinal, page_ids):
    return {"ordinal": ordinal, "record": {
        "ordinal": ordinal, "type_name": "02", "issued_date": "04/03/2001", "organ_name": AGENCY,
        "subject": f"Quyết định số {ordinal} về việc cấp giấy chứng nhận", "page_ids": page_ids}}


def _layers(pdf: bytes) -> list[tuple[bytes, str]]:
    """Each page's image XObject bytes as stored, and its text as poppler reads it."""
    import io
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        text = subprocess.run(["pdftotext", f.name, "-"], capture_output=True, check=True).stdout
    # the visible signature's stamp (agency, signing time) is the signature's, not the page's text layer
    pages = ["\n".join(line for line in page.splitlines() if line.strip() != AGENCY and not STAMP.match(line))
             for page in text.decode("utf-8").split("\f")]
    out = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for n, page in enumerate(doc.pages):
            [image] = [x for _, x in page.Resources.XObject.items() if x.Subtype == "/Image"]
            out.append((image.read_raw_bytes(), pages[n]))
    return out


def _pdfs(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package) as zf:
        return {Path(n).name: zf.read(n) for n in zf.namelist() if n.endswith(".pdf")}


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if "station.db" not in p.name}


def test_reopen_from_the_archive_fix_and_send_version_2(station, archive_server, tmp_path):
    from protocol.package import read_package
    from protocol.package.premis import previous_version
    from server.archive import decisions
    from sohoa.samplepages import write_sample_folder
    from station import review

    live, context = archive_server
    creds = context.db.add_station(STATION_ID)
    client = SyncClient(live.url, station_id=STATION_ID, token=creds["token"], timeout=30)
    data = station.config.data_dir
    store = station.store

    # v1: three pages in two documents, finished for real and stored by the server.
    folder = data / "import" / "p"
    write_sample_folder(folder, count=3, seed=11, dpi=200)
    batch = station.open_batch(record=hoso_record(number_of_paper=3), expected_sheets=3, work_order_id=None,
                               operator="op1")
    station.scan(batch["id"], kind="import", options={"folder": folder}, request={}, actor="op1")
    station.wait_idle(120)
    station.to_review(batch["id"], actor="op1")
    assert station.pool.drain(timeout=300)
    pages = [p["id"] for p in store.pages(batch["id"])]
    station.set_documents(batch["id"], [_doc(1, pages[:2]), _doc(2, pages[2:])], actor="op1")
    station.finish(batch["id"], actor="op1", background=False)
    assert SyncWorker(store, client, data).drain_once()
    assert store.batch(batch["id"])["state"] == BatchState.SYNCED
    [sent] = store.outbox(states=("accepted",))
    objid = json.loads(sent["receipt"])["objid"]
    [v1] = context.store.versions(objid)
    code = batch["file_code"]

    # The archive returns it: a page of document 2 unreadable, one of document 1 skewed.
    defects = [{"class": "major", "kind": "wrong_orientation", "objid": objid, "doc_id": f"{code}.2", "page": 1,
                "note": "Trang bị ngược"},
               {"class": "minor", "kind": "skew", "objid": objid, "doc_id": f"{code}.1", "page": 2,
                "note": "Hơi nghiêng"}]
    did = decisions.propose(context.db, lot="L1", objids=[objid], decision="return", defects=defects,
                            inspector="kiem.tra", address="127.0.0.1")
    decisions.validate(context.db, did, validator="truong.phong", makers={"op1"}, address="127.0.0.1")
    [item] = rework.refresh(client, rework.ReworkCache(data))["rework"]
    assert item["batch_uid"] == batch["uid"]

    # The station loses the hồ sơ's files; without the archive it says so, nothing changes.
    for name in ("pages", "derived", "output", "packages"):
        shutil.rmtree(data / name, ignore_errors=True)
    assert rebuild.pages_missing(store, data, store.batch(batch["id"]))
    with pytest.raises(rework.ReworkError) as offline:
        rework.reopen(store, item, actor="op1", data_dir=data)
    assert "kết nối kho lưu trữ" in offline.value.text("vi")
    assert store.batch(batch["id"])["state"] == BatchState.SYNCED

    # Reopened from the archive, as the home screen's button does it (the station's /api, its sync client):
    # same batch, its pages rebuilt from the stored PDFs, defects on them.
    from station.web.app import create_app
    from tests.support.web import login, seed_accounts

    seed_accounts(store)
    station.sync_client = client
    web = create_app(station).test_client()
    bearer = {"Authorization": f"Bearer {login(web, 'op1')['token']}"}
    listed = web.get("/api/rework", headers=bearer).get_json()["rework"]
    assert [(i["objid"], i["status"]) for i in listed] == [(objid, "returned")]
    answer = web.post("/api/rework/reopen", json={"objid": objid}, headers=bearer)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["url"] == f"/batch/{batch['id']}/review"
    again = store.batch(batch["id"])
    assert (again["id"], again["state"]) == (batch["id"], BatchState.REVIEW)
    assert not list((data / "rework").glob("*.zip")), "the download is removed once rebuilt"
    new = store.pages(batch["id"])
    assert len(new) == 3 and {p["id"] for p in new}.isdisjoint(pages)
    assert [p["dpi"] for p in new] == [200.0] * 3 and [p["sheet"] for p in new] == [1, 2, 3]
    assert all((data / p["path"]).is_file() and p["path"].startswith(f"pages/{batch['uid']}/") for p in new)
    split = [d["record"]["page_ids"] for d in store.documents(batch["id"])]
    assert split == [[new[0]["id"], new[1]["id"]], [new[2]["id"]]]
    assert store.documents(batch["id"])[1]["record"]["subject"] == "Quyết định số 2 về việc cấp giấy chứng nhận"
    rec = store.batch(batch["id"])["record"]
    assert {k: rec[k] for k in ("title", "paper_file_code", "fonds_code", "agency_name", "start_date")} == {
        k: batch["record"][k] for k in ("title", "paper_file_code", "fonds_code", "agency_name", "start_date")}
    placed = rework.reopened(store, batch["id"])["defects"]
    assert [d["page_id"] for d in placed] == [new[2]["id"], new[1]["id"]]

    # The fix: the upside-down page turned; finish; the sync sends version 2.
    review.rotate(store, new[2]["id"], by=180, actor="op1")
    station.finish(batch["id"], actor="op1", background=False)
    assert store.batch(batch["id"])["state"] == BatchState.SEALED, station.last_error
    assert SyncWorker(store, client, data).drain_once()
    assert store.batch(batch["id"])["state"] == BatchState.SYNCED
    versions = context.store.versions(objid)
    assert [v.version for v in versions] == [1, 2]
    v2 = read_package(versions[-1].path)
    assert v2.record_status == "REPLACEMENT" and previous_version(v2.premis_objects) == v1.sha256
    assert v2.hoso["numberOfPaper"] == read_package(v1.path).hoso["numberOfPaper"] == "3"
    old, now = _pdfs(v1.path), _pdfs(versions[-1].path)
    assert sorted(old) == sorted(now) == [f"{code}.1.pdf", f"{code}.2.pdf"]
    kept, was = _layers(now[f"{code}.1.pdf"]), _layers(old[f"{code}.1.pdf"])
    assert [k[0] == w[0] for k, w in zip(kept, was, strict=True)] == [True, True]
    assert [k[1] for k in kept] == [w[1] for w in was]  # untouched: same image, same text
    [(turned, _)], [(before, _)] = _layers(now[f"{code}.2.pdf"]), _layers(old[f"{code}.2.pdf"])
    assert turned != before  # the fixed page is a new image
    assert "CỘNG HÒA" in _layers(now[f"{code}.1.pdf"])[0][1].upper()


def _v1(make_package) -> tuple[Path, dict]:
    pkg = make_package()
    item = {"objid": pkg.objid, "file_code": "000.00.00.H47.2001.160.VP", "batch_uid": "B-HOSTILE",
            "version": 1, "sha256": pkg.sha256}
    return pkg.path, item


def test_hostile_packages_are_refused_and_write_nothing(station_store, data_dir, make_package, tmp_path,
                                                        signed_pdf):
    path, item = _v1(make_package)
    before = _files(data_dir)
    # Positive control: the same package, untouched, rebuilds (so each refusal below is about its one flaw).
    good_dir = tmp_path / "good"
    from station.store import Store

    good = rebuild.rebuild(Store(tmp_path / "good.db"), good_dir, item, path, station_id=STATION_ID, actor="op1")
    assert good["state"] == BatchState.SYNCED and len(list((good_dir / "pages").rglob("*.jpg"))) == 1

    # 1. A member climbing out of the folder.
    climbing = tmp_path / "climb.zip"
    shutil.copy(path, climbing)
    with zipfile.ZipFile(climbing, "a") as zf:
        zf.writestr("../../evil.txt", b"x")
    with pytest.raises(UserError) as refused:
        rebuild.rebuild(station_store, data_dir, item, climbing, station_id=STATION_ID, actor="op1")
    assert "../" in refused.value.text("vi") and refused.value.key == "rework_package"

    # 2. Another station's hồ sơ: the package is not the one on this station's list.
    with pytest.raises(UserError) as refused:
        rebuild.rebuild(station_store, data_dir, dict(item, objid=item["objid"].replace("uuid-", "uuid-0")),
                        path, station_id=STATION_ID, actor="op1")
    assert "không phải hồ sơ trạm này" in refused.value.text("vi")
    other = _with_pdf(make_package, tmp_path, signed_pdf, transfer="digitisation at station tram-khac")
    with pytest.raises(UserError) as refused:
        rebuild.rebuild(station_store, data_dir, dict(item, objid=other.objid, sha256=other.sha256), other.path,
                        station_id=STATION_ID, actor="op1")
    assert "tram-khac" in str(refused.value)

    # 3. A PDF whose image layer is missing.
    bare = tmp_path / "bare.pdf"
    with pikepdf.open(signed_pdf) as pdf:
        page = pdf.pages[0]
        for name, x in list(page.Resources.XObject.items()):
            if x.Subtype == "/Image":
                del page.Resources.XObject[name]
        pdf.save(bare)
    imageless = _with_pdf(make_package, tmp_path, bare)
    with pytest.raises(UserError) as refused:
        rebuild.rebuild(station_store, data_dir, dict(item, objid=imageless.objid), imageless.path,
                        station_id=STATION_ID, actor="op1")
    assert "không có lớp ảnh trang" in refused.value.text("vi")

    assert _files(data_dir) == before, "a refused package writes nothing"
    assert not (tmp_path.parent / "evil.txt").exists() and not (data_dir.parent / "evil.txt").exists()
    assert station_store.query("SELECT id FROM batches WHERE uid = 'B-HOSTILE'") == []


def _with_pdf(make_package, tmp_path, pdf: Path, transfer: str = "digitisation"):
    from protocol.clock import iso_vn
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package

    hoso = FileRecord(**hoso_record())
    doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=AGENCY,
                         subject="Quyết định về việc cấp giấy chứng nhận", number_of_page=1)
    out = tmp_path / f"pkg-x{len(list(tmp_path.glob('pkg-x*')))}"
    return build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=pdf, page_count=1)],
                         events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:op1",
                                             detail=transfer, objects=[doc.doc_id(hoso.file_code)])],
                         out_dir=out)
