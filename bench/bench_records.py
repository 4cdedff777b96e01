"""The server's records: what the database work of one upload costs on SQLite and on PostgreSQL.

One "upload" is the records calls the sync API makes for a package sent in 4 chunks: open_upload, then per
chunk authenticate + upload + set_received, then the commit's authenticate + upload + finish_upload
(17 statements, 6 committed transactions). Run sequentially (latency) and from 8 threads on two records
objects, as two servers would (throughput, contention on the one database). Reports per upload: wall
clock, CPU of this process, and for PostgreSQL also the CPU of its server processes (read from
/proc/<backend pid>/stat), with the load average. BENCH_RECORDS_UPLOADS (default 400) sets the count;
PostgreSQL: a fresh database on SOHOA_TEST_PG (default the local socket), dropped afterwards.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHUNKS = 4
THREADS = 8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _backend_cpu(pids: set[int]) -> float:
    """CPU seconds (user + system) of PostgreSQL backend processes, from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _one_upload(db: Any, token: str, n: int) -> None:
    sha = uuid.uuid4().hex.upper() * 2
    row = db.open_upload(
        station_id="bench",
        sha256=sha,
        size=CHUNKS * 1000,
        file_code=f"F.{n}",
        batch_uid=None,
        work_order_id=None,
        expected_sheets=1,
    )
    for k in range(CHUNKS):
        assert db.authenticate("bench", token)
        db.upload(row["id"])
        db.set_received(row["id"], (k + 1) * 1000)
    assert db.authenticate("bench", token)
    db.upload(row["id"])
    assert db.finish_upload(row["id"], state="accepted", receipt={"upload_id": row["id"], "verdict": "accepted"})


def _pids(dbs: list[Any]) -> set[int]:
    pids: set[int] = set()
    for db in dbs:
        if db.dialect.name == "postgresql":
            pids |= {conn.raw.info.backend_pid for conn in db._opened if not conn.raw.closed}
    return pids


def _measure(dbs: list[Any], token: str, threads_n: int, per_thread: int) -> dict[str, Any]:
    """threads_n threads (alternating between the two records objects), per_thread uploads each."""
    # ready: connected; go: clocks started; done: work finished, but connections still open (a thread's
    # connection closes when it ends, and its backend's CPU time goes with the process).
    ready, go, done = (threading.Barrier(threads_n + 1) for _ in range(3))

    def work(i: int) -> None:
        db = dbs[i % 2]
        _one_upload(db, token, -1 - i)  # this thread's connection opens before the clocks start
        ready.wait()
        go.wait()
        for n in range(per_thread):
            _one_upload(db, token, i * 1_000_000 + n)
        done.wait()
        done.wait()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    ready.wait()
    pids = _pids(dbs)
    cpu0, server0, wall0 = time.process_time(), _backend_cpu(pids), time.perf_counter()
    go.wait()
    done.wait()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    server_cpu = _backend_cpu(pids) - server0
    done.wait()
    for t in threads:
        t.join()
    count = per_thread * threads_n
    return {
        "uploads": count,
        "wall_ms_per_upload": round(wall / count * 1000, 2),
        "uploads_per_s": round(count / wall, 1),
        "cpu_ms_per_upload": round(cpu / count * 1000, 2),
        "db_server_cpu_ms_per_upload": round(server_cpu / count * 1000, 2),
    }


def _run(target: str | Path, uploads: int) -> dict[str, Any]:
    from server.databases import open_server_db

    dbs = [open_server_db(target), open_server_db(target)]
    token = dbs[0].add_station("bench")["token"]
    results: dict[str, Any] = {}
    try:
        for mode, threads_n in (("sequential", 1), (f"{THREADS} threads", THREADS)):
            results[mode] = _measure(dbs, token, threads_n, uploads // threads_n)
    finally:
        for db in dbs:
            db.close()
    return results


def main() -> int:
    from tests.server.test_catalog_pg import pg_database

    uploads = int(os.environ.get("BENCH_RECORDS_UPLOADS", "400"))
    out: dict[str, Any] = {
        "bench": "records",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "chunks_per_upload": CHUNKS,
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
    }
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = _run(Path(tmp) / "server.db", uploads)
    with pg_database() as url:
        out["postgresql"] = _run(url, uploads)
    out["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(out, ensure_ascii=False))
    return 0
