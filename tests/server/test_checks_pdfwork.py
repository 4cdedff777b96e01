"""Each PDF opened once, in worker processes (server/checks/pdfwork.py), gives the receipt the checks gave
when each of them took the PDF out and opened it on its own.

The reference below is that earlier way, written out: take each document's PDF out of the zip, then
`protocol.pdfa_check.check_pdfa(path)`, `pikepdf.open(path)` for the page count and
`protocol.signatures.validate_pdf_signatures(path)`, each opening the file itself.
"""

from __future__ import annotations

import os
import random
import re
import zipfile
from pathlib import Path

import pikepdf
import pytest
from test_checks_signed import SIGNED_CORPUS, _package

from protocol import pdfa_check
from protocol.hashing import sha256_file
from protocol.package import read_package
from protocol.pdftext import pdf_text
from protocol.signatures import validate_pdf_signatures
from server.checks import pdfwork, run_checks
from server.checks.result import CheckResult
from tests.support.wait import wait_until


def _one_at_a_time(package: Path, roots: list[bytes], tmp: Path) -> dict[str, CheckResult]:
    """The PDF checks as they ran before pdfwork: every file opened by every check."""
    contents = read_package(package)
    pdfs: dict[str, Path] = {}
    with zipfile.ZipFile(package) as zf:
        for n, doc in enumerate(contents.documents, start=1):
            dest = tmp / f"doc-{n}.pdf"
            dest.write_bytes(zf.read(f"{contents.folder}/{doc.pdf_member}"))
            pdfs[doc.doc_id] = dest
    counts, pdfa, sigs = [], [], []
    for doc in contents.documents:
        try:
            with pikepdf.open(pdfs[doc.doc_id]) as pdf:
                if len(pdf.pages) != doc.page_count:
                    counts.append(f"{doc.doc_id}: numberOfPage is {doc.page_count} but the PDF has "
                                  f"{len(pdf.pages)} pages")
        except Exception as exc:  # noqa: BLE001 - as check_counts words it
            counts.append(f"{doc.doc_id}: PDF cannot be opened ({type(exc).__name__}: {exc})")
        pdfa += [f"{doc.doc_id}: {r}" for r in pdfa_check.check_pdfa(pdfs[doc.doc_id])]
        verdict = validate_pdf_signatures(pdfs[doc.doc_id], trust_roots=roots)
        sigs += [f"{doc.doc_id}: {r}" for r in verdict.reasons]
    return {"counts": counts, "pdfa": pdfa, "signatures": sigs}


def _same(text: str) -> str:
    return re.sub(r"/tmp/[^:]*?doc-(\d+)\.pdf", r"doc-\1.pdf", text)  # each way has its own private folder


def _garbage(data: bytes) -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nthis is not a PDF body\n%%EOF\n"


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _swap_pdf(package: Path, change) -> Path:
    """The package with its document's PDF bytes changed in the zip (a PDF build_package would refuse)."""
    out = package.with_name("changed.zip")
    with zipfile.ZipFile(package) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, change(data) if info.filename.endswith(".pdf") else data)
    return out


