"""A bounded pool of worker processes that processes captured pages in the background.

Capture calls `submit(page_id, frame=image)` and never waits: the frame it has in memory goes to a worker in
shared memory (see frames.py), so the PNG just written is not decoded again; without a frame (after a restart,
a manual turn, or with too many frames waiting) the worker reads the PNG. The operator's manual turn
(pages.rotation) goes into the derivative: after a turn, `submit(page_id)` again to remake it. Results are
written to the store per page; a page whose processing never finished (crash, power cut) has no
`processed_at` and is resubmitted on `start()`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

from protocol.i18n import N_
from station.processing.config import ProcessingConfig
from station.processing.frames import FrameBlocks, FrameRef, SharedFrame, open_frame
from station.processing.pipeline import derivative_suffix, flag, process_image, process_page

log = logging.getLogger(__name__)

Listener = Callable[[int, dict], None]
MAX_ATTEMPTS = 2  # a page that kills its worker twice is recorded as failed, not retried forever
FRAMES_PER_WORKER = 4  # frames held in shared memory per worker (26 MB each, A4 300 dpi colour); beyond: PNG


def _init_worker() -> None:
    # one core per Tesseract / OpenCV call: parallelism comes from the processes
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)


def _work(
    src: str,
    dpi: float,
    out_path: str,
    config: ProcessingConfig,
    manual_rotation: int = 0,
    frame: FrameRef | None = None,
) -> dict:
    """Process one page in a worker: from the shared frame when there is one, else from the PNG on disk."""
    image = None
    if frame is not None:
        try:
            image = open_frame(frame)
        except OSError as exc:  # released or never there: the file is the master anyway
            log.warning("shared frame %s unavailable (%s): reading %s", frame.name, exc, src)
    if image is None:
        result = process_page(
            Path(src), dpi=dpi, out_path=Path(out_path), config=config, manual_rotation=manual_rotation
        ).to_dict()
        result["input"] = "file"
        return result
    result = process_image(
        image, dpi=dpi, out_path=Path(out_path), config=config, manual_rotation=manual_rotation
    ).to_dict()
    result["input"] = "frame"
    return result


def derivative_name(page: dict, batch: dict, config: ProcessingConfig) -> Path:
    """derived/<batch uid>/<seq>[-r<turn>].<jpg|png>: a page reprocessed after the operator turned it gets
    a new name, so nothing cached under the old one (thumbnails) is shown for it."""
    turn = int(page.get("rotation") or 0) % 360
    stem = f"{int(page['seq']):05d}" + (f"-r{turn}" if turn else "")
    return Path("derived") / batch["uid"] / (stem + derivative_suffix(config))


class ProcessingPool:
    """Processes pages in `workers` processes; results go to `store.set_processing` and to listeners."""

    def __init__(
        self, store: Any, data_dir: Path, *, workers: int | None = None, config: ProcessingConfig | None = None
    ):
        self.store = store
        self.data_dir = Path(data_dir)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.config = config or ProcessingConfig()
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._listeners: list[Listener] = []
        self._lock = threading.Condition()
        self._pending: dict[int, int] = {}  # page id -> attempts started; queued or in flight
        self._frames: dict[int, SharedFrame] = {}  # page id -> its captured frame, until the page is done
        self.max_frames = self.workers * FRAMES_PER_WORKER
        self._blocks = FrameBlocks(keep=self.workers * 2)  # enough for the pages in flight
        self._slots = threading.Semaphore(self.workers * 2)  # bounded: at most this many in the executor
        self._executor: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- listeners ---------------------------------------------------------------------------------
    def add_listener(self, listener: Listener | Any) -> None:
        """A callable `(page_id, result_dict)`, or an object with `on_processed(page_id, result_dict)`."""
        self._listeners.append(getattr(listener, "on_processed", listener))

    def remove_listener(self, listener: Listener | Any) -> None:
        self._listeners.remove(getattr(listener, "on_processed", listener))

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._executor = self._new_executor()
        self._thread = threading.Thread(target=self._dispatch, name="processing-dispatch", daemon=True)
        self._thread.start()
        unfinished = self.store.unprocessed_pages()
        if unfinished:
            log.info("resubmitting %d page(s) whose processing never finished", len(unfinished))
        for row in unfinished:
            self.submit(int(row["id"]))

    def stop(self) -> None:
        """Stop taking work; pages not finished stay unprocessed in the store and are redone on start."""
        if self._thread is None:
            self._release_frames()
            return
        self._stopping.set()
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        with self._lock:
            self._pending.clear()
            self._lock.notify_all()
        self._release_frames()

    def _release_frames(self) -> None:
        with self._lock:
            frames, self._frames = list(self._frames.values()), {}
        for shared in frames:
            shared.release()
        self._blocks.close()

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the station process has threads (web, scanners) that fork would copy mid-flight
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
        )

    # -- work --------------------------------------------------------------------------------------
    def submit(self, page_id: int, frame: np.ndarray | None = None, *, rgb: bool = True) -> None:
        """Queue a page (non-blocking). A page already queued or in flight is not queued twice.

        `frame` is the page's captured image exactly as stored (RGB unless `rgb` is False): it is copied into
        shared memory for the worker. It is dropped (the worker reads the file) when `max_frames` are waiting.
        """
        with self._lock:
            if page_id in self._pending:
                return
            self._pending[page_id] = 0
            use_frame = frame is not None and len(self._frames) < self.max_frames
        if use_frame and frame is not None:
            try:
                shared = SharedFrame(frame, rgb=rgb, blocks=self._blocks)
            except (OSError, ValueError) as exc:  # /dev/shm full or an odd frame: the file will do
                log.warning("page %s goes to processing without its frame: %s", page_id, exc)
            else:
                with self._lock:
                    self._frames[page_id] = shared
        self._queue.put(page_id)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted page is done; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout=timeout)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _dispatch(self) -> None:
        while True:
            page_id = self._queue.get()
            if page_id is None or self._stopping.is_set():
                return
            try:
                self._start_page(page_id)
            except Exception:  # a bad row must not stop the dispatcher
                log.exception("cannot start processing page %s", page_id)
                self._done(page_id)

    def _start_page(self, page_id: int) -> None:
        page = self.store.page(page_id)
        batch = self.store.batch(page["batch_id"])
        rel = derivative_name(page, batch, self.config)
        src = self.data_dir / page["path"]
        self._slots.acquire()
        with self._lock:
            self._pending[page_id] = self._pending.get(page_id, 0) + 1
        executor = self._executor
        if executor is None or self._stopping.is_set():
            self._slots.release()
            return
        with self._lock:
            shared = self._frames.get(page_id)
        try:
            future = executor.submit(
                _work,
                str(src),
                float(page["dpi"]),
                str(self.data_dir / rel),
                self.config,
                int(page.get("rotation") or 0),
                shared.ref if shared is not None else None,
            )
        except (BrokenProcessPool, RuntimeError) as exc:  # the pool broke since the last page
            self._slots.release()
            self._retry_or_fail(page_id, page, exc, executor)
            return
        future.add_done_callback(lambda fut: self._finished(page_id, page, rel, fut, executor))

    def _finished(self, page_id: int, page: dict, rel: Path, future: Future, executor: ProcessPoolExecutor) -> None:
        self._slots.release()
        if future.cancelled() or self._stopping.is_set():
            return
        exc = future.exception()
        if isinstance(exc, BrokenProcessPool):
            self._retry_or_fail(page_id, page, exc, executor)
            return
        try:
            if exc is not None:
                log.error("processing page %s (%s) failed: %s", page_id, page["path"], exc)
                self._record_failure(page_id, page, exc)
                return
            result = future.result()
            result["derivative_path"] = rel.as_posix()
            self.store.set_processing(
                page_id,
                result=result,
                derivative_path=rel.as_posix(),
                derivative_sha256=result["derivative_sha256"],
                blank=result["blank"],
                flags=result["flags"],
            )
            self._notify(page_id, result)
        except Exception:
            log.exception("cannot record processing of page %s", page_id)
        finally:
            self._done(page_id)

    def _retry_or_fail(
        self, page_id: int, page: dict, exc: BaseException, broken_executor: ProcessPoolExecutor
    ) -> None:
        """A worker died (crash, out of memory): start a fresh pool and try the page again, once."""
        with self._lock:
            attempts = self._pending.get(page_id, 0)
            # every page in flight sees the same broken pool: replace it once
            if self._executor is broken_executor and not self._stopping.is_set():
                broken = self._executor
                self._executor = self._new_executor()
                broken.shutdown(wait=False, cancel_futures=False)
        if attempts < MAX_ATTEMPTS and not self._stopping.is_set():
            log.warning("worker died on page %s (attempt %d): %s; retrying", page_id, attempts, exc)
            self._queue.put(page_id)
            return
        try:
            self._record_failure(page_id, page, exc)
        finally:
            self._done(page_id)

    def _record_failure(self, page_id: int, page: dict, exc: BaseException) -> None:
        # the page goes on with its original as the derivative, flagged: never lost, never silently wrong
        flags = [
            flag(
                "processing_failed",
                N_("Image processing failed (%(exc)s): the page is kept as scanned; check it."), exc=str(exc),
            )
        ]
        result = {
            "error": str(exc),
            "derivative_path": page["path"],
            "derivative_sha256": page["sha256"],
            "blank": False,
            "flags": flags,
        }
        self.store.set_processing(
            page_id,
            result=result,
            derivative_path=page["path"],
            derivative_sha256=page["sha256"],
            blank=False,
            flags=flags,
        )
        self._notify(page_id, result)

    def _notify(self, page_id: int, result: dict) -> None:
        for listener in list(self._listeners):
            try:
                listener(page_id, result)
            except Exception:  # one broken listener must not stop the others
                log.exception("processing listener %r failed", listener)

    def _done(self, page_id: int) -> None:
        with self._lock:
            self._pending.pop(page_id, None)
            shared = self._frames.pop(page_id, None)
            self._lock.notify_all()
        if shared is not None:
            shared.release()
