#!/bin/bash
# Remove sohoa from this machine: services, units, udev rule, nginx site, code in /opt/sohoa.
#
#   sudo hardware/pi/uninstall.sh                 # keeps /etc/sohoa and /var/lib/sohoa (archives, keys)
#   sudo hardware/pi/uninstall.sh --purge --yes-delete-data   # also deletes config, data and the users
#   hardware/pi/uninstall.sh --dry-run            # print every step, change nothing
#   --unit-dir DIR: where the units are (default /etc/systemd/system; tests point it at a staged folder)
#
# Idempotent: what is already gone is skipped. Data is never deleted without both --purge flags, because
# a station's unsynced batches and a server's package store may be the only copy of scanned records.
set -euo pipefail

DRY_RUN=0
PURGE=0
YES=0
UNIT_DIR=/etc/systemd/system
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1; shift ;;
        --purge) PURGE=1; shift ;;
        --yes-delete-data) YES=1; shift ;;
        --unit-dir) UNIT_DIR="${2:-}"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1 / tùy chọn không hợp lệ" >&2; exit 2 ;;
    esac
done
if [ "$PURGE" = 1 ] && [ "$YES" != 1 ]; then
    echo "uninstall.sh: --purge deletes all scanned data; add --yes-delete-data to confirm /" \
         "--purge xoá toàn bộ dữ liệu; thêm --yes-delete-data để xác nhận" >&2
    exit 2
fi
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "uninstall.sh: run as root (sudo) / hãy chạy với quyền root" >&2; exit 2
fi
run() {
    if [ "$DRY_RUN" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}

# Triggers (timers, the path unit) before the services they start.
UNITS=(sohoa-kiosk.service sohoa-station.service sohoa-server.service sohoa-broker-reload.path
       sohoa-broker-reload.service sohoa-mosquitto.service sohoa-fixity.timer sohoa-fixity.service
       sohoa-backup.timer sohoa-backup.service)
# Without a running systemd (chroot, image) only disable (offline): --now, daemon-reload and the reloads need it.
# SOHOA_SYSTEMD=yes|no overrides the check (tests of the dry run).
case "${SOHOA_SYSTEMD:-auto}" in
    yes) SYSTEMD=1 ;;
    no) SYSTEMD=0 ;;
    *) if [ -d /run/systemd/system ]; then SYSTEMD=1; else SYSTEMD=0; fi ;;
esac
now=--now
if [ "$SYSTEMD" = 0 ]; then now=""; fi
for unit in "${UNITS[@]}"; do
    if [ -e "$UNIT_DIR/$unit" ]; then
        run systemctl disable $now "$unit" || true
        run rm -f "$UNIT_DIR/$unit"
    fi
done
if [ "$SYSTEMD" = 1 ]; then run systemctl daemon-reload || true; fi
if [ -e /etc/udev/rules.d/65-sohoa-scanners.rules ]; then
    run rm -f /etc/udev/rules.d/65-sohoa-scanners.rules
    if [ "$SYSTEMD" = 1 ]; then run udevadm control --reload-rules || true; fi
fi
if [ -e /etc/nginx/sites-available/sohoa ] || [ -L /etc/nginx/sites-enabled/sohoa ]; then
    run rm -f /etc/nginx/sites-enabled/sohoa /etc/nginx/sites-available/sohoa
    if [ "$SYSTEMD" = 1 ]; then run systemctl reload-or-restart nginx.service || true; fi
fi
if [ -d /opt/sohoa ]; then
    run rm -rf /opt/sohoa
fi
if [ "$PURGE" = 1 ]; then
    run rm -rf /etc/sohoa /var/lib/sohoa /var/lib/sohoa-kiosk /var/lib/sohoa-mosquitto /var/backups/sohoa
    for user in sohoa-kiosk sohoa; do
        if getent passwd "$user" >/dev/null; then run deluser --system "$user"; fi
    done
else
    echo "kept / giữ lại: /etc/sohoa /var/lib/sohoa /var/lib/sohoa-mosquitto /var/backups/sohoa (use --purge --yes-delete-data to delete)"
fi
echo "done / hoàn tất"
