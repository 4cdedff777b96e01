"""Start-up reconciliation: store, ledger and catalogue made to agree after any crash.

Ingest writes the package (rename), then the ledger line, then the catalogue row; a kill between two of
them leaves the later ones out. At start, under the store lock (no put runs meanwhile, in any process):
  - an unfinished last ledger line is moved aside (ledger.jsonl.torn-<time>);
  - a ledger from before the chain is chained (the old file kept);
  - a version in the store that no ledger line names is verified (hash in its name, its own METS) and
    recorded, with a PREMIS event saying how it was found; one that fails is moved to quarantine/;
  - the newest version of every package in the ledger is catalogued if the catalogue lacks it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from protocol.clock import iso_vn
from protocol.durable import fsync_dir
from protocol.hashing import sha256_file
from server.store import VERSION_RE
from server.store.ledger import premis_event
from server.store.manifest import manifest_problems

log = logging.getLogger("sohoa.server.store")


@dataclass
class RecoveryReport:
    recorded: list[str] = field(default_factory=list)  # stored versions the ledger lacked, now recorded
    quarantined: list[dict] = field(default_factory=list)  # {"path", "moved_to", "problems"}
    torn: list[str] = field(default_factory=list)  # ledgers whose unfinished last line was moved aside
    chained: int = 0  # legacy ledger lines chained
    catalogued: list[str] = field(default_factory=list)  # OBJIDs the catalogue lacked

    @property
    def changed(self) -> bool:
        return bool(self.recorded or self.quarantined or self.torn or self.chained or self.catalogued)

    def to_dict(self) -> dict:
        return asdict(self)


def _quarantine(tree: Any, path: Any, problems: list[str], report: RecoveryReport) -> None:
    dest_dir = tree.root / "quarantine" / path.parent.name
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{path.name}.{iso_vn().replace(':', '')}"
    os.replace(path, dest)
    fsync_dir(path.parent)
    fsync_dir(dest_dir)
    report.quarantined.append({"path": str(path), "moved_to": str(dest), "problems": problems})
    log.error("store: %s moved to quarantine: %s", path, "; ".join(problems))


def reconcile_store(store: Any, *, station_of: Callable[[str], str] | None = None) -> RecoveryReport:
    """Bring each tree's ledger in line with its files (see the module docstring)."""
    from protocol.package import read_package
    report = RecoveryReport()
    with store.locked():
        for tree in store.trees():
            if tree.ledger.recover_tail():
                report.torn.append(str(tree.ledger.path))
            report.chained += tree.ledger.upgrade_legacy()
            known = {e["path"] for e in tree.ledger.read().entries}
            for path in tree.all_files():
                rel = str(path.relative_to(tree.root))
                if rel in known:
                    continue
                m = VERSION_RE.match(path.name)
                assert m is not None  # all_files() lists only names of this form
                actual = sha256_file(path)
                problems = [] if actual == m["sha"] else [f"SHA-256 {actual}, its name says {m['sha']}"]
                problems = problems or manifest_problems(path)
                if problems:
                    _quarantine(tree, path, problems, report)
                    continue
                objid = read_package(path).objid
                tree.ledger.append({
                    "objid": objid, "version": int(m["n"]), "sha256": m["sha"], "size": path.stat().st_size,
                    "path": rel, "at": iso_vn(), "station_id": station_of(m["sha"]) if station_of else "",
                    "event": premis_event("ingestion", "found in the store without a ledger line at start-up "
                                          "(a crash between storing and recording); verified against its name "
                                          "and its METS checksums, recorded now"),
                })
                report.recorded.append(rel)
                log.warning("store: recorded %s (%s): stored but missing from the ledger", rel, objid)
    return report


def reconcile_catalog(store: Any, catalog: Any, *, station_of: Callable[[str], str] | None = None) -> list[str]:
    """Catalogue the newest version of every package the ledger names and the catalogue lacks."""
    from protocol.package import read_package

    newest: dict[str, dict] = {}
    for entry in store.primary.entries():
        if entry["objid"] not in newest or entry["version"] > newest[entry["objid"]]["version"]:
            newest[entry["objid"]] = entry
    have = {row["objid"]: row["sha256"] for row in catalog.packages()}
    added = []
    for objid, entry in newest.items():
        if have.get(objid) == entry["sha256"]:
            continue
        path = store.primary.root / entry["path"]
        if not path.is_file():
            continue  # fixity reports it; nothing to catalogue
        station = entry.get("station_id") or (station_of(entry["sha256"]) if station_of else "")
        catalog.add_package(read_package(path), stored_path=str(path), sha256=entry["sha256"],
                            station_id=station or "")
        added.append(objid)
        log.warning("catalogue: added %s (stored and recorded, not catalogued: a crash before the catalogue)",
                    objid)
    return added


def reconcile(store: Any, catalog: Any = None, *, station_of: Callable[[str], str] | None = None) -> RecoveryReport:
    report = reconcile_store(store, station_of=station_of)
    if catalog is not None:
        report.catalogued = reconcile_catalog(store, catalog, station_of=station_of)
    if report.changed:
        log.warning("store reconciled at start-up: %s", report.to_dict())
    return report
