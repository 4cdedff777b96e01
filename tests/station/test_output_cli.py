"""`sohoa pdf` and `sohoa verify-pdf` as a script would run them: real processes, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sohoa.samplepages import char_error_rate, write_sample_folder

ROOT = Path(__file__).resolve().parents[2]
AGENCY = "Sở Nội vụ tỉnh Đồng Nai"


SOHOA = Path(sys.executable).with_name("sohoa")  # the installed console script, as operators run it


def sohoa(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess:
    # Not `python -m sohoa.cli`: run as __main__, sohoa.cli's CommandError is a second class that the
    # subcommands' errors are not instances of (they end as tracebacks, exit 1).
    assert SOHOA.is_file(), f"{SOHOA} missing: pip install -e . in the venv"
    return subprocess.run([str(SOHOA), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin", "OMP_THREAD_LIMIT": "1"})


@pytest.fixture(scope="module")
def made(tmp_path_factory, demo_keys):
    """One signed document made by `sohoa pdf --sign` from a generated page (stored DPI, no --dpi)."""
    folder = tmp_path_factory.mktemp("cli")
    [image] = write_sample_folder(folder, count=1, seed=33, dpi=300, with_text=True)
    out = folder / "H26.61.8.01.2026.01.1.pdf"
    proc = sohoa("pdf", image, "-o", out, "--sign", "--p12", demo_keys.agency_p12,
                 "--passphrase-file", demo_keys.passphrase_file, "--agency", AGENCY, "--title", "Quyết định thử")
    return folder, image, out, proc


def test_pdf_makes_a_signed_pdfa_with_the_ocr_text(made):
    folder, image, out, proc = made
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["pages"] == 1 and report["ocr_failed"] == [] and report["pdfa_problems"] == []
    assert report["signed_at"].endswith("+07:00") and "DEMO" in report["signer"]
    assert report["size"] == out.stat().st_size
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    body = "\n".join(line for line in text.splitlines() if AGENCY not in line and "+07:00" not in line)
    truth = image.with_suffix(".txt").read_text(encoding="utf-8")
    assert char_error_rate(truth, body) < 0.01
    assert AGENCY in text  # the visible stamp


def test_verify_pdf_accepts_the_signed_file_and_rejects_a_tampered_copy(made, demo_keys, tmp_path):
    _, _, out, _ = made
    proc = sohoa("verify-pdf", out, "--trust", demo_keys.ca_pem)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["ok"] and verdict["signature"]["ok"] and verdict["signature"]["covers_whole_file"]
    assert verdict["pdfa_problems"] == []

    data = bytearray(out.read_bytes())
    spot = data.index(b"/Title") + 8  # inside the signed revision, outside the signature value
    data[spot] = ord("X") if data[spot] != ord("X") else ord("Y")
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    proc = sohoa("verify-pdf", tampered, "--trust", demo_keys.ca_pem)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    verdict = json.loads(proc.stdout)
    assert not verdict["ok"] and verdict["signature"]["reasons"]


def test_verify_pdf_without_trust_roots_checks_only_pdfa(made):
    _, _, out, _ = made
    proc = sohoa("verify-pdf", out)
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["signature"] is None and verdict["pdfa_problems"] == []


def test_verify_pdf_with_another_root_fails(made, tmp_path):
    from station.output.keys import make_root_ca

    _, _, out, _ = made
    other = tmp_path / "other.pem"
    other.write_bytes(make_root_ca(name="another CA").cert_pem())
    proc = sohoa("verify-pdf", out, "--trust", other)
    assert proc.returncode == 1
    assert any("trusted root" in r for r in json.loads(proc.stdout)["signature"]["reasons"])


def test_user_errors_exit_2_with_one_line(tmp_path, made):
    _, image, _, _ = made
    cases = [
        (("verify-pdf", tmp_path / "missing.pdf"), f"no such file: {tmp_path / 'missing.pdf'}"),
        (("pdf", tmp_path / "missing.png", "-o", tmp_path / "x.pdf"), f"no such image: {tmp_path / 'missing.png'}"),
        (("pdf", image, "-o", tmp_path / "x.pdf", "--sign"), "--sign needs --p12 and --agency"),
    ]
    for args, message in cases:
        proc = sohoa(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1] == f"sohoa: error: {message}", proc.stderr
        assert not (tmp_path / "x.pdf").exists()


def test_wrong_passphrase_leaves_the_unsigned_pdfa_and_exits_2(made, demo_keys, tmp_path):
    _, image, _, _ = made
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not the passphrase\n")
    out = tmp_path / "doc.pdf"
    proc = sohoa("pdf", image, "-o", out, "--sign", "--p12", demo_keys.agency_p12, "--passphrase-file", wrong,
                 "--agency", AGENCY)
    assert proc.returncode == 2
    assert "wrong passphrase" in proc.stderr and str(out) in proc.stderr
    assert out.is_file() and b"/ByteRange" not in out.read_bytes()
