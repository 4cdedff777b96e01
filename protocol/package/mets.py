"""METS documents of the TT05 (E-ARK CSIP) profile: the root METS.xml and representations/rep1/METS.xml.

Every <file> and <mdRef> carries SIZE and an upper-case SHA-256; hrefs are relative to the folder of the
METS that holds them (rep1 refers to `data/…`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from protocol.metadata import nfc
from protocol.package.model import NS_CSIP, NS_METS, NS_XLINK, NS_XSI, PROFILE_AIP, PROFILE_SIP
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


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, M + tag)
    for key, value in attrs.items():
        el.set(key, nfc(str(value)))
    if text is not None:
        el.text = nfc(text)
    return el


def _root(objid: str, header: Header, *, schema_prefix: str) -> etree._Element:
    root = etree.Element(M + "mets", nsmap=NSMAP)
    root.set("OBJID", objid)
    root.set("TYPE", "Mixed")
    root.set("PROFILE", PROFILE_AIP if header.kind == "AIP" and objid != "rep1" else PROFILE_SIP)
    root.set(CS + "CONTENTINFORMATIONTYPE", "MIXED")
    root.set(
        f"{{{NS_XSI}}}schemaLocation",
        f"{NS_METS} {schema_prefix}schemas/mets.xsd {NS_XLINK} {schema_prefix}schemas/xlink.xsd "
        f"{NS_CSIP} {schema_prefix}schemas/DILCISExtensionMETS.xsd",
    )
    return root


def _header(root: etree._Element, header: Header, *, level: str, file_code: str = "") -> None:
    hdr = _el(
        root, "metsHdr", CREATEDATE=header.created, LASTMODDATE=header.created, RECORDSTATUS=header.status
    )
    hdr.set(CS + "OAISPACKAGETYPE", header.kind)
    if level == "root":
        agent = _el(hdr, "agent", ROLE="CREATOR", TYPE="OTHER", OTHERTYPE="SOFTWARE")
        _el(agent, "name", header.software)
        _el(agent, "note", header.software.rpartition(" ")[2] or header.software).set(
            CS + "NOTETYPE", "SOFTWARE VERSION"
        )
        if header.fonds_code:
            _el(agent, "note", header.fonds_code).set(CS + "NOTETYPE", "IDENTIFICATIONCODE")
        # SIP: the sample's submission agreement is the fileCode; AIP: our profile keeps the fileCode too,
        # since arcFileCode may carry an archive prefix.
        alt_type = "SUBMISSIONAGREEMENT" if header.kind == "SIP" else "FILECODE"
        _el(hdr, "altRecordID", file_code, TYPE=alt_type)
    else:
        agent = _el(hdr, "agent", ROLE="CREATOR", TYPE="ORGANIZATION")
        _el(agent, "name", header.agency_name or "-")
        if header.fonds_code:
            _el(agent, "note", header.fonds_code).set(CS + "NOTETYPE", "IDENTIFICATIONCODE")
        if header.packager:
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


def _amd(root: etree._Element, premis: Ref | None) -> str:
    amd_id = new_id()
    amd = _el(root, "amdSec", ID=amd_id)
    if premis is not None:
        _md_ref(_el(amd, "digiprovMD", ID=new_id()), premis, mdtype="PREMIS")
    return amd_id


def _tostring(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def representation_mets(header: Header, *, documents: list[tuple[Ref, Ref]], premis: Ref | None) -> bytes:
    """rep1/METS.xml: one dmdSec per EAD_DOC, one Data file per PDF, MetadataLink/File one-to-one."""
    root = _root("rep1", header, schema_prefix="../../")
    _header(root, header, level="rep1")
    dmd_ids = []
    for ead_ref, _pdf in documents:
        dmd_id = new_id()
        _md_ref(_el(root, "dmdSec", ID=dmd_id, CREATED=header.created), ead_ref)
        dmd_ids.append(dmd_id)
    amd_id = _amd(root, premis)
    sec = _el(root, "fileSec", ID=new_id())
    grp = _el(sec, "fileGrp", ID=new_id(), USE="Data")
    file_ids = [_file(grp, pdf) for _ead, pdf in documents]
    smap = _el(root, "structMap", ID=new_id(), TYPE="PHYSICAL", LABEL="CSIP")
    top = _el(
        smap, "div", ID=new_id(), LABEL="rep1", TYPE="NORMALIZED" if header.kind == "AIP" else "ORIGINAL"
    )
    data = _el(top, "div", ID=new_id(), LABEL="Data")
    for fid in file_ids:
        _el(data, "fptr", FILEID=fid)
    links = _el(top, "div", ID=new_id(), LABEL="MetadataLink")
    for dmd_id, fid in zip(dmd_ids, file_ids, strict=True):
        attrs = {"ID": new_id(), "LABEL": "MetadataLink/File", "DMDID": dmd_id}
        if header.kind == "AIP":
            attrs["ADMID"] = amd_id
        _el(_el(links, "div", **attrs), "fptr", FILEID=fid)
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
) -> bytes:
    """The package's METS.xml: EAD dmdSec, PREMIS amdSec (AIP), schemas, and the rep1 METS pointer."""
    root = _root(objid, header, schema_prefix="")
    _header(root, header, level="root", file_code=file_code)
    dmd_id = new_id()
    _md_ref(_el(root, "dmdSec", ID=dmd_id, CREATED=header.created), ead)
    amd_id = _amd(root, premis)
    sec = _el(root, "fileSec", ID=new_id())
    schema_grp = _el(sec, "fileGrp", ID=new_id(), USE="Schemas")
    schema_ids = [_file(schema_grp, ref) for ref in schemas]
    rep_grp_id = new_id()
    rep_grp = _el(sec, "fileGrp", ID=rep_grp_id, USE="Representations/rep1")
    _file(rep_grp, rep_mets)
    smap = _el(root, "structMap", ID=new_id(), TYPE="PHYSICAL", LABEL="CSIP")
    top = _el(smap, "div", ID=new_id(), LABEL=objid)
    meta = {"ID": new_id(), "LABEL": "Metadata", "DMDID": dmd_id}
    if premis is not None:
        meta["ADMID"] = amd_id
    _el(top, "div", **meta)
    schema_div = _el(top, "div", ID=new_id(), LABEL="Schemas")
    for sid in schema_ids:
        _el(schema_div, "fptr", FILEID=sid)
    rep_div = _el(top, "div", ID=new_id(), LABEL="Representations/rep1")
    mptr = _el(rep_div, "mptr", LOCTYPE="URL")
    mptr.set(XL + "type", "simple")
    mptr.set(XL + "href", rep_mets.href)
    mptr.set(XL + "title", rep_grp_id)
    return _tostring(root)
