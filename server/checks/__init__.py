"""Central checks: one named function per rule, each returning a CheckResult with reasons.

`run_checks` runs every check, even after failures, so a rejection lists everything that is wrong.
A check never raises: a crash becomes a failed check with the exception as its reason.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.i18n import N_
from server.checks.context import Context, NotReadable
from server.checks.csip import check_csip
from server.checks.pdf import check_pdfa, check_signatures, check_signing_time
from server.checks.records import check_counts, check_metadata, check_premis
from server.checks.result import CheckResult, Limits, Verdict
from server.checks.safety import check_top_folder, check_zip_safety
from server.checks.structure import check_files_listed, check_fixity, check_identifiers, check_schemas

log = logging.getLogger(__name__)

#: (name, function) in the order they run. `structural` ones need no external validator.
CHECKS: list[tuple[str, Callable[[Context], CheckResult]]] = [
    ("zip_safety", check_zip_safety),
    ("top_folder", check_top_folder),
    ("files_listed", check_files_listed),
    ("fixity", check_fixity),
    ("schemas", check_schemas),
    ("csip", check_csip),  # E-ARK CSIP/SIP 2.0.4, root and every representation METS
    ("identifiers", check_identifiers),
    ("counts", check_counts),
    ("metadata", check_metadata),
    ("premis", check_premis),
    ("pdfa", check_pdfa),
    ("signatures", check_signatures),
    ("signing_time", check_signing_time),
]
STRUCTURAL = [name for name, _ in CHECKS if name not in ("pdfa", "signatures", "signing_time")]
#: The checks that read the PDFs themselves (server.checks.pdfwork, started before the first check runs).
READ_PDFS = ("counts", "pdfa", "signatures", "signing_time")
#: Run last, after every check that needs nothing from the PDF work (fixity takes the PDFs' hashes from
#: it), so this process works while the workers do; the verdict still lists the checks in CHECKS order.
WAIT_FOR_PDFS = ("fixity", *READ_PDFS)


def _run_one(name: str, func: Callable[[Context], CheckResult], ctx: Context) -> CheckResult:
    try:
        return func(ctx)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # the server's disk, not the package: no verdict, the commit is retried later
        log.exception("check %s crashed", name)
        return CheckResult(name, False, [f"check failed on this input: {exc}"], N_("The package could not be checked"))
    except NotReadable as exc:
        return CheckResult(name, False, [str(exc)], N_("Not checked: the package cannot be read"))
    except Exception as exc:  # noqa: BLE001 - hostile input must never crash the verdict
        log.exception("check %s crashed", name)
        return CheckResult(
            name,
            False,
            [f"check failed on this input: {type(exc).__name__}: {exc}"],
            N_("The package could not be checked"),
        )


def run_checks(
    path: Path,
    *,
    trust_roots: list[bytes],
    expected_sheets: int | None = None,
    only: list[str] | None = None,
    limits: Limits | None = None,
    texts: bool = False,
    early: Any = None,
) -> Verdict:
    """Run every check (or the names in `only`) on a .zip or folder; the verdict lists all failures.
    `texts`: also extract each document's text layer for the catalogue (Verdict.texts), in the same pass.
    `early`: the PDF jobs run while the upload arrived (server.ingest.early.Claim), used where they hold."""
    ctx = Context(
        Path(path), trust_roots=trust_roots, expected_sheets=expected_sheets, limits=limits or Limits(), early=early
    )
    results = []
    texts_found = None
    try:
        if only is None or set(only) & set(READ_PDFS):
            ctx.start_pdf_work(text=texts)  # on every core while the structural checks run here
        chosen = [(name, func) for name, func in CHECKS if only is None or name in only]
        done: dict[str, CheckResult] = {}
        for name, func in sorted(chosen, key=lambda check: check[0] in WAIT_FOR_PDFS):
            started = time.monotonic()
            done[name] = _run_one(name, func, ctx)
            log.debug("check %s took %.3f s", name, time.monotonic() - started)
        results = [done[name] for name, _ in chosen]
        texts_found = ctx.texts() if texts else None
    finally:
        ctx.close()
    contents = ctx.contents
    return Verdict(
        ok=all(r.ok for r in results),
        checks=results,
        objid=contents.objid if contents else None,
        file_code=contents.file_code if contents else None,
        texts=texts_found,
    )


__all__ = ["CHECKS", "STRUCTURAL", "CheckResult", "Limits", "Verdict", "run_checks"]
