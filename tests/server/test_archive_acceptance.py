"""Acceptance (nghiệm thu) end to end on a real server: lots and their gates, the reproducible sample, the
defect record contract, four eyes with the Vietnamese refusal, return, and accept -> a signed PDF/A biên bản
filed as a new AIP version (documentation/, METS, PREMIS) and the hồ sơ archived; every decision logged.
Plus the rules on their own: dpi/colour by document type, the [acceptance] config section, contract policies."""

from __future__ import annotations

import json
import zipfile

import pytest
from acceptance_support import LOT_ACCEPT, LOT_RETURN, MAKER, VALIDATOR, acceptance  # noqa: F401 - fixture
from archive_support import three_page_pdf  # noqa: F401 - fixture
from lxml import html
from records_support import open_records, records, records_target  # noqa: F401 - fixtures

from server.archive import audit, gates, lots, sampling, states
from server.config import AcceptanceConfig


def _page(session, url: str):
    resp = session.get(url, timeout=60)
    assert resp.status_code == 200, resp.text[:300]
    return html.fromstring(resp.text)


def _draw(acc, session, lot: str) -> dict:
    resp = acc.post(session, f"/archive/lot/{lot}/sample", {}, f"/archive/lot/{lot}")
    assert resp.status_code == 200
    return lots.latest_sample(acc.context, lot)


def test_lots_list_their_hoso_and_every_gate(acceptance):  # noqa: F811 - fixture
    s = acceptance.session()
    page = _page(s, f"{acceptance.url}/archive/lots")
    listed = {tr.get("data-lot") for tr in page.xpath("//table[@id='lots']//tr[@data-lot]")}
    assert {LOT_RETURN, LOT_ACCEPT} <= listed
    page = _page(s, f"{acceptance.url}/archive/lot/{LOT_ACCEPT}")
    section = page.xpath(f"//section[@data-objid='{acceptance.objids[LOT_ACCEPT]}']")[0]
    rows = {tr.get("data-gate"): tr.get("class") for tr in section.xpath(".//tr")}
    # every gate evaluated on the real document, dpi and colour too (200 dpi RGB, 24 bit, typeName 02)
    assert rows == {"package_intact": "ok", "pdfa": "ok", "signature": "ok", "counts": "ok",
                    "names_checksums": "ok", "text_every_page": "ok", "paper_file_code": "ok", "dpi_colour": "ok"}
    assert s.get(f"{acceptance.url}/archive/lot/nonsense", timeout=30).status_code == 404
    assert s.get(f"{acceptance.url}/archive/lot/station:..%2F..", timeout=30).status_code == 404


def test_dpi_and_colour_by_document_type():
    rules = AcceptanceConfig()
    page = {"page": 1, "dpi": 200.0, "bits": 24, "rgb": True}
    fine = gates.dpi_colour({"D.1": {"type": "02", "pages": [page]}}, rules)
    assert fine.ok is True and not fine.details
    drawing = gates.dpi_colour({"D.2": {"type": "30", "pages": [page]}}, rules)  # maps/drawings need 300
    assert drawing.ok is False and "200 dpi < 300" in drawing.details[0]
    grey = gates.dpi_colour({"D.1": {"type": "02", "pages": [dict(page, bits=8, rgb=False)]}}, rules)
    assert grey.ok is False and "not 24-bit colour" in grey.details[0]
    looser = gates.dpi_colour({"D.2": {"type": "30", "pages": [page]}}, AcceptanceConfig(dpi_drawings=200))
    assert looser.ok is True
    assert gates.dpi_colour(None, rules).ok is None  # unreadable documents are "not checked", never passed


