"""The README's demo, end to end: broker, server and station as real processes, SANE test scanner in ADF
mode plus imported pages, OCR, PDF/A, signature, package, sync, verification, storage."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from protocol.package import read_package
from server.catalogue.catalog import Catalog
from station.store import Store


@pytest.mark.slow
def test_demo_once_ends_with_a_verified_stored_package(tmp_path):
    data = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "sohoa", "demo", "--once", "--data", str(data)],
                          capture_output=True, text=True, timeout=1200, env={**os.environ}, stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "VERDICT: accepted" in out
    assert "station UI:" in out and "server dashboard:" in out

    # The station: batch synced, every captured page journalled with its hash.
    store = Store(data / "station" / "station.db")
    [batch] = store.batches()
    assert batch["state"] == "SYNCED"
    pages = store.pages(batch["id"], include_deleted=True)
    assert len(pages) == 13 and {p["source"] for p in pages} == {"adf", "import"}

    # The server: one stored package, catalogued, whose documents are signed PDFs with the OCR text.
    catalog = Catalog(data / "server" / "catalog.db")
    [pkg] = catalog.packages()
    stored = list((data / "server" / "store").rglob("*.zip"))
    assert len(stored) == 1
    contents = read_package(stored[0])
    assert contents.file_code == "000.00.00.H47.2001.160.VP"
    # Each document's text layer travelled in the package (the station's pdftotext), one form feed a page;
    # the catalogue searched below indexed it.
    with zipfile.ZipFile(stored[0]) as zf:
        for d in contents.documents:
            assert d.text_member and zf.read(f"{contents.folder}/{d.text_member}").count(b"\f") == d.page_count
    with zipfile.ZipFile(stored[0]) as zf:
        assert any(n.endswith("METS.xml") for n in zf.namelist())
    # The stored AIP passes the official E-ARK validator (root and rep1 METS), offline.
    from eark_support import unexplained, validate

    report = validate(stored[0])
    assert report["network_attempts"] == []
    assert unexplained(stored[0], report["packages"][str(stored[0])]) == []
    assert catalog.search("quyet dinh")  # imported Vietnamese text is searchable without diacritics
    assert (data / "logs" / "server.log").exists()
