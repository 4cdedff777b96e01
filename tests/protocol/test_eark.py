"""sohoa's SIPs and AIPs pass the official E-ARK validator (CSIP/SIP 2.0.4), root and representation METS,
offline; any Error outside tests/eark_support.VALIDATOR_BUGS fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eark_support import EARK_PYTHON, unexplained, validate  # noqa: E402

from protocol.clock import iso_vn  # noqa: E402
from protocol.metadata import DocumentRecord, FileRecord  # noqa: E402
from protocol.package import PackageDocument, PremisEvent, build_package, read_package  # noqa: E402
from protocol.package.sample import build_sample  # noqa: E402
from protocol.version import SOFTWARE  # noqa: E402

LEGACY = Path(__file__).resolve().parent.parent / "data" / "legacy"
M = "{http://www.loc.gov/METS/}"


def _demo_package(tmp_path: Path, signed_pdf: Path, *, kind: str, **kwargs) -> Path:
    """The demo's hồ sơ (tests/conftest.hoso_record) around a real OCR'd, PDF/A, PAdES-signed document."""
    from tests.support.records import AGENCY, hoso_record

    hoso = FileRecord(**hoso_record())
    doc = DocumentRecord(ordinal=1, type_name="02", issued_date="04/03/2001", organ_name=AGENCY,
                         subject="Quyết định về việc cấp giấy chứng nhận", number_of_page=1)
    out = tmp_path / f"{kind}-{len(list(tmp_path.glob('*')))}"
    return build_package(
        hoso=hoso, documents=[PackageDocument(record=doc, pdf_path=signed_pdf, page_count=1)],
        events=[PremisEvent("transfer", iso_vn(), agent="person:op1", detail="digitisation",
                            objects=[doc.doc_id(hoso.file_code)])],
        out_dir=out, kind=kind, **kwargs,
    ).path


def _assert_conformant(report: dict, packages: list[Path]) -> None:
    assert report["network_attempts"] == []
    for package in packages:
        result = report["packages"][str(package)]
        assert result["representations"] == ["representations/rep1/METS.xml"]  # rep METS checked too
        scopes = {r["scope"] for r in result["results"]}
        assert "representations/rep1/METS.xml" in scopes and "METS.xml" in scopes
        assert unexplained(package, result) == [], package.name


def test_demo_and_sample_sips_and_aips_pass_the_official_validator(tmp_path, signed_pdf):
    packages = [
        _demo_package(tmp_path, signed_pdf, kind="AIP"),
        _demo_package(tmp_path, signed_pdf, kind="SIP"),
        build_sample(tmp_path / "sample-aip", kind="AIP", page_counts=(2, 1, 3)).path,
        build_sample(tmp_path / "sample-sip", kind="SIP").path,
    ]
    _assert_conformant(validate(*packages), packages)
    # TT05 kept where it goes further: upper-case SHA-256 everywhere, file names from docIds, EAD fields.
    contents = read_package(packages[0])
    assert all(e.sha256 and e.sha256 == e.sha256.upper() for e in contents.files if e.path)
    assert [d.pdf_member for d in contents.documents] == [f"representations/rep1/data/{d.doc_id}.pdf"
                                                         for d in contents.documents]
    assert contents.hoso["arcFileCode"] and contents.fonds_code == "P_UBND_DN"
    assert contents.software == SOFTWARE  # the installed distribution's version (protocol.version)


def test_a_second_version_of_a_package_passes_too(tmp_path, signed_pdf):
    """Rework versions (a replacement under the same OBJID) are not built by the archive workspace yet
    (#17); the store keeps versions, so version 2 is a REPLACEMENT package with the same package UUID."""
    first = _demo_package(tmp_path, signed_pdf, kind="AIP", package_uuid="0f203b84-6641-4cda-9f52-daae55fef6b1")
    second = _demo_package(tmp_path, signed_pdf, kind="AIP", status="REPLACEMENT",
                           package_uuid="0f203b84-6641-4cda-9f52-daae55fef6b1")
    assert read_package(first).objid == read_package(second).objid
    assert read_package(second).record_status == "REPLACEMENT"
    _assert_conformant(validate(first, second), [first, second])


def test_packages_made_before_the_change_fail_and_the_bug_list_hides_nothing_else():
    """The explanations are narrow: on the pre-change packages every finding the issue listed shows up."""
    aip, sip = LEGACY / "aip-before-csip.zip", LEGACY / "sip-before-csip.zip"
    report = validate(aip, sip)
    found_aip = {(r["scope"], r["rule"]) for r in unexplained(aip, report["packages"][str(aip)])}
    found_sip = {(r["scope"], r["rule"]) for r in unexplained(sip, report["packages"][str(sip)])}
    rep = "representations/rep1/METS.xml"
    assert {("METS.xml", "CSIP15"), ("METS.xml", "CSIP60"), ("METS.xml", "CSIP95"),
            (rep, "CSIP12"), (rep, "CSIP13"), (rep, "CSIP16"), (rep, "CSIP88"), (rep, "CSIP90")} <= found_aip
    assert ("METS.xml", "SIP2") in found_sip
    assert ("METS.xml", "SIP14") in found_sip  # two notes on the software agent: not the excused bug


def test_each_excused_rule_still_catches_its_real_defect(tmp_path):
    """Break what each bug entry relies on; the same rule must then count as a real error."""
    built = build_sample(tmp_path / "s", kind="SIP").path
    with zipfile.ZipFile(built) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    [root_name] = [n for n in members if n.count("/") == 1 and n.endswith("/METS.xml")]
    root = etree.fromstring(members[root_name])
    # An empty group that CSIP does not make mandatory, a second note on the software agent, and the
    # representation group renamed so that the content is no longer named by path.
    root.find(f"{M}fileSec").append(etree.fromstring(f'<fileGrp xmlns="{M[1:-1]}" ID="empty-other" USE="Other"/>'))
    agent = root.find(f"{M}metsHdr/{M}agent[@OTHERTYPE='SOFTWARE']")
    agent.append(etree.fromstring(f'<note xmlns="{M[1:-1]}">extra</note>'))
    root.find(f"{M}fileSec/{M}fileGrp[@USE='Representations/rep1']").set("USE", "Content")
    members[root_name] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    rules = {(r["scope"], r["rule"]) for r in unexplained(broken, validate(broken)["packages"][str(broken)])}
    assert ("METS.xml", "CSIP114") in rules and ("METS.xml", "CSIP103") in rules
    assert ("METS.xml", "CSIP66") in rules
    assert ("METS.xml", "SIP14") in rules and ("METS.xml", "CSIP15") in rules


def test_the_validator_fetches_vocabularies_when_imported_and_our_run_does_not():
    """Without the runner, importing the validator in a namespace with no network fails on its vocabulary
    download (so the namespace really blocks it); the runner's run records no network attempt at all."""
    assert EARK_PYTHON.exists(), "run scripts/bootstrap.sh setup: .venv-eark is missing"
    proc = subprocess.run([shutil.which("unshare"), "-rn", str(EARK_PYTHON), "-c",
                           "import eark_validator.ipxml.schematron"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "URLError" in proc.stderr, proc.stderr[-2000:]
    report = validate(LEGACY / "aip-before-csip.zip")
    assert report["network_attempts"] == []
    assert report["packages"][str(LEGACY / "aip-before-csip.zip")]["results"]  # it did validate


@pytest.mark.parametrize("kind", ["AIP", "SIP"])
def test_csip_shape(tmp_path, kind):
    """What the validator cannot see: the Schemas division points at the file group (CSIP118), ADMID at
    the digiprovMD sections, dmdSec/digiprovMD are STATUS=CURRENT, one software agent note."""
    built = build_sample(tmp_path, kind=kind).path
    with zipfile.ZipFile(built) as zf:
        names = zf.namelist()
        roots = [etree.fromstring(zf.read(n)) for n in names if n.endswith("METS.xml")]
    assert any(n.endswith("/documentation/") for n in names)
    for mets in roots:
        groups = {g.get("ID"): g.get("USE") for g in mets.iter(M + "fileGrp")}
        top = mets.find(f"{M}structMap/{M}div")
        for label in ("Documentation", "Schemas"):
            [fptr] = top.findall(f"{M}div[@LABEL='{label}']/{M}fptr")
            assert groups[fptr.get("FILEID")] == label
        digiprov = {d.get("ID") for d in mets.iter(M + "digiprovMD")}
        for el in mets.iter(M + "div"):
            if el.get("ADMID"):
                assert set(el.get("ADMID").split()) == digiprov
        meta = top.find(f"{M}div[@LABEL='Metadata']")
        assert set(meta.get("DMDID").split()) == {d.get("ID") for d in mets.iter(M + "dmdSec")}
        assert all(s.get("STATUS") == "CURRENT" for s in [*mets.iter(M + "dmdSec"), *mets.iter(M + "digiprovMD")])
        [software] = mets.findall(f"{M}metsHdr/{M}agent[@OTHERTYPE='SOFTWARE']")
        assert len(software.findall(M + "note")) == 1
        assert (kind == "AIP") == bool(digiprov)