def test_acceptance_section_in_the_one_config_loader(tmp_path):
    from protocol.config import ConfigError
    from server.config import load_config

    good = tmp_path / "server.toml"
    good.write_text(f'data_dir = "{tmp_path}"\n[acceptance]\ndpi_drawings = 400\nsampling_rule = "iso2859-1"\n'
                    'contracts = ["WO-7=percent:10:5"]\n', encoding="utf-8")
    cfg = load_config(good)
    assert (cfg.acceptance.dpi_drawings, cfg.acceptance.dpi_default, cfg.acceptance.sampling_rule) == \
        (400, 200, "iso2859-1")
    bad = tmp_path / "bad.toml"
    bad.write_text(f'data_dir = "{tmp_path}"\n[acceptance]\nsampling_rule = "guess"\ncolour_bits = 0\n',
                   encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert {p.key for p in err.value.problems} == {"acceptance.sampling_rule", "acceptance.colour_bits"}


def test_policy_per_contract():
    rules = AcceptanceConfig(contracts=["WO-7=percent:10:5", "B-1=iso2859-1", "X=percent:ten"])
    assert lots.policy_for(rules, "wo:WO-7") == {"rule": "percent", "percent": 10.0, "minimum": 5}
    assert lots.policy_for(rules, "batch:B-1") == {"rule": "iso2859-1"}
    assert lots.policy_for(rules, "wo:OTHER") == {"rule": "percent", "percent": 3.3, "minimum": 20}
    with pytest.raises(lots.LotError, match="cannot read"):
        lots.policy_for(rules, "wo:X")


def test_sample_is_stored_shown_and_reproducible(acceptance):  # noqa: F811 - fixture
    s = acceptance.session()
    drawn = _draw(acceptance, s, LOT_RETURN)
    units = lots.units(acceptance.context, [acceptance.objids[LOT_RETURN]])
    assert drawn["lot_size"] == len(units) == 3
    assert drawn["policy"] == {"rule": "percent", "percent": 3.3, "minimum": 20}
    assert sampling.draw(units, drawn["policy"], drawn["seed"]) == drawn["sample"]  # anyone can draw it again
    page = _page(s, f"{acceptance.url}/archive/lot/{LOT_RETURN}")
    assert page.get_element_by_id("seed").text == drawn["seed"]
    hoso = _page(s, f"{acceptance.url}/archive/hoso/{acceptance.objids[LOT_RETURN]}")
    assert drawn["seed"] in hoso.get_element_by_id("acceptance").text_content()
    logged = [e["detail"] for e in audit.entries(acceptance.context.db, limit=50) if e["target"] == LOT_RETURN]
    assert any(f"seed {drawn['seed']}" in d for d in logged)


def test_station_history_switches_severity(records):  # noqa: F811 - fixture
    from types import SimpleNamespace

    from server.archive import decisions

    ctx = SimpleNamespace(db=records)
    assert lots.station_severity(ctx, "tram-9") == "normal"  # no history yet
    for n, outcome in enumerate(("accept", "return", "accept", "return")):
        sampling.record_sample(records, lot=f"wo:L{n}", units=[sampling.Unit("o", "d", 1)],
                               policy={"rule": "iso2859-1"}, drawn_by="k", station_id="tram-9")
        did = decisions.propose(records, lot=f"wo:L{n}", objids=[f"o{n}"], decision=outcome, defects=[],
                                inspector="k", address="x")
        decisions.validate(records, did, validator="v", makers=set(), address="x")
        expected = "tightened" if n == 3 else "normal"  # 2 of the last 5 lots rejected
        assert lots.station_severity(ctx, "tram-9") == expected, n
    assert lots.station_severity(ctx, "tram-other") == "normal"  # another station's history is its own


def test_accept_needs_the_archive_key(tmp_path):
    from server.archive import signing
    from server.config import ServerConfig

    with pytest.raises(signing.ArchiveKeyError) as err:
        signing.archive_key(ServerConfig(data_dir=tmp_path))
    assert "khóa ký số của cơ quan lưu trữ" in err.value.text("vi") and err.value.status == 503
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "archive.p12").write_bytes(b"not a PKCS#12")
    with pytest.raises(signing.ArchiveKeyError, match="cannot open"):  # the default place is used, and checked
        signing.sign(b"%PDF-1.7", ServerConfig(data_dir=tmp_path), field="F", reason="r")


