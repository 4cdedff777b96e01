#!/bin/bash
# Install sohoa on Raspberry Pi OS (Debian 12 "bookworm", arm64) or a Debian 12 PC.
#
#   sudo hardware/pi/install.sh --role station [--kiosk]     # scanning station (+ touchscreen kiosk)
#   sudo hardware/pi/install.sh --role server [--hostname archive.example.gov.vn]
#   hardware/pi/install.sh --role station --kiosk --dry-run  # print every step, change nothing
#
# Idempotent: running it again upgrades the code and units, and never overwrites /etc/sohoa/*.toml,
# secrets, TLS keys or data. Uninstall with hardware/pi/uninstall.sh.
# Without a running systemd (a chroot, an SD-card image build) units are placed and enabled, and what needs
# the running system (daemon-reload, restart, udevadm, nginx reload) is left to the first boot.
set -euo pipefail

ROLE=""
KIOSK=0
DRY_RUN=0
APT=1
SERVER_NAME=""
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PREFIX=/opt/sohoa
BROKER_DATA=/var/lib/sohoa-mosquitto
ETC=/etc/sohoa
STATE=/var/lib/sohoa

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    echo "options: --role station|server  --kiosk  --dry-run  --no-apt  --source DIR  --hostname NAME"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --role) ROLE="${2:-}"; shift 2 ;;
        --kiosk) KIOSK=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --no-apt) APT=0; shift ;;
        --source) SOURCE="${2:-}"; shift 2 ;;
        --hostname) SERVER_NAME="${2:-}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 / tùy chọn không hợp lệ" >&2; usage >&2; exit 2 ;;
    esac
done
case "$ROLE" in
    station|server) ;;
    *) echo "install.sh: --role station|server is required / cần chọn vai trò" >&2; exit 2 ;;
esac
if [ "$KIOSK" = 1 ] && [ "$ROLE" != station ]; then
    echo "install.sh: --kiosk needs --role station / chế độ kiosk chỉ dành cho trạm quét" >&2; exit 2
fi
if [ ! -f "$SOURCE/pyproject.toml" ]; then
    echo "install.sh: $SOURCE is not the sohoa source tree / không phải mã nguồn sohoa" >&2; exit 2
fi
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo) / hãy chạy với quyền root" >&2; exit 2
fi

# Every change goes through run (a command) or put (a file from the source tree): --dry-run prints them.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ %s\n' "$*"
    else
        "$@"
    fi
}
put() {  # put MODE OWNER:GROUP SRC DEST
    run install -D -m "$1" -o "${2%%:*}" -g "${2##*:}" "$3" "$4"
}
note() { printf '== %s\n' "$*"; }

# systemd is running (a booted machine) or not (chroot, image build: enable works offline, the rest waits for
# the first boot). SOHOA_SYSTEMD=yes|no overrides the check (tests of the dry run).
case "${SOHOA_SYSTEMD:-auto}" in
    yes) SYSTEMD=1 ;;
    no) SYSTEMD=0 ;;
    *) if [ -d /run/systemd/system ]; then SYSTEMD=1; else SYSTEMD=0; fi ;;
esac
later() { printf '   skipped, no running systemd: %s takes effect at first boot / bỏ qua (chưa chạy systemd): ' "$1"
          printf '%s có hiệu lực ở lần khởi động đầu tiên\n' "$1"; }

# -- 1. packages ---------------------------------------------------------------------------------
# systemd (systemctl) and udev (udevadm) are the installer's own tools: always there on a booted Debian 12,
# not in a minimal image root.
PKGS=(python3 python3-venv python3-dev gcc systemd)
if [ "$ROLE" = station ]; then
    PKGS+=(udev sane-utils libsane1 libsane-dev sane-airscan ipp-usb tesseract-ocr tesseract-ocr-vie
           tesseract-ocr-osd poppler-utils qpdf ghostscript fonts-freefont-ttf pcscd opensc)
    if [ "$KIOSK" = 1 ]; then
        PKGS+=(cage chromium fonts-noto-core)
    fi
else
    PKGS+=(mosquitto nginx-light poppler-utils qpdf)
