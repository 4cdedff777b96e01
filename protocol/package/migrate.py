"""Bring a package made before sohoa's E-ARK update into the conformant form (docs/packages.md).

Only the two METS files are rewritten (and, in an AIP, PREMIS.xml gains a `metadata modification` event);
every other member — signed PDFs, their text layers, EAD, PREMIS_rep1, schemas — is copied byte for byte.
The result keeps the OBJID, folder, RECORDSTATUS and CREATEDATE; LASTMODDATE is the migration time. The
caller stores it as a new version next to the old one (`sohoa server migrate-packages`).
"""

from __future__ import annotations

import os
import posixpath
import zipfile
from pathlib import Path

from lxml import etree

from protocol.clock import iso_vn
from protocol.durable import fsync_dir
from protocol.hashing import sha256_bytes, sha256_file
from protocol.i18n import N_
from protocol.package import mets, premis, schemas
from protocol.package.model import (
    DOCUMENTATION,
    EAD,
    NS_METS,
    NS_PREMIS,
    PREMIS,
    REP,
    REP_METS,
    REP_PREMIS,
    ROOT_METS,
    BuiltPackage,
    PackageContents,
    PackageError,
    PremisEvent,
)
from protocol.package.reader import parse_xml, read_source
from protocol.package.source import ZipSource
from protocol.version import SOFTWARE

M = f"{{{NS_METS}}}"


def _agent_name(root: etree._Element, type_: str) -> str:
    return root.findtext(f"{M}metsHdr/{M}agent[@TYPE='{type_}']/{M}name", "") or ""


def _add_event(premis_xml: bytes, event: PremisEvent) -> bytes:
    """PREMIS.xml with `event` after the last event (PREMIS order: objects, events, agents, rights)."""
    root = parse_xml(premis_xml)
    scratch = etree.Element(f"{{{NS_PREMIS}}}premis", nsmap=root.nsmap)
    premis._event(scratch, event)
    premis._agents(scratch, [event])
    new_event, new_agent = scratch.findall(f"{{{NS_PREMIS}}}event")[0], scratch.find(f"{{{NS_PREMIS}}}agent")
    events = root.findall(f"{{{NS_PREMIS}}}event")
    anchor = events[-1] if events else root.findall(f"{{{NS_PREMIS}}}object")[-1]
    anchor.addnext(new_event)
    known = {a.findtext(f"{{{NS_PREMIS}}}agentIdentifier/{{{NS_PREMIS}}}agentIdentifierValue")
             for a in root.findall(f"{{{NS_PREMIS}}}agent")}
    if new_agent is not None and event.agent not in known:
        agents = root.findall(f"{{{NS_PREMIS}}}agent")
        (agents[-1] if agents else new_event).addnext(new_agent)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _validated(name: str, data: bytes, member: str) -> bytes:
    reasons = schemas.validate(name, data)
    if reasons:
        raise PackageError(N_("migrated %(member)s is not valid against %(name)s: %(reasons)s"),
                           member=member, name=name, reasons='; '.join(reasons[:5]))
    return data


