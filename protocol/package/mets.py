"""METS documents of the TT05 (E-ARK CSIP 2.0.4) profile: the root METS.xml and representations/rep1/METS.xml.

Every <file> and <mdRef> carries SIZE and an upper-case SHA-256; hrefs are relative to the folder of the
METS that holds them (rep1 refers to `data/…`). Both levels carry what CSIP asks of every METS (the software
agent with its one SOFTWARE VERSION note, Documentation and Schemas file groups and divisions, a Metadata
division listing every dmdSec and digiprovMD) beside what TT05 adds (the fonds code on an organisation agent,
the Data and MetadataLink divisions of rep1). docs/packages.md has the rule-by-rule table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from protocol.metadata import nfc
from protocol.package.model import (
    NS_CSIP,
    NS_METS,
    NS_XLINK,
    NS_XSI,
    PROFILE_AIP,
    PROFILE_CSIP,
    PROFILE_SIP,
    TEXT_USE,
)
from protocol.package.premis import new_id

M = f"{{{NS_METS}}}"
XL = f"{{{NS_XLINK}}}"
CS = f"{{{NS_CSIP}}}"
NSMAP = {"mets": NS_METS, "xlink": NS_XLINK, "csip": NS_CSIP, "xsi": NS_XSI}


@dataclass(frozen=True)
class Ref:
    href: str  # relative to the METS that refers to it
    size: int
    sha256: str
    created: str
    mimetype: str = "application/xml"


@dataclass(frozen=True)
class Header:
    kind: str  # SIP | AIP
    status: str  # RECORDSTATUS
    created: str
    software: str
    fonds_code: str = ""
    agency_name: str = ""
    packager: str = ""
    modified: str = ""  # LASTMODDATE when it differs from CREATEDATE (a migrated package)


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, M + tag)
    for key, value in attrs.items():
        el.set(key, nfc(str(value)))
    if text is not None:
        el.text = nfc(text)
    return el


def _root(objid: str, header: Header, *, schema_prefix: str, level: str) -> etree._Element:
    root = etree.Element(M + "mets", nsmap=NSMAP)
    root.set("OBJID", objid)
    root.set("TYPE", "Mixed")
    # SIP2 wants the SIP profile at every level of a SIP; an AIP root keeps TT05's value, its rep1 the CSIP one.
    if header.kind == "SIP":
        profile = PROFILE_SIP
    else:
        profile = PROFILE_AIP if level == "root" else PROFILE_CSIP
    root.set("PROFILE", profile)
    root.set(CS + "CONTENTINFORMATIONTYPE", "MIXED")
    root.set(
        f"{{{NS_XSI}}}schemaLocation",
        f"{NS_METS} {schema_prefix}schemas/mets.xsd {NS_XLINK} {schema_prefix}schemas/xlink.xsd "
        f"{NS_CSIP} {schema_prefix}schemas/DILCISExtensionMETS.xsd",
    )
    return root


def software_parts(software: str) -> tuple[str, str]:
    """("sohoa", "0.1.0") from "sohoa 0.1.0": CSIP14 names the tool, CSIP15 its version."""
    name, _, version = software.strip().rpartition(" ")
    return (name, version) if name and version else (software.strip() or "sohoa", "unknown")


def _header(root: etree._Element, header: Header, *, level: str, file_code: str = "") -> None:
    hdr = _el(
        root,
        "metsHdr",
        CREATEDATE=header.created,
        LASTMODDATE=header.modified or header.created,
        RECORDSTATUS=header.status,
    )
    hdr.set(CS + "OAISPACKAGETYPE", header.kind)
    # CSIP10-16: the software agent, with exactly one note (its version).
    name, version = software_parts(header.software)
    agent = _el(hdr, "agent", ROLE="CREATOR", TYPE="OTHER", OTHERTYPE="SOFTWARE")
    _el(agent, "name", name)
    _el(agent, "note", version).set(CS + "NOTETYPE", "SOFTWARE VERSION")
    # TT05's fonds code (mã phông) names the archival creator: SIP9-14's ARCHIVIST organisation agent.
    org = _el(hdr, "agent", ROLE="ARCHIVIST", TYPE="ORGANIZATION")
    _el(org, "name", header.agency_name or "-")
    if header.fonds_code:
        _el(org, "note", header.fonds_code).set(CS + "NOTETYPE", "IDENTIFICATIONCODE")
    if level == "root":
        # SIP: the sample's submission agreement is the fileCode; AIP: our profile keeps the fileCode too,
        # since arcFileCode may carry an archive prefix.
        alt_type = "SUBMISSIONAGREEMENT" if header.kind == "SIP" else "FILECODE"
        _el(hdr, "altRecordID", file_code, TYPE=alt_type)
    elif header.packager:
        person = _el(hdr, "agent", ROLE="OTHER", TYPE="INDIVIDUAL")
        _el(person, "name", header.packager)


def _md_ref(parent: etree._Element, ref: Ref, *, mdtype: str = "DC") -> None:
    attrs = {
        "LOCTYPE": "URL",
        "MDTYPE": mdtype,
        "MIMETYPE": ref.mimetype,
        "SIZE": str(ref.size),
        "CREATED": ref.created,
        "CHECKSUM": ref.sha256,
        "CHECKSUMTYPE": "SHA-256",
    }
    attrs["MDTYPEVERSION"] = "3.0" if mdtype == "PREMIS" else "1.0.0"
    md = _el(parent, "mdRef", **attrs)
    md.set(XL + "type", "simple")
    md.set(XL + "href", ref.href)


def _file(grp: etree._Element, ref: Ref, *, admid: str = "") -> str:
    fid = new_id("ID-")
    attrs = {
        "ID": fid,
        "MIMETYPE": ref.mimetype,
        "SIZE": str(ref.size),
        "CREATED": ref.created,
        "CHECKSUM": ref.sha256,
        "CHECKSUMTYPE": "SHA-256",
    }
    if admid:
        attrs["ADMID"] = admid
    f = _el(grp, "file", **attrs)
    loc = _el(f, "FLocat", LOCTYPE="URL")
    loc.set(XL + "type", "simple")
    loc.set(XL + "href", ref.href)
    return fid


def _dmd(root: etree._Element, ref: Ref, created: str) -> str:
    dmd_id = new_id()
    _md_ref(_el(root, "dmdSec", ID=dmd_id, CREATED=created, STATUS="CURRENT"), ref)
    return dmd_id


def _amd(root: etree._Element, premis: Ref | None) -> list[str]:
    """The amdSec; returns the digiprovMD IDs, which ADMID attributes point at (not the amdSec's ID)."""
    amd = _el(root, "amdSec", ID=new_id())
    if premis is None:
        return []
    digiprov_id = new_id()
    _md_ref(_el(amd, "digiprovMD", ID=digiprov_id, STATUS="CURRENT"), premis, mdtype="PREMIS")
    return [digiprov_id]


def _csip_groups(sec: etree._Element) -> tuple[etree._Element, etree._Element]:
    """Documentation and Schemas file groups (CSIP60, CSIP113): present even when empty (E-ARK board,
    DILCISBoard/E-ARK-CSIP#752). The archive later files the acceptance record under Documentation."""
    doc = _el(sec, "fileGrp", ID=new_id(), USE="Documentation")
    schemas = _el(sec, "fileGrp", ID=new_id(), USE="Schemas")
    return doc, schemas


def _csip_divs(top: etree._Element, *, dmd_ids: list[str], adm_ids: list[str], doc_grp: str, schema_grp: str) -> None:
    """Metadata (CSIP88-92), Documentation (CSIP93-96, 116) and Schemas (CSIP97-100, 118) divisions; the
    last two point at their file group, not at each file."""
    meta = {"ID": new_id(), "LABEL": "Metadata"}
    if dmd_ids:
        meta["DMDID"] = " ".join(dmd_ids)
    if adm_ids:
        meta["ADMID"] = " ".join(adm_ids)
    _el(top, "div", **meta)
    _el(_el(top, "div", ID=new_id(), LABEL="Documentation"), "fptr", FILEID=doc_grp)
    _el(_el(top, "div", ID=new_id(), LABEL="Schemas"), "fptr", FILEID=schema_grp)


def _tostring(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def representation_mets(header: Header, *, documents: list[tuple[Ref, Ref]], premis: Ref | None,
                        texts: Sequence[Ref | None] = ()) -> bytes:
    """rep1/METS.xml: one dmdSec per EAD_DOC, one Data file per PDF, MetadataLink/File one-to-one.
    `texts` (one per document, None for none): each document's text layer, a file of the Data/Text group,
    pointed at by a second fptr of its MetadataLink/File division (after the PDF's, which readers take
    first). Without any, rep1 is what it was before text layers travelled in packages."""
    root = _root("rep1", header, schema_prefix="../../", level="rep1")
    _header(root, header, level="rep1")
    dmd_ids = [_dmd(root, ead_ref, header.created) for ead_ref, _pdf in documents]
    adm_ids = _amd(root, premis)
    sec = _el(root, "fileSec", ID=new_id())
    doc_grp, schema_grp = _csip_groups(sec)
    grp = _el(sec, "fileGrp", ID=new_id(), USE="Data")
    file_ids = [_file(grp, pdf) for _ead, pdf in documents]
    text_ids: list[str | None] = [None] * len(documents)
    if any(texts):
        text_grp = _el(sec, "fileGrp", ID=new_id(), USE=TEXT_USE)
        text_ids = [_file(text_grp, ref) if ref is not None else None for ref in texts]
    smap = _el(root, "structMap", ID=new_id(), TYPE="PHYSICAL", LABEL="CSIP")
    top = _el(
        smap, "div", ID=new_id(), LABEL="rep1", TYPE="NORMALIZED" if header.kind == "AIP" else "ORIGINAL"
    )
    _csip_divs(top, dmd_ids=dmd_ids, adm_ids=adm_ids, doc_grp=doc_grp.attrib["ID"], schema_grp=schema_grp.attrib["ID"])
    data = _el(top, "div", ID=new_id(), LABEL="Data")
    for fid in file_ids:
        _el(data, "fptr", FILEID=fid)
    links = _el(top, "div", ID=new_id(), LABEL="MetadataLink")
    for dmd_id, fid, text_id in zip(dmd_ids, file_ids, text_ids, strict=True):
        attrs = {"ID": new_id(), "LABEL": "MetadataLink/File", "DMDID": dmd_id}
        if header.kind == "AIP" and adm_ids:
            attrs["ADMID"] = " ".join(adm_ids)
        div = _el(links, "div", **attrs)
        _el(div, "fptr", FILEID=fid)
        if text_id:
            _el(div, "fptr", FILEID=text_id)
    return _tostring(root)


def root_mets(
    objid: str,
    header: Header,
    *,
    file_code: str,
    ead: Ref,
    premis: Ref | None,
    schemas: list[Ref],
    rep_mets: Ref,
    documentation: tuple[Ref, ...] = (),
) -> bytes:
    """The package's METS.xml: EAD dmdSec, PREMIS amdSec (AIP), documentation, schemas, the rep1 pointer."""
    root = _root(objid, header, schema_prefix="", level="root")
    _header(root, header, level="root", file_code=file_code)
    dmd_id = _dmd(root, ead, header.created)
    adm_ids = _amd(root, premis)
    sec = _el(root, "fileSec", ID=new_id())
    doc_grp, schema_grp = _csip_groups(sec)
    for ref in documentation:
        _file(doc_grp, ref)
    for ref in schemas:
        _file(schema_grp, ref)
    rep_grp_id = new_id()
    rep_grp = _el(sec, "fileGrp", ID=rep_grp_id, USE="Representations/rep1")
    _file(rep_grp, rep_mets)
    smap = _el(root, "structMap", ID=new_id(), TYPE="PHYSICAL", LABEL="CSIP")
    top = _el(smap, "div", ID=new_id(), LABEL=objid)
    _csip_divs(top, dmd_ids=[dmd_id], adm_ids=adm_ids, doc_grp=doc_grp.attrib["ID"], schema_grp=schema_grp.attrib["ID"])
    # CSIP105-112 and the specification's own Appendix 2: one division per representation, named by its
    # path, with an mptr to its METS (not a "Representations" division: see docs/packages.md).
    rep_div = _el(top, "div", ID=new_id(), LABEL="Representations/rep1")
    mptr = _el(rep_div, "mptr", LOCTYPE="URL")
    mptr.set(XL + "type", "simple")
    mptr.set(XL + "href", rep_mets.href)
    mptr.set(XL + "title", rep_grp_id)
    return _tostring(root)
