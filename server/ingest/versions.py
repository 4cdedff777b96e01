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

from protocol.errors import Message, say
from protocol.i18n import N_
from protocol.package.premis import previous_version
from server.checks.result import CheckResult


def _duplicates(catalog: Any, contents: Any) -> list[tuple[str, Message]]:
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
    return [(
        f"hồ sơ {contents.file_code} of fonds {contents.fonds_code or '(none)'} is already stored as {others[0]}; "
        f"a rework must be sent as a new version of {others[0]} (same OBJID, RECORDSTATUS=REPLACEMENT), not as a "
        "second package",
        say(N_("Hồ sơ %(file_code)s is already in the archive and is not taken a second time. If the archive returned "
               "it for rework, reopen it from “Returned by the archive for rework” on the home screen: it will be "
               "sent as a new version."), file_code=contents.file_code),
    )]


def _link(store: Any, contents: Any) -> list[tuple[str, Message]]:
    named = previous_version(contents.premis_objects)
    if named is None:
        return []
    versions = store.versions(contents.objid)
    unknown = (f"PREMIS names {named} as the version this package replaces; no stored version of "
               f"{contents.objid} has that SHA-256",
               say(N_("The version of the hồ sơ that this package replaces is not in the archive.")))
    if not versions:
        return [unknown]
    latest = versions[-1]
    if named == latest.sha256:
        return []
    if any(v.sha256 == named for v in versions):
        return [(f"this package replaces {named}, but a newer version ({latest.version}, {latest.sha256}) of "
                 f"{contents.objid} is stored; rework the latest version",
                 say(N_("The archive has a newer version of this hồ sơ (version %(version)s): rework the latest "
                        "version."), version=latest.version))]
    return [unknown]


def checks(catalog: Any, store: Any, contents: Any) -> list[dict[str, Any]]:
    """The failed version checks of `contents` (a read package), as receipt check entries (the operator's words
    travel by key, as every check's summary does); empty when it may be stored."""
    out = []
    for name, found in (("duplicate", _duplicates(catalog, contents)), ("version link", _link(store, contents))):
        if found:
            said = found[0][1]  # each rule finds one thing at most
            out.append(CheckResult(name, False, [en for en, _ in found], said.msgid, said.params).to_dict())
    return out