def test_return_with_defects_and_four_eyes(acceptance, tmp_path):  # noqa: F811 - fixture
    lot, objid = LOT_RETURN, acceptance.objids[LOT_RETURN]
    s = acceptance.session()
    if lots.latest_sample(acceptance.context, lot) is None:
        _draw(acceptance, s, lot)
    unit = lots.latest_sample(acceptance.context, lot)["sample"][1]
    marks = [{"class": "major", "kind": "unreadable", "objid": objid, "doc_id": unit.doc_id, "page": unit.page,
              "note": "mờ góc trái", "extra": "dropped"},
             {"class": "critical", "kind": "missing_page", "objid": objid, "doc_id": None, "page": 4, "note": ""}]
    resp = acceptance.post(s, f"/archive/lot/{lot}/propose", {"decision": "return", "defects": json.dumps(marks)},
                           f"/archive/lot/{lot}/inspect")
    assert resp.status_code == 200 and "/archive/decision/" in resp.url
    did = resp.url.rsplit("/", 1)[1]
    row = acceptance.context.db.one("SELECT * FROM acceptance_decisions WHERE id = ?", (did,))
    # the defect record contract the station's rework screen reads: exactly these keys
    assert json.loads(row["defects"]) == [
        {"class": "major", "kind": "unreadable", "objid": objid, "doc_id": unit.doc_id, "page": unit.page,
         "note": "mờ góc trái"},
        {"class": "critical", "kind": "missing_page", "objid": objid, "doc_id": None, "page": None, "note": ""}]
    assert states.state_of(acceptance.context.db, [objid])[objid] == "in_review"

    page = f"/archive/decision/{did}"
    refused = acceptance.post(s, f"{page}/validate", {}, page)  # the inspector
    assert refused.status_code == 409
    assert "Người kiểm tra không được tự phê duyệt" in refused.text
    maker = acceptance.session(MAKER)  # the operator who digitised it (PREMIS person:le.van.quet)
    refused = acceptance.post(maker, f"{page}/validate", {}, page)
    assert refused.status_code == 409 and "Người đã số hóa hồ sơ không được phê duyệt" in refused.text
    assert states.state_of(acceptance.context.db, [objid])[objid] == "in_review"

    validator = acceptance.session(VALIDATOR)
    done = acceptance.post(validator, f"{page}/validate", {}, page)
    assert done.status_code == 200
    assert states.state_of(acceptance.context.db, [objid])[objid] == "returned"
    assert acceptance.context.store.get(objid).version == 1  # a return files nothing
    shown = _page(s, f"{acceptance.url}/archive/hoso/{objid}").get_element_by_id("acceptance")
    kinds = [li.get("data-kind") for li in shown.xpath(".//li[@data-kind]")]
    assert kinds == ["unreadable", "missing_page"] and "mờ góc trái" in shown.text_content()
    log = [(e["actor"], e["detail"].split()[0]) for e in audit.entries(acceptance.context.db, limit=500)
           if e["action"] == "decision" and e["target"] == lot]
    assert log[:2] == [("truong.phong", "validate"), ("chi.luutru", "propose")]
    assert set(log[2:]) == {("chi.luutru", "sample")}  # the draws before it, each with its seed

    # a returned hồ sơ waits; once a newer version of it is stored (the rework), it is to be inspected again
    assert [h["pending"] for h in lots.lot_hoso(acceptance.context, lot)] == [False]
    _store_new_version(acceptance, objid, tmp_path)
    (again,) = lots.lot_hoso(acceptance.context, lot)
    assert again["state"] == "returned" and again["reworked"] and again["pending"]
    assert "chờ nghiệm thu lại" in _page(s, f"{acceptance.url}/archive/lot/{lot}").text_content()


def _store_new_version(acc, objid: str, tmp_path) -> None:
    from protocol.package import read_package
    from protocol.package.migrate import migrate_package

    latest = acc.context.store.get(objid)
    built = migrate_package(latest.path, tmp_path / "v2")
    stored = acc.context.store.put(built.path, objid=objid, sha256=built.sha256)
    acc.context.catalog.add_package(read_package(stored.path), stored_path=str(stored.path), sha256=stored.sha256,
                                    station_id="tram-01")


def test_lot_names():
    assert lots.lot_of({"work_order_id": "WO-3", "batch_uid": "b1", "station_id": "s"}) == "wo:WO-3"
    assert lots.lot_of({"work_order_id": None, "batch_uid": "b1", "station_id": "s"}) == "batch:b1"
    assert lots.lot_of({"work_order_id": "", "batch_uid": "", "station_id": "tram-01"}) == "station:tram-01"
    for bad in ("wo:", "wo:../x", "x:1", "wo:a b"):
        with pytest.raises(lots.LotError):
            lots.check_name(bad)


def test_bad_marks_are_refused_in_vietnamese(acceptance):  # noqa: F811 - fixture
    s = acceptance.session()
    lot = LOT_ACCEPT
    for marks, says in ((["x"], "không thuộc lô"), ("{", "không đọc được"),
                        ([{"class": "minor", "kind": "coffee", "objid": acceptance.objids[lot]}], "Loại lỗi")):
        sent = marks if isinstance(marks, str) else json.dumps(marks)
        resp = acceptance.post(s, f"/archive/lot/{lot}/propose", {"decision": "return", "defects": sent},
                               f"/archive/lot/{lot}")
        assert says in resp.text
    assert states.state_of(acceptance.context.db, [acceptance.objids[lot]])[acceptance.objids[lot]] == "received"


