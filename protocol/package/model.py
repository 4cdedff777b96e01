"""The package's data model: what a builder is given, what it returns, and what a reader exposes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.errors import UserError
from protocol.metadata import DocumentRecord

NS_METS = "http://www.loc.gov/METS/"
NS_XLINK = "http://www.w3.org/1999/xlink"
NS_CSIP = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"  # exact, case-sensitive targetNamespace
NS_PREMIS = "http://www.loc.gov/premis/v3"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_SOHOA = "urn:sohoa:premis:1"  # our event parameters inside eventDetailExtension

KINDS = ("SIP", "AIP")
RECORD_STATUSES = ("NEW", "SUPPLEMENT", "REPLACEMENT", "TEST", "OTHER")
PROFILE_CSIP = "https://earkcsip.dilcis.eu/profile/E-ARK-CSIP.xml"
PROFILE_SIP = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"  # SIP2; TT05's sample writes the CSIP one
PROFILE_AIP = "http://www.ra.ee/METS/v01/IP.xml"  # TT05's AIP value; E-ARK sets no AIP root PROFILE rule

UUID_RE = r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"
SIP_OBJID_RE = re.compile(rf"^uuid-{UUID_RE}$")
AIP_OBJID_RE = re.compile(rf"^urn:(?:[A-Za-z0-9_]+:)?uuid[:-]{UUID_RE}$")

# Paths inside the package folder.
ROOT_METS = "METS.xml"
EAD = "metadata/descriptive/EAD.xml"
PREMIS = "metadata/preservation/PREMIS.xml"
DOCUMENTATION = "documentation"
REP = "representations/rep1"
REP_METS = f"{REP}/METS.xml"
REP_PREMIS = f"{REP}/metadata/preservation/PREMIS_rep1.xml"


def ead_doc_path(doc_id: str) -> str:
    return f"{REP}/metadata/descriptive/EAD_DOC_{doc_id}.xml"


def data_path(doc_id: str) -> str:
    return f"{REP}/data/{doc_id}.pdf"


#: rep1's file group of the documents' text layers (data/text/, CSIP64: USE names the folder under rep1).
TEXT_USE = "Data/Text"


def text_path(doc_id: str) -> str:
    """A document's text layer as the station's pdftotext read it (protocol.pdftext: pages end in form feeds)."""
    return f"{REP}/data/text/{doc_id}.txt"


def folder_name(objid: str) -> str:
    """The ZIP's top folder: the OBJID with every ':' turned into '_' (AIP naming)."""
    return objid.replace(":", "_")


class PackageError(UserError, ValueError):
    """A package cannot be built or read. `.text(lang)` is what an operator sees."""

    key = "package"


@dataclass
class PackageDocument:
    """One tài liệu going into a package: its record and its signed PDF (never rewritten)."""

    record: DocumentRecord
    pdf_path: Path
    page_count: int
    text: str = ""  # its text layer (protocol.pdftext form); packed as data/text/{docId}.txt when not empty


@dataclass
class PremisEvent:
    """One step in the chain of custody (capture, processing, OCR, PDF/A, signing, operator action)."""

    event_type: str
    at: str  # ISO 8601 with +07:00
    detail: str = ""
    outcome: str = "success"
    agent: str = ""  # "software:sohoa 0.1.0", "person:<account>", "device:<scanner>"; free text allowed
    objects: list[str] = field(default_factory=list)  # docIds or "page:<batch>:<seq>"
    extra: dict[str, Any] = field(default_factory=dict)
    event_id: str = ""  # filled by the builder when empty


@dataclass(frozen=True)
class BuiltPackage:
    path: Path  # the .zip
    objid: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FileEntry:
    """A file referenced from a METS (<file> or <mdRef>), path relative to the package folder."""

    path: str
    size: int
    sha256: str
    mets: str  # which METS lists it
    file_id: str = ""  # ID-… for <file>, "" for <mdRef>
    use: str = ""  # fileGrp USE or "mdRef"


@dataclass
class DocumentEntry:
    doc_id: str
    doc_code: str
    ordinal: int
    fields: dict[str, str]
    metadata_path: str
    pdf_member: str  # path of the PDF relative to the package folder ("" if not linked)
    page_count: int  # numberOfPage as declared
    text_member: str = ""  # its text layer's path relative to the package folder ("" if none: older packages)


@dataclass
class PackageContents:
    objid: str
    kind: str  # SIP | AIP
    record_status: str
    folder: str  # top folder name inside the zip
    file_code: str
    hoso: dict[str, str]  # EAD.xml element -> text
    documents: list[DocumentEntry]
    files: list[FileEntry]  # everything METS references (both levels)
    events: list[dict[str, Any]]  # PREMIS events, both levels
    premis_objects: list[dict[str, Any]]
    created: str = ""
    fonds_code: str = ""
    agency_name: str = ""  # the ARCHIVIST organisation agent's name (the agency whose records these are)
    software: str = ""
    members: list[str] = field(default_factory=list)  # every member path found (relative to folder)
    problems: list[str] = field(default_factory=list)  # parts that could not be read (checks report them)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)
