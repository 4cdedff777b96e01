"""The station process: builds every part from the config, wires their listeners, starts and stops them.

Start order: store → SANE config → journal reconcile → processing pool → telemetry → sync worker → capture.
Stop in reverse. The parts share state only through the store and the page files.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from protocol.api import Receipt
from protocol.errors import UserError, say
from protocol.i18n import N_
from protocol.inputs import InputError
from station.config import StationConfig
from station.store import Batch, BatchState, Store

log = logging.getLogger("sohoa.station")


class Station:
    def __init__(self, config: StationConfig):
        from station.capture.journal import Journal
        from station.capture.saneenv import prepare_sane_config
        from station.capture.service import CaptureService
        from station.processing.worker import ProcessingPool

        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        prepare_sane_config(config.sane_dir, backends=tuple(config.sane_backends.split(",")))
        self.store = Store(config.db_path)
        self.journal = Journal(self.store, config.data_dir, image_format=config.capture_format,
                               min_free_mb=config.min_free_mb)
        self.capture = CaptureService(self.store, self.journal)
        self.pool = ProcessingPool(
            self.store, config.data_dir, workers=config.workers or None, config=config.processing
        )
        self.telemetry: Any = None
        self.sync: Any = None
        self.sync_client: Any = None
        self.discovered: list[dict] = []
        self.finishing: dict[int, str] = {}  # batch id -> step, for the UI
        self.last_error: dict[int, dict] = {}
        self._signer: Any = None

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        report = self.journal.reconcile()
        if not report.clean:
            log.warning("journal reconcile: %s", report)
        self._resume_interrupted()
        self.pool.add_listener(self._on_processed)
        self.pool.start()
        self._start_telemetry()
        self._start_sync()
        self.capture.add_listener(on_page=self._on_page, on_fault=self._on_fault, on_state=self._on_state,
                                  with_frame=True)

    def stop(self) -> None:
        self.capture.close()  # its event thread too: it holds the listeners, and through them the station
        if self.sync:
            self.sync.stop()
        if self.telemetry:
            self.telemetry.stop()
        self.pool.stop()

    def _resume_interrupted(self) -> None:
        # A batch that was finishing when the station died goes back to review: its output is rebuilt.
        for batch in self.store.batches():
            if batch["state"] == BatchState.FINISHING:
                self.store.transition(batch["id"], BatchState.REVIEW, actor="station", reason="restart")

    def _start_telemetry(self) -> None:
        cfg = self.config
        if not cfg.broker_host:
            return
        from station.telemetry import Telemetry

        self.telemetry = Telemetry(cfg.station_id, host=cfg.broker_host, port=cfg.broker_port,
                                   username=cfg.station_id, password=cfg.broker_password(), prefix=cfg.mqtt_prefix,
                                   tls_ca=str(cfg.broker_tls_ca) if cfg.broker_tls_ca else None,
                                   on_command=self._on_server_notice)
        self.telemetry.start()
        self._publish("set_state", scanner="idle")

    def _start_sync(self) -> None:
        cfg = self.config
        if not cfg.server_url and not cfg.discover:
            return
        if not cfg.server_url:
            from station.discovery import find_server

            # A configured address always wins; otherwise an address the admin confirmed earlier. Servers
            # merely discovered are shown for confirmation (status()["discovered"]), never used silently.
            choice = find_server(configured_url="", data_dir=cfg.data_dir, timeout=2.0)
            self.discovered = [c.to_dict() for c in choice.candidates]
            if choice.source != "confirmed":
                return
            cfg.server_url = choice.api_url
        from station.sync.client import SyncClient
        from station.sync.worker import SyncWorker

        self.sync_client = SyncClient(cfg.server_url, station_id=cfg.station_id, token=cfg.token(),
                                      verify=str(cfg.server_ca_file) if cfg.server_ca_file else True)
        from station.sync.rework import ReworkCache, refresh

        cache = ReworkCache(cfg.data_dir)
        self.sync = SyncWorker(self.store, self.sync_client, cfg.data_dir, interval=cfg.sync_interval,
                               on_receipt=self._on_receipt, before_pass=self.refresh_accounts,
                               rework=lambda: refresh(self.sync_client, cache))
        self.sync.start()

    def _on_server_notice(self, ref: Any, payload: Any) -> None:
        """A notice from the archive (MQTT): a rework decision or a receipt means a sync pass now, which fetches
        the rework list; MQTT only wakes the worker, the sync API carries the facts."""
        if self.sync and getattr(ref, "kind", None) in ("rework", "receipts", "commands"):
            self.sync.kick()

    def refresh_accounts(self) -> int:
        """Cache the operator accounts managed at the archive, so operators can log in while offline."""
        from station.auth import Accounts

        if not self.sync_client:
            return 0
        return Accounts(self.store).cache_accounts(self.sync_client.operators())

    def verify_operator(self, code: str, pin: str) -> dict | None:
        """The archive's check of an operator's PIN (station.auth.Accounts `online`): the account, None when
        refused; Offline when there is no archive or it cannot be reached."""
        from station.auth import AuthError, Offline
        from station.sync.client import SyncError

        if not self.sync_client:
            raise Offline("no archive server")
        try:
            return self.sync_client.verify_operator(code, pin)
        except SyncError as exc:
            if exc.status == 429:
                raise AuthError("login_blocked", N_("too many wrong PINs at the archive; wait")) from exc
            raise Offline(str(exc)) from exc

    def use_server(self, url: str) -> None:
        """Start syncing to a server an admin confirmed (discovery); a configured address is never replaced."""
        if self.sync:
            return
        self.config.server_url = url
        self._start_sync()

    # -- listeners (capture, processing, sync) -------------------------------------------------
    def _on_page(self, page: dict) -> None:
        # the captured frame, when capture hands it along with the row, spares the pool a PNG decode
        self.pool.submit(page["id"], frame=page.get("image"))
        self._progress(page["batch_id"])

    def _on_fault(self, fault: Any) -> None:
        self._event("fault", code=fault.code, **fault.said.as_dict())

    def _on_state(self, change: Any) -> None:
        scanner = {"SCANNING": "scanning", "STOPPING": "scanning", "FAULT": "fault"}.get(str(change.state), "idle")
        self._publish("set_state", scanner=scanner)

    def _on_processed(self, page_id: int, result: dict) -> None:
        for flag in result.get("flags") or []:
            self._event("qc_flag", code=flag.get("code"), message=flag.get("message"), msgid=flag.get("msgid"),
                        params=flag.get("params") or {}, page_id=page_id)
        row = self.store.one("SELECT batch_id FROM pages WHERE id = ?", (page_id,))
        if row:
            self._progress(row["batch_id"])

    def _on_receipt(self, batch: Batch, receipt: Receipt) -> None:
        state = BatchState.SYNCED if receipt.verdict == "accepted" else BatchState.REJECTED
        self._transition_event(batch, state, reasons=receipt.reasons, objid=receipt.objid)

    def _progress(self, batch_id: int) -> None:
        counts = self.store.one(
            "SELECT COUNT(*) AS captured, COUNT(processed_at) AS processed FROM pages WHERE batch_id = ?",
            (batch_id,))
        batch = self.store.batch(batch_id)
        assert counts is not None  # COUNT(*) always answers
        self._publish("progress", batch=batch["uid"], pages_captured=counts["captured"],
                      pages_processed=counts["processed"], queue_processing=self.pool.pending(),
                      queue_sync=len(self.store.outbox(states=("queued", "sending"))))

    def _transition_event(self, batch: Batch, state: BatchState, **data: Any) -> None:
        self._publish("set_state", batch=batch["uid"], batch_state=str(state), file_code=batch["file_code"],
                      fonds=batch["record"].get("fonds_code") or None)
        self._event("batch_transition", code=str(state), batch=batch["uid"], file_code=batch["file_code"], **data)

    def _publish(self, method: str, *args: Any, **fields: Any) -> None:
        if self.telemetry:
            try:
                getattr(self.telemetry, method)(*args, **fields)
            except Exception:  # telemetry never stops the station
                log.exception("telemetry %s failed", method)

    def _event(self, kind: str, **payload: Any) -> None:
        self._publish("event", kind, **payload)

    # -- actions the UI calls -------------------------------------------------------------------
    def open_batch(self, *, record: dict, expected_sheets: int | None, work_order_id: str | None,
                   operator: str) -> Batch:
        from dataclasses import MISSING, fields

        from protocol.metadata import FileRecord, MetadataError, Problem, check_file

        missing = [f.name for f in fields(FileRecord) if f.default is MISSING and f.name not in record]
        unknown = sorted(set(record) - {f.name for f in fields(FileRecord)})
        if missing or unknown:
            raise MetadataError([Problem(name, say(N_("%(field)s: required"), field=name)) for name in missing]
                                + [Problem(name, say(N_("%(field)s: unknown field"), field=name)) for name in unknown])
        hoso = FileRecord(**record)
        problems = [p for p in check_file(hoso) if not p.warning and p.field != "number_of_paper"]
        if problems:
            raise MetadataError(problems)
        batch = self.store.create_batch(file_code=hoso.file_code, record=hoso.to_dict(),
                                        expected_sheets=expected_sheets, work_order_id=work_order_id,
                                        operator=operator)
        self._publish("set_state", operator=operator)
        self._transition_event(batch, BatchState.OPEN)
        return batch

    def scan(self, batch_id: int, *, kind: str, options: dict, request: dict, actor: str) -> None:
        from station.capture.source import ScanRequest, open_source

        batch = self.store.batch(batch_id)
        if batch["state"] == BatchState.REVIEW:
            self.store.transition(batch_id, BatchState.OPEN, actor=actor, reason="scan more")
        elif batch["state"] != BatchState.OPEN:
            from station.store import StateError

            raise StateError(N_("batch %(batch_id)s is %(state)s: cannot scan into it"),
                             batch_id=batch_id, state=batch['state'])
        req = ScanRequest(**request)
        req.check()
        source = open_source(kind, **options)
        self.capture.start(batch_id, source, req, actor=actor)

    def wait_idle(self, timeout: float) -> bool:
        self.capture.wait(timeout=timeout)
        return str(self.capture.state) != "SCANNING"

    def to_review(self, batch_id: int, *, actor: str) -> None:
        self.store.transition(batch_id, BatchState.REVIEW, actor=actor)
        self._transition_event(self.store.batch(batch_id), BatchState.REVIEW)

    def set_documents(self, batch_id: int, documents: list[dict], *, actor: str) -> None:
        self.store.set_documents(batch_id, documents, actor=actor)

    def signer(self, pin: str | None = None) -> Any:
        """The signer, made once. `pin` (typed by the operator for a PKCS#11 token, never logged or stored)
        re-opens the token with it, so a wrong PIN always fails and the last good session is used after."""
        if pin is not None and self.config.pkcs11_module and self._signer is not None:
            self._signer.close()
            self._signer = None
        if self._signer is None:
            from station.output.signing import Signer

            cfg = self.config
            if cfg.pkcs11_module:
                if pin is None:
                    pin = cfg.pkcs11_pin_file.read_text().strip() if cfg.pkcs11_pin_file else ""
                self._signer = Signer.from_pkcs11(cfg.pkcs11_module, cfg.pkcs11_token, cfg.pkcs11_key, pin,
                                                 tsa_url=cfg.tsa_url or None)
            elif cfg.signing_p12:
                phrase = cfg.signing_passphrase_file.read_bytes().strip() if cfg.signing_passphrase_file else None
                self._signer = Signer.from_pkcs12(cfg.signing_p12, phrase, tsa_url=cfg.tsa_url or None)
            else:
                raise RuntimeError("no signing key configured (signing_p12 or pkcs11_module)")
        return self._signer

    def finish(self, batch_id: int, *, actor: str, background: bool = True) -> None:
        """OCR → PDF/A → sign → package → queue; in a thread unless told otherwise."""
        from station.finishing import Finisher

        self.store.batch(batch_id)  # an unknown batch is a 404 before anything else
        finisher = Finisher(self.store, self.config.data_dir, signer=self.signer(),
                            agency_name=self.config.agency_name, ocr_lang=self.config.ocr_lang,
                            workers=self.config.workers, package_kind=self.config.package_kind,
                            station_id=self.config.station_id,
                            on_progress=lambda step, info: self._finish_step(batch_id, step, info))

        def run() -> None:
            try:
                self._processed_for_finish(batch_id)
                result = finisher.finish(batch_id, actor=actor)
            except Exception as exc:
                log.exception("finishing batch %s failed", batch_id)
                said = exc.said if isinstance(exc, UserError) else say(
                    N_("Finishing failed: %(error)s. The hồ sơ is back in review; try again or tell the technician."),
                    error=str(exc))
                self.last_error[batch_id] = {**said.as_dict(), "message": str(exc)}
                self.finishing.pop(batch_id, None)
                self._event("fault", code="finish_failed", **self.last_error[batch_id])
                return
            self.finishing.pop(batch_id, None)
            self.last_error.pop(batch_id, None)
            self._transition_event(self.store.batch(batch_id), BatchState.SEALED, objid=result.objid,
                                   documents=result.documents, pages=result.pages)
            if self.sync:
                self.sync.kick()

        self.finishing[batch_id] = "start"
        if background:
            threading.Thread(target=run, name=f"finish-{batch_id}", daemon=True).start()
        else:
            run()

    def _processed_for_finish(self, batch_id: int, *, limit_s: float = 600.0) -> None:
        """In the finishing thread, never the HTTP request's: pages turned since processing are processed again
        and the pool drained, reporting the pages still waiting (step "start") about once a second."""
        import time

        self.refresh_derivatives(batch_id)
        deadline = time.monotonic() + limit_s
        while not self.pool.drain(timeout=1.0):
            if time.monotonic() > deadline:
                from station.finishing import FinishError

                raise FinishError(N_("page processing did not finish in time"))
            self._finish_step(batch_id, "start", {"batch": batch_id, "pages_waiting": self.pool.pending()})

    def refresh_derivatives(self, batch_id: int) -> int:
        """Reprocess pages the operator turned since their derivative was made; returns how many."""
        stale = [p["id"] for p in self.store.pages(batch_id)
                 if p["processing"] and p["rotation"] % 360 != (p["processing"].get("manual_rotation") or 0) % 360]
        for page_id in stale:
            self.pool.submit(page_id)
        return len(stale)

    def _finish_step(self, batch_id: int, step: str, info: dict) -> None:
        self.finishing[batch_id] = step
        self._event("info", code=f"finishing.{step}", **info)

    def status(self) -> dict:
        return {
            "station_id": self.config.station_id,
            "scanner": str(getattr(self.capture.state, "value", self.capture.state)),
            "telemetry": bool(self.telemetry),
            "server": self.config.server_url,
            "outbox": len(self.store.outbox(states=("queued", "sending"))),
            "discovered": self.discovered,
        }


def data_path(config: StationConfig, rel: str) -> Path:
    """Resolve a stored relative path; refuse anything that leaves the data folder."""
    root = config.data_dir.resolve()
    path = (root / rel).resolve()
    if root not in path.parents:
        raise InputError(N_("path outside the data folder: '%(rel)s'"), rel=rel)
    return path
