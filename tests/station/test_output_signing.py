"""Signing with the demo keys: PAdES, incremental, still PDF/A, visible stamp; errors change nothing."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import pikepdf
import pytest

from protocol.clock import VN_TZ
from protocol.hashing import sha256_file
from protocol.pdfa_check import check_pdfa
from protocol.signatures import validate_pdf_signatures
from station.output.keys import ensure_demo_ca, issue_certificate, make_root_ca
from station.output.signing import Signer, SigningError, stamp_box

AGENCY = "Ủy ban nhân dân phường Hà Tu"


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory):
    from sohoa.samplepages import write_sample_folder
    from station.output.ocr import ocr_page
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa

    folder = tmp_path_factory.mktemp("sign")
    [image] = write_sample_folder(folder, count=1, seed=9, dpi=300)
    out = folder / "doc.pdf"
    build_pdfa(
        [PdfPage(image, 300, ocr_page(image, dpi=300).text_pdf)],
        out=out,
        meta=PdfMeta(title="Thử ký số", doc_id="X.1", doc_code="X.0000001", agency=AGENCY, created=datetime.now(VN_TZ)),
    )
    return out


def test_demo_keys_are_labelled_private_and_idempotent(tmp_path):
    keys = ensure_demo_ca(tmp_path / "k", agency_name=AGENCY)
    again = ensure_demo_ca(tmp_path / "k", agency_name=AGENCY)
    assert again.passphrase == keys.passphrase and again.ca_pem.read_bytes() == keys.ca_pem.read_bytes()
    assert keys.passphrase_file.stat().st_mode & 0o777 == 0o600
    assert keys.agency_p12.stat().st_mode & 0o777 == 0o600
    signer = Signer.from_pkcs12(keys.agency_p12, keys.passphrase)
    assert "DEMO — KHÔNG DÙNG THẬT" in signer.subject


def test_signed_file_is_valid_pades_and_still_pdfa(tmp_path, unsigned, demo_keys, signer):
    before = sha256_file(unsigned)
    when = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(minutes=5)
    expected = when.strftime("%Y-%m-%dT%H:%M:%S+07:00")
    dst = tmp_path / "signed.pdf"
    result = signer.sign(unsigned, dst, agency_name=AGENCY, when=when)
    assert result.signed_at == expected
    assert sha256_file(unsigned) == before  # the source stays as it was
    assert dst.read_bytes().startswith(unsigned.read_bytes())  # incremental update
    assert check_pdfa(dst) == []
    verdict = validate_pdf_signatures(dst, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert verdict.ok, verdict.reasons
    assert verdict.signed_at == expected and verdict.covers_whole_file
    with pikepdf.open(dst) as pdf:
        [field] = pdf.Root.AcroForm.Fields
        assert field.V.SubFilter == "/ETSI.CAdES.detached"
        rect = [float(v) for v in field.Rect]
        width, height = (float(v) for v in pdf.pages[0].mediabox[2:])
        assert rect[2] > width - 40 and rect[3] > height - 40  # top-right of page 1
        appearance = field.AP.N
        font = next(iter(appearance.Resources.Font.values()))
        assert "FreeSerif" in str(font.BaseFont)
        assert b" 10 Tf" in appearance.read_bytes()


def test_signing_time_and_speed(tmp_path, unsigned, signer):
    timings = {}
    for visible in (False, True):
        signer.sign(unsigned, tmp_path / "warm.pdf", agency_name=AGENCY, visible=visible)
        started = time.perf_counter()
        for i in range(3):
            signer.sign(unsigned, tmp_path / f"s{i}.pdf", agency_name=AGENCY, visible=visible)
        timings[visible] = (time.perf_counter() - started) / 3
    print(
        f"\nsigning with a file key: invisible {timings[False] * 1000:.0f} ms, "
        f"visible {timings[True] * 1000:.0f} ms per document"
    )
    assert timings[False] < 2 and timings[True] < 2


def test_sign_in_place(tmp_path, unsigned, demo_keys, signer):
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(unsigned.read_bytes())
    signer.sign(doc, doc, agency_name=AGENCY)
    assert validate_pdf_signatures(doc, trust_roots=[demo_keys.ca_pem.read_bytes()]).ok


def test_stamp_box_follows_rotation():
    page = (0.0, 0.0, 595.0, 842.0)
    assert stamp_box(page, 0, 100, 30) == (481, 798, 581, 828)
    assert stamp_box(page, 90, 100, 30) == (14, 728, 44, 828)
    assert stamp_box(page, 180, 100, 30) == (14, 14, 114, 44)
    assert stamp_box(page, 270, 100, 30) == (551, 14, 581, 114)


def _p12(tmp_path, issued, passphrase=b"pw"):
    path = tmp_path / "key.p12"
    path.write_bytes(issued.p12(passphrase))
    return path


@pytest.mark.parametrize("case", ["expired", "not_yet_valid", "no_signing_usage", "wrong_passphrase"])
def test_errors_before_any_change(tmp_path, unsigned, case):
    ca = make_root_ca()
    now = datetime.now(UTC)
    issued = {
        "expired": lambda: issue_certificate(
            ca, agency_name=AGENCY, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)
        ),
        "not_yet_valid": lambda: issue_certificate(
            ca, agency_name=AGENCY, not_before=now + timedelta(days=2), not_after=now + timedelta(days=400)
        ),
        "no_signing_usage": lambda: issue_certificate(ca, agency_name=AGENCY, signing=False),
        "wrong_passphrase": lambda: issue_certificate(ca, agency_name=AGENCY),
    }[case]()
    path = _p12(tmp_path, issued)
    before = sha256_file(unsigned)
    with pytest.raises(SigningError) as err:
        Signer.from_pkcs12(path, b"not-it" if case == "wrong_passphrase" else b"pw")
    assert err.value.message and err.value.text("vi")
    assert sha256_file(unsigned) == before


def test_cert_expiring_before_signing_time_refuses_and_leaves_no_file(tmp_path, unsigned):
    ca = make_root_ca()
    now = datetime.now(UTC)
    issued = issue_certificate(ca, agency_name=AGENCY, not_after=now + timedelta(days=1))
    signer = Signer.from_pkcs12(_p12(tmp_path, issued), b"pw")
    dst = tmp_path / "late.pdf"
    with pytest.raises(SigningError, match="expired") as err:
        signer.sign(unsigned, dst, agency_name=AGENCY, when=now + timedelta(days=3))
    assert "hết hạn" in err.value.text("vi")
    assert not dst.exists() and not list(tmp_path.glob(".*.part"))


def test_sign_bytes_signs_in_memory_and_a_failure_leaves_the_destination(tmp_path, unsigned, demo_keys, signer):
    data = unsigned.read_bytes()
    dst = tmp_path / "doc.pdf"
    result = signer.sign_bytes(data, dst, agency_name=AGENCY, visible=False)
    signed = dst.read_bytes()
    assert signed.startswith(data) and len(signed) - len(data) < 64 * 1024  # only the update is added
    verdict = validate_pdf_signatures(dst, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert verdict.ok and verdict.covers_whole_file and verdict.signed_at == result.signed_at
    assert check_pdfa(dst) == []
    for bad in (b"not a pdf at all", data[: len(data) // 2]):  # garbage, a truncated file
        with pytest.raises(SigningError) as err:
            signer.sign_bytes(bad, dst, agency_name=AGENCY, name="hỏng.pdf")
        assert "hỏng.pdf" in err.value.text("vi")
        assert dst.read_bytes() == signed  # the earlier signed file is untouched
    assert not list(tmp_path.glob(".*.part"))


def test_stamp_font_is_cut_once_per_agency_and_embedded_from_the_cut(tmp_path, unsigned, signer):
    import io

    from fontTools.ttLib import TTFont

    from station.output.signing import TIME_CHARS, _stamp_font_bytes

    other = "Sở Nội vụ tỉnh Quảng Ninh"
    signer.sign(unsigned, tmp_path / "a0.pdf", agency_name=AGENCY)
    cuts = _stamp_font_bytes.cache_info().misses
    for i, name in enumerate((AGENCY, other, AGENCY, other)):
        signer.sign(unsigned, tmp_path / f"a{i + 1}.pdf", agency_name=name)
    assert _stamp_font_bytes.cache_info().misses <= cuts + 1  # one new cut, for the second agency only
    for path, name in ((tmp_path / "a3.pdf", AGENCY), (tmp_path / "a4.pdf", other)):
        assert check_pdfa(path) == []
        with pikepdf.open(path) as pdf:
            [field] = pdf.Root.AcroForm.Fields
            font = next(iter(field.AP.N.Resources.Font.values()))
            program = font.DescendantFonts[0].FontDescriptor.FontFile2
            embedded = TTFont(io.BytesIO(program.read_bytes()))
            cut = TTFont(io.BytesIO(_stamp_font_bytes(frozenset(name + TIME_CHARS))))
            # pyHanko (public API) subsets the agency's cut again to the glyphs this stamp shows
            assert 1 < embedded["maxp"].numGlyphs <= cut["maxp"].numGlyphs < 200
        text = subprocess.run(
            ["pdftotext", "-f", "1", "-l", "1", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert name in text  # each stamp shows its own agency, in its own font cut


def test_one_instant_for_every_date_across_a_second_boundary(tmp_path, unsigned, signer, monkeypatch):
    """pyHanko reads its own clock once for the Info dictionary and once for XMP; with that clock just before
    and just after a second boundary the two dates used to differ and the signed file failed PDF/A."""
    from pyhanko.pdf_utils.metadata import info, xmp_xml

    second = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    ticks = iter([second - timedelta(milliseconds=1), second])
    last = [None]

    class AnyDatetime(type):  # so `isinstance(value, datetime)` in pyHanko still sees real datetimes
        def __instancecheck__(cls, obj):
            return isinstance(obj, datetime)

    class Clock(datetime, metaclass=AnyDatetime):
        @classmethod
        def now(cls, tz=None):
            last[0] = next(ticks, last[0])
            return last[0].astimezone(tz)

    monkeypatch.setattr(info, "datetime", Clock)
    monkeypatch.setattr(xmp_xml, "datetime", Clock)
    when = second.astimezone(VN_TZ)
    dst = tmp_path / "boundary.pdf"
    signer.sign(unsigned, dst, agency_name=AGENCY, when=when)
    assert check_pdfa(dst) == []
    with pikepdf.open(dst) as pdf:
        assert str(pdf.trailer.Info.ModDate).startswith(when.strftime("D:%Y%m%d%H%M%S"))
        assert pdf.open_metadata().get("xmp:ModifyDate") == when.isoformat()


def test_visible_stamp_survives_its_font_file_being_cleaned_away(tmp_path, unsigned, demo_keys, signer):
    """The stamp font reaches pyHanko (public API) as a file under /tmp; a station up for weeks sees a tmp
    cleaner remove it, and the next stamp must still carry its text."""
    import shutil

    from station.output import signing

    def embedded_font(name: str) -> int:
        dst = tmp_path / name
        signer.sign(unsigned, dst, agency_name=AGENCY)
        assert validate_pdf_signatures(dst, trust_roots=[demo_keys.ca_pem.read_bytes()]).ok
        with pikepdf.open(dst) as pdf:
            [field] = pdf.Root.AcroForm.Fields
            font = next(iter(field.AP.N.Resources.Font.values()))
            return len(font.DescendantFonts[0].FontDescriptor.FontFile2.read_bytes())

    assert embedded_font("a.pdf") > 1000
    assert list(signing._stamp_font_folder().glob("stamp-*.ttf")), "the probe: the font file is there"
    shutil.rmtree(signing._stamp_font_folder())  # what systemd-tmpfiles does to an old folder in /tmp
    assert embedded_font("b.pdf") > 1000, "the stamp still embeds its font after the file was written again"
