"""The words for enumerated values (a work order's stage, a hồ sơ's state, a defect's kind, ...) and the
dashboard script's words: English msgids of the one catalogue (protocol/translations), marked here and
translated when shown (`label` in a request, `label_in` for a given language, `script_texts` for
dashboard.js). A value with no entry shows as itself (it is data, e.g. a state added later).
"""

from __future__ import annotations

from flask_babel import gettext, pgettext

from protocol.i18n import N_, catalogue

Msg = str | tuple[str, str]  # a msgid, or (msgctxt, msgid) when one English word has two Vietnamese ones


def NC_(context: str, message: str) -> tuple[str, str]:  # noqa: N802 - N_ with a msgctxt
    return (context, message)


LABELS: dict[str, dict[str, Msg]] = {
    "audit_action": {
        "copy": NC_("audit_action_copy", "Copy made"),
        "decision": N_("Acceptance decision"),
        "download": N_("Download"),
        "export": N_("Export"),
        "search": NC_("audit_action_search", "Search"),
        "view_document": N_("Viewed a document"),
        "view_hoso": N_("Viewed a hồ sơ"),
        "view_page": N_("Viewed a page"),
    },
    "check": {
        "counts": N_("Page and sheet counts"),
        "csip": N_("E-ARK CSIP conformance"),
        "failed": N_("Failed"),
        "files_listed": N_("METS file list"),
        "fixity": N_("Checksums and sizes"),
        "history": N_("Stored versions"),
        "identifiers": N_("Codes and file names"),
        "manifest": N_("Matches the upload manifest"),
        "metadata": N_("Metadata"),
        "ok": N_("Passed"),
        "pdfa": N_("PDF/A format"),
        "premis": N_("PREMIS history"),
        "schemas": N_("XML against the TT05 schemas"),
        "signatures": N_("Digital signatures"),
        "signing_time": N_("Signing time"),
        "top_folder": N_("Top folder named by the OBJID"),
        "work_order": N_("The station's work order"),
        "zip_safety": N_("Zip safety"),
    },
    "class": {
        "critical": N_("Critical"),
        "major": N_("Major"),
        "minor": N_("Minor"),
    },
    "copy_kind": {
        "certified": N_("Certified copy (signed)"),
        "copy": N_("Copy marked “BẢN SAO”"),
        "dip": N_("Certified copy as a DIP"),
        "read": N_("Read-only view (archive name at the foot of each page)"),
    },
    "decision": {
        "accept": N_("Accept"),
        "note": N_("Note on the proposal"),
        "return": N_("Return for rework"),
    },
    "event": {
        "batch_transition": N_("Batch step"),
        "fault": N_("Fault"),
        "fault_cleared": N_("Fault cleared"),
        "info": N_("Info"),
        "other": N_("Event"),
        "qc_flag": N_("Page flagged"),
        "telemetry_gap": N_("Telemetry gap"),
    },
    "find": {
        "bad_year": N_("The year must have 4 digits."),
        "empty": N_("Type the words to look for."),
        "none": N_("Nothing found."),
        "page": N_("Results page %(n)s"),
        "placeholder": N_("Search text and metadata (with or without diacritics)"),
        "too_long": N_("The search is too long (200 characters at most): type a few telling words."),
        "too_many_words": N_("Too many words (12 at most): use fewer."),
    },
    "flag": {
        "damaged": N_("damaged"),
        "high_use": N_("high use"),
        "permanent": N_("permanent"),
    },
    "gate": {
        "counts": N_("Pages and sheets as declared"),
        "dpi_colour": N_("Resolution by type, colour depth"),
        "names_checksums": N_("File names, identifiers, checksums"),
        "package_intact": N_("Stored package intact (hash)"),
        "paper_file_code": N_("Paper file code (digitised hồ sơ)"),
        "pdfa": N_("Two-layer PDF/A"),
        "signature": N_("Signature valid and timed"),
        "text_every_page": N_("Text layer on every page"),
    },
    "kind": {
        "crop": N_("Crop"),
        "missing_page": N_("Missing page"),
        "skew": N_("Skew"),
        "text_cut_off": NC_("kind_text_cut_off", "Text cut off"),
        "unreadable": N_("Unreadable"),
        "wrong_hoso": N_("Wrong hồ sơ"),
        "wrong_metadata": N_("Wrong metadata"),
        "wrong_order": N_("Wrong order"),
        "wrong_orientation": N_("Wrong orientation"),
    },
    "lot": {
        "batch": N_("Batch %(name)s"),
        "hoso": N_("Hồ sơ in the lot"),
        "station": N_("Station %(name)s (no work order)"),
        "wo": N_("Work order %(name)s"),
    },
    "plan_says": {
        "accept": N_("The plan says: accept (d ≤ Ac in every class)."),
        "return": N_("The plan says: return (d ≥ Re in at least one class)."),
    },
    "purpose": {
        "01": N_("Personal"),
        "02": N_("Official"),
        "03": N_("Special official"),
    },
    "reject": {
        "counts": N_("Counts do not match"),
        "csip": N_("Not E-ARK CSIP conformant"),
        "files_listed": N_("METS file list does not match"),
        "fixity": N_("Checksum or size mismatch"),
        "history": N_("Already stored with other content (not a declared new version)"),
        "identifiers": N_("Inconsistent codes or file names"),
        "manifest": N_("Hồ sơ differs from the upload manifest"),
        "metadata": N_("Metadata missing or wrong"),
        "other": N_("Package failed a check (details in the archive)"),
        "pdfa": N_("PDF is not PDF/A"),
        "premis": N_("PREMIS missing or wrong"),
        "schemas": N_("XML invalid against the TT05 schemas"),
        "signatures": N_("Signature invalid or untrusted"),
        "signing_time": N_("Signing time not acceptable"),
        "top_folder": N_("Top folder is not the OBJID"),
        "work_order": N_("Work order not for this station or hồ sơ"),
        "zip_safety": N_("Unsafe zip"),
    },
    "role": {
        "admin": NC_("role_admin", "Administrator"),
        "archivist": N_("Archivist"),
        "supervisor": NC_("role_supervisor", "Supervisor"),
    },
    "scanner": {
        "absent": N_("absent"),
        "fault": N_("fault"),
        "idle": N_("idle"),
        "paused": N_("paused"),
        "scanning": N_("scanning"),
    },
    "severity": {
        "normal": N_("Normal"),
        "tightened": N_("Tightened"),
    },
    "stage": {
        "accepted": NC_("stage_accepted", "Accepted"),
        "assigned": N_("Assigned"),
        "new": N_("Not assigned"),
        "rejected": N_("Rejected"),
        "scanned": N_("Scanned"),
        "scanning": N_("Scanning"),
    },
    "state": {
        "accepted": NC_("state_accepted", "Accepted"),
        "archived": N_("Archived"),
        "in_review": N_("In review"),
        "received": NC_("state_received", "Received"),
        "returned": N_("Returned for rework"),
    },
}
# dashboard.js's words by the names it reads them (T.name); its enumerations come from LABELS
SCRIPT: dict[str, Msg] = {
    "cleared": N_("cleared"),
    "event_fault": N_("Fault"),
    "event_other": N_("Event"),
    "hoso": N_("File (hồ sơ)"),
    "last_fault": N_("Last fault"),
    "live": N_("Live"),
    "no_data": N_("No data yet."),
    "no_defects": N_("No acceptance decision validated yet."),
    "no_pace": N_("no pace yet"),
    "no_plan": N_("no plan"),
    "no_rejections": N_("No package was rejected."),
    "no_stations": N_("No station has reported yet."),
    "none": N_("none"),
    "offline": N_("Offline"),
    "online": N_("Online"),
    "operator": NC_("operator", "Operator"),
    "pages": N_("Pages scanned"),
    "ppm": N_("Pages/min"),
    "queues": N_("Queues (processing · OCR · sync)"),
    "reconnecting": N_("Reconnecting…"),
    "scanner": N_("Scanner"),
    "stalled": N_("Stalled"),
    "unknown": N_("Unknown"),
}
SCRIPT_LABELS = ("scanner", "flag", "stage", "event")


def _say(message: Msg, **params: object) -> str:
    return pgettext(*message, **params) if isinstance(message, tuple) else gettext(message, **params)


def label(kind: str, value: str, **params: object) -> str:
    """`value` of `kind` in the page's language."""
    message = LABELS[kind].get(value)
    return _say(message, **params) if message is not None else value


def label_in(kind: str, value: str, lang: str, **params: object) -> str:
    """`value` of `kind` in `lang`, outside a request (files written in Vietnamese, CSV exports)."""
    message = LABELS[kind].get(value)
    if message is None:
        return value
    found = catalogue(lang)
    text = str(found.pgettext(*message) if isinstance(message, tuple) else found.gettext(message))
    return text % params if params else text


def script_texts() -> dict[str, str]:
    """What dashboard.js reads as T: its words and the enumerations it shows, in the page's language."""
    out = {name: _say(message) for name, message in SCRIPT.items()}
    for kind in SCRIPT_LABELS:
        out.update({f"{kind}_{value}": _say(message) for value, message in LABELS[kind].items()})
    return out
