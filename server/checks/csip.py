"""E-ARK CSIP 2.0.4 and SIP conformance of the root METS and every representation METS, in our own words.

The same class of problems the official validator reports (tests/eark_support.py runs it), plus two it
does not test: the Schemas division must point at the Schemas file group (CSIP118), and ADMID must name
digiprovMD sections, not the amdSec. Only MUST rules fail the check; the validator's known bugs
(docs/packages.md) are not reproduced. The rule ids are the specification's.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from lxml import etree

from protocol.errors import Joined, Message, say
from protocol.i18n import N_
from protocol.package.model import NS_CSIP, NS_METS, NS_XLINK, PROFILE_SIP, PackageError
from protocol.package.reader import parse_xml, resolve
from server.checks.context import Context
from server.checks.result import CheckResult

M = f"{{{NS_METS}}}"
XL = f"{{{NS_XLINK}}}"
NOTETYPE = f"{{{NS_CSIP}}}NOTETYPE"

#: rule -> what the package lacks (English msgid; the catalogue has the Vietnamese).
RULES = {
    "CSIP9": N_("metsHdr needs csip:OAISPACKAGETYPE SIP or AIP"),
    "CSIP10": N_("no software agent (agent ROLE=CREATOR TYPE=OTHER OTHERTYPE=SOFTWARE)"),
    "CSIP14": N_("the software agent has no name"),
    "CSIP15": N_("the software agent must carry exactly one note, its version"),
    "CSIP16": N_("the software agent's note must have csip:NOTETYPE=\"SOFTWARE VERSION\""),
    "CSIP18": N_("a dmdSec has no ID"),
    "CSIP19": N_("a dmdSec has no CREATED date"),
    "CSIP33": N_("a digiprovMD has no ID"),
    "CSIP59": N_("no fileSec with an ID"),
    "CSIP60": N_("no file group USE=\"Documentation\" (required even when empty)"),
    "CSIP113": N_("no file group USE=\"Schemas\""),
    "CSIP114": N_("no content file group (\"Representations/…\" in the package METS, \"Data\" in rep1)"),
    "CSIP65": N_("a file group has no ID"),
    "CSIP81": N_("no structMap TYPE=\"PHYSICAL\" LABEL=\"CSIP\""),
    "CSIP84": N_("the CSIP structMap must hold exactly one top division"),
    "CSIP86": N_("the top division's LABEL must equal the OBJID"),
    "CSIP88": N_("no \"Metadata\" division"),
    "CSIP91": N_("the Metadata division's ADMID must list every digiprovMD"),
    "CSIP92": N_("the Metadata division's DMDID must list every dmdSec"),
    "ADMID": N_("ADMID must name digiprovMD sections, not the amdSec"),
    "CSIP95": N_("no \"Documentation\" division"),
    "CSIP116": N_("the Documentation division must point at the Documentation file group"),
    "CSIP99": N_("no \"Schemas\" division"),
    "CSIP118": N_("the Schemas division must point at the Schemas file group, not at each file"),
    "CSIP109": N_("each representation file group needs a division with an mptr to its METS"),
    "CSIP108": N_("the representation mptr's xlink:title must be its file group's ID"),
    "SIP2": N_("a SIP's PROFILE must be %(profile)s"),
}


def _ids(elements: Iterable[etree._Element]) -> set[str]:
    return {e.get("ID", "") for e in elements}


def check_mets(mets: etree._Element, *, level: str, kind: str) -> list[str]:
    """Rule ids one METS document breaks. `level` is "root" or "rep"; `kind` the package's SIP/AIP."""
    broken: list[str] = []
    hdr = mets.find(M + "metsHdr")
    if hdr is None or hdr.get(f"{{{NS_CSIP}}}OAISPACKAGETYPE") not in ("SIP", "AIP"):
        broken.append("CSIP9")
    agents = hdr.findall(f"{M}agent[@ROLE='CREATOR'][@TYPE='OTHER'][@OTHERTYPE='SOFTWARE']") if hdr is not None else []
    if len(agents) != 1:
        broken.append("CSIP10")
    else:
        notes = agents[0].findall(M + "note")
        if not (agents[0].findtext(M + "name") or "").strip():
            broken.append("CSIP14")
        if len(notes) != 1 or not (notes[0].text or "").strip():
            broken.append("CSIP15")
        if not any(n.get(NOTETYPE) == "SOFTWARE VERSION" for n in notes):
            broken.append("CSIP16")
    if kind == "SIP" and mets.get("PROFILE") != PROFILE_SIP:
        broken.append("SIP2")
    dmds, digiprovs = mets.findall(M + "dmdSec"), mets.findall(f"{M}amdSec/{M}digiprovMD")
    if any(not d.get("ID") for d in dmds):
        broken.append("CSIP18")
    if any(not d.get("CREATED") for d in dmds):
        broken.append("CSIP19")
    if any(not d.get("ID") for d in digiprovs):
        broken.append("CSIP33")

    sec = mets.find(M + "fileSec")
    groups = sec.findall(M + "fileGrp") if sec is not None else []
    if sec is None or not sec.get("ID"):
        broken.append("CSIP59")
    if any(not g.get("ID") for g in groups):
        broken.append("CSIP65")
    by_use: dict[str, list[etree._Element]] = {}
    for g in groups:
        by_use.setdefault(g.get("USE", ""), []).append(g)
    if "Documentation" not in by_use:
        broken.append("CSIP60")
    if "Schemas" not in by_use:
        broken.append("CSIP113")
    reps = [g for use, gs in by_use.items() if use.startswith("Representations") for g in gs]
    if not reps and not (level == "rep" and "Data" in by_use):
        broken.append("CSIP114")

    maps = mets.findall(f"{M}structMap[@TYPE='PHYSICAL'][@LABEL='CSIP']")
    if len(maps) != 1:
        broken.append("CSIP81")
        return broken
    tops = maps[0].findall(M + "div")
    if len(tops) != 1:
        broken.append("CSIP84")
        return broken
    top = tops[0]
    if top.get("LABEL") != mets.get("OBJID"):
        broken.append("CSIP86")
    divs = {d.get("LABEL", ""): d for d in top.findall(M + "div")}
    meta = divs.get("Metadata")
    if meta is None:
        broken.append("CSIP88")
    else:
        if set((meta.get("DMDID") or "").split()) != _ids(dmds):
            broken.append("CSIP92")
        if set((meta.get("ADMID") or "").split()) != _ids(digiprovs):
            broken.append("CSIP91")
    amd_ids = _ids(mets.findall(M + "amdSec")) - {""}
    if any(set((d.get("ADMID") or "").split()) & amd_ids for d in mets.iter(M + "div", M + "file", M + "fileGrp")):
        broken.append("ADMID")
    for label, missing, wrong in (("Documentation", "CSIP95", "CSIP116"), ("Schemas", "CSIP99", "CSIP118")):
        div = divs.get(label)
        if div is None:
            broken.append(missing)
            continue
        targets = {f.get("FILEID") for f in div.findall(M + "fptr")}
        if not targets or not targets <= _ids(by_use.get(label, [])):
            broken.append(wrong)
    for g in reps if level == "root" else []:
        div = divs.get(g.get("USE", ""))
        mptr = div.find(M + "mptr") if div is not None else None
        if mptr is None:
            broken.append("CSIP109")
        elif mptr.get(XL + "title") != g.get("ID"):
            broken.append("CSIP108")
    return list(dict.fromkeys(broken))


