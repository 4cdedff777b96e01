"""The `csip` check: E-ARK CSIP/SIP conformance of both METS levels, rule named, English and Vietnamese;
the archive refuses a package that breaks it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from protocol.errors import Message
from protocol.package.sample import build_sample
from server.checks import STRUCTURAL, run_checks

LEGACY = Path(__file__).resolve().parent.parent / "data" / "legacy"
M = "{http://www.loc.gov/METS/}"
CS = "{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}"


def _rewrite(src: Path, dest: Path, member: str, change: Callable[[etree._Element], None]) -> Path:
    """Copy a package, changing one METS (`member`: "METS.xml" or "representations/rep1/METS.xml")."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.split("/", 1)[-1] == member:
                tree = etree.fromstring(data)
                change(tree)
                data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
            zout.writestr(info, data)
    return dest


def _drop_documentation(mets):
    mets.find(f"{M}fileSec").remove(mets.find(f"{M}fileSec/{M}fileGrp[@USE='Documentation']"))
    top = mets.find(f"{M}structMap/{M}div")
    top.remove(top.find(f"{M}div[@LABEL='Documentation']"))


def _schemas_to_files(mets):
    div = mets.find(f"{M}structMap/{M}div/{M}div[@LABEL='Schemas']")
    for fptr in div.findall(M + "fptr"):
        div.remove(fptr)
    for f in mets.findall(f"{M}fileSec/{M}fileGrp[@USE='Schemas']/{M}file"):
        etree.SubElement(div, M + "fptr", FILEID=f.get("ID"))


def _admid_to_amdsec(mets):
    mets.find(f"{M}structMap/{M}div/{M}div[@LABEL='Metadata']").set("ADMID", mets.find(f"{M}amdSec").get("ID"))


def _second_software_note(mets):
    agent = mets.find(f"{M}metsHdr/{M}agent[@OTHERTYPE='SOFTWARE']")
    etree.SubElement(agent, M + "note", {f"{CS}NOTETYPE": "IDENTIFICATIONCODE"}).text = "G09"


def _drop_metadata_div(mets):
    top = mets.find(f"{M}structMap/{M}div")
    top.remove(top.find(f"{M}div[@LABEL='Metadata']"))


def _csip_profile(mets):
    mets.set("PROFILE", "https://earkcsip.dilcis.eu/profile/E-ARK-CSIP.xml")


@pytest.mark.parametrize(
    ("kind", "member", "change", "scope", "rule"),
    [
        ("AIP", "METS.xml", _drop_documentation, "METS.xml", "CSIP60"),
        ("AIP", "METS.xml", _drop_documentation, "METS.xml", "CSIP95"),
        ("AIP", "METS.xml", _schemas_to_files, "METS.xml", "CSIP118"),
        ("AIP", "METS.xml", _admid_to_amdsec, "METS.xml", "ADMID"),
        ("AIP", "METS.xml", _second_software_note, "METS.xml", "CSIP15"),
        ("AIP", "representations/rep1/METS.xml", _drop_metadata_div, "representations/rep1/METS.xml", "CSIP88"),
        ("SIP", "METS.xml", _csip_profile, "METS.xml", "SIP2"),
    ],
)
def test_each_broken_rule_is_named(tmp_path, kind, member, change, scope, rule):
    built = build_sample(tmp_path / "built", kind=kind).path
    assert run_checks(built, trust_roots=[], only=["csip"]).ok
    broken = _rewrite(built, tmp_path / "broken.zip", member, change)
    [result] = run_checks(broken, trust_roots=[], only=["csip"]).checks
    assert not result.ok
    assert any(r.startswith(f"{scope}: {rule}:") for r in result.reasons), result.reasons
    assert rule in result.text("vi") and "chuẩn E-ARK" in result.text("vi")


@pytest.mark.parametrize("name", ["aip-before-csip.zip", "sip-before-csip.zip"])
def test_packages_made_before_still_read_and_fail_only_csip(name):
    verdict = run_checks(LEGACY / name, trust_roots=[], only=STRUCTURAL)
    assert verdict.objid and verdict.file_code == "000.00.00.G09.2010.01.TH"
    assert [c.name for c in verdict.failures] == ["csip"]
    [csip] = verdict.failures
    rules = {r.split(": ")[1] for r in csip.reasons if r.count(": ") >= 2}
    assert {"CSIP15", "CSIP60", "CSIP95", "CSIP118"} <= rules
    assert any(r.startswith("representations/rep1/METS.xml: CSIP88") for r in csip.reasons)
    assert ("SIP2" in rules) == name.startswith("sip")
    assert any("migrate-packages" in r for r in csip.reasons)


def test_package_verify_reports_the_rules_in_both_languages():
    proc = subprocess.run([sys.executable, "-m", "sohoa", "package", "verify", "--only", "csip",
                           str(LEGACY / "aip-before-csip.zip")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["failed"] == ["csip"]
    [check] = report["checks"]
    assert any("CSIP10: no software agent" in r for r in check["reasons"])
    assert "thiếu tác nhân phần mềm" in Message.from_dict(check).text("vi")  # the summary travels by key


def test_the_archive_refuses_a_nonconformant_package(archive_server, make_package, demo_keys, tmp_path):
    """A real signed package that passes everything, then the same with its Documentation group removed:
    the server's verdict rejects it, naming CSIP60."""
    from station.sync.client import SyncClient

    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    good = make_package()
    assert run_checks(good.path, trust_roots=[demo_keys.ca_pem.read_bytes()]).ok
    bad = _rewrite(good.path, tmp_path / good.path.name, "METS.xml", _drop_documentation)
    digest = hashlib.sha256(bad.read_bytes()).hexdigest().upper()
    client = SyncClient(live.url, station_id=creds["station_id"], token=creds["token"])
    receipt = client.send(bad, sha256=digest, size=bad.stat().st_size, manifest={})
    assert receipt.verdict == "rejected"
    assert any("CSIP60" in str(r) for r in receipt.reasons), receipt.reasons
    assert ctx.catalog.packages() == []
    sent = client.send(good.path, sha256=good.sha256, size=good.size, manifest={})
    assert sent.verdict == "accepted" and len(ctx.catalog.packages()) == 1  # positive control: the same probe
