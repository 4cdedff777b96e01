#!/usr/bin/env bash
# The default suite: everything but the long stress runs (SOHOA_TEST_MARK=stress: only those). Components are
# required (SOHOA_REQUIRE_ALL=1): a missing scanner backend, broker, Tesseract, token or browser fails the run
# instead of skipping. Arguments go to pytest (test paths: only those).
#
# PostgreSQL: the suite gets its own throw-away cluster on a free loopback port (scripts/pg-private.sh),
# never whatever already listens on 5432; SOHOA_TEST_PG set by the caller wins.
#
# One pytest process. paho-mqtt's network loop uses select(), which cannot watch a descriptor numbered 1024 or
# more: tests/support/fdwatch.py fails any test module that leaves descriptors open, so the process stays far
# below that. The last line sums the run up: `total: N passed, M failed, K skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOHOA_REQUIRE_ALL=1
.venv/bin/ruff check station server protocol sohoa tests bench
.venv/bin/lint-imports --no-logo --no-cache >/dev/null || .venv/bin/lint-imports --no-logo --no-cache  # the layering (pyproject.toml)
bash scripts/i18n.sh check  # the catalogue is up to date with the code's texts (docs/architecture.md, Translation)
.venv/bin/mypy  # the types (pyproject.toml [tool.mypy]: strict on protocol/, typed defs but in bench/)
results=$(mktemp -d /tmp/sohoa-tests.XXXXXX)
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  rm -rf "$results"
  if declare -F pg_private_stop >/dev/null; then pg_private_stop; fi
}
trap cleanup EXIT
if [ -z "${SOHOA_TEST_PG:-}" ]; then
  # shellcheck source=scripts/pg-private.sh
  . scripts/pg-private.sh
  pg_private_start
fi
status=0
.venv/bin/python -m pytest -m "${SOHOA_TEST_MARK:-not stress}" -p no:cacheprovider --durations=15 --junitxml="$results/suite.xml" \
  "$@" || status=$?
if [ "$status" -eq 5 ] && [ "${SOHOA_TEST_MARK:-}" = stress ]; then status=0; fi  # 5: no stress test selected
.venv/bin/python - "$results/suite.xml" <<'PY'
import pathlib, sys
import xml.etree.ElementTree as ET
total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
path = pathlib.Path(sys.argv[1])
if path.exists():
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for key in total:
            total[key] += int(suite.get(key, 0))
failed = total["failures"] + total["errors"]
passed = total["tests"] - failed - total["skipped"]
print(f"total: {passed} passed, {failed} failed, {total['skipped']} skipped")
PY
exit "$status"
