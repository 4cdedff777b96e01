"""`sohoa server export` as a real process on the archive's data folder: a copy for a request (marked,
recorded, logged, the stored package unchanged; certified copies signed and valid), the inventory of chosen
hồ sơ as CSV (Vietnamese state names) and as EAD valid against the profile's schema, and clear one-line
errors with exit code 2 for what cannot be done."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from archive_support import FILE_CODE, archive, three_page_pdf  # noqa: F401 - fixtures

from protocol.clock import now_vn
from protocol.hashing import sha256_file
from protocol.package.schemas import SCHEMA_DIR
from protocol.signatures import validate_pdf_signatures
from server.archive import audit, copies

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config(archive, demo_keys, tmp_path_factory):  # noqa: F811 - fixture
    path = tmp_path_factory.mktemp("cli") / "server.toml"
    path.write_text(
        f'data_dir = "{archive.context.config.data_dir}"\ntrust_roots = ["{demo_keys.ca_pem}"]\n'
        f'archive_name = "Lưu trữ lịch sử tỉnh Đồng Nai"\narchive_signer_p12 = "{demo_keys.agency_p12}"\n'
        f'archive_signer_passphrase_file = "{demo_keys.passphrase_file}"\n', encoding="utf-8")
    return path


def sohoa(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sohoa.cli", "server", "--config", str(config), "export", *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ})


def _until(days: int = 10) -> str:
    return (now_vn().date() + timedelta(days=days)).isoformat()


def test_copy_from_the_command_line(archive, config, tmp_path):  # noqa: F811 - fixture
    stored = archive.context.store.get(archive.objid)
    before = sha256_file(stored.path)
    out = tmp_path / "ban-sao.pdf"
    done = sohoa(config, "copy", archive.objid, archive.doc_id, "--kind", "copy", "--recipient", "Trần Văn Bình",
                 "--purpose", "01", "--until", _until(), "--actor", "cli:tester", "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(out), "-"], capture_output=True, check=True,
                          timeout=60).stdout.decode()
    assert "BẢN SAO" in text
    import json

    made = json.loads(done.stdout)
    row = copies.get(archive.context, made["copy_id"])
    assert row["request"]["recipient"] == "Trần Văn Bình" and row["made_by"] == "cli:tester"
    assert any(e["action"] == "copy" and e["actor"] == "cli:tester" and made["copy_id"] in e["detail"]
               for e in audit.entries(archive.context.db, limit=20))
    assert sha256_file(stored.path) == before


def test_certified_copy_from_the_command_line(archive, config, demo_keys, tmp_path):  # noqa: F811 - fixture
    out = tmp_path / "chung-thuc.pdf"
    done = sohoa(config, "copy", archive.objid, archive.doc_id, "--kind", "certified", "--recipient", "Lê Thị Mai",
                 "--purpose", "02", "--until", _until(), "--out", str(out))
    assert done.returncode == 0, done.stderr
    verdict = validate_pdf_signatures(out, trust_roots=[demo_keys.ca_pem.read_bytes()])
    assert verdict.ok, verdict.reasons


def test_inventory_csv_and_ead(archive, config, tmp_path):  # noqa: F811 - fixture
    out = tmp_path / "muc-luc.csv"
    done = sohoa(config, "inventory", "--hoso", FILE_CODE, "--format", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["ma_ho_so"] for r in rows] == [FILE_CODE]
    assert rows[0]["tieu_de"].startswith("Hồ sơ cấp giấy chứng nhận") and rows[0]["so_trang"] == "3"
    assert rows[0]["trang_thai"] == "Đã tiếp nhận" and rows[0]["objid"] == archive.objid
    last = audit.entries(archive.context.db, limit=1)[0]
    assert (last["action"], last["target"]) == ("export", "inventory.csv")

    zipped = tmp_path / "muc-luc.zip"
    done = sohoa(config, "inventory", "--fonds", "P_UBND_DN", "--format", "ead", "--out", str(zipped))
    assert done.returncode == 0, done.stderr
    import xmlschema

    with zipfile.ZipFile(zipped) as zf:
        assert zf.namelist() == [f"MUC_LUC/{FILE_CODE}/EAD.xml"]
        data = zf.read(f"MUC_LUC/{FILE_CODE}/EAD.xml")
    from server.archive.stored import read_stored

    kind = read_stored(archive.context.store.get(archive.objid).path).kind
    schema = xmlschema.XMLSchema(str(SCHEMA_DIR / ("ead_aip.xsd" if kind == "AIP" else "ead.xsd")))
    schema.validate(io.BytesIO(data))
    assert schema.to_dict(io.BytesIO(data))["title"].startswith("Hồ sơ cấp giấy chứng nhận")


def test_export_errors_are_one_clear_line(archive, config, tmp_path):  # noqa: F811 - fixture
    done = sohoa(config, "inventory", "--hoso", FILE_CODE, "--hoso", "KHONG.CO.HO.SO", "--format", "csv",
                 "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "not in the archive: KHONG.CO.HO.SO" in done.stderr
    done = sohoa(config, "inventory", "--fonds", "KHONG_CO", "--format", "csv", "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "no stored hồ sơ matches" in done.stderr
    assert not (tmp_path / "x").exists()
    done = sohoa(config, "copy", archive.objid, archive.doc_id, "--kind", "copy", "--recipient", "A",
                 "--purpose", "01", "--until", "2020-01-01", "--out", str(tmp_path / "y.pdf"))
    assert done.returncode == 2 and "validity date is in the past" in done.stderr
    done = sohoa(config, "copy", archive.objid, "no-such-doc", "--kind", "copy", "--recipient", "A",
                 "--purpose", "01", "--until", _until(), "--out", str(tmp_path / "z.pdf"))
    assert done.returncode == 2 and "no document no-such-doc" in done.stderr
