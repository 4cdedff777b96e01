"""Signing time per document: file key (PKCS#12) and SoftHSM2 (PKCS#11), invisible and visible stamp.

The signer is loaded once and warmed up (as the station keeps it for its whole life); then each case signs
the same 2-page PDF/A `BENCH_SIGN_RUNS` times (default 60) and the median and 95th percentile of the wall
time are reported against the 50 ms target, with the CPU time per signature (this process and its
children: noisy wall clocks on a busy machine say little, CPU time much more). Env BENCH_DOC as in
bench_ocr_chain ("-" to not write the page).
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.evalset import machine, make_evalset, write_section

ROOT = Path(__file__).resolve().parent.parent
AGENCY = "Ủy ban nhân dân phường Hà Tu"
TARGET_MS = 50.0
TOKEN, KEY, PIN, SO_PIN = "sohoa-bench", "agency", "123456", "12345678"
SOFTHSM_MODULES = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
]


def _document(work: Path) -> Path:
    from station.output.ocr import ocr_page
    from station.output.pdfa import PdfMeta, PdfPage, build_pdfa

    pages = make_evalset(work / "pages", count=2, seed=1000, max_skew=0.0)
    out = work / "doc.pdf"
    build_pdfa(
        [PdfPage(p.path, p.dpi, ocr_page(p.path, dpi=p.dpi).text_pdf) for p in pages],
        out=out,
        meta=PdfMeta(title="Thử ký số", doc_id="B.1", doc_code="B", agency=AGENCY, created=datetime.now().astimezone()),
    )
    return out


def _softhsm_signer(work: Path):
    """A fresh SoftHSM2 token with its own config, holding a demo agency key and certificate."""
    from cryptography.hazmat.primitives import serialization

    from station.output.keys import issue_certificate, make_root_ca
    from station.output.signing import Signer

    module = next((m for m in SOFTHSM_MODULES if os.path.exists(m)), None)
    if module is None:
        raise RuntimeError("SoftHSM2 PKCS#11 module not found: install softhsm2")
    folder = work / "softhsm"
    (folder / "tokens").mkdir(parents=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    run: dict[str, Any] = {"capture_output": True, "text": True, "timeout": 60, "check": True}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", SO_PIN], **run
    )
    agency = issue_certificate(make_root_ca(name="sohoa bench CA"), agency_name=AGENCY)
    key_der, cert_der = folder / "key.der", folder / "cert.der"
    key_der.write_bytes(
        agency.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_der.write_bytes(agency.cert.public_bytes(serialization.Encoding.DER))
    for kind, path in (("privkey", key_der), ("cert", cert_der)):
        subprocess.run(
            [
                "pkcs11-tool",
                "--module",
                module,
                "--token-label",
                TOKEN,
                "--login",
                "--pin",
                PIN,
                "--write-object",
                str(path),
                "--type",
                kind,
                "--label",
                KEY,
                "--id",
                "01",
            ],
            **run,
        )
    key_der.unlink()
    return Signer.from_pkcs11(module, TOKEN, KEY, PIN)


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _time(signer, src: Path, work: Path, *, visible: bool, runs: int) -> tuple[list[float], float]:
    """Wall times (ms) of `runs` signatures and their mean CPU time (ms)."""
    for i in range(3):  # warm-up: font subset, first CMS, page caches
        signer.sign(src, work / f"warm-{i}.pdf", agency_name=AGENCY, visible=visible)
    times = []
    cpu = _cpu()
    for i in range(runs):
        dst = work / f"signed-{i % 2}.pdf"
        started = time.perf_counter()
        signer.sign(src, dst, agency_name=AGENCY, visible=visible)
        times.append((time.perf_counter() - started) * 1000)
    return times, (_cpu() - cpu) * 1000 / runs


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def main() -> int:
    from station.output.keys import ensure_demo_ca
    from station.output.signing import Signer

    runs = int(os.environ.get("BENCH_SIGN_RUNS", "60"))
    doc = os.environ.get("BENCH_DOC", str(ROOT / "docs" / "bench" / "output.md"))
    work = Path(tempfile.mkdtemp(prefix="sohoa-bench-sign-"))
    src = _document(work)
    keys = ensure_demo_ca(work / "keys", agency_name=AGENCY)
    started = time.perf_counter()
    file_signer = Signer.from_pkcs12(keys.agency_p12, keys.passphrase)
    load_ms = (time.perf_counter() - started) * 1000
    hsm_signer = _softhsm_signer(work)
    before = machine()
    rows = []
    try:
        for key_name, signer in (
            ("file key (PKCS#12, RSA-2048)", file_signer),
            ("SoftHSM2 (PKCS#11, RSA-2048)", hsm_signer),
        ):
            for visible in (False, True):
                times, cpu_ms = _time(signer, src, work, visible=visible, runs=runs)
                median = statistics.median(times)
                p95 = _percentile(times, 0.95)
                rows.append(
                    f"| {key_name} | {'visible' if visible else 'invisible'} | {median:.1f} | {p95:.1f} | "
                    f"{cpu_ms:.1f} | {'yes' if median <= TARGET_MS else 'no'} |"
                )
                print(rows[-1], flush=True)
    finally:
        hsm_signer.close()
    after = machine().split("load average ")[1].split(",")[0]
    report = "\n".join(
        [
            "## Signing time per document (`python -m bench signing`)",
            "",
            f"Machine: {before} (at the end: load average {after}). A 2-page PDF/A-2b "
            f"({src.stat().st_size / 1e6:.1f} MB) signed PAdES (SHA-256, incremental update) {runs} times per case "
            f"after 3 warm-up signatures, with the signer loaded once (loading the PKCS#12 file took "
            f"{load_ms:.0f} ms). "
            "Time = `Signer.sign` from reading the source to the fsynced destination (wall clock); CPU = user + "
            "system time of this process per signature (SoftHSM2 runs inside it).",
            "",
            f"| key | stamp | median ms | p95 ms | CPU ms | median ≤ {TARGET_MS:.0f} ms |",
            "|---|---|---:|---:|---:|---|",
            *rows,
        ]
    )
    print(report)
    if doc != "-":
        write_section(Path(doc), "signing", report)
        print(f"written to {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
