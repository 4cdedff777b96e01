"""Give a station its identity: redeem an enrollment code at the server, store the secrets, write settings.

Files under `data_dir/secrets` (folder 0700, files 0600): `token`, `mqtt-password`, `server-key.pem` (the
server's receipt key, pinned), `server-ca.pem` (the CA of the server's HTTPS certificate, when it has one).
`data_dir/enrollment.toml` holds the station.toml settings that point at them; `update_station_toml` merges
them into an existing station.toml.

Trust on first contact: over HTTPS the request is verified with `ca_file` (the archive's ca.crt, whose
fingerprint the admin's page shows) or the system's CAs; a CA the server returns must match `ca_file`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from protocol.durable import write_atomic
from protocol.errors import UserError
from protocol.i18n import N_

ENROLL_PATH = "/api/v1/enroll"
FRAGMENT_NAME = "enrollment.toml"


class EnrollError(UserError):
    """Enrollment failed; the installer sees the message (English on the command line)."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "", **params: Any):
        super().__init__(message, status=status, **params)
        self.code = code


def _write_secret(path: Path, text: str) -> None:
    old = os.umask(0o077)  # never readable by others, not even between create and chmod
    try:
        write_atomic(path, text.encode())
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def _fingerprint(pem: bytes) -> str:
    # The same form as the admin's page and `openssl x509 -fingerprint -sha256` show.
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex(":").upper()


def _toml_value(value: Any) -> str:
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def fragment_text(values: dict[str, Any]) -> str:
    lines = ["# Written by `sohoa station-enroll`: merge into /etc/sohoa/station.toml (secrets stay in files)."]
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def update_station_toml(path: Path, values: dict[str, Any]) -> None:
    """Set top-level `key = "value"` lines in a station.toml, keeping every other line as it was."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    todo = dict(values)
    first_table = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), len(lines))
    for i, line in enumerate(lines[:first_table]):
        match = re.match(r"\s*([A-Za-z0-9_]+)\s*=", line)
        if match and match.group(1) in todo:
            lines[i] = f"{match.group(1)} = {_toml_value(todo.pop(match.group(1)))}"
    lines[first_table:first_table] = [f"{k} = {_toml_value(v)}" for k, v in todo.items()]
    write_atomic(path, ("\n".join(lines) + "\n").encode())


def enroll(server_url: str, code: str, data_dir: str | Path, *, ca_file: str | Path | None = None,
           station_id: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Redeem `code` at `server_url`; store the secrets under `data_dir`; return what was written.

    Returns {station_id, files: {...}, settings: {...}, fragment: toml text, fragment_path, ca_sha256}.
    """
    base = server_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise EnrollError(N_("server URL must start with http:// or https://: '%(server_url)s'"), server_url=server_url)
    pinned_pem = Path(ca_file).read_bytes() if ca_file else None
    verify: str | bool = str(Path(ca_file).resolve()) if ca_file else True
    try:
        resp = requests.post(base + ENROLL_PATH, json={"code": code, "station_id": station_id},
                             timeout=timeout, verify=verify)
    except requests.exceptions.SSLError as exc:
        raise EnrollError(N_("the server's certificate is not trusted: %(exc)s; pass --ca with the archive's CA"),
                          exc=exc
                          ) from exc
    except requests.RequestException as exc:
        raise EnrollError(N_("server unreachable: %(exc)s"), exc=exc) from exc
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200:
        raise EnrollError(N_("The server refused the enrollment: %(status_code)s %(error)s: %(reason)s"),
                          status_code=resp.status_code, error=body.get("error"), reason=body.get("message"),
                          status=resp.status_code, code=str(body.get("error", "")))
    for key in ("station_id", "token", "mqtt_password", "server_key_pem"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise EnrollError(N_("server answer lacks %(field)s"), field=key)
    ca_pem = body.get("tls_ca_pem", "").encode() or None
    if pinned_pem is not None and ca_pem is not None and _fingerprint(pinned_pem) != _fingerprint(ca_pem):
        raise EnrollError(N_("the server names a different CA than --ca: nothing stored"))
    ca_pem = ca_pem or pinned_pem

    data_dir = Path(data_dir)
    secrets_dir = data_dir / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(secrets_dir, 0o700)
    files = {"token": secrets_dir / "token", "mqtt_password": secrets_dir / "mqtt-password",
             "server_key": secrets_dir / "server-key.pem"}
    _write_secret(files["token"], body["token"] + "\n")
    _write_secret(files["mqtt_password"], body["mqtt_password"] + "\n")
    _write_secret(files["server_key"], body["server_key_pem"])
    settings: dict[str, Any] = {"station_id": body["station_id"], "server_url": base,
                                "token_file": str(files["token"]),
                                "broker_password_file": str(files["mqtt_password"])}
    if body.get("mqtt_prefix"):
        settings["mqtt_prefix"] = body["mqtt_prefix"]
    if ca_pem is not None:
        files["server_ca"] = secrets_dir / "server-ca.pem"
        _write_secret(files["server_ca"], ca_pem.decode())
        settings["server_ca_file"] = str(files["server_ca"])
    fragment = fragment_text(settings)
    fragment_path = data_dir / FRAGMENT_NAME
    write_atomic(fragment_path, fragment.encode())
    return {"station_id": body["station_id"], "files": {k: str(v) for k, v in files.items()}, "settings": settings,
            "fragment": fragment, "fragment_path": str(fragment_path),
            "ca_sha256": _fingerprint(ca_pem) if ca_pem else None}
