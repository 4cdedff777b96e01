"""The capture façade the UI and the CLI talk to: one scan thread per device, listeners for pages,
faults and state, and the journal between the scanner and everybody else.

Listeners are called on one event thread, in order, each isolated: a slow or broken listener can neither
stop capture nor slow the scanner. A page reaches listeners only after `Journal.record` returned.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from protocol.errors import Conflict
from protocol.i18n import N_
from station.capture.journal import Journal, JournalError
from station.capture.source import CaptureRefused, CaptureSource, ScanFault, ScanOutcome, ScanRequest
from station.store import BatchState, StateError, Store

log = logging.getLogger(__name__)

#: Frames a scan may run ahead of the journal (each A4 300 dpi frame is 26 MB in memory).
WRITE_AHEAD = 3


class CaptureState(StrEnum):
    IDLE = "IDLE"
    SCANNING = "SCANNING"
    STOPPING = "STOPPING"
    FAULT = "FAULT"  # the last run ended in a fault; the operator clears it or simply scans again


class CaptureBusy(Conflict, RuntimeError):
    """This device is already scanning (the UI answers 409)."""

    key = "busy"
    default = N_("The scanner is scanning. Wait for the current scan to end or press Stop.")


@dataclass
class _Run:
    device: str
    batch_id: int
    thread: threading.Thread
    stop: threading.Event
    outcome: ScanOutcome | None = None


@dataclass
class StateChange:
    """What `on_state` listeners receive; compares equal to the bare CaptureState for convenience."""

    device: str
    state: CaptureState
    batch_id: int | None = None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StateChange):
            return (self.device, self.state, self.batch_id) == (other.device, other.state, other.batch_id)
        return self.state == other


class CaptureService:
    def __init__(self, store: Store, journal: Journal):
        self.store = store
        self.journal = journal
        self._runs: dict[str, _Run] = {}
        self._states: dict[str, CaptureState] = {}
        self._faults: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._listeners: list[dict[str, Any]] = []
        self._events: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._dispatcher = threading.Thread(target=self._dispatch, name="capture-events", daemon=True)
        self._dispatcher.start()

    # -- listeners ---------------------------------------------------------------------------------
    def add_listener(self, *, on_page: Callable[[dict], None] | None = None,
                     on_fault: Callable[[Any], None] | None = None,
                     on_state: Callable[[StateChange], None] | None = None, with_frame: bool = False) -> None:
        """on_page(page_row) after the page is durable; on_fault(ScanFault | CaptureRefused | JournalError),
        each with .code, .message, .text(lang); on_state(StateChange).

        `with_frame=True`: the page row also carries the captured RGB array under "image" (the processing
        pool takes it from memory instead of decoding the PNG it was just written to). Only for listeners
        that ask, so nobody else keeps 26 MB frames alive."""
        entry: dict[str, Any] = {
            k: v for k, v in (("on_page", on_page), ("on_fault", on_fault), ("on_state", on_state)) if v
        }
        entry["with_frame"] = with_frame
        self._listeners.append(entry)

    def _emit(self, kind: str, payload: Any) -> None:
        self._events.put((kind, payload))

    def _dispatch(self) -> None:
        while True:
            item = self._events.get()
            try:
                if item is None:
                    return
                kind, payload = item
                frame = None
                if kind == "on_page":
                    payload, frame = payload
                for entry in list(self._listeners):
                    callback = entry.get(kind)
                    if callback is None:
                        continue
                    try:
                        if frame is not None and entry["with_frame"]:
                            callback({**payload, "image": frame})
                        else:
                            callback(payload)
                    except Exception:  # noqa: BLE001 - a broken listener must not stop the others
                        log.exception("capture listener %s failed", kind)
            finally:
                self._events.task_done()

    def flush(self) -> None:
        """Wait until every event so far has been delivered."""
        self._events.join()

    # -- state -------------------------------------------------------------------------------------
    @property
    def state(self) -> CaptureState:
        """The station's overall capture state: scanning if any device scans, else fault if any, else idle."""
        states = set(self._states.values())
        for candidate in (CaptureState.SCANNING, CaptureState.STOPPING, CaptureState.FAULT):
            if candidate in states:
                return candidate
        return CaptureState.IDLE

    @property
    def states(self) -> dict[str, CaptureState]:
        return dict(self._states)

    def fault(self, device: str) -> Any:
        return self._faults.get(device)

    def _set_state(self, device: str, state: CaptureState, batch_id: int | None) -> None:
        self._states[device] = state
        self._emit("on_state", StateChange(device, state, batch_id))

    def clear_fault(self, device: str) -> None:
        with self._lock:
            if self._states.get(device) == CaptureState.FAULT:
                self._faults.pop(device, None)
                self._set_state(device, CaptureState.IDLE, None)

    # -- runs --------------------------------------------------------------------------------------
    def start(self, batch_id: int, source: CaptureSource, request: ScanRequest, actor: str) -> None:
        """Start one run on `source` into `batch_id` (which must be OPEN); returns at once."""
        request.check()  # refused before any thread starts, so the caller gets the message directly
        self.journal.check_space()  # 'disk_full': refuse to start rather than stop after a page or two
        batch = self.store.batch(batch_id)
        if batch["state"] != BatchState.OPEN:
            raise StateError(N_("batch %(batch_id)s is %(state)s, not OPEN: reopen it to scan more"),
                             batch_id=batch_id, state=batch['state'])
        with self._lock:
            run = self._runs.get(source.id)
            if run and run.thread.is_alive():
                raise CaptureBusy(N_("%(id)s is already scanning"), id=source.id)
            self._faults.pop(source.id, None)
            stop = threading.Event()
            thread = threading.Thread(target=self._run, args=(source, batch_id, request, actor, stop),
                                      name=f"capture-{source.id}", daemon=True)
            self._runs[source.id] = _Run(source.id, batch_id, thread, stop)
            self._set_state(source.id, CaptureState.SCANNING, batch_id)
        self.store.audit(actor, "capture.start", batch_id, device=source.id, source=request.source,
                         dpi=request.dpi, page_size=request.page_size)
        thread.start()

    def stop(self, device: str | None = None) -> None:
        """Ask runs to stop after the page in hand (that page is still kept)."""
        for run in list(self._runs.values()):
            if device in (None, run.device) and run.thread.is_alive():
                run.stop.set()
                self._set_state(run.device, CaptureState.STOPPING, run.batch_id)

    def wait(self, device: str | None = None, timeout: float | None = None) -> ScanOutcome | None:
        """Join the run(s) and deliver pending events; the last outcome of `device` (or of any)."""
        outcome = None
        for run in list(self._runs.values()):
            if device in (None, run.device):
                run.thread.join(timeout)
                outcome = run.outcome
        self.flush()
        return outcome

    def outcome(self, device: str) -> ScanOutcome | None:
        run = self._runs.get(device)
        return run.outcome if run else None

    def _run(self, source: CaptureSource, batch_id: int, request: ScanRequest, actor: str,
             stop: threading.Event) -> None:
        device = source.id
        # The scan thread hands frames to a journal writer through a short queue, so the scanner feeds the
        # next sheet while the last one is encoded and fsynced; listeners still hear only of durable pages.
        pending: queue.Queue[Any] = queue.Queue(maxsize=WRITE_AHEAD)
        failure: list[Exception] = []
        low_space: list[CaptureRefused] = []
        written = [0]

        def writer() -> None:
            while (captured := pending.get()) is not None:
                if failure:
                    continue  # the journal failed: drain, the run is stopping
                try:
                    row = self.journal.record(batch_id, captured, actor=actor)
                except CaptureRefused as exc:  # disk_full at the floor: this page was not written
                    log.error("page not stored on %s: %s", device, exc.message)
                    failure.append(exc)
                    stop.set()
                    continue
                except Exception as exc:  # noqa: BLE001 - reported as the run's problem
                    log.exception("journal failed on %s", device)
                    failure.append(exc if isinstance(exc, JournalError) else JournalError(str(exc)))
                    stop.set()
                    continue
                written[0] += 1
                self._emit("on_page", (row, captured.image))
                # Below the threshold: stop feeding sheets, but frames already scanned are still written
                # (the threshold leaves room for them), so no sheet that went through the feeder is lost.
                if not low_space and (problem := self.journal.space_problem()) is not None:
                    log.warning("stopping capture on %s: %s", device, problem.message)
                    low_space.append(problem)
                    stop.set()

        def on_page(captured: Any) -> None:
            if failure:
                raise failure[0]
            pending.put(captured)

        journal_thread = threading.Thread(target=writer, name=f"journal-{device}", daemon=True)
        journal_thread.start()
        outcome: ScanOutcome | None = None
        problem: Any = None
        try:
            outcome = source.scan(request, on_page=on_page, stop=stop)
            problem = outcome.fault
        except (CaptureRefused, JournalError, ScanFault) as exc:
            problem = exc
        except Exception as exc:  # noqa: BLE001 - the station outlives any scanner bug
            log.exception("capture on %s failed", device)
            problem = ScanFault("io_error", str(exc), device=device)
        finally:
            pending.put(None)
            journal_thread.join()
        if failure:
            problem = failure[0]
        elif low_space and problem is None:
            problem = low_space[0]
        if outcome is None or failure or low_space:
            outcome = ScanOutcome(written[0], "fault", problem if isinstance(problem, ScanFault) else None)
        outcome.pages = written[0]  # pages made durable, whatever the source counted
        if problem is not None and outcome.fault is None and isinstance(problem, ScanFault):
            outcome.fault = problem
        run = self._runs[device]
        run.outcome = outcome
        if problem is not None:
            log.warning("capture on %s ended with %s: %s", device, problem.code, problem.message)
            self._audit(actor, "capture.fault", batch_id, device=device, code=problem.code,
                        message=problem.message, pages=outcome.pages)
            with self._lock:
                self._faults[device] = problem
                self._set_state(device, CaptureState.FAULT, batch_id)
            self._emit("on_fault", problem)
        else:
            self._audit(actor, "capture.end", batch_id, device=device, ended=outcome.ended, pages=outcome.pages)
            with self._lock:
                self._set_state(device, CaptureState.IDLE, batch_id)

    def _audit(self, actor: str, action: str, batch_id: int, **detail: Any) -> None:
        try:
            self.store.audit(actor, action, batch_id, **detail)
        except Exception:  # noqa: BLE001 - a full disk must not leave the device stuck in SCANNING
            log.exception("could not write audit row %s", action)

    def close(self) -> None:
        self.stop()
        self.wait(timeout=30)
        self._events.put(None)
        self._dispatcher.join(timeout=10)
