"""HTTP client for the sync API (protocol/api.py): manifest, resumable chunks, commit, signed receipt."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization

from protocol import api
from protocol.api import Receipt, verify_receipt

log = logging.getLogger("sohoa.station.sync")


class SyncError(Exception):
    """The upload did not finish; retry later. `retry` is False when retrying cannot help."""

    def __init__(self, message: str, *, retry: bool = True, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.retry = retry
        self.status = status  # HTTP status when the server answered, None when it was unreachable
        self.code = code  # the server's error code (protocol.api.ErrorCode)


class SyncClient:
    def __init__(self, base_url: str, *, station_id: str, token: str, timeout: float = 30.0,
                 chunk_size: int = api.CHUNK_SIZE, max_rate: float | None = None, verify: str | bool = True):
        """`max_rate` caps the upload in bytes per second (a shared office line must stay usable); `verify` is
        the pinned CA file of the server's HTTPS certificate (passed on every call: REQUESTS_CA_BUNDLE in the
        environment would silently override a session-wide setting)."""
        self.base_url = base_url.rstrip("/")
        self.station_id = station_id
        self.timeout = timeout
        self.chunk_size = chunk_size if not max_rate else max(1024, min(chunk_size, int(max_rate)))
        self.max_rate = max_rate
        self.verify = verify
        self.session = requests.Session()
        self.session.headers.update({api.HEADER_STATION: station_id, "Authorization": f"{api.AUTH_SCHEME} {token}"})
        self._server_key: Any = None

    def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        try:
            resp = self.session.request(method, self.base_url + path, timeout=self.timeout, verify=self.verify,
                                        **kwargs)
        except requests.RequestException as exc:
            raise SyncError(f"server unreachable: {exc}") from exc
        try:
            body = resp.json()
        except ValueError:
            body = {"error": "bad_response", "message": resp.text[:200]}
        if resp.status_code >= 400:
            retry = resp.status_code >= 500 or resp.status_code in (408, 409, 429)
            raise SyncError(f"{method} {path}: {resp.status_code} {body.get('error')}: {body.get('message')}",
                            retry=retry and resp.status_code != 401, status=resp.status_code,
                            code=str(body.get("error", "")))
        return body

    def server_key(self) -> Any:
        if self._server_key is None:
            pem = self._call("GET", api.SERVER_KEY)["ed25519_public_key"]
            self._server_key = serialization.load_pem_public_key(pem.encode())
        return self._server_key

    def operators(self) -> list[dict]:
        """Operator accounts managed at the archive: code, name, role, active (never a PIN hash)."""
        return self._call("GET", "/api/v1/operators")["operators"]

    def verify_operator(self, code: str, pin: str) -> dict | None:
        """The account when the archive accepts this PIN, None when it refuses it. SyncError when the archive
        cannot answer (unreachable, or it asks to wait: its `status` says which)."""
        try:
            return self._call("POST", "/api/v1/operators/verify", json={"code": code, "pin": pin})
        except SyncError as exc:
            if exc.status == 401 and exc.code == api.ErrorCode.BAD_PIN:
                return None
            raise

    def workorders(self) -> list[api.WorkOrder]:
        """The work orders the server offers this station; SyncError when its answer is not a list of them."""
        body = self._call("GET", api.WORKORDERS)
        try:
            return [api.WorkOrder.from_dict(w) for w in body["workorders"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise SyncError(f"work orders: the server's answer is malformed: {exc}") from exc

    def rework(self) -> dict:
        """{"rework": [...], "outcomes": [...]}: this station's hồ sơ returned by the archive, with defects, and
        those it accepted or archived (GET /api/v1/rework)."""
        body = self._call("GET", api.REWORK)
        if not isinstance(body.get("rework"), list) or not isinstance(body.get("outcomes"), list):
            raise SyncError("rework list: the server's answer has no rework/outcomes lists", retry=True)
        return body

    def rework_package(self, objid: str, dest_dir: Path) -> Path:
        """Download the stored latest version of a hồ sơ on this station's rework list (for a station that no
        longer has its pages) into `dest_dir`, checked against the hash the server states, written atomically.
        SyncError when it is not on the list (404) or the bytes do not match."""
        from protocol.durable import fsync_dir

        try:
            resp = self.session.get(self.base_url + api.REWORK_PACKAGE, params={"objid": objid}, stream=True,
                                    timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise SyncError(f"server unreachable: {exc}") from exc
        with resp:
            if resp.status_code != 200:
                raise SyncError(f"GET {api.REWORK_PACKAGE} {objid}: {resp.status_code}", status=resp.status_code,
                                retry=resp.status_code >= 500)
            want = resp.headers.get(api.HEADER_PACKAGE_SHA256, "").upper()
            dest_dir.mkdir(parents=True, exist_ok=True)
            final = dest_dir / f"{want}.zip"
            tmp = dest_dir / f".{want}.zip.part"
            digest = hashlib.sha256()
            with open(tmp, "wb") as out:
                for block in resp.iter_content(1 << 20):
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
        if len(want) != 64 or digest.hexdigest().upper() != want:
            tmp.unlink(missing_ok=True)
            raise SyncError(f"package {objid}: downloaded bytes do not match the stated SHA-256 {want!r}")
        os.replace(tmp, final)
        fsync_dir(dest_dir)
        return final

    def _upload(self, path: Path, upload_id: str, received: int, size: int) -> None:
        """Send the bytes from `received` on, at most `max_rate` bytes per second."""
        started, sent = time.monotonic(), 0
        with open(path, "rb") as handle:
            while received < size:
                handle.seek(received)
                chunk = handle.read(self.chunk_size)
                if not chunk:
                    raise SyncError(f"{path} is shorter than its manifest size {size}", retry=False)
                digest = hashlib.sha256(chunk).hexdigest().upper()
                try:
                    out = self._call("PUT", api.UPLOAD_CHUNK(upload_id, received), data=chunk,
                                     headers={api.HEADER_CHUNK_SHA256: digest})
                except SyncError as exc:
                    if exc.code != api.ErrorCode.OFFSET:
                        raise
                    out = self._call("GET", api.UPLOAD(upload_id))  # the server knows where to go on
                received = out.get("received", received + len(chunk))
                sent += len(chunk)
                if self.max_rate:
                    ahead = sent / self.max_rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)

    def send(self, path: Path, *, sha256: str, size: int, manifest: dict) -> Receipt:
        """Upload (or resume) one package and return the server's verified receipt."""
        status = self._call("POST", api.UPLOADS, json={"sha256": sha256, "size": size, **manifest})
        upload_id = status["upload_id"]
        if "receipt" not in status:
            self._upload(path, upload_id, status["received"], size)
            status = self._call("POST", api.UPLOAD_COMMIT(upload_id))
        if "receipt" not in status:  # expired at the server while it was away: the retry opens it again
            raise SyncError(f"upload {upload_id} is {status.get('state')} at the server: sending it again")
        receipt = Receipt.from_dict(status["receipt"])
        if not verify_receipt(receipt, self.server_key()):
            raise SyncError("receipt signature is not the server's: not trusting it")
        if receipt.sha256 != sha256 or receipt.station_id != self.station_id:
            raise SyncError("receipt is for another package")
        return receipt
