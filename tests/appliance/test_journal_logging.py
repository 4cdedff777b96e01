"""Structured logs: to a real systemd-journald (a private namespace the test starts), the native protocol's
wire format checked against a socket the test binds, JSON lines, and secrets kept out of every record."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sohoa.logs import JournalHandler, SecretFilter, encode_fields, journal_available, setup_logging
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
JOURNALD = "/lib/systemd/systemd-journald"
PIN, TOKEN, PASSWORD = "482913", "tok-Zq8vN1xYw3", "mat-khau-bi-mat"


def parse_native(data: bytes) -> dict[str, str]:
    """The journal's native protocol, as documented: `NAME=value\\n`, or `NAME\\n` + le64 size + value + `\\n`."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            pos = end + 1
        else:
            name = line
            (size,) = struct.unpack("<Q", data[end + 1 : end + 9])
            value = data[end + 9 : end + 9 + size]
            assert data[end + 9 + size : end + 10 + size] == b"\n", "binary field must end with a newline"
            pos = end + 10 + size
        fields[name.decode()] = value.decode()
    return fields


@pytest.fixture
def journald() -> Iterator[tuple[str, str]]:
    """A real journald in its own namespace: (socket path, namespace). Removed with its files afterwards."""
    assert os.path.exists(JOURNALD), "systemd-journald is missing: apt-get install systemd"
    namespace = f"sohoa-t{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([JOURNALD, namespace], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sock = f"/run/systemd/journal.{namespace}/socket"
    try:
        def started() -> bool:
            assert proc.poll() is None, f"journald exited: {proc.stdout.read().decode(errors='replace')}"
            return os.path.exists(sock)

        wait_until(started, 10, "journald to create its socket", interval=0.02)
        yield sock, namespace
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(f"/run/systemd/journal.{namespace}", ignore_errors=True)
        machine = Path("/etc/machine-id").read_text().strip()
        for base in ("/var/log/journal", "/run/log/journal"):
            shutil.rmtree(f"{base}/{machine}.{namespace}", ignore_errors=True)


