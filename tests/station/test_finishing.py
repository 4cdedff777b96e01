"""Finishing a batch in a real Station: OCR → PDF/A → signature → TT05 package → outbox, and its failures."""

from __future__ import annotations

import zipfile

import pytest

from protocol.errors import Message
from protocol.metadata import MetadataError
from protocol.package import read_package
from protocol.package.model import text_path
from protocol.pdftext import pdf_text
from station.finishing import FinishError
from station.store import BatchState
from tests.support.wait import wait_until

AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"


@pytest.fixture
def station(tmp_path, sane_test_device, demo_keys):
    from station.config import StationConfig
    from station.service import Station

    config = StationConfig(data_dir=tmp_path / "station", device=sane_test_device, workers=2,
                           agency_name=AGENCY, signing_p12=demo_keys.agency_p12,
                           signing_passphrase_file=demo_keys.passphrase_file)
    st = Station(config)
    st.start()
    yield st
    st.stop()


def _imported_batch(station, tmp_path, *, pages: int = 2):
    from sohoa.samplepages import write_sample_folder
    from tests.support.records import hoso_record

    folder = station.config.data_dir / "import" / "p"
    write_sample_folder(folder, count=pages, seed=11, dpi=300)
    batch = station.open_batch(record=hoso_record(), expected_sheets=pages, work_order_id=None, operator="op1")
    station.scan(batch["id"], kind="import", options={"folder": folder}, request={}, actor="op1")
    station.wait_idle(120)
    station.to_review(batch["id"], actor="op1")
    assert station.pool.drain(timeout=300)
    return batch, station.store.pages(batch["id"])


def _doc(ordinal, page_ids, **over):
    record = {"ordinal": ordinal, "type_name": "02", "issued_date": "04/03/2001", "organ_name": AGENCY,
              "subject": "Quyết định về việc cấp giấy chứng nhận", "page_ids": page_ids}
    record.update(over)
    return {"ordinal": ordinal, "record": record}


def test_finish_seals_a_verified_package(station, tmp_path, demo_keys):
    from server.checks import run_checks

    batch, pages = _imported_batch(station, tmp_path)
    station.set_documents(batch["id"], [_doc(1, [pages[0]["id"]]), _doc(2, [pages[1]["id"]])], actor="op1")
    station.finish(batch["id"], actor="op1", background=False)
    assert station.store.batch(batch["id"])["state"] == BatchState.SEALED
    [item] = station.store.outbox()
    package = station.config.data_dir / item["package_path"]
    verdict = run_checks(package, trust_roots=[demo_keys.ca_pem.read_bytes()], expected_sheets=2, texts=True)
    assert verdict.ok, [c for c in verdict.checks if not c.ok]
    # Each document's text layer travels in the package: pdftotext of its signed PDF (the visible signature's
    # stamp included), one form feed per page, and it is the text the archive's catalogue takes.
    contents = read_package(package)
    packed_texts = set()
    with zipfile.ZipFile(package) as zf:
        for doc in contents.documents:
            assert doc.text_member == text_path(doc.doc_id)
            packed = zf.read(f"{contents.folder}/{doc.text_member}").decode("utf-8")
            pdf = tmp_path / "check.pdf"
            pdf.write_bytes(zf.read(f"{contents.folder}/{doc.pdf_member}"))
            assert packed == pdf_text(pdf) and packed.count("\f") == 1 and packed.strip()
            assert verdict.texts[doc.doc_id] == packed
            packed_texts.add(packed)
    docs = station.store.documents(batch["id"])
    assert [d["page_count"] for d in docs] == [1, 1]
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in docs[0]["text"].upper()  # OCR text kept per document
    assert {d["text"] for d in docs} == packed_texts  # one text per document: the layer it packs
    actions = [r["action"] for r in station.store.query("SELECT action FROM audit WHERE batch_id = ?",
                                                           (batch["id"],))]
    assert actions[-2:] == ["batch.finishing", "batch.sealed"]


def test_pages_left_out_of_documents_refused(station, tmp_path):
    batch, pages = _imported_batch(station, tmp_path)
    station.set_documents(batch["id"], [_doc(1, [pages[0]["id"]])], actor="op1")
    station.finish(batch["id"], actor="op1", background=False)
    assert station.store.batch(batch["id"])["state"] == BatchState.REVIEW  # back to review, nothing sealed
    assert "exactly one document" in station.last_error[batch["id"]]["message"]
    said = Message.from_dict(station.last_error[batch["id"]])  # kept by key: shown in the operator's language
    assert said.text("vi") and said.text("vi") != said.text("en")
    assert station.store.outbox() == []


def test_bad_document_metadata_reports_every_problem(station, tmp_path):
    from station.finishing import Finisher

    batch, pages = _imported_batch(station, tmp_path, pages=1)
    station.set_documents(batch["id"], [_doc(1, [pages[0]["id"]], type_name="99", issued_date="31/02/2001")],
                          actor="op1")
    finisher = Finisher(station.store, station.config.data_dir, signer=station.signer(), agency_name=AGENCY)
    with pytest.raises((MetadataError, FinishError)) as err:
        finisher.finish(batch["id"], actor="op1")
    text = str(err.value)  # every problem, each named by its field's label
    assert "Type of document: unknown code '99'" in text and "Date of the document: '31/02/2001'" in text
    assert station.store.batch(batch["id"])["state"] == BatchState.REVIEW


