"""hardware/pi/install.sh and uninstall.sh: shellcheck-clean, and a dry run that prints every step.

The dry run is the test: it must name the packages, the service user, the venv, the udev rule, the units
of the role, and change nothing on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "hardware/pi/install.sh"
UNINSTALL = REPO / "hardware/pi/uninstall.sh"
WATCHED = [
    Path("/etc/sohoa"),
    Path("/opt/sohoa"),
    Path("/etc/udev/rules.d/65-sohoa-scanners.rules"),
    Path("/etc/systemd/system/sohoa-station.service"),
    Path("/etc/systemd/system/sohoa-server.service"),
    Path("/etc/nginx/sites-available/sohoa"),
    Path("/var/lib/sohoa"),
    Path("/etc/systemd/system/sohoa-broker-reload.path"),
]


def _run(script: Path, *args: str, systemd: str = "yes") -> subprocess.CompletedProcess:
    # SOHOA_SYSTEMD: a booted machine (yes) unless a test says otherwise; this sandbox has no systemd running.
    env = {**os.environ, "SOHOA_SYSTEMD": systemd}
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=60, env=env)


def _dry(*args: str, systemd: str = "yes") -> list[str]:
    before = {p: p.exists() for p in WATCHED}
    out = _run(INSTALL, *args, "--dry-run", systemd=systemd)
    assert out.returncode == 0, out.stderr
    assert {p: p.exists() for p in WATCHED} == before, "the dry run changed the machine"
    return out.stdout.splitlines()


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: apt-get install shellcheck"
    out = subprocess.run(
        [shellcheck, "--severity=style", str(INSTALL), str(UNINSTALL)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout


def test_station_dry_run_with_kiosk() -> None:
    lines = _dry("--role", "station", "--kiosk")
    text = "\n".join(lines)
    apt = next(line for line in lines if "apt-get install" in line)
    for pkg in (
        "sane-utils",
        "tesseract-ocr-vie",
        "tesseract-ocr-osd",
        "python3-venv",
        "cage",
        "chromium",
        "sane-airscan",
        "pcscd",
    ):
        assert f" {pkg}" in apt, pkg
    assert "nginx" not in apt and "mosquitto" not in apt
    if not Path("/usr/sbin/nologin").exists() or subprocess.run(["getent", "passwd", "sohoa"]).returncode:
        assert re.search(r"^\+ adduser --system --group .* --shell /usr/sbin/nologin sohoa$", text, re.M)
    assert "+ adduser sohoa scanner" in lines
    assert (
        any(re.fullmatch(r"\+ python3 -m venv /opt/sohoa/\.venv", line) for line in lines)
        or Path("/opt/sohoa/.venv/bin/python").exists()
    )
    assert "+ /opt/sohoa/.venv/bin/pip install --quiet --upgrade --editable /opt/sohoa/src" in lines
    assert (
        f"+ install -D -m 0644 -o root -g root {REPO}/hardware/udev/65-sohoa-scanners.rules "
        "/etc/udev/rules.d/65-sohoa-scanners.rules" in lines
    )
    assert "+ systemctl enable sohoa-station.service sohoa-kiosk.service" in lines
    assert (
        f"+ install -D -m 0640 -o root -g sohoa {REPO}/hardware/pi/station.toml.example /etc/sohoa/station.toml"
        in lines
    )
    assert "+ install -d -m 0700 -o sohoa -g sohoa /etc/sohoa/secrets" in lines
    # Order: packages before users before code before units; the unit files are installed before enabling.
    order = [
        next(i for i, line in enumerate(lines) if key in line)
        for key in ("apt-get install", "adduser", "python3 -m venv", "65-sohoa-scanners.rules", "systemctl enable")
    ]
    assert order == sorted(order)


def test_server_dry_run() -> None:
    lines = _dry("--role", "server", "--hostname", "archive.example.vn")
    text = "\n".join(lines)
    assert "nginx-light" in text and "mosquitto" in text and "cage" not in text
    assert "tls make-ca --dir /etc/sohoa/tls --name sohoa CA archive.example.vn" in text
    assert "--host archive.example.vn --host localhost --ip 127.0.0.1" in text
    assert "+ nginx -t" in lines and "+ systemctl disable --now mosquitto.service" in lines
    assert (
        "+ systemctl enable sohoa-server.service sohoa-mosquitto.service sohoa-broker-reload.path "
        "sohoa-fixity.timer sohoa-backup.timer"
    ) in lines
    for unit in (
        "sohoa-fixity.service",
        "sohoa-backup.service",
        "sohoa-server.service",
        "sohoa-broker-reload.path",
        "sohoa-broker-reload.service",
    ):
        assert f"+ install -D -m 0644 -o root -g root {REPO}/systemd/{unit} /etc/systemd/system/{unit}" in lines
    assert "65-sohoa-scanners" not in text


def test_server_dry_run_renders_the_broker_with_writable_persistence() -> None:
    """Issue #9: nothing rendered /etc/sohoa/mosquitto/mosquitto.conf, and persistence was unreachable."""
    lines = _dry("--role", "server")
    render = (
        "+ runuser -u sohoa -- /opt/sohoa/.venv/bin/sohoa server --config /etc/sohoa/server.toml broker-config "
        "--data-dir /var/lib/sohoa-mosquitto"
    )
    persist = "+ install -d -m 0750 -o mosquitto -g mosquitto /var/lib/sohoa-mosquitto"
    assert render in lines and persist in lines
    assert not [line for line in lines if "/var/lib/sohoa/mosquitto" in line]
    # After the venv, the config and the TLS files; before the units start.
    venv = lines.index("+ /opt/sohoa/.venv/bin/pip install --quiet --upgrade --editable /opt/sohoa/src")
    assert lines.index(persist) < venv < lines.index(render)
    assert lines.index(render) < lines.index(next(line for line in lines if line.startswith("+ systemctl restart ")))
    unit = (REPO / "systemd/sohoa-mosquitto.service").read_text()
    assert "ReadWritePaths=/var/lib/sohoa-mosquitto\n" in unit


