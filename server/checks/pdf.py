"""Every PDF passes the PDF/A checker; every signature is valid and chains to the agency roots.

Both validators live in protocol/ and are imported lazily, so a missing one fails its check with a
clear reason instead of breaking the others.
"""

from __future__ import annotations

import importlib
from datetime import date, timedelta
from types import ModuleType

from protocol.clock import VN_TZ, iso_vn, now_vn, parse_iso
from protocol.i18n import N_
from server.checks.context import Context, NotReadable
from server.checks.result import CheckResult


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise NotReadable(f"{name} is not available ({exc}): this check cannot run") from exc


def _findings(ctx: Context, reasons: list[str]) -> dict:
    """docId -> pdfwork.Findings; a document whose PDF is not there gets a reason."""
    c = ctx.need_contents()
    found = ctx.findings()
    for d in c.documents:
        if d.doc_id not in found:
            reasons.append(f"{d.doc_id}: PDF missing, not checked")
    return found


def check_pdfa(ctx: Context) -> CheckResult:
    _module("protocol.pdfa_check")
    reasons: list[str] = []
    for doc_id, found in _findings(ctx, reasons).items():
        if found.pdfa_error is not None:
            raise found.pdfa_error
        reasons += [f"{doc_id}: {r}" for r in found.pdfa]
    return CheckResult("pdfa", not reasons, reasons, N_("A PDF file does not meet PDF/A"))


def _signature_verdicts(ctx: Context, reasons: list[str]) -> dict:
    """docId -> SignatureVerdict, validated once (in pdfwork) and shared by the signature and signing-time
    checks."""
    if ctx.signatures is None:
        _module("protocol.signatures")
        verdicts = {}
        for doc_id, found in _findings(ctx, reasons).items():
            if found.signature_error is not None:
                raise found.signature_error
            verdicts[doc_id] = found.signature
        ctx.signatures = verdicts
    return ctx.signatures


def check_signatures(ctx: Context) -> CheckResult:
    reasons: list[str] = []
    for doc_id, verdict in _signature_verdicts(ctx, reasons).items():
        if not verdict.ok:
            reasons += [f"{doc_id}: {r}" for r in (verdict.reasons or ["signature not valid"])]
    return CheckResult("signatures", not reasons, reasons, N_("A digital signature is not valid or not trusted"))


def _issued(text: str) -> date | None:
    try:
        day, month, year = (int(x) for x in text.split("/"))
        return date(year, month, day)
    except ValueError:
        return None


def check_signing_time(ctx: Context) -> CheckResult:
    """The time each signature claims is plausible: not in the future (beyond the allowed clock skew),
    not after the package was built, not before the document it copies was issued."""
    c = ctx.need_contents()
    skew = timedelta(seconds=ctx.limits.max_clock_skew)
    now = now_vn()
    created = None
    try:
        created = parse_iso(c.created) if c.created else None
    except ValueError:
        pass
    issued = {d.doc_id: _issued(d.fields.get("issuedDate", "")) for d in c.documents}
    reasons: list[str] = []
    for doc_id, verdict in _signature_verdicts(ctx, []).items():
        if not verdict.signed_at:
            reasons.append(f"{doc_id}: the signature carries no signing time")
            continue
        at = parse_iso(verdict.signed_at)
        if at > now + skew:
            reasons.append(f"{doc_id}: signing time {verdict.signed_at} is in the future (server time "
                           f"{iso_vn(now, millis=False)}): check the station's clock")
        if created and at > created + skew:
            reasons.append(f"{doc_id}: signing time {verdict.signed_at} is after the package was built "
                           f"({c.created})")
        day = issued.get(doc_id)
        if day and at.astimezone(VN_TZ).date() < day:
            reasons.append(f"{doc_id}: signing time {verdict.signed_at} is before the document was issued "
                           f"({day:%d/%m/%Y})")
    return CheckResult("signing_time", not reasons, reasons,
                       N_("A signing time is not plausible (check the station's clock)"))
