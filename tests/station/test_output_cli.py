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
    assert report["page_count"] == 1 and report["failed"] == 0 and report["pdfa_problems"] == []
    assert report["processed"] and report["pages"][0]["rotation"] == 0 and "error" not in report["pages"][0]
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
        (
            ("pdf", tmp_path / "missing.png", "-o", tmp_path / "x.pdf"),
            f"no such image or folder: {tmp_path / 'missing.png'}",
        ),
        (("pdf", image, "-o", tmp_path / "x.pdf", "--sign"), "--sign needs --p12 and --agency"),
    ]
    for args, message in cases:
        proc = sohoa(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1] == f"sohoa: error: {message}", proc.stderr
        assert not (tmp_path / "x.pdf").exists()


def test_wrong_passphrase_stops_before_any_work_and_exits_2(made, demo_keys, tmp_path):
    _, image, _, _ = made
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not the passphrase\n")
    out = tmp_path / "doc.pdf"
    proc = sohoa("pdf", image, "-o", out, "--sign", "--p12", demo_keys.agency_p12, "--passphrase-file", wrong,
                 "--agency", AGENCY)
    assert proc.returncode == 2
    assert "wrong passphrase" in proc.stderr
    assert not out.exists(), "the key is opened before any page is processed"


def test_pdf_runs_the_station_processing_on_files(tmp_path):
    """A page fed upside down and tilted: `sohoa pdf` straightens and turns it as the station does (same
    process_page), so the text layer reads; with --no-process it is OCRed as it lies."""
    from sohoa.samplepages import render_page
    from station.processing.pipeline import process_page

    img, truth = render_page(seed=41, dpi=300, skew_deg=1.8, rotate=180)
    src = tmp_path / "scan.png"
    img.save(src, dpi=(300, 300))
    out = tmp_path / "doc.pdf"
    proc = sohoa("pdf", src, "-o", out, "--report", tmp_path / "report.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    [page] = report["pages"]
    station = process_page(src, dpi=300, out_path=tmp_path / "station.jpg")
    assert (page["rotation"], page["deskew_deg"]) == (station.rotation, station.angle) == (180, station.angle)
    assert "auto_rotated" in page["flags"]
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert char_error_rate(truth, text) < 0.02
    raw = sohoa("pdf", src, "-o", tmp_path / "raw.pdf", "--no-process")
    assert raw.returncode == 0, raw.stderr
    raw_text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "raw.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert char_error_rate(truth, raw_text) > 0.3, "unprocessed, the page is read upside down"


def test_pdf_bad_files_get_one_clear_error_each_and_the_rest_goes_on(tmp_path):
    import numpy as np
    from PIL import Image

    from sohoa.samplepages import render_page

    page, _ = render_page(seed=42, dpi=200)
    folder = tmp_path / "in"
    folder.mkdir()
    page.save(folder / "01-good.png", dpi=(200, 200))
    page.convert("CMYK").save(folder / "02-cmyk.jpg", dpi=(200, 200))
    grey16 = (np.asarray(page.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "03-sixteen.png", dpi=(200, 200))
    page.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "04-palette.png", dpi=(200, 200))
    (folder / "05-empty.png").write_bytes(b"")
    (folder / "06-document.png").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    small = page.convert("L").resize((400, 560))
    small.save(folder / "07-pages.tif", save_all=True, append_images=[small], dpi=(200, 200))
    Image.new("1", (15000, 15000), 1).save(folder / "08-bomb.png", dpi=(200, 200))
    (folder / "09-cut.png").write_bytes((folder / "01-good.png").read_bytes()[:3000])
    out = tmp_path / "doc.pdf"
    proc = sohoa("pdf", folder, "-o", out, timeout=600)
    assert proc.returncode == 1, "a page failed: the exit code says so"
    report = json.loads(proc.stdout)
    errors = {Path(p["image"]).name: p.get("error", "") for p in report["pages"]}
    good = ["01-good.png", "02-cmyk.jpg", "03-sixteen.png", "04-palette.png"]
    assert [n for n, e in errors.items() if not e] == good
    assert report["page_count"] == 4 and report["failed"] == 5 and report["pdfa_problems"] == []
    assert "empty (0 bytes)" in errors["05-empty.png"]
    assert "is a PDF, not an image" in errors["06-document.png"]
    assert "holds 2 pages" in errors["07-pages.tif"]
    assert "decompression bomb" in errors["08-bomb.png"]
    assert "09-cut.png" in errors["09-cut.png"] and errors["09-cut.png"]
    with __import__("pikepdf").open(out) as pdf:
        assert len(pdf.pages) == 4
