"""Every real component the suite relies on is installed. A missing one fails here, by name, never skips."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TOOLS = {
    "scanimage": "sane-utils (SANE front end)",
    "tesseract": "tesseract-ocr",
    "mosquitto": "mosquitto (MQTT broker)",
    "mosquitto_passwd": "mosquitto (password tool)",
    "softhsm2-util": "softhsm2 (PKCS#11 token for signing tests)",
    "pkcs11-tool": "opensc (imports keys into the token)",
    "pdftotext": "poppler-utils",
    "chromium": "chromium (browser tests)",
    "unpaper": "unpaper (benchmark peer)",
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_tool_installed(tool):
    assert shutil.which(tool), f"{tool} missing: install the Debian package {TOOLS[tool]} (scripts/bootstrap.sh does)"


def test_tesseract_has_vietnamese():
    langs = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30).stdout.split()
    assert "vie" in langs, "tesseract-ocr-vie missing"
    assert "osd" in langs, "tesseract-ocr-osd missing (orientation detection)"


def test_sane_test_backend_installed():
    found = [*Path("/usr/lib").glob("*/sane/libsane-test.so*"), *Path("/usr/lib").glob("sane/libsane-test.so*")]
    assert found, "SANE test backend (libsane1) missing"
    assert Path("/etc/sane.d/test.conf").exists(), "/etc/sane.d/test.conf missing (libsane1)"


def test_softhsm_module_present():
    candidates = list(Path("/usr/lib").glob("**/softhsm/libsofthsm2.so"))
    assert candidates, "libsofthsm2.so missing (softhsm2)"


def test_vietnamese_font_present():
    assert Path("/usr/share/fonts/truetype/freefont/FreeSerif.ttf").exists(), "fonts-freefont-ttf missing"