def test_accept_files_a_signed_pdfa_record_as_a_new_version(acceptance, tmp_path):  # noqa: F811 - fixture
    from protocol.package import read_package
    from protocol.pdfa_check import check_pdfa
    from protocol.signatures import validate_pdf_signatures
    from server.checks import STRUCTURAL, run_checks

    lot, objid, other = LOT_ACCEPT, acceptance.objids[LOT_ACCEPT], acceptance.objids["other"]
    s = acceptance.session()
    _draw(acceptance, s, lot)
    # part of the lot first: the other hồ sơ goes back with a defect, then this one is accepted
    wrong = [{"class": "major", "kind": "wrong_order", "objid": other, "doc_id": None, "page": None, "note": "đảo"}]
    resp = acceptance.post(s, f"/archive/lot/{lot}/propose",
                           {"decision": "return", "objid": other, "defects": json.dumps(wrong)},
                           f"/archive/lot/{lot}/inspect")
    back = resp.url.rsplit("/", 1)[1]
    assert acceptance.post(acceptance.session(VALIDATOR), f"/archive/decision/{back}/validate", {},
                           f"/archive/decision/{back}").status_code == 200
    assert states.state_of(acceptance.context.db, [objid, other]) == {objid: "received", other: "returned"}
    resp = acceptance.post(s, f"/archive/lot/{lot}/propose", {"decision": "accept", "defects": json.dumps(
        [{"class": "minor", "kind": "skew", "objid": objid, "doc_id": None, "page": None, "note": "nhẹ"}])},
        f"/archive/lot/{lot}/inspect")
    did = resp.url.rsplit("/", 1)[1]
    page = f"/archive/decision/{did}"
    before = acceptance.context.store.get(objid)
    done = acceptance.post(acceptance.session(VALIDATOR), f"{page}/validate", {}, page)
    assert done.status_code == 200 and "bienban-nghiemthu" in done.text
    assert states.state_of(acceptance.context.db, [objid])[objid] == "archived"

    stored = acceptance.context.store.get(objid)
    assert stored.version == before.version + 1 and before.path.exists()  # the old version is kept as it was
    name = f"bienban-nghiemthu-{did}.pdf"
    contents = read_package(stored.path)
    listed = [f for f in contents.files if f.use == "Documentation"]
    assert [f.path for f in listed] == [f"documentation/{name}"]
    pdf = tmp_path / name
    with zipfile.ZipFile(stored.path) as zf:
        pdf.write_bytes(zf.read(f"{contents.folder}/documentation/{name}"))
        with zipfile.ZipFile(before.path) as old:  # the signed data files are carried byte for byte
            for doc in contents.documents:
                member = f"{contents.folder}/{doc.pdf_member}"
                assert zf.read(member) == old.read(member)
    from protocol.hashing import sha256_file

    assert listed[0].sha256.upper() == sha256_file(pdf).upper()
    assert check_pdfa(pdf, capture=False) == []
    verdict = validate_pdf_signatures(pdf, trust_roots=[acceptance.ca_pem])
    assert verdict.ok and verdict.covers_whole_file, verdict.reasons
    from protocol.pdftext import pdf_text

    text = pdf_text(pdf)
    assert "BIÊN BẢN NGHIỆM THU" in text and "161.VP" in text and "truong.phong" in text
    assert "162.VP" in text and "Sai thứ tự" in text and "đảo" in text  # the returned hồ sơ with its defect
    assert "160.VP" not in text  # another lot's hồ sơ is not in this lot's record
    event = next(e for e in contents.events if e.get("type") == "accession")
    assert event["extra"]["decision"] == did and event["extra"]["validator"] == "truong.phong"
    assert run_checks(stored.path, trust_roots=[], only=STRUCTURAL).ok
    assert acceptance.context.catalog.package(objid)["sha256"].upper() == stored.sha256.upper()
    view = _page(s, f"{acceptance.url}/archive/hoso/{objid}")
    assert view.get_element_by_id("hoso-state").get("class").endswith("state-archived")
    again = acceptance.post(acceptance.session(VALIDATOR), f"{page}/validate", {}, page)
    assert again.status_code == 409 and "đã được phê duyệt" in again.text
    assert any(e["detail"].startswith("archived 1 hồ sơ") for e in audit.entries(acceptance.context.db, limit=500))


