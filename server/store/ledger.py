"""The store's ledger: one JSON line per stored version, append-only, chained and signed.

Each line carries `seq` (1, 2, ...), `prev` (SHA-256 of the previous line's bytes, GENESIS for the first)
and, when the store has a signing key, `sig` (Ed25519 over the line without `sig`) and `key` (the signing
key's fingerprint; its public key is kept in `<store>/keys/<fingerprint>.pem`). Changing a line breaks its
signature and the next line's `prev`; removing a line breaks the chain; removing the tail leaves files the
ledger does not name, which fixity reports. Writers hold the store lock (PackageStore._lock).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.clock import iso_vn
from protocol.durable import fsync_dir, write_atomic

GENESIS = "0" * 64
TAIL = 1 << 16  # the last line is found in the file's last 64 KiB (a line is well under 1 KiB)


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _canonical(entry: dict) -> bytes:
    body = {k: v for k, v in entry.items() if k != "sig"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class LedgerRead:
    """What a ledger file holds: its valid entries, and every problem found in it (fixity findings)."""

    exists: bool = False
    entries: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    torn_tail: bytes = b""  # an unfinished last line (a crash mid-append): not an entry
    legacy: int = 0  # lines written before the chain (no seq/prev): upgraded at start-up


class Ledger:
    def __init__(self, path: Path, *, signing_key: Ed25519PrivateKey | None = None):
        self.path = Path(path)
        self.keys_dir = self.path.parent / "keys"
        self.key = signing_key
        self.key_id = ""
        if signing_key is not None:
            self.key_id = fingerprint(signing_key.public_key())
            pem_path = self.keys_dir / f"{self.key_id}.pem"
            if not pem_path.exists():  # publish the public key next to the ledger, for fixity to verify with
                self.keys_dir.mkdir(parents=True, exist_ok=True)
                pem = signing_key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                write_atomic(pem_path, pem)

    # -- writing (caller holds the store lock) -------------------------------------------------
    def _last(self) -> tuple[int, str]:
        """(seq, hash) of the last complete line; (0, GENESIS) for an empty ledger."""
        if not self.path.exists():
            return 0, GENESIS
        with open(self.path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL))
            tail = handle.read()
        lines = [x for x in tail.split(b"\n") if x.strip()]
        if not tail.endswith(b"\n") and lines:
            lines = lines[:-1]  # torn: repaired by recover_tail() at start-up, never chained onto
        if not lines:
            return 0, GENESIS
        try:
            seq = int(json.loads(lines[-1]).get("seq", 0))
        except (ValueError, AttributeError):
            seq = 0
        return seq, _line_hash(lines[-1])

    def append(self, entry: dict) -> dict:
        seq, prev = self._last()
        entry = {**entry, "seq": seq + 1, "prev": prev}
        if self.key is not None:
            entry["key"] = self.key_id
            entry["sig"] = self.key.sign(_canonical(entry)).hex()
        new = not self.path.exists()
        with open(self.path, "ab") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        if new:
            fsync_dir(self.path.parent)
        return entry

    def recover_tail(self) -> bytes:
        """Move an unfinished last line (a crash mid-append) aside, into ledger.torn-<time>; returns it."""
        read = self.read()
        if not read.torn_tail:
            return b""
        data = self.path.read_bytes()
        keep = data[: len(data) - len(read.torn_tail)]
        write_atomic(self.path.with_name(f"{self.path.name}.torn-{iso_vn().replace(':', '')}"), read.torn_tail)
        write_atomic(self.path, keep)
        return read.torn_tail

    def upgrade_legacy(self) -> int:
        """Chain a ledger written before lines were chained: the old file is kept as ledger.jsonl.pre-chain."""
        read = self.read()
        if not read.legacy:
            return 0
        old = self.path.with_name(self.path.name + ".pre-chain")
        os.replace(self.path, old)
        fsync_dir(self.path.parent)
        for entry in read.entries:
            self.append({k: v for k, v in entry.items() if k not in ("seq", "prev", "sig", "key")})
        return read.legacy

    # -- reading -------------------------------------------------------------------------------
    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        out: dict[str, Ed25519PublicKey] = {}
        if self.keys_dir.is_dir():
            for pem in self.keys_dir.glob("*.pem"):
                try:
                    key = serialization.load_pem_public_key(pem.read_bytes())
                except ValueError:
                    continue
                if isinstance(key, Ed25519PublicKey) and fingerprint(key) == pem.stem:
                    out[pem.stem] = key
        return out

    def read(self) -> LedgerRead:
        """Every line checked: JSON, chain, signature. A bad line is a problem, never silently skipped."""
        out = LedgerRead(exists=self.path.exists())
        if not out.exists:
            return out
        data = self.path.read_bytes()
        raw_lines = data.split(b"\n")
        if raw_lines and raw_lines[-1] == b"":
            raw_lines.pop()
        elif raw_lines:
            out.torn_tail = raw_lines.pop()
            out.problems.append(f"ledger: unfinished last line ({len(out.torn_tail)} bytes, a crash mid-append)")
        keys = self.public_keys()
        prev, expect_seq, chained = GENESIS, 1, False
        for number, line in enumerate(raw_lines, 1):
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or not {"objid", "version", "sha256", "path"} <= set(entry):
                    raise ValueError("not a ledger entry")
            except ValueError as exc:
                out.problems.append(f"ledger line {number}: unreadable ({exc})")
                prev, chained = _line_hash(line), True
                expect_seq += 1
                continue
            if "prev" not in entry and not chained:
                out.legacy += 1  # written before the chain existed
                out.entries.append(entry)
                continue
            chained = True
            chain, own = [], []  # a chain break blames the line before; `own` problems blame this line
            if entry.get("prev") != prev:
                chain.append("does not chain onto the line before (a line was changed or removed)")
            if entry.get("seq") != expect_seq:
                chain.append(f"sequence {entry.get('seq')} where {expect_seq} was expected")
            if "sig" in entry or keys:
                key = keys.get(str(entry.get("key", "")))
                if "sig" not in entry:
                    own.append("not signed")
                elif key is None:
                    own.append(f"signed by an unknown key {entry.get('key')!r}")
                else:
                    try:
                        key.verify(bytes.fromhex(str(entry["sig"])), _canonical(entry))
                    except (InvalidSignature, ValueError):
                        own.append("signature does not match (the line was changed)")
            if chain or own:
                out.problems.append(f"ledger line {number} ({entry.get('objid')} v{entry.get('version')}): "
                                    + "; ".join(own + chain))
            if not own:  # its own content is proven (or unsigned and well-formed): it still names its package
                out.entries.append(entry)
            prev = _line_hash(line)
            seq = entry.get("seq")
            expect_seq = (seq if isinstance(seq, int) else expect_seq) + 1
        return out


def premis_event(event_type: str, detail: str, outcome: str = "success") -> dict[str, Any]:
    """A PREMIS event (LoC event-type vocabulary) kept on the ledger line it concerns."""
    return {"eventType": event_type, "eventDateTime": iso_vn(), "eventDetail": detail, "eventOutcome": outcome}
