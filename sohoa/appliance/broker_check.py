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
                "is set but broker_files_dir is not: nothing is rendered, nothing to reload",
                "Đã đặt broker_pid_file nhưng thiếu broker_files_dir: máy chủ không ghi tài khoản MQTT nào "
                "nên không có gì để nạp lại",
            )
        )
    if not folder:
        return p
    if not cfg.broker_password_file:  # accounts_sync_for refuses to start the server then
        p.append(
            _err(
                "broker_password_file",
                "broker_files_dir is set but broker_password_file (the server's own "
                "MQTT account) is not: the server will not start",
                "Đã đặt broker_files_dir nhưng thiếu broker_password_file (tài khoản MQTT của máy chủ): "
                "máy chủ sẽ không khởi động",
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
        return [_err(key, f"{folder} must be an absolute path", "Đường dẫn phải là đường dẫn tuyệt đối")]
    if not folder.is_dir():
        return [
            _err(
                key,
                f"folder {folder} does not exist: sudo {CREATE_DIR} {folder}",
                f"Thư mục {folder} không tồn tại: sudo {CREATE_DIR} {folder}",
            )
        ]
    user = _service_identity(service_user)
    if not _can_write(folder, user):
        who = user[0] if user else "this user"
        return [
            _err(
                key,
                f"folder {folder} is not writable by {who}: revoked stations would keep their MQTT login "
                f"(sudo {CREATE_DIR} {folder})",
                f"Người dùng {who} không ghi được vào thư mục {folder}: trạm bị thu hồi vẫn đăng nhập MQTT được "
                f"(sudo {CREATE_DIR} {folder})",
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
                f"{conf} does not exist: sohoa-mosquitto.service will not start (render it, docs/mqtt.md)",
                f"Không có {conf}: dịch vụ sohoa-mosquitto sẽ không chạy (tạo tệp này, xem docs/mqtt.md)",
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
                    f"{conf} does not read the rendered {name}: {option} is {found}, not {want} "
                    "(revocation would not reach the broker)",
                    f"{conf} không dùng tệp {name} do máy chủ ghi: {option} là {found}, cần {want} "
                    "(thu hồi trạm sẽ không có hiệu lực trên máy chủ MQTT)",
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
                f"{pid_file} does not exist: is the broker running? (or leave broker_pid_file unset and "
                "enable sohoa-broker-reload.path)",
                f"Không có tệp {pid_file}: máy chủ MQTT có đang chạy không? (hoặc bỏ broker_pid_file và bật "
                "sohoa-broker-reload.path)",
            )
        ]
    except OSError as exc:
        return [
            _err(key, f"{pid_file} is not readable: {exc.strerror}", f"Không đọc được tệp {pid_file}: {exc.strerror}")
        ]
    words = text.split()
    pid = int(words[0]) if words and words[0].isdigit() else 0
    if pid <= 1:  # the reload refuses those rather than signal init or a process group
        return [
            _warn(
                key,
                f"{pid_file} holds no broker PID: enrol/revoke cannot reload the broker",
                f"Tệp {pid_file} không chứa PID của máy chủ MQTT: đăng ký/thu hồi trạm không nạp lại được",
            )
        ]
    if not _running(pid):
        return [
            _warn(
                key,
                f"{pid_file} names PID {pid}, which is not running: the broker stopped or the file is "
                "stale, so enrol/revoke cannot reload it",
                f"Tệp {pid_file} ghi PID {pid} nhưng tiến trình này không chạy: máy chủ MQTT đã dừng hoặc tệp "
                "đã cũ, nên đăng ký/thu hồi trạm không nạp lại được",
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
