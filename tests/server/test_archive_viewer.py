"""Archive workspace, read: pages rendered one at a time from the stored PDF (cached), the positioned OCR
text layer with search hits marked, the signature panel's verdict, the download (logged) — and a stored file
changed behind the archive's back shows as failed, never as fine."""

from __future__ import annotations

import os
import struct
import zipfile

import requests
from archive_support import (  # noqa: F401 - fixtures
    archive,  # noqa: F401 - fixture
    build_and_send,
    distinctive_word,
    three_page_pdf,
)

from server.accounts.auth import create_user
from server.archive import audit
from tests.support.records import AGENCY
from tests.support.servers import serving
from tests.support.web import ARCHIVIST, web_login


def _base(archive) -> str:  # noqa: F811 - fixture
    return f"{archive.url}/archive/doc/{archive.objid}/{archive.doc_id}"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_page_rendered_on_demand_and_cached(archive):  # noqa: F811 - fixture
    s = archive.session()
    resp = s.get(_base(archive) + "/page/2.png?w=900", timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/png"
    width, height = _png_size(resp.content)
    assert width == 900 and 1.3 < height / width < 1.5  # an A4 page
    cached = list((archive.context.config.data_dir / "cache" / "viewer").glob("*/p0002-w900.png"))
    assert len(cached) == 1 and not list(cached[0].parent.glob("p0003-*"))  # one page, not the document
    thumb = s.get(_base(archive) + "/page/3.png?w=160", timeout=30)
    assert _png_size(thumb.content)[0] == 160
    assert s.get(_base(archive) + "/page/4.png", timeout=30).status_code == 404
    assert s.get(_base(archive) + "/page/0.png", timeout=30).status_code == 404


def test_unknown_or_impossible_names_are_not_found(archive):  # noqa: F811 - fixture
    s = archive.session()
    for path in (f"/archive/hoso/{archive.objid}x", "/archive/hoso/a b", "/archive/hoso/%2E%2E",
                 f"/archive/doc/{archive.objid}/nope", "/archive/doc/a b/c",
                 f"/archive/doc/{archive.objid}/x/page/1.png",
                 f"/archive/doc/{archive.objid}/{archive.doc_id}/text/9"):
        assert s.get(archive.url + path, timeout=30).status_code == 404, path


def test_viewer_page_lists_every_page(archive):  # noqa: F811 - fixture
    page = archive.session().get(_base(archive) + "?page=2", timeout=30).text
    assert 'data-pages="3"' in page and 'data-page="2"' in page
    assert page.count('class="thumb"') == 3
    assert "<script>" not in page and "onclick" not in page  # CSP-friendly: no inline script


def test_text_layer_positions_and_hits(archive):  # noqa: F811 - fixture
    word = distinctive_word(archive.page_texts, 2)
    from server.catalogue.catalog import fold

    layer = archive.session().get(_base(archive) + "/text/2", params={"q": fold(word)}, timeout=30).json()
    assert layer["page"] == 2 and layer["width"] > 500 and layer["words"]
    for w in layer["words"]:
        assert 0 <= w["x"] < 1 and 0 <= w["y"] < 1 and 0 < w["w"] <= 1 and 0 < w["h"] <= 1
    hits = [w["t"] for w in layer["words"] if w["hit"]]
    assert hits and all(fold(word) in fold(h) for h in hits)  # asked without diacritics, found with them
    text = " ".join(w["t"] for w in layer["words"])
    assert word in text
    other = archive.session().get(_base(archive) + "/text/1", params={"q": fold(word)}, timeout=30).json()
    assert not any(w["hit"] for w in other["words"])  # the word is only on page 2


def test_signature_panel_of_a_sound_document(archive):  # noqa: F811 - fixture
    v = archive.session().get(_base(archive) + "/integrity", timeout=60).json()
    assert v["ok"] and v["package_ok"] and v["pdf_ok"] and not v["reasons"]
    sig = v["signature"]
    assert AGENCY in sig["signer"] and sig["signed_at"].endswith("+07:00") and sig["intact"] and sig["trusted"]


def test_download_is_the_stored_pdf_and_is_logged(archive, three_page_pdf):  # noqa: F811 - fixture
    resp = archive.session().get(_base(archive) + "/download", timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pdf"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.content == three_page_pdf.read_bytes()
    entry = audit.entries(archive.context.db, limit=1)[0]
    assert (entry["action"], entry["actor"], entry["target"]) == (
        "download", ARCHIVIST[0], f"{archive.objid}/{archive.doc_id}")


def _tamper(stored: os.PathLike, member_suffix: str) -> None:
    """Change one byte in the middle of the PDF inside the stored zip, as a disk fault or an intruder would."""
    src = zipfile.ZipFile(stored)
    items = [(info, src.read(info)) for info in src.infolist()]
    src.close()
    tmp = f"{stored}.tmp"
    with zipfile.ZipFile(tmp, "w") as out:
        for info, data in items:
            if info.filename.endswith(member_suffix):
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]
            out.writestr(info, data)
    os.replace(tmp, stored)


def test_tampered_stored_file_shows_as_failed(tmp_path, demo_keys, three_page_pdf):  # noqa: F811
    from server.app import build_context
    from server.config import ServerConfig

    context = build_context(ServerConfig(data_dir=tmp_path / "server", trust_roots=[demo_keys.ca_pem]))
    create_user(context.db, *ARCHIVIST, role="archivist")
    with serving(context) as live:
        pkg, doc_id = build_and_send(tmp_path, three_page_pdf, context, live.url)
        s: requests.Session = web_login(live.url, *ARCHIVIST)
        base = f"{live.url}/archive/doc/{pkg.objid}/{doc_id}"
        assert s.get(base + "/integrity", timeout=60).json()["ok"]  # sound first (and cached)
        _tamper(context.store.get(pkg.objid).path, f"{doc_id}.pdf")
        v = s.get(base + "/integrity", timeout=60).json()
        assert not v["ok"] and not v["package_ok"] and not v["pdf_ok"]
        assert not v["signature"]["intact"]
        assert any("fixity" in r for r in v["reasons"])
        assert s.get(base, timeout=30).status_code == 200  # still viewable, to see what is wrong
        hoso = s.get(f"{live.url}/archive/hoso/{pkg.objid}", timeout=30).text
        assert 'data-gate="package_intact" class="bad"' in hoso
