"""Every PDF passes the PDF/A checker; every signature is valid and chains to the agency roots.

Both validators live in protocol/ and are imported lazily, so a missing one fails its check with a
clear reason instead of breaking the others.
"""

from __future__ import annotations

import importlib

from server.checks.context import Context, NotReadable
from server.checks.result import CheckResult


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise NotReadable(f"{name} is not available ({exc}): this check cannot run") from exc


def _pdfs(ctx: Context, reasons: list[str]) -> dict:
    c = ctx.need_contents()
    pdfs = ctx.pdfs()
    for d in c.documents:
        if d.doc_id not in pdfs:
            reasons.append(f"{d.doc_id}: PDF missing, not checked")
    return pdfs


def check_pdfa(ctx: Context) -> CheckResult:
    mod = _module("protocol.pdfa_check")
    reasons: list[str] = []
    for doc_id, path in _pdfs(ctx, reasons).items():
        reasons += [f"{doc_id}: {r}" for r in mod.check_pdfa(path)]
    return CheckResult("pdfa", not reasons, reasons, "Tệp PDF không đạt chuẩn PDF/A")


def check_signatures(ctx: Context) -> CheckResult:
    mod = _module("protocol.signatures")
    reasons: list[str] = []
    for doc_id, path in _pdfs(ctx, reasons).items():
        verdict = mod.validate_pdf_signatures(path, trust_roots=ctx.trust_roots)
        if not verdict.ok:
            reasons += [f"{doc_id}: {r}" for r in (verdict.reasons or ["signature not valid"])]
    return CheckResult("signatures", not reasons, reasons, "Chữ ký số không hợp lệ hoặc không tin cậy")
