"""Each document's PDF work started while its upload still arrives (server/ingest/early.py): the findings
used at commit are the ones the normal path gives, whatever was resent, rewritten elsewhere or lied about.

Chunks are written the way put_chunk writes them (before_write, write_chunk, after_write); the verdict with
the early jobs is compared with the verdict of the same file checked the normal way."""

from __future__ import annotations

import re
import struct
import time
import zipfile
from pathlib import Path

import pytest
from test_checks_pdfwork import CASES, _garbage, _swap_pdf
from test_checks_signed import _package

from protocol.pdftext import pdf_text
from server.checks import pdfwork, run_checks
from server.ingest import early as early_module
from server.ingest.early import EarlyChecks
from server.ingest.uploads import write_chunk

CHUNK = 64 * 1024


@pytest.fixture(scope="module", autouse=True)
def _pool() -> None:
    pdfwork.warm()
    assert pdfwork.workers() > 1, "this machine has one core: no pool, no early work"
    assert pdfwork.ready(timeout=120) is not None, "the worker processes did not start"


def _send(early: EarlyChecks, part: Path, data: bytes, *, start: int = 0, roots: list[bytes]) -> None:
    """put_chunk's order for each chunk of `data` from `start`: before_write, write + fsync, after_write."""
    for offset in range(start, len(data), CHUNK):
        early.before_write("up", part, offset)
        received = write_chunk(part, offset, data[offset : offset + CHUNK])
        early.after_write("up", part, received, trust_roots=roots)


def _verdict(part: Path, roots: list[bytes], early=None) -> tuple:  # noqa: ANN001
    verdict = run_checks(part, trust_roots=roots, expected_sheets=1, texts=True, early=early)
    private = re.compile(r"/tmp/\S*?\.pdf")  # each way has its own private folder and file name
    return [(c.name, c.ok, [private.sub("PDF", r) for r in c.reasons]) for c in verdict.checks], verdict.texts


def _early_verdict(
    tmp_path: Path, data: bytes, roots: list[bytes], *, resend_from: int | None = None, first: bytes | None = None
):  # noqa: ANN202
    early = EarlyChecks()
    part = tmp_path / "uploads" / "up.part"
    _send(early, part, first if first is not None else data, roots=roots)
    if resend_from is not None:  # the station sends again from there (after a lost answer, or on purpose)
        _send(early, part, data, start=resend_from, roots=roots)
    assert part.read_bytes() == data
    claim = early.claim("up", part)
    assert claim is not None and not early._uploads
    try:
        found = _verdict(part, roots, claim)
    finally:
        claim.close()
    return found, claim.used


