"""Read a TT05 package (zip or folder) into PackageContents, without trusting it.

Only an unreadable root METS.xml (or no single top folder) raises; every other defect is recorded in
`contents.problems` so that the server's checks can report all of them at once.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from protocol.i18n import N_
from protocol.metadata import nfc
from protocol.package.ead import parse_simpledc
from protocol.package.model import (
    NS_CSIP,
    NS_METS,
    NS_XLINK,
    REP_METS,
    TEXT_USE,
    DocumentEntry,
    FileEntry,
    PackageContents,
    PackageError,
)
from protocol.package.premis import parse_premis
from protocol.package.source import Source, open_source, top_folders

NS = {"m": NS_METS, "xl": NS_XLINK, "cs": NS_CSIP}
HREF = f"{{{NS_XLINK}}}href"


def parse_xml(data: bytes) -> etree._Element:
    # No entities, no network, no huge trees: a hostile METS cannot make us fetch or expand anything.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    return etree.fromstring(data, parser)


def resolve(base_dir: str, href: str) -> str:
    """Package-relative path of an href found in the METS at `base_dir` ('' for root). May escape:
    the caller checks for a leading '../' or '/'."""
    href = nfc(href or "")
    if href.startswith("/") or "\\" in href or ":" in href.split("/")[0]:
        return href
    return posixpath.normpath(posixpath.join(base_dir, href)) if href else ""


class _Mets:
    """The parts of one METS document the reader needs."""

    def __init__(self, data: bytes, base_dir: str, label: str):
        self.root = parse_xml(data)
        if self.root.tag != f"{{{NS_METS}}}mets":
            raise PackageError(
                N_("%(label)s: root element is '%(tag)s', not mets:mets"), label=label, tag=self.root.tag,
            )
        self.base, self.label = base_dir, label
        hdr = self.root.find("m:metsHdr", NS)
        self.hdr = hdr if hdr is not None else etree.Element("none")

    def entries(self) -> list[FileEntry]:
        out = []
        for md in self.root.iterfind(".//m:mdRef", NS):
            out.append(
                FileEntry(
                    resolve(self.base, md.get(HREF, "")),
                    _int(md.get("SIZE")),
                    md.get("CHECKSUM", ""),
                    self.label,
                    "",
                    "mdRef",
                )
            )
        for grp in self.root.iterfind(".//m:fileGrp", NS):
            for f in grp.iterfind("m:file", NS):
                loc = f.find("m:FLocat", NS)
                href = loc.get(HREF, "") if loc is not None else ""
                out.append(
                    FileEntry(
                        resolve(self.base, href),
                        _int(f.get("SIZE")),
                        f.get("CHECKSUM", ""),
                        self.label,
                        f.get("ID", ""),
                        grp.get("USE", ""),
                    )
                )
        return out

    def file_use(self, file_id: str) -> str:
        """USE of the file group holding the file with this ID ('' if none)."""
        for grp in self.root.iterfind(".//m:fileGrp", NS):
            if any(f.get("ID") == file_id for f in grp.iterfind("m:file", NS)):
                return grp.get("USE", "")
        return ""

    def md_href(self, sec_id: str) -> str:
        for sec in self.root.iterfind(".//m:dmdSec", NS):
            if sec.get("ID") == sec_id:
                md = sec.find("m:mdRef", NS)
                return resolve(self.base, md.get(HREF, "")) if md is not None else ""
        return ""

    def file_href(self, file_id: str) -> str:
        for f in self.root.iterfind(".//m:file", NS):
            if f.get("ID") == file_id:
                loc = f.find("m:FLocat", NS)
                return resolve(self.base, loc.get(HREF, "")) if loc is not None else ""
        return ""

    def premis_hrefs(self) -> list[str]:
        return [
            resolve(self.base, md.get(HREF, ""))
            for md in self.root.iterfind("m:amdSec/m:digiprovMD/m:mdRef", NS)
        ]


def _software(hdr: etree._Element) -> str:
    """"sohoa 0.1.0": the software agent's name and SOFTWARE VERSION note (packages made before the CSIP
    update wrote both into the name)."""
    agent = hdr.find("m:agent[@OTHERTYPE='SOFTWARE']", NS)
    if agent is None:
        agent = hdr.find("m:agent", NS)
    if agent is None:
        return ""
    name = agent.findtext("m:name", "", NS)
    version = agent.findtext("m:note[@cs:NOTETYPE='SOFTWARE VERSION']", "", NS)
    return f"{name} {version}" if version and not name.endswith(version) else name


def _int(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        return -1


def read_package(path: Path) -> PackageContents:
    """Read a package (.zip or folder). Raises PackageError only when there is no usable root METS."""
    with open_source(Path(path)) as source:
        return read_source(source)


def read_source(source: Source) -> PackageContents:
    tops = top_folders(source)
    if len(tops) > 1:  # read the one package folder; server.checks still rejects the extra folders
        with_mets = [t for t in tops if any(m.name == f"{t}/METS.xml" for m in source.members)]
        tops = with_mets if len(with_mets) == 1 else tops
    if len(tops) != 1:
        raise PackageError(
            N_("the package must hold exactly one top folder, found %(count)s: %(tops)s"),
            count=len(tops), tops=tops[:5],
        )
    folder = tops[0]
    problems: list[str] = []

    def read(rel: str) -> bytes:
        return source.read(f"{folder}/{rel}")

    try:
        root = _Mets(read("METS.xml"), "", "METS.xml")
    except (PackageError, etree.XMLSyntaxError) as exc:
        raise PackageError(N_("METS.xml unreadable: %(exc)s"), exc=exc) from exc
    objid = root.root.get("OBJID", "")
    kind = root.hdr.get(f"{{{NS_CSIP}}}OAISPACKAGETYPE", "")
    files = root.entries()
    alt = {a.get("TYPE", ""): (a.text or "") for a in root.hdr.iterfind("m:altRecordID", NS)}
    notes = {
        n.get(f"{{{NS_CSIP}}}NOTETYPE", ""): (n.text or "") for n in root.hdr.iterfind("m:agent/m:note", NS)
    }
    software = _software(root.hdr)
    agency = root.hdr.findtext("m:agent[@ROLE='ARCHIVIST']/m:name", "", NS)

    ead_href = next((e.path for e in files if e.use == "mdRef" and e.path.endswith("EAD.xml")), "")
    hoso: dict[str, str] = {}
    try:
        hoso = parse_simpledc(read(ead_href or "metadata/descriptive/EAD.xml"))
    except (PackageError, etree.XMLSyntaxError, ValueError) as exc:
        problems.append(f"EAD.xml unreadable: {exc}")
    file_code = hoso.get("fileCode") or alt.get("FILECODE") or alt.get("SUBMISSIONAGREEMENT") or ""

    rep_href = REP_METS
    mptr = root.root.find(".//m:mptr", NS)
    if mptr is not None:
        rep_href = resolve("", mptr.get(HREF, "")) or REP_METS
    documents: list[DocumentEntry] = []
    premis_hrefs = root.premis_hrefs()
    try:
        rep = _Mets(read(rep_href), posixpath.dirname(rep_href), rep_href)
        files += rep.entries()
        premis_hrefs += rep.premis_hrefs()
        documents = _documents(rep, read, file_code, problems)
    except (PackageError, etree.XMLSyntaxError) as exc:
        problems.append(f"{rep_href} unreadable: {exc}")

    events: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    for href in premis_hrefs:
        try:
            objs, evs = parse_premis(read(href))
            objects += [dict(o, source=href) for o in objs]
            events += [dict(e, source=href) for e in evs]
        except (PackageError, etree.XMLSyntaxError, ValueError) as exc:
            problems.append(f"{href} unreadable: {exc}")

    prefix = folder + "/"
    members = [m.name[len(prefix) :] for m in source.members if m.name.startswith(prefix) and not m.is_dir]
    contents = PackageContents(
        objid=objid,
        kind=kind,
        record_status=root.hdr.get("RECORDSTATUS", ""),
        folder=folder,
        file_code=file_code,
        hoso=hoso,
        documents=documents,
        files=files,
        events=events,
        premis_objects=objects,
        created=root.hdr.get("CREATEDATE", ""),
        fonds_code=notes.get("IDENTIFICATIONCODE", ""),
        agency_name="" if agency == "-" else agency,
        software=software,
        members=members,
        problems=problems,
    )
    return contents


def _documents(rep: _Mets, read: Callable[[str], bytes], file_code: str, problems: list[str]) -> list[DocumentEntry]:
    docs = []
    for div in rep.root.iterfind(".//m:div[@LABEL='MetadataLink/File']", NS):
        ead_path = rep.md_href((div.get("DMDID") or "").split(" ")[0])
        fptrs = [f.get("FILEID", "") for f in div.iterfind("m:fptr", NS)]
        pdf = rep.file_href(fptrs[0]) if fptrs else ""  # the PDF's fptr comes first (protocol.package.mets)
        text = next((rep.file_href(f) for f in fptrs[1:] if rep.file_use(f) == TEXT_USE), "")
        fields: dict[str, str] = {}
        try:
            fields = parse_simpledc(read(ead_path))
        except (PackageError, etree.XMLSyntaxError, ValueError) as exc:
            problems.append(f"{ead_path or 'EAD_DOC'} unreadable: {exc}")
        doc_code = fields.get("docCode", "")
        ordinal = _int(fields.get("docOrdinal") or (fields.get("docId", "").rpartition(".")[2]))
        doc_id = fields.get("docId") or (f"{file_code}.{ordinal}" if ordinal > 0 else "")
        docs.append(
            DocumentEntry(
                doc_id=doc_id,
                doc_code=doc_code,
                ordinal=ordinal,
                fields=fields,
                metadata_path=ead_path,
                pdf_member=pdf,
                page_count=_int(fields.get("numberOfPage")),
                text_member=text,
            )
        )
    return docs
