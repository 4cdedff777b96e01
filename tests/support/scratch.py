"""A process owning a scratch folder (protocol.scratch), to kill in tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MAKE = (
    "import signal, sys, tempfile; tempfile.tempdir = sys.argv[1]\n"
    "from protocol.scratch import scratch_dir\n"
    "d = scratch_dir('check'); (d / 'doc-1.pdf').write_bytes(b'%PDF' * 1000); print(d, flush=True)\n"
    "signal.pause()  # until killed\n"
)


def scratch_owner(tmp: Path) -> tuple[subprocess.Popen, Path]:
    """A real process that made a scratch folder in `tmp` (holding a file) and sleeps: kill it to leave one."""
    proc = subprocess.Popen([sys.executable, "-c", MAKE, str(tmp)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    return proc, Path(proc.stdout.readline().strip())
