"""Archive workspace, copies for users: each of the four kinds made through the real web app for a request,
with its mark on the copy and never on the master (the stored package's hash is unchanged), the certified
copies signed by the archive and valid, the DIP holding the untouched original and a valid request EAD, an
expired read-only view refused, bad requests refused in Vietnamese, and every copy in the access log."""

from __future__ import annotations

import io
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from archive_support import archive, three_page_pdf  # noqa: F401 - fixtures

from protocol.clock import now_vn
from protocol.hashing import sha256_file
from protocol.signatures import validate_pdf_signatures
from server.archive import audit, copies
from tests.support.web import ARCHIVIST, SUPERVISOR, csrf_from

ARCHIVE_NAME = "Lưu trữ lịch sử tỉnh Đồng Nai"


def _text(pdf: Path, page: int | None = None) -> str:
    args = ["pdftotext", "-layout"] + (["-f", str(page), "-l", str(page)] if page else []) + [str(pdf), "-"]
    return subprocess.run(args, capture_output=True, check=True, timeout=60).stdout.decode()


@pytest.fixture(scope="module")
def signing(archive, demo_keys):  # noqa: F811 - fixture
    cfg = archive.context.config
    cfg.archive_name = ARCHIVE_NAME
    cfg.archive_signer_p12, cfg.archive_signer_passphrase_file = demo_keys.agency_p12, demo_keys.passphrase_file
    return archive


def _request(session, url: str, objid: str, doc_id: str, kind: str, until=None, **over):
    page = session.get(f"{url}/archive/copies/", params={"objid": objid}, timeout=30)
    form = {"csrf_token": csrf_from(page.text), "objid": objid, "doc_id": doc_id, "kind": kind,
            "recipient": "Nguyễn Thị Hoa", "recipient_id": "079190000123", "purpose": "02",
            "purpose_content": "Giải quyết hồ sơ đất đai",
            "until": (until or now_vn().date() + timedelta(days=10)).isoformat(), **over}
    return session.post(f"{url}/archive/copies/", data=form, allow_redirects=False, timeout=120)


def _made(arc, kind: str, **over) -> tuple[dict, Path]:
    resp = _request(arc.session(), arc.url, arc.objid, arc.doc_id, kind, **over)
    assert resp.status_code == 303, resp.text[-800:]
    copy_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    row = copies.get(arc.context, copy_id)
    return row, copies.path_of(arc.context, row)


def _signature_box(pdf: Path) -> tuple[float, float]:
    """(page height, bottom of the agency's visible signature box) on page 1, PDF points."""
    import pikepdf

    with pikepdf.open(pdf) as doc:
        page = doc.pages[0]
        [rect] = [[float(v) for v in a.Rect] for a in page.get("/Annots", []) if a.get("/FT") == "/Sig"]
        return float(page.mediabox[3]), min(rect[1], rect[3])


def _box(pdf: Path, word: str) -> tuple[float, float, float, float]:
    """(xMin, yMin, xMax, yMax) of the first `word` on page 1, top-left origin, points (pdftotext -bbox)."""
    import re

    xml = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                         check=True, timeout=60).stdout.decode()
    for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', xml):
        if word in m.group(5):
            return tuple(float(v) for v in m.groups()[:4])  # type: ignore[return-value]
    raise AssertionError(f"{word!r} not on page 1")


def _master(arc) -> Path:
    from server.archive import render

    return render.open_document(arc.context, arc.objid, arc.doc_id).pdf


def test_read_only_view_marks_every_page_then_expires(signing):
    arc = signing
    stored = arc.context.store.get(arc.objid)
    before = sha256_file(stored.path)
    row, path = _made(arc, "read")
    pages = 3
    for n in range(1, pages + 1):
        assert ARCHIVE_NAME in _text(path, n), f"page {n} of the read-only view has no archive name"
        assert ARCHIVE_NAME not in _text(_master(arc), n)
    assert sha256_file(stored.path) == before == row["source_sha256"]
    s = arc.session()
    read = s.get(f"{arc.url}/archive/copies/{row['id']}/read", timeout=30)
    assert read.status_code == 200 and "Hết hạn sau ngày" in read.text
    img = s.get(f"{arc.url}/archive/copies/{row['id']}/read/1.png", timeout=60)
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    assert s.get(f"{arc.url}/archive/copies/{row['id']}/file", timeout=30).status_code == 403  # no download
    # the same view once its date has passed (the request's date moved back: time cannot be waited for)
    with arc.context.db.tx() as conn:
        conn.execute("UPDATE archive_copies SET until = ? WHERE id = ?",
                     ((now_vn().date() - timedelta(days=1)).isoformat(), row["id"]))
    expired = s.get(f"{arc.url}/archive/copies/{row['id']}/read", timeout=30)
    assert expired.status_code == 410 and "đã hết hạn" in expired.text
    assert s.get(f"{arc.url}/archive/copies/{row['id']}/read/1.png", timeout=30).status_code == 410
    with pytest.raises(copies.CopyError):
        copies.readable(arc.context, row["id"])


