"""The central checks on a real, valid package, and a corpus of broken and malicious ones.

Each broken package is made from a valid one by a single change; where the change would also break
checksums, the METS is re-sealed (sizes and SHA-256 recomputed) so that only the intended rule fails.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from protocol.package.sample import build_sample
from server.checks import CHECKS, STRUCTURAL, Limits, run_checks

NS_METS = "http://www.loc.gov/METS/"
HREF = "{http://www.w3.org/1999/xlink}href"
LIMITS = Limits(max_ratio=100, ratio_floor=1 << 20)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("good")
    return build_sample(tmp / "out", work_dir=tmp / "work", page_counts=(2, 1)).path


def _members(path: Path) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def _top(members: list[tuple[zipfile.ZipInfo, bytes]]) -> str:
    return members[0][0].filename.split("/")[0]


def _write(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in members:
            if isinstance(info, str):
                zf.writestr(zipfile.ZipInfo(info), data, compress_type=zipfile.ZIP_DEFLATED)
            else:
                zf.writestr(info, data, compress_type=info.compress_type)
    return path


def _reseal(members: dict[str, bytes], top: str) -> None:
    """Recompute SIZE/CHECKSUM in rep1 METS, then in the root METS (which lists rep1's METS)."""
    for mets_rel, base in (("representations/rep1/METS.xml", "representations/rep1/"), ("METS.xml", "")):
        root = etree.fromstring(members[f"{top}/{mets_rel}"])
        for el in root.iter(f"{{{NS_METS}}}mdRef", f"{{{NS_METS}}}file"):
            href = el.get(HREF) or el.find(f"{{{NS_METS}}}FLocat").get(HREF)
            data = members.get(f"{top}/{base}{href}")
            if data is not None:
                el.set("SIZE", str(len(data)))
                el.set("CHECKSUM", hashlib.sha256(data).hexdigest().upper())
        members[f"{top}/{mets_rel}"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _edit(
    good: Path, dst: Path, edit: Callable[[dict[str, bytes], str], None], *, reseal: bool = True
) -> Path:
    members = _members(good)
    top = _top(members)
    data = {info.filename: blob for info, blob in members}
    edit(data, top)
    if reseal:
        _reseal(data, top)
    return _write(dst, list(data.items()))


def _sub(data: dict[str, bytes], name: str, old: str, new: str) -> None:
    text = data[name].decode()
    assert old in text, f"{old!r} not in {name}"
    data[name] = text.replace(old, new, 1).encode()


def _doc(top: str, n: int) -> str:
    return f"{top}/representations/rep1/metadata/descriptive/EAD_DOC_000.00.00.G09.2010.01.TH.{n}.xml"


def _pdf(top: str, n: int) -> str:
    return f"{top}/representations/rep1/data/000.00.00.G09.2010.01.TH.{n}.pdf"


def test_valid_package_passes_every_structural_check(good: Path) -> None:
    verdict = run_checks(good, trust_roots=[], expected_sheets=3)
    by_name = {c.name: c for c in verdict.checks}
    assert [c.name for c in verdict.checks] == [n for n, _ in CHECKS]
    for name in STRUCTURAL:
        assert by_name[name].ok, (name, by_name[name].reasons)
    assert verdict.objid and verdict.file_code == "000.00.00.G09.2010.01.TH"
    # the sample PDFs are neither PDF/A nor signed: those two checks must say so
    assert not by_name["pdfa"].ok and not by_name["signatures"].ok
    assert not verdict.ok


# --- the hostile corpus -------------------------------------------------------------------------------
# name -> (builder(good, dst) -> Path, {check: reason substring}, expected_sheets)


def _add(name_fn: Callable[[str], str | zipfile.ZipInfo], data: bytes) -> Callable[[Path, Path], Path]:
    def make(good: Path, dst: Path) -> Path:
        members = _members(good)
        extra = name_fn(_top(members))
        return _write(dst, [*members, (extra, data)])

    return make


def _symlink(top: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(f"{top}/representations/rep1/data/link.pdf")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _bomb(good: Path, dst: Path) -> Path:
    members = _members(good)
    info = zipfile.ZipInfo(f"{_top(members)}/documentation/readme.txt")
    info.compress_type = zipfile.ZIP_DEFLATED
    return _write(dst, [*members, (info, b"\0" * (4 << 20))])


def _drop_pdf(good: Path, dst: Path) -> Path:
    members = _members(good)
    return _write(dst, [(i, d) for i, d in members if not i.filename.endswith(".TH.2.pdf")])


def _flip_byte(good: Path, dst: Path) -> Path:
    members = _members(good)
    out = []
    for info, data in members:
        if info.filename.endswith(".TH.1.pdf"):
            data = data[:100] + bytes([data[100] ^ 0x01]) + data[101:]
        out.append((info, data))
    return _write(dst, out)


def _grow(good: Path, dst: Path) -> Path:
    members = _members(good)
    return _write(
        dst, [(i, d + b"\n%%junk\n" if i.filename.endswith(".TH.2.pdf") else d) for i, d in members]
    )


def _two_tops(good: Path, dst: Path) -> Path:
    return _write(dst, [*_members(good), ("other/METS.xml", b"<x/>")])


def _rename_top(good: Path, dst: Path) -> Path:
    members = _members(good)
    top = _top(members)
    renamed = []
    for info, data in members:
        new = zipfile.ZipInfo("package" + info.filename[len(top) :], info.date_time)
        new.compress_type = info.compress_type
        renamed.append((new, data))
    return _write(dst, renamed)


def _premis_digest(good: Path, dst: Path) -> Path:
    def edit(data: dict[str, bytes], top: str) -> None:
        name = f"{top}/representations/rep1/metadata/preservation/PREMIS_rep1.xml"
        text = data[name].decode()
        digest = re.search(r"<premis:messageDigest>([0-9A-F]{64})<", text)[1]
        data[name] = text.replace(digest, "0" * 64, 1).encode()

    return _edit(good, dst, edit)


def _rename_data(good: Path, dst: Path) -> Path:
    def edit(data: dict[str, bytes], top: str) -> None:
        data[f"{top}/representations/rep1/data/scan-1.pdf"] = data.pop(_pdf(top, 1))
        _sub(
            data,
            f"{top}/representations/rep1/METS.xml",
            "data/000.00.00.G09.2010.01.TH.1.pdf",
            "data/scan-1.pdf",
        )

    return _edit(good, dst, edit)


XXE = b'<?xml version="1.0"?><!DOCTYPE simpledc [<!ENTITY x SYSTEM "file:///etc/passwd">]>'

CORPUS: dict[str, tuple[Callable[[Path, Path], Path], dict[str, str], int | None]] = {
    "backslash_name": (_add(lambda top: top + "\\..\\evil.txt", b"x"), {"zip_safety": "backslash"}, None),
    "non_nfc_name": (
        _add(lambda top: f"{top}/documentation/Đo\u0300.txt", b"x"),
        {"zip_safety": "NFC"},
        None,
    ),
    "unknown_package_type": (
        lambda g, d: _edit(
            g, d, lambda m, t: _sub(m, f"{t}/METS.xml", 'OAISPACKAGETYPE="AIP"', 'OAISPACKAGETYPE="XIP"')
        ),
        {"schemas": "unknown package type"},
        None,
    ),
    "failed_premis_event": (
        lambda g, d: _edit(
            g,
            d,
            lambda m, t: _sub(
                m,
                f"{t}/representations/rep1/metadata/preservation/PREMIS_rep1.xml",
                "<premis:eventOutcome>success<",
                "<premis:eventOutcome>failure<",
            ),
        ),
        {"premis": "failed"},
        None,
    ),
    "traversal": (_add(lambda top: "../../etc/cron.d/evil", b"x"), {"zip_safety": "path traversal"}, None),
    "traversal_inside": (
        _add(lambda top: f"{top}/data/../../evil", b"x"),
        {"zip_safety": "path traversal"},
        None,
    ),
    "absolute_path": (_add(lambda top: "/etc/passwd", b"x"), {"zip_safety": "absolute path"}, None),
    "symlink": (_add(_symlink, b"/etc/shadow"), {"zip_safety": "symbolic link"}, None),
    "zip_bomb": (_bomb, {"zip_safety": "zip bomb", "files_listed": "not listed"}, None),
    "duplicate_name": (_add(lambda top: f"{top}/METS.xml", b"<x/>"), {"zip_safety": "duplicate"}, None),
    "case_collision": (_add(lambda top: f"{top}/mets.xml", b"<x/>"), {"zip_safety": "case-colliding"}, None),
    "missing_file": (_drop_pdf, {"files_listed": "listed in METS but missing"}, None),
    "extra_file": (
        _add(lambda top: f"{top}/representations/rep1/data/extra.pdf", b"%PDF-1.4"),
        {"files_listed": "not listed"},
        None,
    ),
    "wrong_hash": (_flip_byte, {"fixity": "SHA-256"}, None),
    "wrong_size": (_grow, {"fixity": "size"}, None),
    "two_top_folders": (_two_tops, {"top_folder": "exactly one top folder"}, None),
    "folder_not_objid": (_rename_top, {"top_folder": "is not the OBJID"}, None),
    "wrong_doc_code": (
        lambda g, d: _edit(g, d, lambda m, t: _sub(m, _doc(t, 2), "TH.0000002", "TH.0000007")),
        {"identifiers": "docCode"},
        None,
    ),
    "doc_code_wrong_year": (
        lambda g, d: _edit(
            g, d, lambda m, t: _sub(m, _doc(t, 1), "2010.01.TH.0000001", "1994.01.TH.0000001")
        ),
        {"identifiers": "docCode"},
        None,
    ),
    "data_name_not_doc_id": (
        _rename_data,
        {"identifiers": "should be", "premis": "no PREMIS file object"},
        None,
    ),
    "bad_date": (
        lambda g, d: _edit(g, d, lambda m, t: _sub(m, _doc(t, 1), "01/03/2010", "31/02/2010")),
        {"metadata": "not a valid DD/MM/YYYY"},
        None,
    ),
    "unknown_type_code": (
        lambda g, d: _edit(g, d, lambda m, t: _sub(m, _doc(t, 1), "<typeName>02<", "<typeName>99<")),
        {"schemas": "typeName", "metadata": "type_name"},
        None,
    ),
    "missing_paper_file_code": (
        lambda g, d: _edit(
            g, d, lambda m, t: _sub(m, f"{t}/metadata/descriptive/EAD.xml", "LT01.K1-G05-H012.160", "")
        ),
        {"metadata": "paper_file_code"},
        None,
    ),
    "total_doc_mismatch": (
        lambda g, d: _edit(
            g, d, lambda m, t: _sub(m, f"{t}/metadata/descriptive/EAD.xml", "<totalDoc>2<", "<totalDoc>5<")
        ),
        {"counts": "totalDoc"},
        None,
    ),
    "page_count_mismatch": (
        lambda g, d: _edit(g, d, lambda m, t: _sub(m, _doc(t, 1), "<numberOfPage>2<", "<numberOfPage>4<")),
        {"counts": "the PDF has 2 pages"},
        None,
    ),
    "sheets_not_expected": (lambda g, d: Path(g), {"counts": "expects 7 sheets"}, 7),
    "premis_digest_differs": (_premis_digest, {"premis": "differs from METS"}, None),
    "xml_entity": (
        lambda g, d: _edit(
            g,
            d,
            lambda m, t: m.update(
                {
                    f"{t}/metadata/descriptive/EAD.xml": XXE
                    + m[f"{t}/metadata/descriptive/EAD.xml"].split(b"?>", 1)[1]
                }
            ),
        ),
        {"schemas": "DTD"},
        None,
    ),
    "lower_case_checksum": (
        lambda g, d: _edit(g, d, lambda m, t: None) and _lower(d),
        {"schemas": "CHECKSUM", "fixity": "SHA-256"},
        None,
    ),
}


def _lower(path: Path) -> Path:
    members = _members(path)
    top = _top(members)
    out = []
    for info, data in members:
        if info.filename == f"{top}/METS.xml":
            data = re.sub(
                rb'CHECKSUM="([0-9A-F]{64})"', lambda m: b'CHECKSUM="' + m[1].lower() + b'"', data, count=1
            )
        out.append((info.filename, data))
    return _write(path, out)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", sorted(CORPUS))
def test_hostile_package_rejected_with_reason(good: Path, tmp_path: Path, case: str) -> None:
    make, expected, sheets = CORPUS[case]
    bad = make(good, tmp_path / f"{case}.zip")
    verdict = run_checks(bad, trust_roots=[], expected_sheets=sheets, only=STRUCTURAL, limits=LIMITS)
    assert not verdict.ok
    assert [c.name for c in verdict.checks] == STRUCTURAL, (
        "every check must run, not only up to the first failure"
    )
    by_name = {c.name: c for c in verdict.checks}
    for name, reason in expected.items():
        assert not by_name[name].ok, f"{case}: {name} should fail"
        assert any(reason in r for r in by_name[name].reasons), (case, name, by_name[name].reasons)
        assert by_name[name].text("vi")
    # a single defect must not drag unrelated checks down with it (the package is otherwise good)
    unrelated = (
        {"counts", "metadata", "premis"} - set(expected)
        if case not in ("two_top_folders", "folder_not_objid", "missing_file", "xml_entity", "zip_bomb")
        else set()
    )
    for name in unrelated:
        assert by_name[name].ok, (case, name, by_name[name].reasons)


def test_not_a_zip_lists_every_check(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip at all")
    verdict = run_checks(junk, trust_roots=[])
    assert [c.name for c in verdict.checks] == [n for n, _ in CHECKS]
    assert all(not c.ok for c in verdict.checks)
    assert "not a readable zip" in verdict.checks[0].reasons[0]


def test_cli_verify_prints_json(good: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sohoa.cli",
            "package",
            "verify",
            str(good),
            "--expected-sheets",
            "3",
            "--only",
            "structural",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["file_code"] == "000.00.00.G09.2010.01.TH"
    bad = _flip_byte(good, tmp_path / "bad.zip")
    done = subprocess.run(
        [sys.executable, "-m", "sohoa.cli", "package", "verify", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert "fixity" in report["failed"] and "pdfa" in report["failed"]
