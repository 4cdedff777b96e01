"""Find the archive server on the LAN when the station has no configured address.

Order of trust: a configured `server_url` always wins (nothing is browsed); then a server the operator
confirmed earlier (saved in `<data>/discovered-server.json`); otherwise browse `_sohoa._tcp` and return
the candidates for a person to confirm, with the key fingerprint each one advertises. `verify()` checks a
candidate's advertised fingerprint against the key its API actually serves before it is saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

from protocol.durable import write_atomic

log = logging.getLogger(__name__)

SERVICE_TYPE = "_sohoa._tcp.local."
CONFIRMED_FILE = "discovered-server.json"


@dataclass(frozen=True)
class Candidate:
    name: str  # as advertised, e.g. "Lưu trữ tỉnh Đồng Nai"
    api_url: str
    fingerprint: str
    broker_host: str = ""
    broker_port: int = 0
    addresses: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ServerChoice:
    source: str  # configured | confirmed | discovered | none
    api_url: str = ""
    candidate: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def needs_confirmation(self) -> bool:
        return self.source in ("discovered", "none")


def _text(props: dict, key: str) -> str:
    value = props.get(key.encode())
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def browse(timeout: float = 3.0, *, interfaces: list[str] | None = None) -> list[Candidate]:
    """Every `_sohoa._tcp` server that answers within `timeout` seconds (interfaces: addresses to use)."""
    kwargs: dict[str, Any] = {"interfaces": interfaces} if interfaces else {}
    zc = Zeroconf(ip_version=IPVersion.V4Only, **kwargs)
    found: dict[str, Candidate] = {}
    lock = threading.Lock()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Added:
            return
        info = zeroconf.get_service_info(service_type, name, timeout=int(timeout * 1000))
        if info is None or _text(info.properties, "v") != "1":
            return
        api = _text(info.properties, "api")
        if not api.startswith(("http://", "https://")):
            return
        port = _text(info.properties, "broker_port")
        candidate = Candidate(name=name.removesuffix("." + SERVICE_TYPE), api_url=api,
                              fingerprint=_text(info.properties, "fp"),
                              broker_host=_text(info.properties, "broker_host"),
                              broker_port=int(port) if port.isdigit() else 0,
                              addresses=tuple(info.parsed_addresses()))
        with lock:
            found[name] = candidate

    browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
    try:
        time.sleep(timeout)
    finally:
        browser.cancel()
        zc.close()
    with lock:
        return sorted(found.values(), key=lambda c: c.name)


def key_fingerprint(public_key_pem: str) -> str:
    import base64

    body = "".join(line for line in public_key_pem.strip().splitlines() if not line.startswith("-----"))
    return "sha256:" + hashlib.sha256(base64.b64decode(body)).hexdigest()


def verify(candidate: Candidate, *, timeout: float = 5.0) -> bool:
    """True when the server at the candidate's API serves the public key whose fingerprint it advertised."""
    import requests

    from protocol import api

    try:
        resp = requests.get(candidate.api_url.rstrip("/") + api.SERVER_KEY, timeout=timeout)
        resp.raise_for_status()
        pem = resp.json()["ed25519_public_key"]
    except (requests.RequestException, ValueError, KeyError) as exc:
        log.warning("discovered server %s did not answer: %s", candidate.api_url, exc)
        return False
    return key_fingerprint(pem) == candidate.fingerprint


def confirm(data_dir: Path, candidate: Candidate) -> Path:
    """Remember the server a person confirmed; used from then on while no address is configured."""
    path = Path(data_dir) / CONFIRMED_FILE
    write_atomic(path, json.dumps(candidate.to_dict(), ensure_ascii=False, indent=2).encode())
    return path


def load_confirmed(data_dir: Path) -> Candidate | None:
    path = Path(data_dir) / CONFIRMED_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        raw["addresses"] = tuple(raw.get("addresses", ()))
        return Candidate(**raw)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None


def find_server(*, configured_url: str, data_dir: Path, timeout: float = 3.0,
                interfaces: list[str] | None = None) -> ServerChoice:
    """Which server to use: configured, else confirmed earlier, else the browsed candidates to confirm."""
    if configured_url:
        return ServerChoice("configured", configured_url)
    confirmed = load_confirmed(data_dir)
    if confirmed is not None:
        return ServerChoice("confirmed", confirmed.api_url, candidate=confirmed)
    candidates = browse(timeout, interfaces=interfaces)
    return ServerChoice("discovered" if candidates else "none", candidates=candidates)