def migrate_package(src: Path, out_dir: Path, *, software: str = SOFTWARE,
                    previous: str = "", event: PremisEvent | None = None,
                    documentation: dict[str, bytes] | None = None) -> BuiltPackage:
    """Write the migrated copy of `src` as `<folder>.zip` in `out_dir`. `previous` names the version it
    replaces (e.g. "v0001 SHA-256 …") in the PREMIS event.

    The archive files its acceptance record the same way: `documentation` (file name -> bytes) is added
    under documentation/ and listed in the Documentation file group next to what is there already, and
    `event` (an AIP's PREMIS.xml) replaces the default "metadata modification" event."""
    documentation = documentation or {}
    src = Path(src)
    with ZipSource(src) as source:
        contents: PackageContents = read_source(source)
        folder = contents.folder
        old_root = parse_xml(source.read(f"{folder}/{ROOT_METS}"))
        old_rep = parse_xml(source.read(f"{folder}/{REP_METS}"))
        if contents.kind not in ("SIP", "AIP"):
            raise PackageError(N_("unknown package type '%(kind)s'"), kind=contents.kind)
        now = iso_vn()
        created = contents.created or now
        header = mets.Header(
            kind=contents.kind,
            status=contents.record_status or "NEW",
            created=created,
            modified=now,
            software=software,
            fonds_code=contents.fonds_code,
            agency_name=_agent_name(old_rep, "ORGANIZATION") or _agent_name(old_root, "ORGANIZATION"),
            packager=_agent_name(old_rep, "INDIVIDUAL"),
        )

        def ref(member: str, href: str, mimetype: str, data: bytes | None = None) -> mets.Ref:
            if data is None:
                size, digest = source.sha256(f"{folder}/{member}")
            else:
                size, digest = len(data), sha256_bytes(data)
            return mets.Ref(href=href, size=size, sha256=digest, created=created, mimetype=mimetype)

        rel = len(REP) + 1
        documents = [
            (ref(d.metadata_path, d.metadata_path[rel:], "application/xml"),
             ref(d.pdf_member, d.pdf_member[rel:], "application/pdf"))
            for d in contents.documents
        ]
        texts = [ref(d.text_member, d.text_member[rel:], "text/plain") if d.text_member else None
                 for d in contents.documents]
        replaced: dict[str, bytes] = {}
        rep_premis = root_premis = None
        if contents.kind == "AIP":
            rep_premis = ref(REP_PREMIS, REP_PREMIS[rel:], "application/xml")
            event = event or PremisEvent(
                "metadata modification",
                now,
                detail=f"METS.xml and {REP_METS} rewritten to E-ARK CSIP/SIP 2.0.4 by {software}; data files, "
                f"EAD and {posixpath.basename(REP_PREMIS)} unchanged",
                agent=f"software:{software}",
                extra={"previous": previous} if previous else {},
            )
            replaced[PREMIS] = _validated("premis.xsd", _add_event(source.read(f"{folder}/{PREMIS}"), event), PREMIS)
            root_premis = ref(PREMIS, PREMIS, "application/xml", replaced[PREMIS])
        rep_xml = _validated("mets.xsd", mets.representation_mets(header, documents=documents, premis=rep_premis,
                                                                texts=texts),
                             REP_METS)
        replaced[REP_METS] = rep_xml
        schema_refs = [
            ref(e.path, e.path, "application/octet-stream")
            for e in contents.files
            if e.use == "Schemas" and e.mets == ROOT_METS
        ]
        doc_refs = [ref(e.path, e.path, "application/pdf" if e.path.endswith(".pdf") else "application/octet-stream")
                    for e in contents.files if e.use == "Documentation" and e.mets == ROOT_METS]
        for name, data in documentation.items():
            if "/" in name or name.startswith(".") or f"{DOCUMENTATION}/{name}" in {r.href for r in doc_refs}:
                raise PackageError(N_("documentation file '%(name)s' is not a new plain file name"), name=name)
            doc_refs.append(mets.Ref(f"{DOCUMENTATION}/{name}", len(data), sha256_bytes(data), now,
                                     "application/pdf" if name.endswith(".pdf") else "application/octet-stream"))
        root_xml = _validated("mets.xsd", mets.root_mets(
            contents.objid, header, file_code=contents.file_code, documentation=tuple(doc_refs),
            ead=ref(EAD, EAD, "application/xml"), premis=root_premis, schemas=schema_refs,
            rep_mets=mets.Ref(REP_METS, len(rep_xml), sha256_bytes(rep_xml), now, "text/xml"),
        ), ROOT_METS)
        replaced[ROOT_METS] = root_xml

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / f"{folder}.zip"
        tmp = out_dir / f".{folder}.zip.part"
        try:
            with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", allowZip64=True) as zout:
                names = set()
                for info in zin.infolist():
                    rel_name = info.filename[len(folder) + 1:]
                    names.add(rel_name)
                    if rel_name in replaced:
                        continue
                    with zin.open(info) as handle, zout.open(info, "w", force_zip64=True) as out:
                        while block := handle.read(1 << 20):
                            out.write(block)
                if f"{DOCUMENTATION}/" not in names:
                    entry = zipfile.ZipInfo(f"{folder}/{DOCUMENTATION}/", date_time=zin.infolist()[0].date_time)
                    entry.external_attr = (0o40755 << 16) | 0x10
                    zout.writestr(entry, b"")
                for name, data in documentation.items():
                    info = zipfile.ZipInfo(f"{folder}/{DOCUMENTATION}/{name}", date_time=zin.infolist()[0].date_time)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    zout.writestr(info, data)
                for member in (PREMIS, REP_METS, ROOT_METS):  # root METS last, as the builder writes it
                    if member in replaced:
                        info = zipfile.ZipInfo(f"{folder}/{member}", date_time=zin.infolist()[0].date_time)
                        info.compress_type = zipfile.ZIP_DEFLATED
                        info.external_attr = 0o644 << 16
                        zout.writestr(info, replaced[member])
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            digest, size = sha256_file(tmp), tmp.stat().st_size
            os.replace(tmp, dest)
            fsync_dir(out_dir)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return BuiltPackage(path=dest, objid=contents.objid, sha256=digest, size=size)
