"""The station's end of one scanner's child process (station/capture/sane_worker.py).

One `Link` per run: it starts the worker (exec'd through subprocess, never a fork of the threaded station),
sends one command at a time, and waits for the answer under a watchdog: any message, a heartbeat included,
is progress; none within `timeout` seconds and the worker is killed (SIGKILL) and `WorkerHung` raised. A
worker that dies (crash, segfault in a backend, kill -9) raises `WorkerDied`. Frames arrive in a memfd both
processes map; the message only says where and how big (a compact header, no pixels through the pipe).
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
#: How often a wait looks whether the worker process still exists (a forked backend helper could keep
#: the socket open after the worker itself died).
ALIVE_CHECK_S = 1.0


class WorkerHung(Exception):
    """The worker made no progress within the watchdog time and was killed."""


class WorkerDied(Exception):
    """The worker process ended without being asked to (crash, signal)."""


def worker_command(*args: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run sane_worker (the station's SANE_CONFIG_DIR included)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "station.capture.sane_worker", "--parent", str(os.getpid()), *args]
    return cmd, env


class Link:
    def __init__(self, device: str):
        self.device = device
        self.conn, child_conn = multiprocessing.Pipe(duplex=True)
        self.frames_fd = os.memfd_create(f"sohoa-frames-{device}")
        self._map: mmap.mmap | None = None
        self._map_size = 0
        cmd, env = worker_command(
            "--control", str(child_conn.fileno()), "--frames", str(self.frames_fd), "--device", device
        )
        try:
            self.proc = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(child_conn.fileno(), self.frames_fd),
            )
        except BaseException:
            self.conn.close()
            os.close(self.frames_fd)
            raise
        finally:
            child_conn.close()
        log.debug("SANE worker for %s started (pid %d)", device, self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    # -- commands ------------------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        try:
            self.conn.send(message)
        except OSError as exc:  # BrokenPipeError, ConnectionResetError: the worker is gone
            raise WorkerDied(self._died(f"could not send {message.get('op')!r}: {exc}")) from exc

    def recv(self, timeout: float) -> dict[str, Any]:
        """The next answer that is not a heartbeat; the watchdog restarts at every message."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerHung(f"no answer from the SANE worker of {self.device} for {timeout:.1f} s: killed")
            if self.conn.poll(min(remaining, ALIVE_CHECK_S)):
                try:
                    message = self.conn.recv()
                except (EOFError, OSError) as exc:
                    raise WorkerDied(self._died("its connection closed")) from exc
                if message.get("kind") == "progress":
                    deadline = time.monotonic() + timeout
                    continue
                return message
            if self.proc.poll() is not None:
                raise WorkerDied(self._died("the process is gone"))

    def call(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(message)
        return self.recv(timeout)

    # -- frames --------------------------------------------------------------------------------------
    def image(self, header: dict[str, Any]) -> np.ndarray:
        """Copy a frame out of the shared buffer as H x W x 3 uint8 (the worker reuses the buffer)."""
        if header["buffer"] > self._map_size:  # the worker grew the memfd: map the new size
            if self._map is not None:
                self._map.close()
            self._map = mmap.mmap(self.frames_fd, header["buffer"], prot=mmap.PROT_READ)
            self._map_size = header["buffer"]
        assert self._map is not None
        width, height, line = header["width"], header["height"], header["bytes_per_line"]
        rows = np.frombuffer(self._map, np.uint8, count=height * line).reshape(height, line)
        image = rows[:, : width * 3].copy().reshape(height, width, 3)  # one copy, padding dropped
        del rows  # a live view would keep the mapping from being closed or re-mapped
        return image

    # -- ending --------------------------------------------------------------------------------------
    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL works on a stopped or deadlocked process too
        self.proc.wait()

    def _died(self, how: str) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        return f"the SANE worker of {self.device} ended unexpectedly ({how}, exit status {code})"

    def close(self, grace: float) -> None:
        """Ask the worker to cancel, close the device and exit; kill it if it has not within `grace` s."""
        try:
            if self.proc.poll() is None:
                try:
                    self.call({"op": "close"}, grace)
                    self.proc.wait(grace)
                except (WorkerHung, WorkerDied, subprocess.TimeoutExpired) as exc:
                    log.warning("SANE worker of %s did not close cleanly (%s): killed", self.device, exc)
            self.kill()
        finally:
            self.conn.close()
            if self._map is not None:
                self._map.close()
                self._map = None
            os.close(self.frames_fd)
