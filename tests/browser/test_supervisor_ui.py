"""The supervisor's view in Debian's headless Chromium at 1366×768, all in Vietnamese: a real station's
telemetry (real mosquitto, monitor) gives the live pace per operator, station and fonds against the work
orders' plan; a package accepted and then returned at acceptance with two defects gives its operator's
defect rate (the operator read from the package's PREMIS history); a tampered package sent by a real sync
client is rejected and its reasons show as the Vietnamese names of what failed. No raw code, no English
reason, no English message on the page. Screenshot docs/screenshots/archive-supervisor.png."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "server"))
from archive_support import PAGES, build_and_send, three_page_pdf  # noqa: E402,F401 - fixtures
from test_dashboard_support import Floor, floor  # noqa: E402,F401 - fixture
from test_workorders import GOOD, csv_bytes  # noqa: E402

from station.capture.source import ScanFault  # noqa: E402
from tests.support.web import SUPERVISOR, show_listeners_see  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "docs" / "screenshots"
NEVER_SHOWN = ("JAMMED", "blank_page", "Blank page", "Paper jam", "fixity", "signatures", "digest", "mismatch",
               "stored package", "does not", "scanning")


def send_tampered(tmp: Path, pdf: Path, context, url: str) -> list[str]:
    """A real package whose document was changed after it was listed and signed; returns the reasons."""
    from protocol.clock import iso_vn
    from protocol.hashing import sha256_file
    from protocol.metadata import DocumentRecord, FileRecord
    from protocol.package import PackageDocument, PremisEvent, build_package
    from station.sync.client import SyncClient
    from tests.support.records import AGENCY, hoso_record

    hoso = FileRecord(**hoso_record(number_of_paper=PAGES, notation="170.VP"))
    hoso.total_doc, hoso.number_of_page = 1, PAGES
    doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=AGENCY,
                         subject="Quyết định bị sửa sau khi ký", number_of_page=PAGES)
    out = tmp / "bad"
    out.mkdir()
    pkg = build_package(hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=pdf, page_count=PAGES)],
                        events=[PremisEvent(event_type="transfer", at=iso_vn(), agent="person:tran.thi.b",
                                            detail="digitisation", objects=[doc.doc_id(hoso.file_code)])],
                        out_dir=out)
    bad = out / "tampered.zip"
    with zipfile.ZipFile(pkg.path) as src, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".pdf"):
                at = len(data) // 2
                data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
            dst.writestr(info, data)
    creds = context.db.add_station("tram-02", name="Trạm 02")
    receipt = SyncClient(url, station_id=creds["station_id"], token=creds["token"]).send(
        bad, sha256=sha256_file(bad), size=bad.stat().st_size, manifest={"file_code": hoso.file_code})
    assert receipt.verdict == "rejected"
    return receipt.reasons


@pytest.mark.browser
def test_supervisor_view_in_vietnamese(floor: Floor, demo_keys, three_page_pdf, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    from server.archive import browse, decisions
    from server.workorders import import_inventory, read_inventory

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    ctx = floor.context
    ctx.config.trust_roots = [demo_keys.ca_pem]
    ctx.ingest.trust_roots = ctx.config.trust_root_pems()
    import_inventory(ctx.db, read_inventory(Path("x.csv"), csv_bytes(GOOD[:2])))
    (tmp_path / "good").mkdir()
    pkg, doc_id = build_and_send(tmp_path / "good", three_page_pdf, ctx, floor.url)
    did = decisions.propose(ctx.db, lot="lo-01", objids=[pkg.objid], decision="return", inspector="kiem.tra",
                            address="127.0.0.1", defects=[
                                {"class": "major", "kind": "unreadable", "objid": pkg.objid, "doc_id": doc_id,
                                 "page": 2, "note": "mờ"},
                                {"class": "minor", "kind": "skew", "objid": pkg.objid, "doc_id": doc_id,
                                 "page": 3, "note": ""}])
    decisions.validate(ctx.db, did, validator="truong.phong", makers=browse.makers(ctx, pkg.objid),
                       address="127.0.0.1")
    reasons = send_tampered(tmp_path, three_page_pdf, ctx, floor.url)
    assert any(r.startswith("fixity") for r in reasons), reasons  # the English detail the page must not show

    tel = floor.telemetry("st-a")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            tel.set_state(operator="le.van.quet", batch="b-1", batch_state="OPEN", fonds="G09",
                          file_code="000.00.00.H47.2001.161.VP", scanner="scanning")
            tel.progress(pages_captured=24, pages_per_minute=12.0, queue_ocr=1)
            tel.event("fault", code="JAMMED", **ScanFault("jammed").said.as_dict())
            tel.event("qc_flag", code="blank_page", message="Blank page")  # no Vietnamese message sent
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(floor.url + "/login")
            show_listeners_see(page, errors)  # the probe asserted empty at the end does see a script error
            page.fill("input[name=username]", SUPERVISOR[0])
            page.fill("input[name=password]", SUPERVISOR[1])
            page.click("form#login button[type=submit]")
            page.wait_for_url(floor.url + "/")
            expect(page.locator("#live")).to_contain_text("Trực tiếp", timeout=10_000)
            # work-order progress follows the tiles from the first dashboard request on: publish again
            tel.progress(pages_captured=24, pages_per_minute=12.0, queue_ocr=1)

            op = page.locator('#pace-operator tr[data-name="le.van.quet"] td')
            expect(op).to_have_text(["le.van.quet", "24", "24", "24,0"], timeout=15_000)  # vi decimals: a comma
            st = page.locator('#pace-station tr[data-name="st-a"] td')
            expect(st.nth(4)).to_have_text("30")  # the plan: the 30-sheet order assigned to st-a
            expect(st.nth(5)).to_contain_text("80%")  # 24 of 30
            expect(st.nth(6)).to_have_text("0,25")  # 6 sheets left at 24 an hour
            fonds = page.locator('#pace-fonds tr[data-name="G09"] td')
            expect(fonds.nth(4)).to_have_text("42")
            expect(page.locator('#pace-station tr[data-name="st-b"]')).to_contain_text("chưa có kế hoạch")
            d = page.locator('#defects tr[data-operator="le.van.quet"] td')
            expect(d).to_have_text(["le.van.quet", "1", "3", "0", "1", "1", "66,67"])
            rej = page.locator("#rejections")
            expect(rej).to_contain_text("Mã băm hoặc kích thước tệp không khớp")
            expect(rej).to_contain_text("tram-02")
            events = page.locator("#events")
            expect(events).to_contain_text("Lỗi thiết bị: Kẹt giấy", timeout=10_000)
            expect(events).to_contain_text("Trang cần xem lại")
            expect(page.locator('.tile[data-station="st-a"] .status')).to_have_text("Đang hoạt động")
            text = page.locator("main").inner_text()
            leaked = [w for w in NEVER_SHOWN if w in text]
            assert not leaked, leaked
            page.locator("#pace-operator").evaluate("(t) => t.closest('section').scrollIntoView()")
            page.screenshot(path=str(SHOTS / "archive-supervisor.png"))
            assert not errors, errors
        finally:
            tel.stop()
            browser.close()
