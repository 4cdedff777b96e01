"""One hồ sơ, one stored package line: what ingest refuses about versions (issue #17.5).

- A second package for a hồ sơ that is already stored (same fonds and file code, the file code being the
  one rule protocol.metadata.file_code composes) under another OBJID is refused unless it declares itself a
  new version (RECORDSTATUS=REPLACEMENT): today's way to send a rework is the same OBJID, REPLACEMENT.
- A package that names in PREMIS the version it replaces (protocol.package.premis.previous_version) must
  name the latest stored version of its OBJID: a rework made from an older version would silently drop the
  newer one.
Kept apart from commit.py so the ingest's speed work and this rule merge cleanly.
"""

from __future__ import annotations

from typing import Any

from protocol.package.premis import previous_version


def _duplicates(catalog: Any, contents: Any) -> list[str]:
    if not contents.file_code or contents.record_status == "REPLACEMENT":
        return []
    others = []
    for row in catalog.packages(file_code=contents.file_code, include_superseded=False):
        if row["objid"] == contents.objid:
            continue
        stored = catalog.package(row["objid"]) or {}
        if (stored.get("fonds_code") or "") == (contents.fonds_code or ""):
            others.append(row["objid"])
    if not others:
        return []
    return [
        f"duplicate: hồ sơ {contents.file_code} of fonds {contents.fonds_code or '(none)'} is already stored as "
        f"{others[0]}; a rework must be sent as a new version of {others[0]} (same OBJID, "
        f"RECORDSTATUS=REPLACEMENT), not as a second package"
    ]


def _link(store: Any, contents: Any) -> list[str]:
    named = previous_version(contents.premis_objects)
    if named is None:
        return []
    versions = store.versions(contents.objid)
    if not versions:
        return [f"history: PREMIS names {named} as the version this package replaces, but OBJID "
                f"{contents.objid} is not stored here"]
    latest = versions[-1]
    if named == latest.sha256:
        return []
    if any(v.sha256 == named for v in versions):
        return [f"history: this package replaces {named}, but a newer version ({latest.version}, {latest.sha256}) "
                f"of {contents.objid} is stored; rework the latest version"]
    return [f"history: PREMIS names {named} as the version this package replaces; no stored version of "
            f"{contents.objid} has that SHA-256"]


def problems(catalog: Any, store: Any, contents: Any) -> list[str]:
    """Reasons to refuse `contents` (a read package) as a version of a hồ sơ; empty when it may be stored."""
    return _duplicates(catalog, contents) + _link(store, contents)
