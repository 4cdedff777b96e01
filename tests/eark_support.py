"""Run the official E-ARK validator on packages from tests, offline, and explain its findings.

The validator (eark-validator 1.1.3, CSIP/SIP 2.0.4) lives in .venv-eark (scripts/bootstrap.sh): it pins
lxml==5.1.0, which in .venv would pull pyHanko and OCRmyPDF back several releases. tests/eark_runner.py runs
under it in a fresh network namespace (`unshare -rn`), with an audit hook that refuses every socket and URL.

`unexplained()` returns every Error finding that is not one of the validator's proven bugs below. Each bug
is matched narrowly — the rule, and the exact element it fires on must be the one the specification's own
text allows — so a real defect of the same rule number still fails the test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
EARK_PYTHON = ROOT / ".venv-eark" / "bin" / "python"
RUNNER = Path(__file__).resolve().parent / "eark_runner.py"
M = "{http://www.loc.gov/METS/}"
CSIP_NS = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"


def validate(*packages: Path) -> dict:
    """{"network_attempts": [...], "packages": {path: {"results": [...], ...}}} from the official validator."""
    assert EARK_PYTHON.exists(), (
        f"{EARK_PYTHON} is missing: run `bash scripts/bootstrap.sh setup` (it makes .venv-eark with "
        "eark-validator)"
    )
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed to run the validator in a network namespace without network"
    proc = subprocess.run(
        [unshare, "-rn", str(EARK_PYTHON), str(RUNNER), *map(str, packages)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def _mets(package: Path, scope: str) -> etree._Element:
    with zipfile.ZipFile(package) as zf:
        [name] = [n for n in zf.namelist() if n.split("/", 1)[-1] == scope]
        return etree.fromstring(zf.read(name))


def _index(location: str, element: str) -> int | None:
    """The position the validator's location gives for `element`, e.g. fileGrp[2] -> 2."""
    found = re.findall(rf"local-name\(\)='{element}' and namespace-uri\(\)='[^']*'\]\[(\d+)\]", location)
    return int(found[-1]) if found else None


def _content_named_by_path(mets: etree._Element) -> bool:
    """The content is in groups named by their folder path: root "Representations/<rep>" groups with an
    mptr division each (CSIP 2.0.4 Appendix 2), or a representation's "Data" group (TT05, rep1)."""
    uses = [g.get("USE", "") for g in mets.iter(M + "fileGrp") if len(g.findall(M + "file"))]
    top = mets.find(f"{M}structMap[@LABEL='CSIP']/{M}div")
    labels = [d.get("LABEL", "") for d in top.findall(M + "div")] if top is not None else []
    if mets.get("OBJID") == "rep1":
        return "Data" in uses and "Data" in labels
    reps = [u for u in uses if u.startswith("Representations/")]
    return bool(reps) and all(
        top.find(f"{M}div[@LABEL='{u}']/{M}mptr") is not None for u in reps
    )


def _empty_csip_group(mets: etree._Element, location: str) -> bool:
    n = _index(location, "fileGrp")
    groups = mets.findall(f"{M}fileSec/{M}fileGrp")
    if n is None or n > len(groups):
        return False
    group = groups[n - 1]
    return group.get("USE") in ("Documentation", "Schemas") and not len(group)


def _software_version_note(mets: etree._Element, location: str) -> bool:
    n = _index(location, "agent")
    agents = mets.findall(f"{M}metsHdr/{M}agent")  # the location counts every agent, not only CREATORs
    if n is None or n > len(agents):
        return False
    agent = agents[n - 1]
    notes = agent.findall(M + "note")
    return (
        agent.get("OTHERTYPE") == "SOFTWARE"
        and len(notes) == 1
        and notes[0].get(f"{{{CSIP_NS}}}NOTETYPE") == "SOFTWARE VERSION"
    )


#: The validator's proven bugs (each shown against the specification's text in docs/packages.md, "Findings
#: of the validator that the specification contradicts"): rule -> test that the finding is that bug.
VALIDATOR_BUGS = {
    # CSIP114 asserts a file group whose USE is exactly "Representations"; CSIP64 says USE is the folder path
    # ("Representations/submission/data"), and the specification's own Appendix 1 and 2 use
    # "Representations/Submission/Data" and "Representations/<name>" — both fail this assertion.
    "CSIP114": lambda mets, loc: _content_named_by_path(mets),
    # CSIP103 asserts a division labelled exactly "Representations" even when each representation has its own
    # METS; CSIP107 wants those divisions labelled with the representation's path (Appendix 2 does exactly
    # that and has no "Representations" division). The board calls the pair a dependence: E-ARK-CSIP#749.
    "CSIP103": lambda mets, loc: _content_named_by_path(mets),
    # CSIP66 asserts a file in every group; CSIP60 and CSIP113 make the Documentation and Schemas groups
    # mandatory, and the board ruled they stay, empty, when there is nothing to put in them (E-ARK-CSIP#752).
    "CSIP66": _empty_csip_group,
    # SIP14 (SIP 2.0.4) tests an unqualified @NOTETYPE on the note of every CREATOR agent. The profile's
    # XPath is @csip:NOTETYPE on the archival creator agent; the rule also hits the software agent, whose
    # one note CSIP15/16 fix as csip:NOTETYPE="SOFTWARE VERSION". No METS valid against mets.xsd can pass
    # it (note allows only namespaced extra attributes).
    "SIP14": _software_version_note,
}


def unexplained(package: Path, report: dict) -> list[dict]:
    """Error findings on `package` that are not one of VALIDATOR_BUGS."""
    out = []
    for result in report["results"]:
        if result["severity"] != "Error":
            continue
        check = VALIDATOR_BUGS.get(result["rule"])
        if check and result["scope"] != "structure" and check(_mets(package, result["scope"]), result["location"]):
            continue
        out.append(result)
    return out