def _built(tmp_path: Path, signed_pdf: Path, demo_keys, hoso_fields, case: str, *, text: bool = True) -> bytes:  # noqa: ANN001
    """The package of `case`; `text`: with the station's text layer packed, as stations now send it (a swapped
    PDF keeps the text of the one it replaced: its pages then do not count, and the normal job runs)."""
    make = CASES[case]
    unsigned = signed_pdf.parent / "unsigned.pdf"
    pdf = signed_pdf if make in (None, "swap") else make(tmp_path, unsigned, demo_keys)
    package = _package(tmp_path, pdf, hoso_fields, text=pdf_text(pdf) if text else "").path
    if make == "swap":
        package = _swap_pdf(package, _garbage if case == "garbage_pdf" else lambda d: d[: len(d) * 2 // 3])
    return package.read_bytes()


@pytest.mark.parametrize("case", sorted(CASES))
def test_early_jobs_give_the_findings_of_the_normal_path(tmp_path, signed_pdf, demo_keys, hoso_fields, case):
    data = _built(tmp_path, signed_pdf, demo_keys, hoso_fields, case)
    roots = [demo_keys.ca_pem.read_bytes()]
    found, used = _early_verdict(tmp_path, data, roots)
    assert used == 1, "the document's PDF was not checked while it arrived"
    assert found == _verdict(tmp_path / "uploads" / "up.part", roots)


def test_a_package_without_text_layers_is_checked_the_normal_way(tmp_path, signed_pdf, demo_keys, hoso_fields):
    """An older station's package: its catalogue text must come from pdftotext, which early jobs do not run."""
    data = _built(tmp_path, signed_pdf, demo_keys, hoso_fields, "good", text=False)
    roots = [demo_keys.ca_pem.read_bytes()]
    found, used = _early_verdict(tmp_path, data, roots)
    assert used == 0
    assert found == _verdict(tmp_path / "uploads" / "up.part", roots)
    [(_, text)] = found[1].items()
    assert text == pdf_text(signed_pdf) and text.strip()


def _pdf_span(data: bytes) -> tuple[int, int]:
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as zf:
        [info] = [i for i in zf.infolist() if i.filename.endswith(".pdf")]
        name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
        return info.header_offset + 30 + name_len + extra_len, info.compress_size


def test_bytes_resent_differently_are_checked_again(tmp_path, signed_pdf, demo_keys, hoso_fields):
    """A first version whose PDF is garbage, then the good bytes resent from a chunk inside the PDF's
    member: the early job on the garbage is dropped (its member ends past the resent offset), the good
    bytes are checked early in their turn."""
    good = _built(tmp_path, signed_pdf, demo_keys, hoso_fields, "good")
    start, size = _pdf_span(good)
    bad = good[:start] + b"%PDF-1.7 nothing".ljust(size, b" ") + good[start + size :]
    roots = [demo_keys.ca_pem.read_bytes()]
    found, used = _early_verdict(tmp_path, good, roots, first=bad, resend_from=start // CHUNK * CHUNK)
    assert used == 1
    assert found == _verdict(tmp_path / "uploads" / "up.part", roots)
    assert found[0] and all(ok for _, ok, _ in found[0]), found


def test_a_chunk_written_by_another_process_drops_everything(tmp_path, signed_pdf, demo_keys, hoso_fields):
    data = _built(tmp_path, signed_pdf, demo_keys, hoso_fields, "good")
    roots = [demo_keys.ca_pem.read_bytes()]
    early = EarlyChecks()
    part = tmp_path / "uploads" / "up.part"
    _send(early, part, data, roots=roots)
    start, size = _pdf_span(data)
    write_chunk(part, start, data[start:])  # another server: same bytes even, but this process cannot know
    assert early.claim("up", part) is None
    assert not early._uploads
    _send(early, part, data, roots=roots)  # before the next chunk written here, the foreign write is seen
    early.before_write("up", part, 0)
    write_chunk(part, 0, data)  # the other server again
    early.before_write("up", part, len(data))
    assert not early._uploads
    early.after_write("up", part, len(data), trust_roots=roots)  # and this upload gets no more early work
    assert not early._uploads and early.claim("up", part) is None


def _lying(data: bytes, how: str) -> bytes:
    """The package with the PDF's local header changed: a size bigger than the central directory's, or
    another name of the same length; zipfile follows the central directory (and refuses another name)."""
    start, size = _pdf_span(data)
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as zf:
        [info] = [i for i in zf.infolist() if i.filename.endswith(".pdf")]
    at = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[at + 26 : at + 30])
    if how == "size":  # the writer puts the sizes both in the 32-bit fields and in a zip64 extra field
        assert struct.unpack_from("<H", data, at + 30 + name_len)[0] == 1 and extra_len == 20
        assert struct.unpack_from("<II", data, at + 18) == (size, size)
        return data[: at + 18] + struct.pack("<II", size - 100, size - 100) + data[at + 26 :]
    name = bytearray(data[at + 30 : at + 30 + name_len])
    name[-5] = ord("X") if name[-5] != ord("X") else ord("Y")
    return data[: at + 30] + bytes(name) + data[at + 30 + name_len :]


@pytest.mark.parametrize("how", ["size", "name"])
def test_a_local_header_that_lies_is_not_trusted(tmp_path, signed_pdf, demo_keys, hoso_fields, how):
    data = _lying(_built(tmp_path, signed_pdf, demo_keys, hoso_fields, "good"), how)
    roots = [demo_keys.ca_pem.read_bytes()]
    found, used = _early_verdict(tmp_path, data, roots)
    assert used == 0
    assert found == _verdict(tmp_path / "uploads" / "up.part", roots)
    if how == "name":  # zipfile refuses it: the fixity check says why, as without early jobs
        assert not all(ok for _, ok, _ in found[0])


def test_a_data_descriptor_stops_the_parser(tmp_path, signed_pdf, demo_keys, hoso_fields):
    """A zip written to a stream (sizes after the data): nothing is checked early, the verdict is the same."""
    good = _built(tmp_path, signed_pdf, demo_keys, hoso_fields, "good")

    class Stream:
        def __init__(self) -> None:
            self.out = bytearray()

        def write(self, b: bytes) -> int:
            self.out += b
            return len(b)

        def flush(self) -> None:
            pass

    stream = Stream()
    with zipfile.ZipFile(__import__("io").BytesIO(good)) as zin, zipfile.ZipFile(stream, "w") as zout:  # type: ignore[arg-type]
        for info in zin.infolist():
            with zin.open(info) as src, zout.open(zipfile.ZipInfo(info.filename, info.date_time), "w") as dst:
                dst.write(src.read())
    data = bytes(stream.out)
    roots = [demo_keys.ca_pem.read_bytes()]
    found, used = _early_verdict(tmp_path, data, roots)
    assert used == 0
    assert found == _verdict(tmp_path / "uploads" / "up.part", roots)


def test_state_is_bounded_and_gone_after_drop(tmp_path, signed_pdf, demo_keys, hoso_fields):
    data = _built(tmp_path, signed_pdf, demo_keys, hoso_fields, "good")
    roots = [demo_keys.ca_pem.read_bytes()]
    early = EarlyChecks(max_uploads=2)
    for n in range(3):
        part = tmp_path / "uploads" / f"up{n}.part"
        write_chunk(part, 0, data)
        early.after_write(f"up{n}", part, len(data), trust_roots=roots)
        assert early._uploads[f"up{n}"].entries  # the probe: each upload has its document seen
    assert sorted(early._uploads) == ["up1", "up2"]
    early.drop("up1")
    claim = early.claim("up2", tmp_path / "uploads" / "up2.part")
    assert claim is not None
    claim.close()
    assert not early._uploads


def test_through_the_api_the_upload_leaves_nothing_after_commit(archive_server, make_package, caplog):
    """A real upload in small chunks: the document's PDF is checked while it arrives, the package is
    accepted with the receipt of the normal path, and after the commit nothing of it is left here."""
    import logging

    from server.ingest import api
    from station.sync.client import SyncClient

    live, ctx = archive_server
    creds = ctx.db.add_station("tram-01")
    pkg = make_package()
    client = SyncClient(live.url, station_id=creds["station_id"], token=creds["token"], chunk_size=CHUNK)
    with caplog.at_level(logging.INFO, logger="sohoa.server.ingest"):
        receipt = client.send(pkg.path, sha256=pkg.sha256, size=pkg.size, manifest={})
    assert receipt.verdict == "accepted", receipt.reasons
    assert any(": 1 PDF jobs done while it arrived" in r.getMessage() for r in caplog.records)
    assert not api._early._uploads
    normal = run_checks(ctx.store.get(receipt.objid).path, trust_roots=ctx.ingest.trust_roots, expected_sheets=None)
    assert [(c.name, c.ok) for c in normal.checks] == [(c["name"], c["ok"]) for c in receipt.checks][
        : len(normal.checks)
    ]


def _arrived_in_one_chunk(tmp_path: Path, count: int, size: int) -> tuple[EarlyChecks, Path]:
    """A zip of `count` stored PDF members of `size` zero bytes, written as one chunk and seen arriving."""
    package = tmp_path / "many.zip"
    with zipfile.ZipFile(package, "w") as zf:
        for n in range(count):
            zf.writestr(f"p/doc-{n}.pdf", b"%PDF-1.7\n" + bytes(size), compress_type=zipfile.ZIP_STORED)
    data = package.read_bytes()
    early = EarlyChecks()
    part = tmp_path / "uploads" / "up.part"
    write_chunk(part, 0, data)
    early.after_write("up", part, len(data), trust_roots=[])
    return early, part


def test_at_most_two_jobs_per_worker_are_in_flight(tmp_path):
    """Twenty stored PDF members arrive in one chunk: only two jobs per worker start; the next chunk (or
    the commit) starts more once they are done."""
    early, part = _arrived_in_one_chunk(tmp_path, 20, 200_000)
    size = part.stat().st_size
    entries = early._uploads["up"].entries
    assert len(entries) == 20
    started = [e for e in entries if e.future is not None]
    assert len(started) == 2 * pdfwork.workers()
    for entry in started:
        entry.future.result(timeout=120)
    early.before_write("up", part, size)  # the next chunk would come here
    early.after_write("up", part, size, trust_roots=[])
    assert len([e for e in entries if e.future is not None]) == 4 * pdfwork.workers()
    early.drop("up")


def test_an_upload_left_alone_is_dropped(tmp_path, monkeypatch):
    early = EarlyChecks()
    for name in ("old", "new"):
        part = tmp_path / "uploads" / f"{name}.part"
        write_chunk(part, 0, b"PK\x03\x04 not yet a whole header")
        early.after_write(name, part, 30, trust_roots=[])
        if name == "old":
            later = time.monotonic() + early_module.MAX_AGE_S + 1
            monkeypatch.setattr(early_module.time, "monotonic", lambda later=later: later)
    assert list(early._uploads) == ["new"]
    early.drop("new")