CASES = {
    "good": None,
    "garbage_pdf": "swap",
    "truncated_pdf": "swap",
    "signed_bytes_changed": SIGNED_CORPUS["signed_bytes_changed"][0],
    "not_pdfa": SIGNED_CORPUS["not_pdfa"][0],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_open_per_pdf_gives_the_same_receipt(tmp_path, signed_pdf, demo_keys, hoso_fields, case):
    make = CASES[case]
    unsigned = signed_pdf.parent / "unsigned.pdf"  # the PDF/A the session fixture signed
    pdf = signed_pdf if make in (None, "swap") else make(tmp_path, unsigned, demo_keys)
    package = _package(tmp_path, pdf, hoso_fields).path
    if make == "swap":
        change = _garbage if case == "garbage_pdf" else _truncated
        package = _swap_pdf(package, change)
        pdf = tmp_path / "changed.pdf"
        pdf.write_bytes(change(signed_pdf.read_bytes()))
    roots = [demo_keys.ca_pem.read_bytes()]
    verdict = run_checks(package, trust_roots=roots, expected_sheets=1, texts=True)
    by_name = {c.name: c for c in verdict.checks}
    reference = _one_at_a_time(package, roots, tmp_path)
    for name, reasons in reference.items():
        assert [_same(r) for r in by_name[name].reasons] == [_same(r) for r in reasons], (case, name)
        assert by_name[name].ok == (not reasons)
    assert verdict.ok == (case == "good"), [(c.name, c.reasons) for c in verdict.failures]
    # the text layer for the catalogue came out of the same pass, as pdftotext gives it on its own
    [(doc_id, text)] = verdict.texts.items()
    assert text == pdf_text(pdf)
    assert text.strip() or case in ("garbage_pdf", "truncated_pdf")


def test_the_work_runs_in_worker_processes_and_the_same_without_them(tmp_path, signed_pdf, demo_keys,
                                                                      hoso_fields):
    """With more than one core the documents are inspected in other processes; run here (no pool, as
    after a worker died) the receipt is the same."""
    from server.checks.context import Context
    from server.checks.result import Limits

    package = _package(tmp_path, signed_pdf, hoso_fields).path
    roots = [demo_keys.ca_pem.read_bytes()]
    pdfwork.warm()
    assert pdfwork.ready(timeout=120) is not None, "the worker processes did not start"
    ctx = Context(package, trust_roots=roots, expected_sheets=1, limits=Limits())
    try:
        ctx.start_pdf_work()
        [(_, job, _, _)] = ctx._work
        found = ctx.findings()
    finally:
        ctx.close()
    assert pdfwork.workers() > 1, "this machine has one core: the pool is not used"
    [(_, in_pool)] = found.items()
    here = pdfwork.inspect(pdfwork.Job(package, job.member, tmp_path / "here.pdf", roots))
    assert in_pool.worker != os.getpid() and here.worker == os.getpid()
    assert (in_pool.pdfa, in_pool.pages, in_pool.signature) == (here.pdfa, here.pages, here.signature)
    assert here.pages == 1 and here.signature.ok


def test_whole_file_scans_replaced_by_bounded_ones_answer_alike():
    """pdfa_check no longer copies or counts through a whole 25 MB file for the header, trailer and
    revision tests; the bounded forms agree with the plain ones on every shape of ending."""
    rnd = random.Random(15)
    pieces = [b"%%EOF", b"\n", b"\r\n", b" ", b"\t", b"%PDF-1.7", b"x" * 100, b" " * 5000, b"%%EO", b"F"]
    for _ in range(3000):
        raw = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12)))
        assert pdfa_check._rstrip_len(raw) == len(raw.rstrip())
        assert pdfa_check._rstrip_len(raw, b"\r\n") == len(raw.rstrip(b"\r\n"))
        assert pdfa_check._second_line(raw) == (raw.split(b"\n", 2)[1] if raw.count(b"\n") >= 2 else b"")
        end = pdfa_check._rstrip_len(raw)
        assert (raw[max(0, end - 5):end] == b"%%EOF") == raw.rstrip().endswith(b"%%EOF")
        last = raw.rfind(b"%%EOF")
        assert (last < 0 or raw.rfind(b"%%EOF", 0, last) < 0) == (raw.count(b"%%EOF") < 2)
        cut = rnd.randint(-len(raw) - 2, len(raw) + 2)
        assert (raw.rfind(b"%%EOF", 0, slice(cut).indices(len(raw))[1]) < 0) == (raw[:cut].count(b"%%EOF") < 1)


def _children(pid: int) -> set[int]:
    """The worker processes (multiprocessing's spawn) whose parent is `pid`."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid and b"spawn_main" in command:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_check_workers_leave_with_a_killed_server(server_process):
    """The server starts its check workers at start; kill -9 of the server takes them along, instead of
    leaving them orphaned for ever (which the first version did, once per crash)."""
    import signal

    server_process.start()
    workers = wait_until(lambda: (w := _children(server_process.proc.pid)) and len(w) >= pdfwork.workers() and w,
                         120, "the server to start its check workers")
    server_process.proc.send_signal(signal.SIGKILL)
    server_process.wait_dead()
    # a worker still importing (a loaded machine) leaves once it is up
    wait_until(lambda: not [w for w in workers if _alive(w)], 180, "check workers to leave with their server")


def test_text_is_read_from_a_copy_without_output_intents_and_is_the_same(tmp_path, signed_pdf):
    """pdftotext spends most of its time on colour transforms from the PDF/A output intent, which text never
    needs: it reads a copy whose last update drops it. The text is the same; the original is untouched."""
    before = signed_pdf.read_bytes()
    work = tmp_path / "doc.pdf"
    work.write_bytes(before)
    copy = pdfwork._text_source(work, pikepdf)
    assert copy != work and copy.read_bytes().startswith(before) and work.read_bytes() == before
    with pikepdf.open(copy) as pdf:
        assert "/OutputIntents" not in pdf.Root and len(pdf.pages) == 1
    with pikepdf.open(work) as pdf:
        assert "/OutputIntents" in pdf.Root
    assert pdf_text(copy) == pdf_text(work) and pdf_text(work).strip()
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\nnot a pdf")
    assert pdfwork._text_source(garbage, pikepdf) == garbage  # any doubt: the original


def test_fixity_takes_each_pdf_hash_from_the_pdf_work(tmp_path, signed_pdf, demo_keys, hoso_fields):
    """The PDF work hashes each PDF as it takes it out, so the fixity check does not read it again: the size
    and SHA-256 it hands over are the member's."""
    from server.checks.context import Context
    from server.checks.result import Limits

    package = _package(tmp_path, signed_pdf, hoso_fields).path
    ctx = Context(package, trust_roots=[demo_keys.ca_pem.read_bytes()], expected_sheets=1, limits=Limits())
    try:
        assert ctx.pdf_digests() == {}  # not started (a structural check alone): fixity reads the files itself
        ctx.start_pdf_work()
        digests = ctx.pdf_digests()
        [(member, (size, sha))] = digests.items()
        assert (size, sha) == ctx.need_source().sha256(member) == (signed_pdf.stat().st_size,
                                                                   sha256_file(signed_pdf))
    finally:
        ctx.close()