def test_iso2859_plan_verdict_reason_and_bienban(acceptance, tmp_path):  # noqa: F811 - fixture
    """A contract on ISO 2859-1: the drawn sample carries its plan (Table I: a lot of 3 pages is letter A,
    n = 2; Table II-A normal, row A: AQL 4.0 is ↓ to row B's 0/1, AQL 1.0 ↓ to row E's 0/1, critical AQL 0:
    0/1), shown on the lot, inspector and decision pages; one minor defect reaches Re = 1, so the plan says
    return: accepting needs a written reason, which is recorded, shown and written in the biên bản with the
    plan (letter, n, Ac, Re, d). Runs after the lot's rework (test_return_with_defects_and_four_eyes)."""
    from protocol.pdftext import pdf_text

    lot, objid = LOT_RETURN, acceptance.objids[LOT_RETURN]
    rules = acceptance.context.config.acceptance
    rules.contracts.append("tram-01=iso2859-1")
    try:
        s = acceptance.session()
        sample = _draw(acceptance, s, lot)
        plan = sample["policy"]["plan"]
        assert (plan["letter"], plan["n"], plan["table"], len(sample["sample"])) == ("A", 2, "II-A", 2)
        assert {c: (p["letter"], p["ac"], p["re"]) for c, p in plan["classes"].items()} == {
            "critical": ("A", 0, 1), "major": ("E", 0, 1), "minor": ("B", 0, 1)}
        shown = _page(s, f"{acceptance.url}/archive/lot/{lot}").get_element_by_id("plan")
        assert shown.get_element_by_id("plan-letter").text_content() == "A"
        inspect = _page(s, f"{acceptance.url}/archive/lot/{lot}/inspect")
        assert inspect.xpath("//form[@id='propose']//table[@id='plan']//tr[@data-class='minor']/@data-re") == ["1"]
        unit = sample["sample"][0]
        skew = [{"class": "minor", "kind": "skew", "objid": objid, "doc_id": unit.doc_id, "page": unit.page,
                 "note": "nghiêng 1°"}]
        before = acceptance.context.db.one("SELECT count(*) AS n FROM acceptance_decisions")["n"]
        refused = acceptance.post(s, f"/archive/lot/{lot}/propose", {"decision": "accept",
                                                                     "defects": json.dumps(skew)},
                                  f"/archive/lot/{lot}/inspect")
        assert refused.url.endswith(f"/archive/lot/{lot}/inspect")
        assert "trái với kết luận của phương án lấy mẫu ISO 2859-1" in refused.text
        assert acceptance.context.db.one("SELECT count(*) AS n FROM acceptance_decisions")["n"] == before
        reason = "Nghiêng nhẹ, chữ vẫn đọc rõ"
        resp = acceptance.post(s, f"/archive/lot/{lot}/propose", {"decision": "accept", "plan_reason": reason,
                                                                  "defects": json.dumps(skew)},
                               f"/archive/lot/{lot}/inspect")
        did = resp.url.rsplit("/", 1)[1]
        row = acceptance.context.db.one("SELECT plan, plan_reason FROM acceptance_decisions WHERE id = ?", (did,))
        kept = json.loads(row["plan"])
        assert (kept["verdict"], kept["d"], row["plan_reason"]) == (
            "return", {"critical": 0, "major": 0, "minor": 1}, reason)
        page = f"/archive/decision/{did}"
        view = _page(acceptance.session(VALIDATOR), acceptance.url + page)  # what the validator sees
        assert view.get_element_by_id("plan-reason").text_content() == reason
        assert "lô không đạt" in view.get_element_by_id("plan-verdict").text_content()
        assert view.xpath("//table[@id='plan']//tr[@data-class='minor']/td[@class='d']/text()") == ["1"]
        done = acceptance.post(acceptance.session(VALIDATOR), f"{page}/validate", {}, page)
        assert done.status_code == 200 and "bienban-nghiemthu" in done.text
    finally:
        rules.contracts.remove("tram-01=iso2859-1")
    stored = acceptance.context.store.get(objid)
    from protocol.package import read_package

    contents = read_package(stored.path)
    pdf = tmp_path / "bienban.pdf"
    with zipfile.ZipFile(stored.path) as zf:
        pdf.write_bytes(zf.read(f"{contents.folder}/documentation/bienban-nghiemthu-{did}.pdf"))
    text = " ".join(pdf_text(pdf).split())
    assert "mã chữ A, cỡ mẫu n = 2" in text and "bảng II-A" in text
    assert "Lỗi nhẹ: AQL 4.0, Ac = 0, Re = 1, d = 1" in text
    assert f"Đề xuất khác phương án, lý do: {reason}" in text
