"""Fixity that trusts nothing: the store is walked itself, each package checked against the hash in its
name, its own METS manifest and the ledger; the ledger is checked line by line (chain, signature).

Every disagreement is a finding: a file changed, a ledger line whose file is gone, a file no ledger line
names, a missing or damaged ledger, a package whose METS checksums no longer match. `clean` only when
there is none. `sample` re-hashes only that many files, but the listing against the ledger is always whole.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from protocol.clock import iso_vn
from protocol.hashing import sha256_file
from server.store import VERSION_RE
from server.store.manifest import manifest_problems

log = logging.getLogger("sohoa.server.store")


@dataclass
class FixityReport:
    checked: int = 0  # files re-hashed
    intact: int = 0  # of those, the ones with nothing wrong
    changed: list[dict] = field(default_factory=list)  # {"path", "expected", "actual"}
    missing: list[dict] = field(default_factory=list)  # ledger line whose file is gone {"path", "objid", "version"}
    unrecorded: list[str] = field(default_factory=list)  # in the store, named by no (valid) ledger line
    unexpected: list[str] = field(default_factory=list)  # files in objects/ that are not package versions
    ledger: list[str] = field(default_factory=list)  # problems of the ledger file itself
    manifest: list[dict] = field(default_factory=list)  # {"path", "problems"}: package vs its own METS
    at: str = ""

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.unrecorded or self.unexpected or self.ledger
                    or self.manifest)

    @property
    def ok(self) -> bool:
        return self.clean

    def findings(self) -> int:
        return (len(self.changed) + len(self.missing) + len(self.unrecorded) + len(self.unexpected)
                + len(self.ledger) + len(self.manifest))

    def to_dict(self) -> dict:
        return dict(asdict(self), clean=self.clean, ok=self.clean, findings=self.findings())


def audit(trees: list[Any], *, sample: int | None = None, seed: int | None = None,
          manifests: bool = True) -> FixityReport:
    """Audit each tree (primary, backup): `tree.root`, `tree.all_files()`, `tree.stray_files()`, `tree.ledger`."""
    report = FixityReport(at=iso_vn())
    rng = random.Random(seed)
    for tree in trees:
        files = tree.all_files()
        report.unexpected += [str(p) for p in tree.stray_files()]
        read = tree.ledger.read()
        label = "" if tree is trees[0] else f"{tree.root}: "
        if not read.exists:
            if files:
                report.ledger.append(f"{label}ledger {tree.ledger.path} is missing but the store holds "
                                     f"{len(files)} package version(s)")
        report.ledger += [label + p for p in read.problems]
        by_path = {e["path"]: e for e in read.entries}
        on_disk = {str(p.relative_to(tree.root)): p for p in files}
        for rel, entry in by_path.items():
            if rel not in on_disk:
                report.missing.append({"path": str(tree.root / rel), "objid": entry["objid"],
                                       "version": entry["version"]})
        report.unrecorded += [str(p) for rel, p in on_disk.items() if rel not in by_path]
        chosen = files if sample is None or sample >= len(files) else rng.sample(files, sample)
        for path in chosen:
            report.checked += 1
            named = VERSION_RE.match(path.name)
            assert named is not None  # all_files() lists only names of this form
            expected = named["sha"]
            entry = by_path.get(str(path.relative_to(tree.root)))
            actual = sha256_file(path)
            bad = False
            if actual != expected or (entry is not None and entry["sha256"] != expected):
                report.changed.append({"path": str(path), "expected": expected, "actual": actual,
                                       **({"ledger": entry["sha256"]} if entry and entry["sha256"] != expected
                                          else {})})
                bad = True
            elif manifests and (problems := manifest_problems(path)):
                report.manifest.append({"path": str(path), "problems": problems})
                bad = True
            if not bad:
                report.intact += 1
    log.info("fixity: %d checked, %d intact, %d finding(s)", report.checked, report.intact, report.findings())
    return report


def write_report(report: FixityReport, folder: Path) -> Path:
    """Keep the report next to the store (reports/fixity-<time>.json), for the audit trail."""
    import json

    from protocol.durable import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"fixity-{report.at.replace(':', '')}.json"
    write_atomic(path, json.dumps(report.to_dict(), ensure_ascii=False, indent=2).encode("utf-8"))
    return path
