"""Run the official E-ARK validator (eark-validator, specification 2.0.4) on one package, offline.

Run by the interpreter of .venv-eark (scripts/bootstrap.sh makes it: the validator pins lxml==5.1.0, which
would drag pyHanko and OCRmyPDF back several releases in .venv), never imported by pytest:

    .venv-eark/bin/python tests/eark_runner.py PACKAGE.zip|FOLDER  ->  JSON on stdout

Offline, proven rather than hoped for: an audit hook refuses (and records) every DNS lookup, socket connect
and urllib request in this process, and the tests also run it in a fresh network namespace. The validator
fetches four CSIP vocabularies from earkcsip.dilcis.eu when imported; its wheel bundles the same files,
so those four URLs are answered from the wheel.

The validator reads only the root METS with its Schematron rules; the same rules (CSIP, and SIP for a SIP)
and the METS schema are run here on every representation METS too.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

NETWORK_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"}
attempts: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event in NETWORK_EVENTS:
        attempts.append(f"{event} {args!r}"[:300])
        raise PermissionError(f"network access refused in the offline validator run: {event}")


def _bundled_vocabularies() -> None:
    """Answer the validator's four vocabulary URLs from the copies in its own wheel."""
    spec = importlib.util.find_spec("eark_validator")
    assert spec and spec.submodule_search_locations, "eark_validator is not installed"
    vocabs = Path(next(iter(spec.submodule_search_locations))) / "ipxml" / "resources" / "vocabs"
    real_urlopen = urllib.request.urlopen

    def urlopen(url, *args, **kwargs):
        name = str(url).rsplit("/", 1)[-1]
        if str(url).startswith("https://earkcsip.dilcis.eu/schema/") and (vocabs / name).is_file():
            return io.BytesIO((vocabs / name).read_bytes())
        return real_urlopen(url, *args, **kwargs)  # refused by the audit hook, and recorded

    urllib.request.urlopen = urlopen


def _result(r, scope: str) -> dict:
    return {
        "scope": scope,
        "rule": r.rule_id,
        "severity": r.severity.value if hasattr(r.severity, "value") else str(r.severity),
        "message": r.message,
        "location": r.location,
    }


def _unpack(path: Path, work: Path) -> Path:
    if path.is_dir():
        return path
    with zipfile.ZipFile(path) as zf:
        zf.extractall(work)  # our own packages only: the archive's checks handle hostile zips
    [top] = [p for p in work.iterdir() if p.is_dir()]
    return top


def validate(path: Path) -> dict:
    from eark_validator.infopacks.information_package import InformationPackages
    from eark_validator.ipxml.schema import IP_SCHEMA
    from eark_validator.packages import PackageValidator
    from eark_validator.rules import ValidationProfile
    from eark_validator.specifications.specification import SpecificationType, SpecificationVersion
    from lxml import etree

    version = SpecificationVersion.V2_0_4
    with tempfile.TemporaryDirectory(prefix="eark-") as tmp:
        root = _unpack(path, Path(tmp))
        report = PackageValidator(root, version).validation_report
        out: dict = {
            "structure": report.structure.status.value,
            "results": [],
        }
        out["results"] += [_result(m, "structure") for m in report.structure.messages]
        if report.metadata is not None:
            out["results"] += [_result(m, "METS.xml") for m in report.metadata.schema_results.messages]
            out["results"] += [_result(m, "METS.xml") for m in report.metadata.schematron_results.messages]
        kind = ""
        try:
            kind = InformationPackages.from_path(root).details.oaispackagetype
        except Exception as exc:  # noqa: BLE001 - report, do not hide
            out["results"].append({"scope": "METS.xml", "rule": "RUNNER", "severity": "Error",
                                   "message": f"package details unreadable: {exc}", "location": ""})
        rep_mets = sorted(root.glob("representations/*/METS.xml"))
        out["representations"] = [str(p.relative_to(root)) for p in rep_mets]
        for mets in rep_mets:
            scope = str(mets.relative_to(root))
            schema = IP_SCHEMA["csip"]
            if not schema.validate(etree.parse(str(mets))):
                out["results"] += [{"scope": scope, "rule": "XML-1", "severity": "Error", "message": e.message,
                                    "location": f"{e.line}"} for e in schema.error_log]
            types = [SpecificationType.CSIP] + ([SpecificationType.SIP] if kind == "SIP" else [])
            for spec_type in types:
                profile = ValidationProfile(spec_type, version)
                profile.validate(str(mets))
                out["results"] += [_result(r, scope) for r in profile.get_all_results()]
                out["results"] += [{"scope": scope, "rule": "XML-1", "severity": "Error", "message": m,
                                    "location": ""} for m in profile.messages]
        out["kind"] = kind
    return out


def main(argv: list[str]) -> int:
    sys.addaudithook(_audit)
    _bundled_vocabularies()
    reports = {}
    for arg in argv:
        reports[arg] = validate(Path(arg))
    print(json.dumps({"network_attempts": attempts, "packages": reports}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