def rep_mets_paths(root: etree._Element) -> list[str]:
    """Package-relative paths of every representation METS the root METS points at (mptr)."""
    return [resolve("", m.get(XL + "href", "")) for m in root.iter(M + "mptr") if m.get(XL + "href")]


def check_csip(ctx: Context) -> CheckResult:
    c, source = ctx.need_contents(), ctx.need_source()
    kind = c.kind if c.kind in ("SIP", "AIP") else ""
    reasons: list[str] = []
    broken: list[Message] = []
    try:
        root = parse_xml(source.read(ctx.member("METS.xml")))
    except (PackageError, etree.XMLSyntaxError) as exc:
        return CheckResult("csip", False, [f"METS.xml: unreadable ({exc})"], N_("METS.xml cannot be read"))
    documents = [("METS.xml", root, "root")]
    for path in rep_mets_paths(root):
        if path.startswith(("/", "../")) or path not in c.members:
            reasons.append(f"{path}: representation METS missing")
            continue
        try:
            documents.append((path, parse_xml(source.read(ctx.member(path))), "rep"))
        except (PackageError, etree.XMLSyntaxError) as exc:
            reasons.append(f"{path}: representation METS unreadable ({exc})")
    for scope, mets, level in documents:
        for rule in check_mets(mets, level=level, kind=kind):
            lacks = say(RULES[rule], profile=PROFILE_SIP)
            reasons.append(f"{scope}: {rule}: {lacks.message}")
            where = posixpath.basename(posixpath.dirname(scope))
            broken.append(say(N_("METS %(where)s: %(rule)s — %(lacks)s"), rule=rule, lacks=lacks,
                              where=where or say(N_("package root"))))
    if reasons and any("CSIP15" in r or "CSIP60" in r for r in reasons):
        reasons.append("packages made by sohoa before its E-ARK update: `sohoa server migrate-packages` "
                       "rewrites stored ones into the conformant form")
    if broken:
        return CheckResult("csip", False, reasons, N_("The package does not conform to E-ARK CSIP/SIP 2.0.4: "
                                                      "%(rules)s"), {"rules": Joined(broken)})
    summary = N_("The package lacks a representation's METS") if reasons else ""
    return CheckResult("csip", not reasons, reasons, summary)
