"""Plan then apply: run every check on a received package, then store, catalogue and sign a receipt."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.api import Receipt, sign_receipt
from protocol.clock import iso_vn
from server.faults import crash_point
from server.ingest import versions
from server.records.db import Records

log = logging.getLogger("sohoa.server.ingest")


class Ingest:
    def __init__(
        self,
        *,
        db: Records,
        store: Any,
        catalog: Any,
        trust_roots: list[bytes],
        signing_key: Any,
        notify: Callable[[Receipt], None] | None = None,
    ):
        self.db = db
        self.store = store
        self.catalog = catalog
        self.trust_roots = trust_roots
        self.signing_key = signing_key
        self.notify = notify
        from server.checks import pdfwork

        pdfwork.warm()  # the check workers start with the server, not with its first package

    def _history_problems(self, contents: Any, sha256: str) -> list[str]:
        """Stored packages are never overwritten: new bytes under a stored OBJID must say REPLACEMENT
        (they become its next version; the earlier ones are kept)."""
        versions = self.store.versions(contents.objid)
        if versions and all(v.sha256 != sha256 for v in versions) and contents.record_status != "REPLACEMENT":
            return [
                f"history: OBJID {contents.objid} is already stored with other content; a re-scan must "
                f"be sent with RECORDSTATUS=REPLACEMENT (got {contents.record_status or 'none'})"
            ]
        return []

    def _order_problems(self, row: dict, file_code: str | None, reasons: list[str]) -> bool:
        """True if the upload names a work order this package may move. A work order assigned to another
        station (or reassigned since the upload opened), or one for another hồ sơ, is never touched:
        the package is rejected with the reason and the attempt logged."""
        wo_id = row["work_order_id"]
        if not wo_id:
            return False
        order = self.db.workorder(wo_id)
        if order is None or order["station_id"] != row["station_id"]:
            log.warning("station %s sent a package for work order %s, which is not assigned to it",
                        row["station_id"], wo_id)
            reasons.append(f"work order: {wo_id} is not assigned to station {row['station_id']}")
            return False
        if file_code and order["file_code"] != file_code:
            log.warning("station %s sent hồ sơ %s under work order %s (for %s)", row["station_id"], file_code,
                        wo_id, order["file_code"])
            reasons.append(f"work order: {wo_id} is for hồ sơ {order['file_code']}, the package is {file_code}")
            return False
        return True

    def commit(self, row: dict, path: Path, *, early: Any = None) -> Receipt:
        """`early`: the PDF jobs this process ran while the upload arrived (server.ingest.early.Claim)."""
        from server.checks import run_checks

        # The store's copies are made ready (the backup part hashed, or a backup copy written and hashed) while
        # the checks run; they are published only if the package is accepted. The upload file is handed over:
        # it becomes the primary copy.
        staging = self.store.stage(path, row["sha256"], link=True, upload_id=row["id"])
        try:
            # texts=True: the catalogue's text layers come out of the same pass over each PDF as the checks.
            verdict = run_checks(path, trust_roots=self.trust_roots, expected_sheets=row["expected_sheets"],
                                 texts=True, early=early)
            return self._finish(row, path, verdict, staging)
        finally:
            staging.discard()

    def _drop_files(self, upload_id: str, path: Path) -> None:
        """The finished upload's file and its backup part (already renamed into the store if it was taken)."""
        path.unlink(missing_ok=True)
        self.store.drop_upload_part(upload_id)

    def _finish(self, row: dict, path: Path, verdict: Any, staging: Any) -> Receipt:
        reasons = [f"{c.name}: {r}" for c in verdict.checks if not c.ok for r in (c.reasons or ["failed"])]
        if verdict.ok and row["file_code"] and verdict.file_code != row["file_code"]:
            reasons.append(f"manifest: package is {verdict.file_code}, manifest said {row['file_code']}")
        order_ok = self._order_problems(row, verdict.file_code, reasons)
        contents = None
        version_checks: list[dict] = []
        if not reasons:
            from protocol.package import read_package

            contents = read_package(path)
            reasons += self._history_problems(contents, row["sha256"])
            version_checks = versions.checks(self.catalog, self.store, contents)
            reasons += [f"{c['name']}: {r}" for c in version_checks for r in c["reasons"]]
        receipt = Receipt(
            upload_id=row["id"],
            station_id=row["station_id"],
            sha256=row["sha256"],
            verdict="accepted" if not reasons else "rejected",
            objid=verdict.objid,
            file_code=verdict.file_code,
            received_at=iso_vn(),
            reasons=reasons,
            checks=[{"name": c.name, "ok": c.ok, "reasons": list(c.reasons)} for c in verdict.checks]
            + version_checks,
        )
        if receipt.verdict == "accepted":
            # Both steps are idempotent, so a crash between them is repaired by committing again.
            crash_point("before-store")
            stored = self.store.put(path, objid=verdict.objid, sha256=row["sha256"], station_id=row["station_id"],
                                    staging=staging)
            receipt.stored_sha256 = stored.sha256
            crash_point("after-store")
            extracted = verdict.texts  # None: the catalogue extracts them from the stored file
            self.catalog.add_package(
                contents, stored_path=str(stored.path), sha256=stored.sha256, station_id=row["station_id"],
                **({"texts": extracted, "extract_text": False} if extracted is not None else {}),
            )
            if order_ok:
                self.db.set_workorder_state(row["work_order_id"], "accepted", station_id=row["station_id"])
        elif order_ok:
            self.db.set_workorder_state(row["work_order_id"], "rejected", station_id=row["station_id"])
        sign_receipt(receipt, self.signing_key)
        crash_point("after-catalog")
        if not self.db.finish_upload(row["id"], state=receipt.verdict, receipt=receipt.to_dict()):
            # Another server sharing the records finished it first: its receipt is the one, not ours.
            self._drop_files(row["id"], path)
            finished = self.db.upload(row["id"])
            assert finished is not None  # finish_upload said another server finished this very row
            return Receipt.from_dict(json.loads(finished["receipt"]))
        crash_point("after-finish")
        self._drop_files(row["id"], path)
        log.info("package %s from %s: %s %s", receipt.objid, row["station_id"], receipt.verdict, "; ".join(reasons))
        if self.notify:
            try:
                self.notify(receipt)
            except Exception:  # a notification never undoes a stored package
                log.exception("receipt notification failed")
        return receipt
