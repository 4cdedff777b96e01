"""Build one TT05 package (one hồ sơ) as a zip, validated against the profile's XSDs before it is sealed."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pikepdf

from protocol.clock import iso_vn
from protocol.durable import fsync_dir
from protocol.hashing import sha256_bytes, sha256_file
from protocol.i18n import N_
from protocol.metadata import FileRecord, MetadataError, check_document, check_file, nfc
from protocol.package import ead, mets, premis, schemas
from protocol.package.model import (
    DOCUMENTATION,
    EAD,
    KINDS,
    PREMIS,
    RECORD_STATUSES,
    REP,
    REP_METS,
    REP_PREMIS,
    ROOT_METS,
    BuiltPackage,
    PackageDocument,
    PackageError,
    PremisEvent,
    data_path,
    ead_doc_path,
    folder_name,
    text_path,
)
from protocol.pdftext import page_count
from protocol.version import SOFTWARE

log = logging.getLogger(__name__)
FONDS_RE = re.compile(r"^[A-Za-z0-9_]+$")


def make_objid(kind: str, package_uuid: str, fonds_code: str = "") -> str:
    """SIP: uuid-{UUID}; AIP: urn:{fonds}:uuid-{UUID} (or urn:uuid:{UUID} without a usable fonds code)."""
    u = str(uuid.UUID(package_uuid)).upper()
    if kind == "SIP":
        return f"uuid-{u}"
    if fonds_code and FONDS_RE.match(fonds_code):
        return f"urn:{fonds_code}:uuid-{u}"
    return f"urn:uuid:{u}"


def _pdf_pages(path: Path) -> int:
    with pikepdf.open(path) as pdf:  # read only: the signed bytes are never rewritten
        return len(pdf.pages)


def _check_inputs(
    hoso: FileRecord, documents: list[PackageDocument], kind: str, status: str, check_metadata: bool
) -> None:
    if kind not in KINDS:
        raise PackageError(N_("unknown package kind '%(kind)s'"), kind=kind)
    if status not in RECORD_STATUSES:
        raise PackageError(N_("unknown RECORDSTATUS '%(status_)s'"), status_=status)
    if not documents:
        raise PackageError(N_("a package needs at least one document"))
    ordinals = [d.record.ordinal for d in documents]
    if ordinals != list(range(1, len(documents) + 1)):
        raise PackageError(
            N_("document ordinals must run 1..n in order, got %(ordinals)s"), ordinals=ordinals,
        )
    for doc in documents:
        if not Path(doc.pdf_path).is_file():
            raise PackageError(N_("PDF not found: %(pdf_path)s"), pdf_path=doc.pdf_path)
        actual = _pdf_pages(Path(doc.pdf_path))
        if actual != doc.page_count:
            raise PackageError(
                N_("%(pdf_path)s: page_count %(page_count)s but the PDF has %(actual)s pages"),
                pdf_path=doc.pdf_path, page_count=doc.page_count, actual=actual,
            )
    if check_metadata:
        problems = [p for p in check_file(hoso) if not p.warning]
        for doc in documents:
            problems += [
                dataclasses.replace(p, field=f"document {doc.record.ordinal}: {p.field}")
                for p in check_document(doc.record, hoso.file_code)
                if not p.warning
            ]
        if problems:
            raise MetadataError(problems)


def _validated(name: str, data: bytes, member: str) -> bytes:
    reasons = schemas.validate(name, data)
    if reasons:
        raise PackageError(
            N_("%(member)s is not valid against %(name)s: %(reasons)s"),
            member=member, name=name, reasons='; '.join(reasons[:5]),
        )
    return data


def build_package(
    *,
    hoso: FileRecord,
    documents: list[PackageDocument],
    events: list[PremisEvent],
    out_dir: Path,
    kind: str = "AIP",
    status: str = "NEW",
    software: str = SOFTWARE,
    packager: str = "",
    package_uuid: str | None = None,
    arc_file_code: str = "",
    check_metadata: bool = True,
    previous: dict[str, Any] | None = None,
) -> BuiltPackage:
    """Write `<folder>.zip` into `out_dir` atomically and return its path, OBJID, SHA-256 and size.

    The PDFs are streamed into the zip as given (they are signed) and hashed on the way, so the checksum
    in METS/PREMIS is of exactly the bytes packed. Totals (totalDoc, numberOfPage) come from the
    documents, not from what the record claims. A new version of a stored hồ sơ passes the same
    `package_uuid` (so the same OBJID), status REPLACEMENT and `previous` = {"sha256", "version"} of the
    stored version it replaces (linked in PREMIS.xml).
    """
    _check_inputs(hoso, documents, kind, status, check_metadata)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hoso = dataclasses.replace(
        hoso, total_doc=len(documents), number_of_page=sum(d.page_count for d in documents)
    )
    fcode = hoso.file_code
    objid = make_objid(kind, package_uuid or str(uuid.uuid4()), hoso.fonds_code)
    folder = folder_name(objid)
    created = iso_vn()
    header = mets.Header(
        kind=kind,
        status=status,
        created=created,
        software=software,
        fonds_code=hoso.fonds_code,
        agency_name=hoso.agency_name,
        packager=packager,
    )
    zip_path = out_dir / f"{folder}.zip"
    tmp = out_dir / f".{folder}.zip.part"
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:

            def add(member: str, data: bytes) -> mets.Ref:
                info = zipfile.ZipInfo(nfc(f"{folder}/{member}"), date_time=_zip_time())
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
                return mets.Ref(href="", size=len(data), sha256=sha256_bytes(data), created=created)

            pdf_refs, doc_refs, premis_files = [], [], []
            text_refs: list[mets.Ref | None] = []
            for doc in documents:
                did = doc.record.doc_id(fcode)
                member = data_path(did)
                size, digest = _stream_pdf(zf, Path(doc.pdf_path), nfc(f"{folder}/{member}"))
                pdf_refs.append(mets.Ref(f"data/{did}.pdf", size, digest, created, "application/pdf"))
                text_refs.append(_text_ref(add, doc, did))
                premis_files.append(
                    {"path": f"data/{did}.pdf", "doc_id": did, "sha256": digest, "size": size}
                )
                record = dataclasses.replace(doc.record, number_of_page=doc.page_count)
                xml = _validated(
                    schemas.ead_schema_name(kind=kind, document=True),
                    ead.document_ead(record, kind=kind, file_code=fcode, arc_file_code=arc_file_code),
                    ead_doc_path(did),
                )
                ref = add(ead_doc_path(did), xml)
                doc_refs.append(dataclasses.replace(ref, href=ead_doc_path(did)[len(REP) + 1 :]))

            rep_premis_ref = root_premis_ref = None
            if kind == "AIP":
                packing = PremisEvent(
                    "message digest calculation",
                    created,
                    detail="SHA-256 of every data file, as packed",
                    agent=f"software:{software}",
                    objects=[d.record.doc_id(fcode) for d in documents],
                )
                xml = _validated(
                    "premis.xsd",
                    premis.representation_premis(files=premis_files, events=[*events, packing]),
                    REP_PREMIS,
                )
                rep_premis_ref = dataclasses.replace(add(REP_PREMIS, xml), href=REP_PREMIS[len(REP) + 1 :])
                creation = PremisEvent(
                    "information package creation",
                    created,
                    detail=f"{kind} built for hồ sơ {fcode}",
                    agent=f"software:{software}",
                )
                xml = _validated(
                    "premis.xsd",
                    premis.package_premis(objid=objid, file_code=fcode, events=[creation], previous=previous),
                    PREMIS,
                )
                root_premis_ref = dataclasses.replace(add(PREMIS, xml), href=PREMIS)

            xml = _validated(
                "mets.xsd",
                mets.representation_mets(
                    header, documents=list(zip(doc_refs, pdf_refs, strict=True)), premis=rep_premis_ref,
                    texts=text_refs,
                ),
                REP_METS,
            )
            rep_mets_ref = dataclasses.replace(add(REP_METS, xml), href=REP_METS, mimetype="text/xml")

            ead_xml = _validated(
                schemas.ead_schema_name(kind=kind, document=False),
                ead.file_ead(hoso, kind=kind, arc_file_code=arc_file_code),
                EAD,
            )
            ead_ref = dataclasses.replace(add(EAD, ead_xml), href=EAD)

            # CSIPSTR15/16: the documentation/ folder, empty until the archive files its acceptance record
            # there; METS lists it as the (empty) Documentation file group.
            folder_entry = zipfile.ZipInfo(nfc(f"{folder}/{DOCUMENTATION}/"), date_time=_zip_time())
            folder_entry.external_attr = (0o40755 << 16) | 0x10
            zf.writestr(folder_entry, b"")

            schema_refs = []
            for name in schemas.SHIPPED:
                ref = add(f"schemas/{name}", (schemas.SCHEMA_DIR / name).read_bytes())
                schema_refs.append(
                    dataclasses.replace(ref, href=f"schemas/{name}", mimetype="application/octet-stream")
                )
            xml = _validated(
                "mets.xsd",
                mets.root_mets(
                    objid,
                    header,
                    file_code=fcode,
                    ead=ead_ref,
                    premis=root_premis_ref,
                    schemas=schema_refs,
                    rep_mets=rep_mets_ref,
                ),
                ROOT_METS,
            )
            add(ROOT_METS, xml)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        digest, size = sha256_file(tmp), tmp.stat().st_size
        os.replace(tmp, zip_path)
        fsync_dir(out_dir)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("built %s package %s for %s: %d documents, %d bytes", kind, objid, fcode, len(documents), size)
    return BuiltPackage(path=zip_path, objid=objid, sha256=digest, size=size)


def _text_ref(add: Callable[[str, bytes], mets.Ref], doc: PackageDocument, doc_id: str) -> mets.Ref | None:
    """Pack the document's text layer (data/text/{docId}.txt), so the archive indexes it without running
    pdftotext again; None when there is none. Its form feeds must count the PDF's pages: the archive
    checks that too, and a builder that packs a wrong split would have every package fall back."""
    if not doc.text:
        return None
    if page_count(doc.text) != doc.page_count:
        raise PackageError(
            N_("%(doc_id)s: the text layer has %(found)s pages, the PDF %(pages)s"),
            doc_id=doc_id, found=page_count(doc.text), pages=doc.page_count,
        )
    member = text_path(doc_id)
    ref = add(member, nfc(doc.text).encode("utf-8"))
    return dataclasses.replace(ref, href=member[len(REP) + 1 :], mimetype="text/plain")


def _zip_time() -> tuple[int, int, int, int, int, int]:
    from protocol.clock import now_vn

    t = now_vn()
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


def _stream_pdf(zf: zipfile.ZipFile, src: Path, member: str) -> tuple[int, str]:
    """Copy a PDF into the zip (stored: PDFs are already compressed), hashing the bytes copied."""
    info = zipfile.ZipInfo(member, date_time=_zip_time())
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as handle, zf.open(info, "w", force_zip64=True) as out:
        while block := handle.read(1 << 20):
            digest.update(block)
            out.write(block)
            size += len(block)
    return size, digest.hexdigest().upper()


__all__ = ["build_package", "make_objid", "sha256_file"]
