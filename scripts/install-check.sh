#!/bin/bash
# Real-install check: hardware/pi/install.sh for real in a Debian 12 chroot, both roles, then uninstall.sh.
#
#   sudo bash scripts/install-check.sh            # debootstrap bookworm minbase into a temp dir (network, minutes)
#   sudo SOHOA_CHECK_ROOT=/tmp/chroot-bookworm bash scripts/install-check.sh   # reuse a chroot made before
#   SOHOA_CHECK_WORKTREE=1: copy the working tree (uncommitted changes too) instead of cloning HEAD
#   SOHOA_CHECK_KEEP=1: keep the temp chroot after a pass (it is always kept after a failure, for a look)
#
# Not in the default test suite: it needs root, the network and several minutes. No systemd runs in the
# chroot, exactly like an SD-card image build: the installer must place and enable units without it.
# The chroot shares the host's network and PID namespace: package scripts are kept from starting daemons
# (policy-rc.d), and the broker started here listens on a free port on 127.0.0.1 and is stopped.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '[install-check] %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { say "run as root (debootstrap, chroot, mount)"; exit 2; }

ROOT="${SOHOA_CHECK_ROOT:-}"
created=0
if [ -z "$ROOT" ]; then
    ROOT=$(mktemp -d /tmp/sohoa-install-check.XXXXXX)
    chmod 0755 "$ROOT"  # it becomes / in the chroot: mktemp's 0700 would lock every user but root out
    created=1
fi
passed=0
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || { say "debootstrap is missing: apt-get install debootstrap"; exit 2; }
    say "debootstrap bookworm minbase into $ROOT"
    debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian
fi

mounted=()
added_policy=0
broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; fi
    if [ "$added_policy" = 1 ]; then rm -f "$ROOT/usr/sbin/policy-rc.d"; fi
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[$i]}" || umount -l "${mounted[$i]}" || say "could not unmount ${mounted[$i]}"
    done
    if [ "$created" = 1 ] && [ "$passed" = 1 ] && [ "${SOHOA_CHECK_KEEP:-0}" != 1 ]; then
        for fs in proc dev sys; do
            if mountpoint -q "$ROOT/$fs"; then say "$ROOT/$fs still mounted: $ROOT kept"; return; fi
        done
        rm -rf --one-file-system "$ROOT"  # never into a mount, whatever happens
    fi
}
trap cleanup EXIT

for fs in proc dev sys; do
    if ! mountpoint -q "$ROOT/$fs"; then
        mkdir -p "$ROOT/$fs"
        mount --bind "/$fs" "$ROOT/$fs"
        mounted+=("$ROOT/$fs")
    fi
