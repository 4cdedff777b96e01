"""Advertise the archive server on the LAN (zeroconf / DNS-SD) as `_sohoa._tcp`, so a station with no
configured address can find it; the operator then confirms what was found (station/discovery.py).

TXT records: `v` (1), `api` (the sync API's base URL), `broker_host`, `broker_port`, and `fp`, the SHA-256
fingerprint of the server's receipt-signing public key, which the station shows for confirmation and
checks against GET /api/v1/server-key before it trusts the address. Anyone on the LAN can advertise: the
fingerprint, confirmed once by a person, is what makes a discovered server trustworthy.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
from dataclasses import dataclass
from typing import Any, Protocol

from zeroconf import IPVersion, ServiceInfo, Zeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_sohoa._tcp.local."
TXT_VERSION = "1"


def key_fingerprint(public_key_pem: str) -> str:
    """`sha256:<hex>` of the DER public key inside a PEM (what stations compare)."""
    body = "".join(line for line in public_key_pem.strip().splitlines() if not line.startswith("-----"))
    return "sha256:" + hashlib.sha256(base64.b64decode(body)).hexdigest()


@dataclass(frozen=True)
class Advertisement:
    name: str  # instance name shown to the operator, e.g. "Lưu trữ tỉnh Đồng Nai"
    api_url: str
    api_port: int
    addresses: tuple[str, ...]  # IPv4 addresses the server answers on
    fingerprint: str
    broker_host: str = ""
    broker_port: int = 0

    def service_info(self) -> ServiceInfo:
        label = self.name.replace(".", " ")[:63]
        return ServiceInfo(
            SERVICE_TYPE,
            f"{label}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(a) for a in self.addresses],
            port=self.api_port,
            properties={"v": TXT_VERSION, "api": self.api_url, "broker_host": self.broker_host,
                        "broker_port": str(self.broker_port or ""), "fp": self.fingerprint},
            server=f"sohoa-{label.lower().replace(' ', '-')[:40]}.local.",
        )


class Advertiser:
    """Registers one advertisement; `start()` blocks ~1.6 s while zeroconf probes the name."""

    def __init__(self, ad: Advertisement, *, interfaces: list[str] | None = None):
        # interfaces: the addresses to multicast on; None = every interface (production).
        self.ad = ad
        self.interfaces = interfaces
        self._zc: Zeroconf | None = None
        self._info: ServiceInfo | None = None

    def start(self) -> None:
        if self._zc is not None:
            return
        kwargs: dict[str, Any] = {"interfaces": self.interfaces} if self.interfaces else {}
        self._zc = Zeroconf(ip_version=IPVersion.V4Only, **kwargs)
        self._info = self.ad.service_info()
        self._zc.register_service(self._info, allow_name_change=True)
        log.info("advertising %s at %s (%s)", self._info.name, self.ad.api_url, self.ad.fingerprint)

    def stop(self) -> None:
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            if self._info is not None:
                zc.unregister_service(self._info)
        finally:
            zc.close()

    def __enter__(self) -> Advertiser:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Context(Protocol):  # server/app.py's ServerContext (imported by the app: not importable here)
    config: Any
    public_key_pem: str


def advertiser_for(context: _Context, *, name: str, api_url: str, addresses: list[str],
                   broker_host: str | None = None, interfaces: list[str] | None = None) -> Advertiser:
    """An Advertiser from a ServerContext (server/app.py): API port, broker and key fingerprint from it."""
    from urllib.parse import urlsplit

    config = context.config
    parts = urlsplit(api_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ad = Advertisement(name=name, api_url=api_url, api_port=port, addresses=tuple(addresses),
                       fingerprint=key_fingerprint(context.public_key_pem),
                       broker_host=broker_host if broker_host is not None else config.broker_host,
                       broker_port=config.broker_port if (broker_host or config.broker_host) else 0)
    return Advertiser(ad, interfaces=interfaces)
