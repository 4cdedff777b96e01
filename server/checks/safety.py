"""Zip safety and layout: nothing in the package can write outside, link elsewhere, collide or explode."""

from __future__ import annotations

import re
import unicodedata

from protocol.i18n import N_
from protocol.package.model import AIP_OBJID_RE, SIP_OBJID_RE, folder_name
from protocol.package.source import top_folders
from server.checks.context import Context
from server.checks.result import CheckResult

WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def check_zip_safety(ctx: Context) -> CheckResult:
    """No traversal, absolute paths, symlinks, duplicate or case-colliding names, or zip bombs."""
    source = ctx.need_source()
    reasons: list[str] = []
    seen: dict[str, str] = {}
    lim = ctx.limits
    for m in source.members:
        name = m.name
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or WINDOWS_DRIVE.match(name):
            reasons.append(f"absolute path: {name!r}")
        if ".." in parts:
            reasons.append(f"path traversal: {name!r}")
        if "\\" in name:
            reasons.append(f"backslash in member name: {name!r}")
        if any(ord(c) < 32 for c in name):
            reasons.append(f"control character in member name: {name!r}")
        if m.symlink:
            reasons.append(f"symbolic link: {name!r}")
        if unicodedata.normalize("NFC", name) != name:
            reasons.append(f"member name not in Unicode NFC: {name!r}")
        key = unicodedata.normalize("NFC", name).casefold()
        if key in seen:
            kind = "duplicate" if seen[key] == name else "case-colliding"
            reasons.append(f"{kind} member name: {name!r} and {seen[key]!r}")
        else:
            seen[key] = name
    if len(source.members) > lim.max_members:
        reasons.append(f"{len(source.members)} members, more than the limit of {lim.max_members}")
    total = sum(m.size for m in source.members)
    if total > lim.max_total:
        reasons.append(f"declared uncompressed size {total} bytes exceeds the limit of {lim.max_total}")
    for name in sorted(ctx.bomb_members()):
        m = next(x for x in source.members if x.name == name)
        reasons.append(
            f"zip bomb suspected: {name!r} expands {m.size // max(m.compressed, 1)}x (limit {lim.max_ratio}x)"
        )
    return CheckResult(
        "zip_safety", not reasons, reasons, N_("The zip package is not safe (paths, links or unusual compression)")
    )


def check_top_folder(ctx: Context) -> CheckResult:
    """Exactly one top folder, named after the OBJID (':' -> '_'), and the OBJID has the right form."""
    source = ctx.need_source()
    tops = top_folders(source)
    reasons: list[str] = []
    if len(tops) != 1:
        reasons.append(f"expected exactly one top folder, found {len(tops)}: {tops[:5]}")
    if any("/" not in m.name and not m.is_dir for m in source.members):
        reasons.append("files at the top level, outside the package folder")
    contents = ctx.contents
    if contents is not None:
        objid = contents.objid
        if contents.folder != folder_name(objid):
            reasons.append(f"top folder {contents.folder!r} is not the OBJID {objid!r} (':' turned into '_')")
        pattern = AIP_OBJID_RE if contents.kind == "AIP" else SIP_OBJID_RE
        if not pattern.match(objid):
            reasons.append(f"OBJID {objid!r} is not a valid {contents.kind or 'package'} identifier")
    elif len(tops) == 1:
        reasons.append(ctx.error)
    return CheckResult("top_folder", not reasons, reasons, N_("The package's top folder is not its package id (OBJID)"))