done
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
# The host's CA bundle: where the network goes through a TLS-inspecting proxy (this sandbox), only the host's
# bundle trusts the proxy's CA, so pip in the chroot would fail certificate checks without it (apt uses plain
# http here). ca-certificates first: its set-up rewrites the bundle, so installing it later (as a dependency
# of install.sh's packages) would throw the host's bundle away again.
# shellcheck disable=SC2016  # dpkg's own ${Status} field, not a shell variable
if ! chroot "$ROOT" dpkg-query -W -f='${Status}' ca-certificates 2>/dev/null | grep -q 'install ok installed'; then
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ca-certificates
fi
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
# No daemon started by a package's postinst (mosquitto, nginx): they would take the host's ports 1883 and 80.
if [ ! -e "$ROOT/usr/sbin/policy-rc.d" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
    chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
    added_policy=1
fi

rm -rf "$ROOT/src"
if [ "${SOHOA_CHECK_WORKTREE:-0}" = 1 ]; then
    say "copying the working tree of $here into $ROOT/src"
    mkdir -p "$ROOT/src"
    tar -C "$here" --exclude=.git --exclude=.venv --exclude=__pycache__ --exclude='*.egg-info' -cf - . |
        tar -C "$ROOT/src" -xf -
else
    say "cloning HEAD of $here into $ROOT/src"
    git clone --quiet "$here" "$ROOT/src"
fi

in_root() { chroot "$ROOT" "$@"; }
mode_owner() {  # mode_owner PATH MODE USER:GROUP
    local got
    got=$(in_root stat -c '%a %U:%G' "$1") || fail "$1 missing"
    [ "$got" = "$2 $3" ] || fail "$1 is $got, want $2 $3"
}
enabled() {  # enabled UNIT TARGET
    [ -L "$ROOT/etc/systemd/system/$2.wants/$1" ] || fail "$1 not enabled in $2.wants"
}

for role in station server; do
    say "install.sh --role $role"
    in_root bash -c "cd /src && bash hardware/pi/install.sh --role $role" || fail "install.sh --role $role"
done
say "second run of the server role (idempotent)"
in_root bash -c "cd /src && bash hardware/pi/install.sh --role server --no-apt" >/dev/null || fail "rerun"

say "checks"
sohoa=/opt/sohoa/.venv/bin/sohoa
in_root "$sohoa" --help >/dev/null || fail "sohoa --help"
for role in station server; do
    # Exit 1 is a finding about the TOML (placeholders still to edit); 2 and up: the check itself broke.
    rc=0
    in_root "$sohoa" config check "--$role" "/etc/sohoa/$role.toml" || rc=$?
    [ "$rc" -le 1 ] || fail "sohoa config check --$role exited $rc"
done
in_root getent passwd sohoa >/dev/null || fail "no user sohoa"
for group in scanner lp; do
    in_root id -nG sohoa | tr ' ' '\n' | grep -qx "$group" || fail "sohoa not in $group"
done
in_root getent passwd mosquitto >/dev/null || fail "no user mosquitto"
mode_owner /etc/sohoa 751 root:sohoa
mode_owner /etc/sohoa/secrets 700 sohoa:sohoa
mode_owner /etc/sohoa/station.toml 640 root:sohoa
mode_owner /etc/sohoa/server.toml 640 root:sohoa
mode_owner /var/lib/sohoa 750 sohoa:sohoa
mode_owner /var/lib/sohoa/station 750 sohoa:sohoa
mode_owner /var/lib/sohoa/server 750 sohoa:sohoa
mode_owner /etc/sohoa/mosquitto 2750 sohoa:mosquitto
mode_owner /var/lib/sohoa-mosquitto 750 mosquitto:mosquitto
mode_owner /etc/sohoa/mosquitto/mosquitto.conf 640 sohoa:mosquitto
mode_owner /etc/sohoa/mosquitto/passwd 640 sohoa:mosquitto
mode_owner /etc/sohoa/secrets/mqtt-server 600 sohoa:sohoa
for unit in sohoa-station.service sohoa-server.service sohoa-mosquitto.service sohoa-broker-reload.path \
    sohoa-broker-reload.service sohoa-fixity.timer sohoa-fixity.service sohoa-backup.timer sohoa-backup.service; do
    [ -f "$ROOT/etc/systemd/system/$unit" ] || fail "$unit not placed"
done
for unit in sohoa-station.service sohoa-server.service sohoa-mosquitto.service sohoa-broker-reload.path; do
    enabled "$unit" multi-user.target
done
enabled sohoa-fixity.timer timers.target
enabled sohoa-backup.timer timers.target
[ ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/mosquitto.service" ] || fail "Debian's mosquitto enabled"
[ -f "$ROOT/etc/udev/rules.d/65-sohoa-scanners.rules" ] || fail "udev rule not placed"
[ -L "$ROOT/etc/nginx/sites-enabled/sohoa" ] || fail "nginx site not enabled"

say "the rendered broker: a short real start on a free port"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s/^listener .*/listener $port 127.0.0.1/" "$ROOT/etc/sohoa/mosquitto/mosquitto.conf" \
    > "$ROOT/etc/sohoa/mosquitto/check.conf"
grep -qx "persistence_location /var/lib/sohoa-mosquitto/" "$ROOT/etc/sohoa/mosquitto/check.conf" ||
    fail "persistence is not in /var/lib/sohoa-mosquitto"
# Started as root, mosquitto drops to `user mosquitto` like under the unit; it must read the group-readable files.
chroot "$ROOT" /usr/sbin/mosquitto -c /etc/sohoa/mosquitto/check.conf > "$ROOT/tmp/check-broker.log" 2>&1 &
broker_pid=$!
# shellcheck disable=SC2016  # $1.. are for the inner python
probe='
import sys, time
from server.mqtt.broker import connect_client
deadline = time.monotonic() + 10
while True:
    try:
        client, reason = connect_client(host="127.0.0.1", port=int(sys.argv[1]), username="server", password=sys.argv[2])
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
client.loop_stop(); client.disconnect()
print("refused" if reason is None or reason.is_failure else "accepted")
'
secret=$(cat "$ROOT/etc/sohoa/secrets/mqtt-server")
got=$(in_root /opt/sohoa/.venv/bin/python -c "$probe" "$port" "$secret") || fail "broker probe: $(cat "$ROOT/tmp/check-broker.log")"
[ "$got" = accepted ] || fail "server account refused: $(cat "$ROOT/tmp/check-broker.log")"
got=$(in_root /opt/sohoa/.venv/bin/python -c "$probe" "$port" wrong-password) || fail "broker probe (wrong)"
[ "$got" = refused ] || fail "wrong password accepted"
kill "$broker_pid"
wait "$broker_pid" || true
broker_pid=""
[ -f "$ROOT/var/lib/sohoa-mosquitto/mosquitto.db" ] || fail "mosquitto saved no persistence file"
rm -f "$ROOT/etc/sohoa/mosquitto/check.conf" "$ROOT/var/lib/sohoa-mosquitto/mosquitto.db"

say "uninstall.sh"
in_root bash /src/hardware/pi/uninstall.sh || fail "uninstall.sh"
if compgen -G "$ROOT/etc/systemd/system/sohoa-*" >/dev/null || compgen -G "$ROOT/etc/systemd/system/*.wants/sohoa-*" >/dev/null; then
    fail "units left after uninstall: $(ls "$ROOT"/etc/systemd/system/sohoa-* "$ROOT"/etc/systemd/system/*.wants/sohoa-* 2>/dev/null)"
fi
[ ! -e "$ROOT/etc/udev/rules.d/65-sohoa-scanners.rules" ] || fail "udev rule left"
[ ! -e "$ROOT/opt/sohoa" ] || fail "/opt/sohoa left"
for kept in /etc/sohoa/station.toml /etc/sohoa/server.toml /etc/sohoa/secrets/mqtt-server /etc/sohoa/tls/ca.crt \
    /var/lib/sohoa/station /var/lib/sohoa/server; do
    [ -e "$ROOT$kept" ] || fail "$kept deleted by uninstall (data and config must be kept)"
done
passed=1
say "OK: both roles installed, checked and uninstalled in $ROOT"
