"""`sohoa config check` for the broker settings of server.toml: `broker_files_dir` and `broker_pid_file`.

The running server re-renders mosquitto's `passwd` and `acl` into `broker_files_dir` on every enrol/revoke
(server.mqtt.broker.accounts_sync_for), then SIGHUPs the PID in `broker_pid_file`, or leaves the reload to
sohoa-broker-reload.path. Each check here names a way that chain silently stops reaching the broker.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import Any

from protocol.i18n import N_
from sohoa.appliance.problems import Problem, _err, _warn

SERVICE_USER = "sohoa"  # User= of sohoa-server.service
CREATE_DIR = "install -d -m 2750 -o sohoa -g mosquitto"


def broker_checks(cfg: Any, *, service_user: str = SERVICE_USER) -> list[Problem]:
    """Every problem of the broker account settings (none when the server does not manage the broker)."""
    folder, pid_file = cfg.broker_files_dir, cfg.broker_pid_file
    p: list[Problem] = []
    if pid_file and not folder:
        p.append(
            _err(
                "broker_pid_file",
                N_("is set but broker_files_dir is not: nothing is rendered, nothing to reload"),
            )
        )
    if not folder:
        return p
    if not cfg.broker_password_file:  # accounts_sync_for refuses to start the server then
        p.append(
            _err(
                "broker_password_file",
                N_("broker_files_dir is set but broker_password_file (the server's own MQTT account) is not: the "
                   "server will not start"),
            )
        )
    dir_problems = _files_dir(Path(folder), service_user)
    p += dir_problems
    if not dir_problems:
        p += _mosquitto_conf(Path(folder))
    if pid_file:
        p += _pid_file(Path(pid_file))
    return p


def _files_dir(folder: Path, service_user: str) -> list[Problem]:
    key = "broker_files_dir"
    if not folder.is_absolute():
        return [_err(key, N_("%(folder)s must be an absolute path"), folder=folder)]
    if not folder.is_dir():
        return [
            _err(
                key,
                N_("folder %(folder)s does not exist: sudo %(create_dir)s %(folder)s"),
                folder=folder, create_dir=CREATE_DIR,
            )
        ]
    user = _service_identity(service_user)
    if not _can_write(folder, user):
        who = user[0] if user else "this user"
        return [
            _err(
                key,
                N_("folder %(folder)s is not writable by %(who)s: revoked stations would keep their MQTT login "
                   "(sudo %(create_dir)s %(folder)s)"), folder=folder, who=who, create_dir=CREATE_DIR,
            )
        ]
    return []


def _service_identity(service_user: str) -> tuple[str, int, set[int]] | None:
    """Whom to check the folder for: this process, unless root (the units run the check as the service user,
    an admin runs it with sudo), then the service user. None: this process (os.access answers)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(service_user)
    except KeyError:
        return None
    return service_user, entry.pw_uid, set(os.getgrouplist(service_user, entry.pw_gid))


def _can_write(folder: Path, user: tuple[str, int, set[int]] | None) -> bool:
    if user is None:
        return os.access(folder, os.W_OK | os.X_OK)
    _, uid, gids = user
    info = folder.stat()
    if info.st_uid == uid:
        need = stat.S_IWUSR | stat.S_IXUSR
    elif info.st_gid in gids:
        need = stat.S_IWGRP | stat.S_IXGRP
    else:
        need = stat.S_IWOTH | stat.S_IXOTH
    return info.st_mode & need == need


def _conf_lines(conf: Path, seen: set[Path]) -> list[tuple[str, str]]:
    """(option, value) pairs of a mosquitto config, following include_dir (its *.conf files, sorted)."""
    if conf in seen:
        return []
    seen.add(conf)
    pairs = []
    for raw in conf.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        option, _, value = line.partition(" ")
        value = value.strip()
        if option == "include_dir" and Path(value).is_dir():
            for included in sorted(Path(value).glob("*.conf")):
                pairs += _conf_lines(included.resolve(), seen)
        else:
            pairs.append((option, value))
    return pairs


def _mosquitto_conf(folder: Path) -> list[Problem]:
    """The broker unit runs `mosquitto -c <folder>/mosquitto.conf`: it must read the files the server renders."""
    key = "broker_files_dir"
    conf = folder / "mosquitto.conf"
    if not conf.exists():
        return [
            _warn(
                key,
                N_("%(conf)s does not exist: sohoa-mosquitto.service will not start (render it, docs/mqtt.md)"),
                conf=conf,
            )
        ]
    try:
        pairs = _conf_lines(conf.resolve(), set())
    except OSError:
        return []  # not readable by this user (the broker's own file): nothing to say about it
    problems = []
    for option, name in (("password_file", "passwd"), ("acl_file", "acl")):
        want = (folder / name).resolve()
        values = [Path(v) for o, v in pairs if o == option]
        if not values or any(v.resolve() != want for v in values):
            found = ", ".join(map(str, values)) or "none"
            problems.append(
                _err(
                    key,
                    N_("%(conf)s does not read the rendered %(name)s: %(option)s is %(found)s, not %(want)s "
                       "(revocation would not reach the broker)"),
                    conf=conf, name=name, option=option, found=found, want=want,
                )
            )
    return problems


def _pid_file(pid_file: Path) -> list[Problem]:
    key = "broker_pid_file"
    try:
        text = pid_file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [
            _warn(
                key,
                N_("%(pid_file)s does not exist: is the broker running? (or leave broker_pid_file unset and enable "
                   "sohoa-broker-reload.path)"), pid_file=pid_file,
            )
        ]
    except OSError as exc:
        return [
            _err(key, N_("%(pid_file)s is not readable: %(strerror)s"), pid_file=pid_file, strerror=exc.strerror)
        ]
    words = text.split()
    pid = int(words[0]) if words and words[0].isdigit() else 0
    if pid <= 1:  # the reload refuses those rather than signal init or a process group
        return [
            _warn(
                key,
                N_("%(pid_file)s holds no broker PID: enrol/revoke cannot reload the broker"), pid_file=pid_file,
            )
        ]
    if not _running(pid):
        return [
            _warn(
                key,
                N_("%(pid_file)s names PID %(pid)s, which is not running: the broker stopped or the file is stale, "
                   "so enrol/revoke cannot reload it"), pid_file=pid_file, pid=pid,
            )
        ]
    return []


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process (mosquitto's): it exists
        return True
    try:  # a zombie has exited: it cannot reload anything
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
