#!/usr/bin/env bash
# The default suite: everything but the long stress runs (SOHOA_TEST_MARK=stress: only those). Components are required (SOHOA_REQUIRE_ALL=1):
# a missing scanner backend, broker, Tesseract, token or browser fails the run instead of skipping.
#
# PostgreSQL: the suite gets its own throw-away cluster on a free loopback port (scripts/pg-private.sh),
# never whatever already listens on 5432; SOHOA_TEST_PG set by the caller wins.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOHOA_REQUIRE_ALL=1
.venv/bin/ruff check station server protocol sohoa tests bench
if [ -z "${SOHOA_TEST_PG:-}" ]; then
  # shellcheck source=scripts/pg-private.sh
  . scripts/pg-private.sh
  pg_private_start
  trap pg_private_stop EXIT
fi
status=0
.venv/bin/python -m pytest -m "${SOHOA_TEST_MARK:-not stress}" -p no:cacheprovider "$@" || status=$?
exit "$status"
