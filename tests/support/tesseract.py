"""Faults in a real loaded Tesseract (station.output.tessworker): a child that takes a page and dies."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import termios
import threading
import time

from station.output.tessworker import Engine


def stop_and_kill_when_asked(loaded: Engine) -> int:
    """Stop `loaded`'s child now (it stays alive, idle, and will never answer); kill it as soon as a page
    has been written to it, that is in the middle of the caller's ask. Returns the child's pid."""
    pid, pipe = loaded.proc.pid, loaded.proc.stdin
    assert pipe is not None
    os.kill(pid, signal.SIGSTOP)

    def kill_when_written() -> None:
        # FIONREAD on a pipe's write end: bytes written and not yet read by the (stopped) child. On a
        # deadline: a caller that never asks still gets its child killed, and the thread ends.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0" * 4))[0]:
                break
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)

    threading.Thread(target=kill_when_written, daemon=True).start()
    return pid