fi
if [ "$APT" = 1 ]; then
    note "packages / gói phần mềm"
    run env DEBIAN_FRONTEND=noninteractive apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PKGS[@]}"
fi

# -- 2. users ------------------------------------------------------------------------------------
note "users / tài khoản"
ensure_group() { getent group "$1" >/dev/null || run addgroup --system "$1"; }
ensure_user() {  # ensure_user NAME HOME
    getent passwd "$1" >/dev/null ||
        run adduser --system --group --home "$2" --no-create-home --shell /usr/sbin/nologin "$1"
}
ensure_user sohoa "$STATE"
if [ "$ROLE" = station ]; then
    ensure_group scanner
    ensure_group lp
    run adduser sohoa scanner
    run adduser sohoa lp
    if [ "$KIOSK" = 1 ]; then
        ensure_user sohoa-kiosk /var/lib/sohoa-kiosk
        for group in video render input; do
            ensure_group "$group"
            run adduser sohoa-kiosk "$group"
        done
    fi
fi

# -- 3. folders ----------------------------------------------------------------------------------
note "folders / thư mục"
if [ "$ROLE" = server ]; then
    # 0751: mosquitto may traverse /etc/sohoa to reach its folder, but not list it (the TOML is 0640, secrets 0700).
    run install -d -m 0751 -o root -g sohoa "$ETC"
else
    run install -d -m 0750 -o root -g sohoa "$ETC"
fi
run install -d -m 0700 -o sohoa -g sohoa "$ETC/secrets"
run install -d -m 0750 -o sohoa -g sohoa "$STATE" "$STATE/$ROLE"
if [ "$ROLE" = server ]; then
    run install -d -m 0750 -o sohoa -g sohoa /var/backups/sohoa
    # mosquitto's persistence: its own folder (the broker unit's ReadWritePaths); it cannot reach /var/lib/sohoa.
    run install -d -m 0750 -o mosquitto -g mosquitto "$BROKER_DATA"
    # The broker's passwd and acl, re-rendered by the server on enrol/revoke (broker_files_dir): sohoa writes,
    # mosquitto reads through the group; setgid so every file written there gets the mosquitto group.
    run install -d -m 2750 -o sohoa -g mosquitto "$ETC/mosquitto"
fi

# -- 4. code: a copy of the source and a venv under /opt/sohoa ----------------------------------------
note "code / mã chương trình: $PREFIX"
run install -d -m 0755 "$PREFIX"
run rm -rf "$PREFIX/src.new"
run install -d -m 0755 "$PREFIX/src.new"
run tar -C "$SOURCE" --exclude=.git --exclude=.venv --exclude=__pycache__ --exclude='*.egg-info' -cf "$PREFIX/src.tar" .
run tar -C "$PREFIX/src.new" -xf "$PREFIX/src.tar"
run rm -f "$PREFIX/src.tar"
run rm -rf "$PREFIX/src.old"
if [ -d "$PREFIX/src" ]; then run mv "$PREFIX/src" "$PREFIX/src.old"; fi
run mv "$PREFIX/src.new" "$PREFIX/src"
if [ ! -x "$PREFIX/.venv/bin/python" ]; then
    run python3 -m venv "$PREFIX/.venv"
fi
run "$PREFIX/.venv/bin/pip" install --quiet --upgrade pip
# Editable: scanner profiles (hardware/profiles) and broker templates (systemd/mosquitto) are read from src.
run "$PREFIX/.venv/bin/pip" install --quiet --upgrade --editable "$PREFIX/src"
run rm -rf "$PREFIX/src.old"

# -- 5. configuration (written once, never overwritten) ----------------------------------------------
note "configuration / cấu hình: $ETC/$ROLE.toml"
if [ ! -e "$ETC/$ROLE.toml" ]; then
    put 0640 root:sohoa "$SOURCE/hardware/pi/$ROLE.toml.example" "$ETC/$ROLE.toml"
else
    echo "   $ETC/$ROLE.toml exists: kept / đã có, giữ nguyên"
fi

