"""Build real TT05 packages from small real PDFs (img2pdf), read them back, validate every XML member."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from protocol.hashing import sha256_file
from protocol.metadata import MetadataError
from protocol.package import PackageError, build_package, read_package
from protocol.package import schemas as xsd
from protocol.package.sample import build_sample, sample_documents, sample_events, sample_file

TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+07:00")


@pytest.mark.parametrize("kind", ["AIP", "SIP"])
def test_build_and_read_back(tmp_path: Path, kind: str) -> None:
    built = build_sample(tmp_path / "out", work_dir=tmp_path / "work", kind=kind, page_counts=(2, 1, 3))
    assert built.path.is_file() and built.path.name == built.objid.replace(":", "_") + ".zip"
    assert built.sha256 == sha256_file(built.path) and built.size == built.path.stat().st_size
    assert not list((tmp_path / "out").glob("*.part")), "temp file left behind"
    contents = read_package(built.path)
    assert contents.objid == built.objid and contents.kind == kind and contents.record_status == "NEW"
    assert contents.file_code == "000.00.00.G09.2010.01.TH"
    assert contents.hoso["title"] == "Hồ sơ giao đất cho Ủy ban nhân dân tỉnh Đồng Nai"
    assert contents.hoso["totalDoc"] == "3" and contents.hoso["numberOfPage"] == "6"
    assert [d.doc_id for d in contents.documents] == [f"000.00.00.G09.2010.01.TH.{n}" for n in (1, 2, 3)]
    assert contents.documents[2].doc_code == "000.00.00.G09.2010.01.TH.0000003"
    assert contents.documents[2].pdf_member == "representations/rep1/data/000.00.00.G09.2010.01.TH.3.pdf"
    assert [d.page_count for d in contents.documents] == [2, 1, 3]
    assert contents.problems == []
    # the signed PDFs are packed byte for byte: the METS checksum is the source file's hash
    sources = {f"doc{n}.pdf": sha256_file(tmp_path / "work" / f"doc{n}.pdf") for n in (1, 2, 3)}
    data = {e.path.rsplit(".", 2)[-2]: e.sha256 for e in contents.files if e.use == "Data"}
    assert sorted(data.values()) == sorted(sources.values())
    for entry in contents.files:
        assert re.fullmatch(r"[0-9A-F]{64}", entry.sha256) and entry.size > 0
    if kind == "AIP":
        types = {e["type"] for e in contents.events}
        assert {"capture", "transfer", "information package creation", "message digest calculation"} <= types
        assert contents.folder.startswith("urn_G09_uuid-")
        page_event = next(e for e in contents.events if e["type"] == "capture")
        assert page_event["objects"][0].startswith("page:B1:") and page_event["extra"]["dpi"] == "200"
    else:
        assert contents.events == [] and contents.objid.startswith("uuid-")


@pytest.mark.parametrize("kind", ["AIP", "SIP"])
def test_every_xml_member_valid_against_profile(tmp_path: Path, kind: str) -> None:
    built = build_sample(tmp_path, kind=kind)
    with zipfile.ZipFile(built.path) as zf:
        names = zf.namelist()
        checked = 0
        for name in names:
            rel = name.split("/", 1)[1]
            if rel.endswith("METS.xml"):
                target = "mets.xsd"
            elif rel.endswith("/EAD.xml"):
                target = xsd.ead_schema_name(kind=kind, document=False)
            elif "EAD_DOC_" in rel:
                target = xsd.ead_schema_name(kind=kind, document=True)
            elif "PREMIS" in rel:
                target = "premis.xsd"
            else:
                continue
            data = zf.read(name)
            assert xsd.validate(target, data) == [], name
            assert TIME_RE.search(data.decode()) or "EAD" in rel, f"no +07:00 time in {name}"
            assert "Z\"" not in data.decode()
            checked += 1
        assert checked == (7 if kind == "AIP" else 5)
        shipped = {n.split("/", 1)[1] for n in names if "/schemas/" in n}
        assert shipped == {f"schemas/{s}" for s in xsd.SHIPPED}


def test_schema_rejects_lower_case_checksum_and_utc_time(tmp_path: Path) -> None:
    built = build_sample(tmp_path)
    with zipfile.ZipFile(built.path) as zf:
        mets = zf.read(f"{built.objid.replace(':', '_')}/METS.xml").decode()
    assert xsd.validate("mets.xsd", mets.encode()) == []
    lower = re.sub(r'CHECKSUM="([0-9A-F]{64})"', lambda m: f'CHECKSUM="{m[1].lower()}"', mets, count=1)
    assert any("CHECKSUM" in r or "pattern" in r for r in xsd.validate("mets.xsd", lower.encode()))
    utc = re.sub(r"\+07:00", "Z", mets, count=1)
    assert xsd.validate("mets.xsd", utc.encode())
    no_size = re.sub(r' SIZE="\d+"', "", mets, count=1)
    assert any("SIZE" in r for r in xsd.validate("mets.xsd", no_size.encode()))


def test_read_unpacked_folder(tmp_path: Path) -> None:
    built = build_sample(tmp_path / "out", work_dir=tmp_path / "work")
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(tmp_path / "unpacked")  # our own, trusted zip
    for path in (tmp_path / "unpacked", tmp_path / "unpacked" / built.objid.replace(":", "_")):
        contents = read_package(path)
        assert contents.objid == built.objid and len(contents.documents) == 2 and contents.problems == []


def test_build_refuses_invalid_metadata_with_every_problem(tmp_path: Path) -> None:
    hoso = sample_file(paper_file_code="", mode="09", start_date="2010-01-02")
    docs = sample_documents(tmp_path)
    with pytest.raises(MetadataError) as err:
        build_package(hoso=hoso, documents=docs, events=[], out_dir=tmp_path / "out")
    fields = {p.field for p in err.value.problems}
    assert {"paper_file_code", "mode", "start_date"} <= fields
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_build_refuses_wrong_page_count_and_gaps(tmp_path: Path) -> None:
    hoso = sample_file()
    docs = sample_documents(tmp_path, (2, 1))
    docs[0].page_count = 3
    with pytest.raises(PackageError, match="has 2 pages"):
        build_package(hoso=hoso, documents=docs, events=[], out_dir=tmp_path)
    docs = sample_documents(tmp_path, (1, 1))
    docs[1].record.ordinal = 3
    with pytest.raises(PackageError, match="1..n"):
        build_package(hoso=hoso, documents=docs, events=sample_events(docs, hoso.file_code), out_dir=tmp_path)


def test_replacement_status_and_given_uuid(tmp_path: Path) -> None:
    uid = "0f203b84-6641-4cda-9f52-daae55fef6b1"
    built = build_sample(tmp_path, kind="SIP", status="REPLACEMENT", package_uuid=uid)
    assert built.objid == "uuid-0F203B84-6641-4CDA-9F52-DAAE55FEF6B1"
    assert read_package(built.path).record_status == "REPLACEMENT"


def test_read_package_refuses_non_package(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(PackageError):
        read_package(junk)
