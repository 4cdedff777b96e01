"""Captured frames handed to the worker processes in shared memory, so the live path never decodes the PNG it
has just written (decoding an A4 300 dpi colour PNG costs 0.2–0.3 s of CPU, more than all the steps).

The PNG on disk stays the master: a worker that cannot open the frame (it was released, the station
restarted) reads the PNG instead. The station process creates and unlinks each block; workers only map it
(read-only, copy on write), so no block outlives the station and workers never register it anywhere.
A `FrameBlocks` keeps a few released blocks for the next frames: touching a fresh 26 MB block costs about
13 ms of page faults, a reused one about 5 ms for the copy alone.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory

import cv2
import numpy as np

log = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"  # where Linux keeps POSIX shared memory: workers map the block by its name


@dataclass(frozen=True)
class FrameRef:
    """What a worker needs to find a shared frame (picklable, a few bytes)."""

    name: str
    shape: tuple[int, ...]


class FrameBlocks:
    """Released blocks kept for reuse (at most `keep`); `close()` unlinks them all."""

    def __init__(self, keep: int):
        self.keep = keep
        self._free: list[SharedMemory] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> SharedMemory:
        with self._lock:
            for i, shm in enumerate(self._free):
                if size <= shm.size <= 2 * size:  # the same page format: reuse; never waste half a block
                    return self._free.pop(i)
        return new_block(size)

    def give_back(self, shm: SharedMemory) -> None:
        with self._lock:
            if len(self._free) < self.keep:
                self._free.append(shm)
                return
        _unlink(shm)

    def close(self) -> None:
        with self._lock:
            free, self._free = self._free, []
        for shm in free:
            _unlink(shm)


def new_block(size: int) -> SharedMemory:
    """A fresh block, only if /dev/shm has room for it twice over: writing into a tmpfs block that the
    filesystem cannot back kills the writer with SIGBUS, and the writer is the station."""
    st = os.statvfs(SHM_DIR)
    if st.f_bavail * st.f_frsize < 2 * size:
        raise OSError(f"not enough room in {SHM_DIR} for a {size} byte frame")
    return SharedMemory(create=True, size=max(1, size))


def _unlink(shm: SharedMemory) -> None:
    try:
        shm.close()
        shm.unlink()
    except FileNotFoundError:
        pass


class SharedFrame:
    """One frame copied into a shared memory block, BGR (the order the steps and OpenCV's encoders use)."""

    def __init__(self, image: np.ndarray, *, rgb: bool = True, blocks: FrameBlocks | None = None):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise ValueError(f"a frame must be uint8 grey or 3-channel, got {image.dtype} {image.shape}")
        self._blocks = blocks
        shm = blocks.take(image.nbytes) if blocks else new_block(image.nbytes)
        self._shm: SharedMemory | None = shm
        view = np.ndarray(image.shape, np.uint8, buffer=shm.buf)
        if image.ndim == 3 and rgb:
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR, dst=view)  # the copy and the channel swap in one pass
        else:
            view[...] = image
        del view  # no export may outlive close()
        self.ref = FrameRef(shm.name, tuple(image.shape))

    def release(self) -> None:
        """Free the block, or hand it back for reuse (idempotent). Only once no worker reads the frame."""
        shm, self._shm = self._shm, None
        if shm is None:
            return
        if self._blocks is not None:
            self._blocks.give_back(shm)
        else:
            _unlink(shm)


def open_frame(ref: FrameRef) -> np.ndarray:
    """The frame as a BGR (or grey) array, mapped copy-on-write; FileNotFoundError when it is gone."""
    fd = os.open(os.path.join(SHM_DIR, ref.name.lstrip("/")), os.O_RDONLY)
    try:
        size = int(np.prod(ref.shape))
        if os.fstat(fd).st_size < size:
            raise FileNotFoundError(f"shared frame {ref.name} is smaller than {ref.shape}")
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
    finally:
        os.close(fd)  # the mapping stays valid without the descriptor
    return np.ndarray(ref.shape, np.uint8, buffer=mapped)