# -- 6. role specifics -----------------------------------------------------------------------------
UNITS=()
if [ "$ROLE" = station ]; then
    note "udev rules for USB scanners / quy tắc udev cho máy quét USB"
    put 0644 root:root "$SOURCE/hardware/udev/65-sohoa-scanners.rules" /etc/udev/rules.d/65-sohoa-scanners.rules
    if [ "$SYSTEMD" = 1 ]; then
        run udevadm control --reload-rules
        run udevadm trigger --subsystem-match=usb --action=add
    else
        later "udev rules / quy tắc udev"
    fi
    UNITS+=(sohoa-station.service)
    if [ "$KIOSK" = 1 ]; then
        UNITS+=(sohoa-kiosk.service)
    fi
else
    note "TLS: private CA and server certificate / chứng thư TLS"
    name="${SERVER_NAME:-$(hostname -f 2>/dev/null || hostname)}"
    if [ ! -e "$ETC/tls/ca.crt" ]; then
        run "$PREFIX/.venv/bin/sohoa" tls make-ca --dir "$ETC/tls" --name "sohoa CA $name"
    fi
    if [ ! -e "$ETC/tls/server.crt" ]; then
        ips=()
        for ip in $(hostname -I 2>/dev/null || true); do ips+=(--ip "$ip"); done
        run "$PREFIX/.venv/bin/sohoa" tls server-cert --dir "$ETC/tls" --host "$name" --host localhost \
            --ip 127.0.0.1 "${ips[@]}"
    fi
    note "nginx in front of waitress / nginx phía trước máy chủ"
    site=/etc/nginx/sites-available/sohoa
    if [ "$DRY_RUN" = 1 ]; then
        printf '+ render %s -> %s\n' "$SOURCE/hardware/pi/nginx/sohoa-server.conf" "$site"
    else
        sed -e "s|@LISTEN@|443|; s|@HTTP_LISTEN@|80|; s|@TLS_DIR@|$ETC/tls|g; s|@UPSTREAM@|127.0.0.1:8080|" \
            "$SOURCE/hardware/pi/nginx/sohoa-server.conf" > "$site.new"
        mv "$site.new" "$site"
    fi
    run ln -sfn "$site" /etc/nginx/sites-enabled/sohoa
    run rm -f /etc/nginx/sites-enabled/default
    run nginx -t  # only parses the configuration: works without systemd too
    note "broker / máy chủ MQTT: $ETC/mosquitto/mosquitto.conf"
    if [ "$SYSTEMD" = 1 ]; then
        run systemctl disable --now mosquitto.service
    else
        run systemctl disable mosquitto.service
    fi
    # As the server's user, like the running server that re-renders passwd/acl later: the files and the
    # server's MQTT password (made once, kept) get sohoa's ownership, the folder's mosquitto group.
    run runuser -u sohoa -- "$PREFIX/.venv/bin/sohoa" server --config "$ETC/server.toml" broker-config \
        --data-dir "$BROKER_DATA"
    UNITS+=(sohoa-server.service sohoa-mosquitto.service sohoa-broker-reload.path sohoa-fixity.timer
            sohoa-backup.timer)
fi

# -- 7. systemd units ------------------------------------------------------------------------------
note "systemd units / dịch vụ: ${UNITS[*]}"
for unit in "${UNITS[@]}"; do
    put 0644 root:root "$SOURCE/systemd/$unit" "/etc/systemd/system/$unit"
    case "$unit" in
        *.timer|*.path) put 0644 root:root "$SOURCE/systemd/${unit%.*}.service" \
                            "/etc/systemd/system/${unit%.*}.service" ;;
    esac
done
if [ "$SYSTEMD" = 1 ]; then
    run systemctl daemon-reload
fi
run "$PREFIX/.venv/bin/sohoa" config check "--$ROLE" "$ETC/$ROLE.toml" || true
run systemctl enable "${UNITS[@]}"
if [ "$SYSTEMD" = 1 ]; then
    run systemctl restart "${UNITS[@]}"
    if [ "$ROLE" = server ]; then
        run systemctl reload-or-restart nginx.service
    fi
else
    later "daemon-reload, restart ${UNITS[*]}"
    if [ "$ROLE" = server ]; then later "nginx reload"; fi
fi
note "done / hoàn tất. Next: edit $ETC/$ROLE.toml, then: sohoa config check && sohoa status"
