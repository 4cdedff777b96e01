#!/usr/bin/env bash
# Set up everything sohoa needs on Debian 12 / Raspberry Pi OS, then run one job.
#   bash scripts/bootstrap.sh demo     scanner to archive, end to end (add --once to exit after the verdict)
#   bash scripts/bootstrap.sh test     the whole default test suite
#   bash scripts/bootstrap.sh stress   the long stress runs
#   bash scripts/bootstrap.sh bench    the benchmarks
#   bash scripts/bootstrap.sh install-check   install.sh for real in a Debian 12 chroot (root, network, minutes)
#   bash scripts/bootstrap.sh setup    only install
#   bash scripts/bootstrap.sh lock     write constraints.txt from .venv (after an upgrade the suite passed)
# Idempotent: apt runs only when a package is missing, pip only when pyproject.toml or constraints.txt changed.
# Python packages are installed at the versions in constraints.txt: the ones the test suite ran with.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

APT_PACKAGES=(
  make gcc python3 python3-venv python3-dev
  sane-utils libsane1 libsane-dev
  tesseract-ocr tesseract-ocr-vie tesseract-ocr-eng tesseract-ocr-osd
  mosquitto mosquitto-clients
  softhsm2 opensc
  fonts-freefont-ttf
  poppler-utils qpdf ghostscript unpaper
  chromium
  libgl1 libglib2.0-0
  systemd iproute2 nginx-light shellcheck faketime
  postgresql
)

say() { printf '[bootstrap] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "apt packages already installed"
    return
  fi
  say "installing apt packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_venv() {
  local py=${SOHOA_PYTHON:-/usr/bin/python3}
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $py"
    "$py" -m venv .venv
  fi
  local stamp=.venv/.sohoa-installed
  local want
  want=$(cat pyproject.toml constraints.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "python dependencies up to date"
    return
  fi
  say "installing python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
  .venv/bin/python -m pip install -q --config-settings editable_mode=compat -c constraints.txt -e '.[test,bench]'
  echo "$want" > "$stamp"
}

install_eark_venv() {
  # The official E-ARK validator (test suite only) in its own venv: it pins lxml==5.1.0. The pin is read
  # from pyproject.toml's `eark` extra, so the version is written in one place.
  local py=${SOHOA_PYTHON:-/usr/bin/python3}
  local pin
  pin=$(.venv/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["eark"])')
  if [ -f .venv-eark/.sohoa-installed ] && [ "$(cat .venv-eark/.sohoa-installed)" = "$pin" ]; then
    return
  fi
  if [ ! -x .venv-eark/bin/python ]; then
    say "creating .venv-eark with $py"
    "$py" -m venv .venv-eark
  fi
  say "installing $pin into .venv-eark"
  .venv-eark/bin/python -m pip install -q "$pin"
  echo "$pin" > .venv-eark/.sohoa-installed
}

write_lock() {
  {
    echo "# The versions the test suite ran with: scripts/bootstrap.sh installs with \`pip install -c constraints.txt\`."
    echo "# Regenerate after an upgrade (docs/architecture.md, \"Pinned versions\"): bash scripts/bootstrap.sh lock"
    .venv/bin/python -m pip freeze --exclude-editable
  } > constraints.txt.new
  mv constraints.txt.new constraints.txt
  say "constraints.txt written ($(grep -c '==' constraints.txt) pins)"
}

job=${1:-setup}
if [ "$job" = lock ]; then write_lock; exit 0; fi
shift || true
install_apt
install_venv
install_eark_venv
export PATH="$here/.venv/bin:$PATH"
case "$job" in
  setup) say "ready: .venv/bin/sohoa --help" ;;
  demo) exec .venv/bin/sohoa demo "$@" ;;
  test) exec bash scripts/run-tests.sh "$@" ;;  # its own PostgreSQL cluster on a free port
  stress) SOHOA_TEST_MARK=stress exec bash scripts/run-tests.sh "$@" ;;
  bench) exec .venv/bin/python -m bench "$@" ;;
  install-check)
    if ! command -v debootstrap >/dev/null; then as_root apt-get install -y -q --no-install-recommends debootstrap; fi
    as_root env SOHOA_CHECK_ROOT="${SOHOA_CHECK_ROOT:-}" SOHOA_CHECK_WORKTREE="${SOHOA_CHECK_WORKTREE:-0}" \
      bash scripts/install-check.sh "$@" ;;
  *) say "unknown job '$job' (demo | test | stress | bench | install-check | setup)"; exit 2 ;;
esac