def test_without_systemd_units_are_enabled_and_the_rest_waits_for_first_boot() -> None:
    """A chroot or an SD-card image build: enable works offline; reloads, restarts and udevadm would fail."""
    for role in (["--role", "station", "--kiosk"], ["--role", "server"]):
        lines = _dry(*role, systemd="no")
        text = "\n".join(lines)
        assert any(line.startswith("+ systemctl enable sohoa-") for line in lines), role
        for needs_running in ("daemon-reload", "systemctl restart", "udevadm", "reload-or-restart", "--now"):
            assert needs_running not in "\n".join(line for line in lines if line.startswith("+ ")), needs_running
        assert "takes effect at first boot" in text and "có hiệu lực ở lần khởi động đầu tiên" in text
        booted = _dry(*role, systemd="yes")
        assert [line for line in booted if "systemctl restart" in line], role
    server = _dry("--role", "server", systemd="no")
    assert "+ systemctl disable mosquitto.service" in server and "+ nginx -t" in server
    station = _dry("--role", "station", systemd="no")
    assert any("/etc/udev/rules.d/65-sohoa-scanners.rules" in line for line in station)


def test_uninstall_without_systemd_only_disables(tmp_path: Path) -> None:
    (tmp_path / "sohoa-station.service").write_text("")
    booted = _run(UNINSTALL, "--dry-run", "--unit-dir", str(tmp_path), systemd="yes")  # the same probe sees them
    assert "--now" in booted.stdout and "daemon-reload" in booted.stdout, booted.stdout
    out = _run(UNINSTALL, "--dry-run", "--unit-dir", str(tmp_path), systemd="no")
    assert out.returncode == 0, out.stderr
    assert "+ systemctl disable sohoa-station.service" in out.stdout.splitlines()
    assert "--now" not in out.stdout and "daemon-reload" not in out.stdout


def test_server_dry_run_prepares_the_broker_accounts_folder() -> None:
    """The server re-renders passwd/acl into /etc/sohoa/mosquitto (broker_files_dir): sohoa writes, mosquitto
    reads through the folder's group (setgid, so the files keep it), and may traverse /etc/sohoa to get there."""
    lines = _dry("--role", "server")
    folder = "+ install -d -m 2750 -o sohoa -g mosquitto /etc/sohoa/mosquitto"
    assert folder in lines
    assert "+ install -d -m 0751 -o root -g sohoa /etc/sohoa" in lines
    assert "+ install -d -m 0750 -o root -g sohoa /etc/sohoa" not in lines
    # After the mosquitto package (its user) and before the units that use the folder start.
    index = lines.index(folder)
    assert next(i for i, line in enumerate(lines) if "apt-get install" in line) < index
    assert index < lines.index("+ /opt/sohoa/.venv/bin/sohoa config check --server /etc/sohoa/server.toml")
    path_unit = (
        f"+ install -D -m 0644 -o root -g root {REPO}/systemd/sohoa-broker-reload.path "
        "/etc/systemd/system/sohoa-broker-reload.path"
    )
    enable = next(line for line in lines if line.startswith("+ systemctl enable "))
    assert index < lines.index(path_unit) < lines.index(enable) and "sohoa-broker-reload.path" in enable.split()
    # The reload service is started by the path unit only: never enabled on its own.
    assert "sohoa-broker-reload.service" not in enable
    # Idempotent: a second run prints exactly the same steps (install -d resets owner and mode).
    assert _dry("--role", "server") == lines


