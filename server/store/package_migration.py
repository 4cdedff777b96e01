"""`sohoa server migrate-packages`: stored packages made before sohoa's E-ARK update, rewritten into the
conformant form as a new version of the same OBJID (the old version stays in the store and its backup).

A package is migrated only when the `csip` check fails on its latest version, and the migrated copy is
stored only when every structural check passes on it; an AIP's PREMIS.xml records the change as a
`metadata modification` event naming the version it replaces.
"""

from __future__ import annotations

import logging
from pathlib import Path

from protocol.package import read_package
from protocol.package.migrate import migrate_package
from protocol.scratch import scratch
from server.checks import STRUCTURAL, run_checks
from server.config import ServerConfig
from server.store.storage import PackageStore

log = logging.getLogger(__name__)


def migrate_stored_packages(config: ServerConfig, *, dry_run: bool = False) -> dict:
    """{"migrated": [...], "conformant": [...], "failed": [...]} over the latest version of every OBJID."""
    from server.databases import open_catalog

    store = PackageStore(config.store_dir, backup_root=config.backup_dir)
    catalog = open_catalog(config.catalog_url or config.catalog_path)
    report: dict = {"migrated": [], "conformant": [], "failed": [], "dry_run": dry_run}
    objids = list(dict.fromkeys(e["objid"] for e in store.primary.entries()))
    for objid in objids:
        latest = store.get(objid)
        if latest is None:
            continue
        if run_checks(latest.path, trust_roots=[], only=["csip"]).ok:
            report["conformant"].append(objid)
            continue
        with scratch("migrate") as tmp:
            try:
                built = migrate_package(latest.path, Path(tmp),
                                        previous=f"version {latest.version}, SHA-256 {latest.sha256}")
            except Exception as exc:  # noqa: BLE001 - one unreadable package must not stop the others
                log.exception("cannot migrate %s", objid)
                report["failed"].append({"objid": objid, "reasons": [f"{type(exc).__name__}: {exc}"]})
                continue
            verdict = run_checks(built.path, trust_roots=[], only=STRUCTURAL)
            if not verdict.ok:
                report["failed"].append({"objid": objid, "reasons": [
                    f"{c.name}: {r}" for c in verdict.failures for r in c.reasons]})
                continue
            entry = {"objid": objid, "from_version": latest.version, "from_sha256": latest.sha256,
                     "sha256": built.sha256}
            if not dry_run:
                stored = store.put(built.path, objid=objid, sha256=built.sha256)
                previous = catalog.package(objid)
                catalog.add_package(read_package(stored.path), stored_path=str(stored.path), sha256=stored.sha256,
                                    station_id=(previous or {}).get("station_id") or "migration")
                entry["version"] = stored.version
                log.info("migrated %s: version %d -> %d", objid, latest.version, stored.version)
            report["migrated"].append(entry)
    return report