def _read_journal(namespace: str, identifier: str, count: int) -> list[dict]:
    def entries() -> list[dict]:
        out = subprocess.run(
            [
                "journalctl",
                f"--namespace={namespace}",
                "-o",
                "json",
                "--all",
                "--no-pager",
                f"SYSLOG_IDENTIFIER={identifier}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        found = [json.loads(line) for line in out.stdout.splitlines()]
        return found if len(found) >= count else []

    return wait_until(entries, 10, f"{count} journal entries of {identifier}", interval=0.1)


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    handler.addFilter(SecretFilter())
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def test_records_reach_a_real_journald_with_their_fields(journald):
    sock, namespace = journald
    identifier = f"sohoa-test-{uuid.uuid4().hex[:6]}"
    handler = JournalHandler(identifier=identifier, path=sock)
    log = _logger("sohoa.test.journal", handler)
    try:
        log.warning(
            "batch %d sealed, pin=%s",
            7,
            PIN,
            extra={"station_id": "tram-01", "batch": 7, "file_code": "H47.2001.5", "operator": "nv01"},
        )
        log.error("checks failed:\nfixity\nsignatures", extra={"package": "urn:x:uuid-1"})
        log.info("big " + "đ" * 200_000)  # 400 kB: more than one datagram, goes in a sealed memfd
    finally:
        handler.close()
    entries = _read_journal(namespace, identifier, 3)
    assert len(entries) == 3, entries
    first, second, big = entries
    assert first["MESSAGE"] == "batch 7 sealed, pin=***" and PIN not in json.dumps(entries)
    assert (first["PRIORITY"], first["STATION_ID"], first["BATCH"], first["FILE_CODE"], first["OPERATOR"]) == (
        "4",
        "tram-01",
        "7",
        "H47.2001.5",
        "nv01",
    )
    assert first["LOGGER"] == "sohoa.test.journal" and first["CODE_FILE"] == __file__
    assert first["CODE_FUNC"] == "test_records_reach_a_real_journald_with_their_fields" and int(first["CODE_LINE"]) > 0
    assert second["MESSAGE"] == "checks failed:\nfixity\nsignatures" and second["PRIORITY"] == "3"
    assert second["PACKAGE"] == "urn:x:uuid-1" and "STATION_ID" not in second
    assert big["MESSAGE"] == "big " + "đ" * 200_000


def test_wire_format_is_the_native_protocol(tmp_path: Path):
    path = str(tmp_path / "journal.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    handler = JournalHandler(identifier="sohoa-server", path=path)
    log = _logger("sohoa.test.wire", handler)
    try:
        log.info("Đồng Nai\nline two\x00nul", extra={"station_id": "tram-02", "batch": 3})
        fields = parse_native(server.recv(65536))
        log.debug("plain")
        plain = server.recv(65536)
        try:
            raise ValueError(f"bad token={TOKEN}")
        except ValueError:
            log.exception("sync failed")
        failed = parse_native(server.recv(65536))
    finally:
        handler.close()
        server.close()
    assert fields["MESSAGE"] == "Đồng Nai\nline two\x00nul" and fields["PRIORITY"] == "6"
    assert (fields["SYSLOG_IDENTIFIER"], fields["STATION_ID"], fields["BATCH"]) == ("sohoa-server", "tram-02", "3")
    assert b"MESSAGE=plain\n" in plain and b"PRIORITY=7\n" in plain
    assert failed["PRIORITY"] == "3" and "ValueError" in failed["EXCEPTION"] and TOKEN not in failed["EXCEPTION"]
    # Field names are upper case; values with newlines always go in the binary-safe form.
    assert encode_fields({"station-id": "a", "x": "1\n2"}) == b"STATION_ID=a\nX\n" + struct.pack("<Q", 3) + b"1\n2\n"


def test_secrets_never_reach_a_record(tmp_path: Path):
    out = tmp_path / "out.jsonl"
    handler = logging.FileHandler(out, encoding="utf-8")
    from sohoa.logs import JsonFormatter

    handler.setFormatter(JsonFormatter())
    log = _logger("sohoa.test.secrets", handler)
    log.info("operator login code=nv01 pin=%s", PIN)
    log.info("enrolled: %s", {"token": TOKEN, "mqtt_password": PASSWORD, "station_id": "tram-03"})
    log.warning("request headers Authorization: Bearer %s", TOKEN)
    log.info("config", extra={"signing_passphrase": PASSWORD, "station_id": "tram-03", "token": TOKEN})
    log.info('json body {"pin": "%s", "passphrase": "hai tu"}', PIN)
    try:
        raise RuntimeError(f"signer refused password={PASSWORD}")
    except RuntimeError:
        log.exception("signing failed")
    log.info("mapping=keep shipping: keep")  # words merely containing "pin" are not secrets
    handler.close()
    text = out.read_text(encoding="utf-8")
    for secret in (PIN, TOKEN, PASSWORD, "hai tu"):
        assert secret not in text, f"{secret!r} leaked into the log"
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 7, "no record may be dropped"
    assert lines[0]["message"] == "operator login code=nv01 pin=***"
    assert "'station_id': 'tram-03'" in lines[1]["message"] and lines[3]["station_id"] == "tram-03"
    assert lines[6]["message"] == "mapping=keep shipping: keep"


def test_cli_json_lines_and_journal_detection(tmp_path: Path, journald):
    config = tmp_path / "server.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sohoa.cli",
            "--log-format",
            "json",
            "server",
            "--config",
            str(config),
            "enroll-code",
            "tram-05",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr
    code = json.loads(run.stdout)["code"]
    records = [json.loads(line) for line in run.stderr.splitlines()]
    created = [r for r in records if r["logger"] == "sohoa.server.enrollment"]
    assert created and created[0]["level"] == "INFO" and "tram-05" in created[0]["message"]
    assert code not in run.stderr and code.replace("-", "") not in run.stderr
    # Under systemd, JOURNAL_STREAM names stderr's device:inode; anything else means stderr was redirected.
    sock, _ = journald
    with open(tmp_path / "stderr", "w") as stream:
        st = os.fstat(stream.fileno())
        assert journal_available({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stream=stream, socket_path=sock)
        assert not journal_available(
            {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, stream=stream, socket_path=sock
        )
        assert not journal_available({}, stream=stream, socket_path=sock)
        assert not journal_available(
            {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stream=stream, socket_path=str(tmp_path / "nothing")
        )
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    handler = setup_logging(fmt="journal", identifier="x", socket_path=sock)
    try:
        assert isinstance(handler, JournalHandler) and root.handlers == [*before, handler]
        assert setup_logging(fmt="text") is not handler and handler not in root.handlers  # replaced, not stacked
    finally:
        for h in [h for h in root.handlers if h.get_name() == "sohoa"]:
            root.removeHandler(h)
            h.close()
        root.setLevel(level)
    with pytest.raises(ValueError, match="log format"):
        setup_logging(fmt="xml")


def test_process_context_fields_fill_records_that_lack_them(tmp_path: Path):
    from sohoa.logs import set_context

    path = str(tmp_path / "journal.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    root = logging.getLogger()
    level = root.level
    setup_logging(fmt="journal", identifier="sohoa-station", socket_path=path)
    try:
        set_context(station_id="tram-09")  # what the station's serve() does with its config
        log = logging.getLogger("sohoa.test.context")
        log.warning("page stored", extra={"batch": 4})
        log.warning("from another station's data", extra={"station_id": "tram-02"})
        first, second = parse_native(server.recv(65536)), parse_native(server.recv(65536))
    finally:
        for h in [h for h in root.handlers if h.get_name() == "sohoa"]:
            root.removeHandler(h)
            h.close()
        root.setLevel(level)
        server.close()
    assert (first["STATION_ID"], first["BATCH"], first["SYSLOG_IDENTIFIER"]) == ("tram-09", "4", "sohoa-station")
    assert second["STATION_ID"] == "tram-02", "an explicit extra= wins over the process context"