def test_station_dry_run_leaves_the_broker_alone() -> None:
    lines = _dry("--role", "station", "--no-apt")
    assert "+ install -d -m 0750 -o root -g sohoa /etc/sohoa" in lines
    assert not [line for line in lines if "mosquitto" in line or "broker-reload" in line]


def test_uninstall_removes_every_unit_the_installer_installs(tmp_path: Path) -> None:
    staged = tmp_path / "system"
    staged.mkdir()
    installed = set()
    for role in (["--role", "station", "--kiosk"], ["--role", "server"]):
        for line in _dry(*role, "--no-apt"):
            words = line.split()
            if words[:2] == ["+", "install"] and words[-1].startswith("/etc/systemd/system/"):
                installed.add(Path(words[-1]).name)
    assert {"sohoa-broker-reload.path", "sohoa-broker-reload.service"} <= installed
    for unit in installed:
        (staged / unit).write_text("")
    out = _run(UNINSTALL, "--dry-run", "--unit-dir", str(staged))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for unit in installed:
        assert f"+ systemctl disable --now {unit}" in lines and f"+ rm -f {staged}/{unit}" in lines, unit
    # The path unit stops before the service it triggers, so it cannot start it again mid-removal.
    assert lines.index("+ systemctl disable --now sohoa-broker-reload.path") < lines.index(
        "+ systemctl disable --now sohoa-broker-reload.service"
    )
    assert {p.name for p in staged.iterdir()} == installed, "a dry run removed a file"


def test_every_file_the_installer_installs_exists() -> None:
    for role in (["--role", "station", "--kiosk"], ["--role", "server"]):
        for line in _dry(*role):
            for word in line.split():
                if word.startswith(str(REPO) + "/") and word != str(REPO):
                    assert Path(word).exists(), f"{line}: {word} does not exist"


@pytest.mark.parametrize("args", [[], ["--role", "printer"], ["--role", "server", "--kiosk"], ["--bogus"]])
def test_bad_arguments_exit_2(args: list[str]) -> None:
    out = _run(INSTALL, *args, "--dry-run")
    assert out.returncode == 2 and "install.sh:" in out.stderr


def test_uninstall_dry_run_keeps_data_unless_told_twice() -> None:
    out = _run(UNINSTALL, "--dry-run")
    assert out.returncode == 0 and "rm -rf /var/lib/sohoa" not in out.stdout and "kept" in out.stdout
    refused = _run(UNINSTALL, "--dry-run", "--purge")
    assert refused.returncode == 2 and "--yes-delete-data" in refused.stderr
    purge = _run(UNINSTALL, "--dry-run", "--purge", "--yes-delete-data")
    assert purge.returncode == 0 and "+ rm -rf /etc/sohoa /var/lib/sohoa" in purge.stdout


def test_udev_rules_give_scanners_to_the_group() -> None:
    """udevadm 252 has no offline `verify`: check the syntax by hand, and that every profiled family's
    USB vendor is covered."""
    rules = (REPO / "hardware/udev/65-sohoa-scanners.rules").read_text()
    pair = re.compile(r'^(ACTION|SUBSYSTEM|ENV\{\w+\}|ATTR\{\w+\}|GROUP|MODE|GOTO|LABEL)(==|!=|=)"[^"]*"$')
    for line in rules.splitlines():
        if line.strip() and not line.startswith("#"):
            for part in line.split(", "):
                assert pair.match(part), f"bad udev rule part {part!r} in {line!r}"
    assert 'ENV{libsane_matched}=="yes", GROUP="scanner", MODE="0660"' in rules
    for vendor in ("04c5", "04a9", "1083", "04b8"):  # Fujitsu/PFU, Canon, Canon Electronics, Epson
        assert f'ATTR{{idVendor}}=="{vendor}"' in rules
    assert rules.count('LABEL="sohoa_scanners_end"') == 1


def test_every_appliance_command_is_documented() -> None:
    docs = (REPO / "docs/install.md").read_text(encoding="utf-8")
    for command in (
        "sohoa config check",
        "sohoa status",
        "sohoa server-backup",
        "sohoa server-restore",
        "sohoa tls make-ca",
        "sohoa tls server-cert",
        "sohoa wait-http",
        "install.sh",
        "uninstall.sh",
        "broker-config",
        "scripts/install-check.sh",
    ):
        assert command in docs, f"docs/install.md does not mention `{command}`"
