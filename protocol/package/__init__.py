"""TT05 packages (E-ARK CSIP profile: METS + EAD + PREMIS, SHA-256, ZIP): build on the station, read
anywhere. See protocol/schemas/tt05 for the profile's XSDs."""

from protocol.package.build import build_package, make_objid
from protocol.package.model import (
    BuiltPackage,
    DocumentEntry,
    FileEntry,
    PackageContents,
    PackageDocument,
    PackageError,
    PremisEvent,
    folder_name,
)
from protocol.package.reader import read_package

__all__ = [
    "BuiltPackage",
    "DocumentEntry",
    "FileEntry",
    "PackageContents",
    "PackageDocument",
    "PackageError",
    "PremisEvent",
    "build_package",
    "folder_name",
    "make_objid",
    "read_package",
]