def test_copy_marked_ban_sao_master_untouched(signing):
    arc = signing
    stored = arc.context.store.get(arc.objid)
    before = sha256_file(stored.path)
    row, path = _made(arc, "copy")
    assert "BẢN SAO" in _text(path, 1)
    mark, (height, sig_bottom) = _box(path, "SAO"), _signature_box(_master(arc))
    assert mark[1] >= height - sig_bottom and mark[0] > 300, (mark, sig_bottom)  # top right, below the stamp
    assert "BẢN SAO" not in _text(_master(arc))
    assert sha256_file(stored.path) == before
    resp = arc.session().get(f"{arc.url}/archive/copies/{row['id']}/file", timeout=30)
    assert resp.status_code == 200 and resp.content == path.read_bytes()
    log = audit.entries(arc.context.db, limit=5)
    assert (log[0]["action"], log[0]["target"]) == ("download", f"copy/{row['id']}")
    assert any(e["action"] == "copy" and row["id"] in e["detail"] and "Nguyễn Thị Hoa" in e["detail"] for e in log)


def test_certified_copy_signed_by_the_archive(signing, demo_keys, tmp_path):
    arc = signing
    stored = arc.context.store.get(arc.objid)
    before = sha256_file(stored.path)
    row, path = _made(arc, "certified")
    first = _text(path, 1)
    assert "BẢN SAO" in first and ARCHIVE_NAME in first
    verdict = validate_pdf_signatures(path, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert verdict.ok, verdict.reasons
    assert verdict.covers_whole_file
    # the same check sees a changed copy
    tampered = tmp_path / "tampered.pdf"
    data = bytearray(path.read_bytes())
    at = data.index(b"BT", len(data) // 3)
    data[at + 3: at + 4] = b"9" if data[at + 3:at + 4] != b"9" else b"8"
    tampered.write_bytes(bytes(data))
    assert not validate_pdf_signatures(tampered, trust_roots=[demo_keys.ca_pem.read_bytes()]).ok
    assert sha256_file(stored.path) == before


def test_certified_dip_keeps_the_original_and_describes_the_request(signing, demo_keys, tmp_path):
    from lxml import etree

    from protocol.package.schemas import validate

    arc = signing
    stored = arc.context.store.get(arc.objid)
    before = sha256_file(stored.path)
    row, path = _made(arc, "dip", request_id="PYC-2026-0042")
    with zipfile.ZipFile(path) as zf:
        members = {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}
    original = members[f"representations/rep1/data/{arc.doc_id}.pdf"]
    assert original == _master(arc).read_bytes(), "the DIP's document must be the stored original"
    ead = members["metadata/descriptive/EAD.xml"]
    schema = xmlschema.XMLSchema(str(Path(copies.__file__).with_name("ead_request.xsd")))
    schema.validate(io.BytesIO(ead))
    fields = schema.to_dict(io.BytesIO(ead))
    assert fields["requestID"] == "PYC-2026-0042" and fields["purpose"] == "02"
    assert "schemas/ead_request.xsd" in members
    # the METS: valid, a DIP, every member it lists present with its hash (the original's as stored)
    for name in ("METS.xml", "representations/rep1/METS.xml"):
        assert validate("mets.xsd", members[name]) == [], name
    root = etree.fromstring(members["METS.xml"])
    ns = {"m": "http://www.loc.gov/METS/", "x": "http://www.w3.org/1999/xlink"}
    hdr = root.find("m:metsHdr", ns)
    assert hdr.get("{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}OAISPACKAGETYPE") == "DIP"
    assert root.get("PROFILE").endswith("E-ARK-DIP.xml")
    listed = {}
    for base, xml in (("", members["METS.xml"]), ("representations/rep1/", members["representations/rep1/METS.xml"])):
        tree = etree.fromstring(xml)
        for f in tree.iter("{http://www.loc.gov/METS/}file", "{http://www.loc.gov/METS/}mdRef"):
            loc = f.find("m:FLocat", ns) if f.tag.endswith("file") else f
            listed[base + loc.get("{http://www.w3.org/1999/xlink}href")] = f.get("CHECKSUM")
    import hashlib

    for member, checksum in listed.items():
        assert hashlib.sha256(members[member]).hexdigest().upper() == checksum, member
    assert f"representations/rep1/data/{arc.doc_id}.pdf" in listed
    assert f"documentation/XAC_THUC_{row['id']}.pdf" in listed and "metadata/descriptive/EAD.xml" in listed
    sheet_path = tmp_path / "sheet.pdf"
    sheet_path.write_bytes(members[f"documentation/XAC_THUC_{row['id']}.pdf"])
    text = _text(sheet_path)
    for item in ("Nguyễn Thị Hoa", "079190000123", arc.doc_id, "Công vụ", row["id"], ARCHIVE_NAME, "Quyết định"):
        assert item in text, item
    verdict = validate_pdf_signatures(sheet_path, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert verdict.ok, verdict.reasons
    from protocol.pdfa_check import check_pdfa

    assert check_pdfa(sheet_path, capture=False) == [], "the authentication sheet is a PDF/A-2b of its own"
    orig_path = tmp_path / "original.pdf"
    orig_path.write_bytes(original)
    assert validate_pdf_signatures(orig_path, trust_roots=[demo_keys.ca_pem.read_bytes()]).ok
    assert sha256_file(stored.path) == before


def test_bad_requests_refused_in_vietnamese(signing):
    arc = signing
    s = arc.session()
    past = _request(s, arc.url, arc.objid, arc.doc_id, "copy", until=now_vn().date() - timedelta(days=1))
    assert past.status_code == 400 and "Thời hạn sử dụng đã qua" in past.text
    long = _request(s, arc.url, arc.objid, arc.doc_id, "read", until=now_vn().date() + timedelta(days=40))
    assert long.status_code == 400 and "tối đa 15 ngày" in long.text
    nobody = _request(s, arc.url, arc.objid, arc.doc_id, "copy", recipient=" ")
    assert nobody.status_code == 400 and "người nhận" in nobody.text
    missing = _request(s, arc.url, arc.objid, "no-such-doc", "copy")
    assert missing.status_code == 404 and "Không tìm thấy tài liệu" in missing.text


def test_certified_copy_without_a_key_is_refused(signing):
    arc = signing
    cfg = arc.context.config
    saved = cfg.archive_signer_p12
    cfg.archive_signer_p12 = None
    try:
        resp = _request(arc.session(), arc.url, arc.objid, arc.doc_id, "certified")
    finally:
        cfg.archive_signer_p12 = saved
    assert resp.status_code == 503 and "archive_signer_p12" in resp.text and "khóa ký số" in resp.text


def test_hoso_chosen_by_file_code_or_objid(signing):
    from archive_support import FILE_CODE

    arc = signing
    s = arc.session()
    by_code = s.get(f"{arc.url}/archive/copies/", params={"objid": FILE_CODE}, timeout=30)
    assert by_code.status_code == 200 and f'name="objid" value="{arc.objid}"' in by_code.text
    assert f'<option value="{arc.doc_id}"' in by_code.text and 'id="copy-form"' in by_code.text  # the probe's hit
    nothing = s.get(f"{arc.url}/archive/copies/", params={"objid": "KHONG.CO"}, timeout=30)
    assert nothing.status_code == 404 and "Không tìm thấy hồ sơ với mã này" in nothing.text
    assert 'id="copy-form"' not in nothing.text


def test_copies_need_the_archivist_role(signing):
    arc = signing
    row, _ = _made(arc, "copy")
    sup = arc.session(SUPERVISOR)
    for path in ("/archive/copies/", f"/archive/copies/{row['id']}", f"/archive/copies/{row['id']}/file"):
        assert sup.get(arc.url + path, timeout=30).status_code == 403, path
    archivist = arc.session(ARCHIVIST)
    for path in ("/archive/copies/", f"/archive/copies/{row['id']}", f"/archive/copies/{row['id']}/file"):
        assert archivist.get(arc.url + path, timeout=30).status_code == 200, path  # the right role: the same requests