def test_restart_while_finishing_goes_back_to_review(tmp_path, sane_test_device):
    from station.config import StationConfig
    from station.service import Station
    from tests.support.records import hoso_record

    config = StationConfig(data_dir=tmp_path / "st", device=sane_test_device, workers=1)
    first = Station(config)
    batch = first.open_batch(record=hoso_record(), expected_sheets=1, work_order_id=None, operator="op1")
    first.store.transition(batch["id"], BatchState.REVIEW, actor="op1")
    first.store.transition(batch["id"], BatchState.FINISHING, actor="op1")  # then the power goes
    second = Station(config)
    second.start()
    try:
        assert second.store.batch(batch["id"])["state"] == BatchState.REVIEW
    finally:
        second.stop()


def test_a_page_turned_in_review_is_reprocessed_before_finishing(station, tmp_path):
    from station import review

    batch, pages = _imported_batch(station, tmp_path, pages=1)
    page = pages[0]
    review.rotate(station.store, page["id"], by=90, actor="op1")
    assert station.refresh_derivatives(batch["id"]) == 1
    assert station.pool.drain(timeout=120)
    again = station.store.page(page["id"])
    assert again["processing"]["manual_rotation"] == 90
    assert again["derivative_path"] != page["derivative_path"]  # a new derivative, turned
    assert station.refresh_derivatives(batch["id"]) == 0


def test_reprocessing_keeps_what_the_operator_decided(tmp_path, sane_test_device, demo_keys):
    """Accepted flags stay accepted and a page kept by hand stays kept when the page is re-derived after a
    turn (as Finish does); the new derivative holds the turn once. The station's [processing] thresholds
    reach the workers: min_dpi 600 flags every 300 dpi page."""
    import cv2

    from station import review
    from station.config import StationConfig
    from station.processing.config import ProcessingConfig
    from station.service import Station

    config = StationConfig(data_dir=tmp_path / "station", device=sane_test_device, workers=1,
                           agency_name=AGENCY, processing=ProcessingConfig(min_dpi=600.0))
    station = Station(config)
    station.start()
    try:
        batch, pages = _imported_batch(station, tmp_path, pages=1)
        page = pages[0]
        assert [f["code"] for f in page["flags"]] == ["low_dpi"], "the station's threshold was used"
        review.accept_flags(station.store, page["id"], actor="op1")
        review.set_blank(station.store, page["id"], True, actor="op1")  # set apart by hand (the back of a form)
        before = cv2.imread(str(config.data_dir / page["derivative_path"]))
        review.rotate(station.store, page["id"], by=90, actor="op1")
        assert station.refresh_derivatives(batch["id"]) == 1
        assert station.pool.drain(timeout=120)
        again = station.store.page(page["id"])
        assert again["derivative_path"] != page["derivative_path"]
        assert again["blank"], "the operator set the page apart; the detector did not"
        assert [(f["code"], f.get("accepted_by")) for f in again["flags"]] == [("low_dpi", "op1")]
        after = cv2.imread(str(config.data_dir / again["derivative_path"]))
        assert after.shape[:2] == before.shape[1::-1], "turned a quarter once"
        assert again["processing"]["manual_rotation"] == 90 and again["rotation"] == 90
    finally:
        station.stop()


def test_finish_answers_at_once_and_processes_turned_pages_in_its_own_thread(station, tmp_path):
    """Finish (as the HTTP request calls it) returns before the turned pages are processed again: the pool is
    drained in the finishing thread, whose step the UI reads, and the package is made from the new pages."""

    from station import review

    batch, pages = _imported_batch(station, tmp_path, pages=2)
    station.set_documents(batch["id"], [_doc(1, [p["id"] for p in pages])], actor="op1")
    for page in pages:
        review.rotate(station.store, page["id"], by=90, actor="op1")
    before = {p["id"]: p["derivative_path"] for p in pages}

    def derivatives() -> dict:
        return {p["id"]: station.store.page(p["id"])["derivative_path"] for p in pages}

    station.finish(batch["id"], actor="op1")
    assert derivatives() == before, "the caller returned before any page was processed again"
    assert station.finishing.get(batch["id"]) == "start", "the UI sees finishing at once"
    wait_until(lambda: station.store.batch(batch["id"])["state"] == BatchState.SEALED
               or batch["id"] in station.last_error, 300, "the finish to end")
    assert station.store.batch(batch["id"])["state"] == BatchState.SEALED, station.last_error.get(batch["id"])
    after = derivatives()
    assert all(after[i] != before[i] for i in before), "the same probe sees the pages processed again"
    assert all(station.store.page(i)["processing"]["manual_rotation"] == 90 for i in before)
