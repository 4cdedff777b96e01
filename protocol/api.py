"""The sync API between station and server: paths, headers, error codes, receipts.

Upload protocol (resumable, idempotent):
  1. POST   UPLOADS                         manifest {sha256, size, file_code, batch_uid, expected_sheets}
     -> 201 {upload_id, received}           the same station + sha256 always gets the same upload_id
  2. PUT    UPLOAD_CHUNK(upload_id, offset) body = bytes, header CHUNK_SHA256 -> {received}
     a chunk must start at `received` (resend after a cut is harmless: same bytes, same answer)
  3. POST   UPLOAD_COMMIT(upload_id)        -> {receipt}; the server verifies, stores, catalogues
     committing twice returns the same receipt
  4. GET    UPLOAD(upload_id)               -> {received, state, receipt?}  (resume after a crash)
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from typing import Any

API = "/api/v1"
UPLOADS = f"{API}/uploads"
WORKORDERS = f"{API}/workorders"
SERVER_KEY = f"{API}/server-key"
HEALTH = f"{API}/health"
REWORK = f"{API}/rework"  # the station's returned hồ sơ with their defects, and its accepted/archived ones
REWORK_PACKAGE = f"{API}/rework/package"  # ?objid=: the stored latest version of a returned hồ sơ
OPENAPI = f"{API}/openapi.yaml"  # the machine-readable contract (server/openapi.yaml)


def UPLOAD(upload_id: str) -> str:  # noqa: N802 - reads like the constant paths above
    return f"{UPLOADS}/{upload_id}"


def UPLOAD_CHUNK(upload_id: str, offset: int) -> str:  # noqa: N802
    return f"{UPLOADS}/{upload_id}/chunks/{offset}"


def UPLOAD_COMMIT(upload_id: str) -> str:  # noqa: N802
    return f"{UPLOADS}/{upload_id}/commit"


HEADER_STATION = "X-Sohoa-Station"
HEADER_PACKAGE_SHA256 = "X-Sohoa-Package-SHA256"  # on a package download: the stored version's hash
HEADER_CHUNK_SHA256 = "X-Sohoa-Chunk-SHA256"
AUTH_SCHEME = "Bearer"
CHUNK_SIZE = 4 * 1024 * 1024
MAX_PACKAGE_SIZE = 50 * 1024**3


class ErrorCode:
    """Stable machine-readable error codes in every error body {"error": CODE, "message": ...}."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    CHUNK_HASH = "chunk_hash_mismatch"
    OFFSET = "wrong_offset"
    TOO_LARGE = "too_large"
    INCOMPLETE = "incomplete_upload"
    PACKAGE_HASH = "package_hash_mismatch"
    DISK_FULL = "disk_full"
    BAD_PIN = "bad_pin"  # POST /api/v1/operators/verify: wrong operator code or PIN
    RATE_LIMITED = "rate_limited"  # too many wrong answers: retry after Retry-After seconds


@dataclass
class Receipt:
    """The server's verdict on one package, signed with the server's Ed25519 key."""

    upload_id: str
    station_id: str
    sha256: str
    verdict: str  # "accepted" | "rejected"
    objid: str | None
    file_code: str | None
    received_at: str
    reasons: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    stored_sha256: str | None = None
    signature: str = ""

    def payload(self) -> bytes:
        """The canonical bytes the signature covers (everything but the signature)."""
        data = asdict(self)
        data.pop("signature")
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class WorkOrder:
    """One hồ sơ to digitise, as the server offers it to a station (GET WORKORDERS): a row of the server's
    `workorders` table with its record decoded. Built from the row on the server, from the JSON on the
    station; `record` is the hồ sơ's metadata (protocol.metadata.FileRecord fields, maybe a `qc_profile`)."""

    id: str
    fonds_code: str
    file_code: str
    record: dict[str, Any]
    expected_sheets: int
    priority: int = 0
    station_id: str | None = None  # None: not assigned yet (offered to every station)
    state: str = ""
    created_at: str = ""
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkOrder:
        """From the JSON or a row (record decoded); unknown keys are ignored (a newer server may add some).
        ValueError says what is missing or of the wrong type."""
        kinds: dict[str, tuple[type, ...]] = {
            "id": (str,), "fonds_code": (str,), "file_code": (str,), "record": (dict,), "expected_sheets": (int,),
            "priority": (int,), "station_id": (str, type(None)), "state": (str,), "created_at": (str,),
            "updated_at": (str,),
        }
        values = {k: data[k] for k in kinds if k in data}
        for name in ("id", "fonds_code", "file_code", "record", "expected_sheets"):
            if name not in values:
                raise ValueError(f"work order without {name!r}")
        for name, value in values.items():
            if not isinstance(value, kinds[name]) or isinstance(value, bool):
                raise ValueError(f"work order {data.get('id')!r}: {name} is {type(value).__name__}")
        return cls(**values)


def sign_receipt(receipt: Receipt, private_key: Any) -> Receipt:
    """Sign with an Ed25519 private key (cryptography); returns the same receipt, signed."""
    receipt.signature = base64.b64encode(private_key.sign(receipt.payload())).decode()
    return receipt


def verify_receipt(receipt: Receipt, public_key: Any) -> bool:
    """True when the signature is the server's; never raises on a forged or damaged receipt."""
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(receipt.signature), receipt.payload())
    except (InvalidSignature, ValueError):
        return False
    return True
