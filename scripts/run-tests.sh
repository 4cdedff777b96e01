#!/usr/bin/env bash
# The default suite: everything but the long stress runs (SOHOA_TEST_MARK=stress: only those). Components are
# required (SOHOA_REQUIRE_ALL=1): a missing scanner backend, broker, Tesseract, token or browser fails the run
# instead of skipping.
#
# PostgreSQL: the suite gets its own throw-away cluster on a free loopback port (scripts/pg-private.sh),
# never whatever already listens on 5432; SOHOA_TEST_PG set by the caller wins.
#
# The suite runs as a few pytest processes, one per group of folders: paho-mqtt's network loop uses select(),
# which cannot watch a descriptor numbered 1024 or more, and one process running every test got past that
# (fixtures that keep databases open) and then failed every MQTT test after it. The last line sums them up.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOHOA_REQUIRE_ALL=1
.venv/bin/ruff check station server protocol sohoa tests bench
.venv/bin/lint-imports --no-logo --no-cache >/dev/null || .venv/bin/lint-imports --no-logo --no-cache  # the layering (pyproject.toml)
if [ -z "${SOHOA_TEST_PG:-}" ]; then
  # shellcheck source=scripts/pg-private.sh
  . scripts/pg-private.sh
  pg_private_start
  trap pg_private_stop EXIT
fi
mark=${SOHOA_TEST_MARK:-not stress}
for arg in "$@"; do  # tests named on the command line: one process, as asked (no exec: the trap must run)
  if [ -e "${arg%%::*}" ]; then
    status=0
    .venv/bin/python -m pytest -m "$mark" -p no:cacheprovider "$@" || status=$?
    exit "$status"
  fi
done
groups=(
  "tests/appliance"
  "tests/browser"
  "tests/protocol tests/security"
  "$(echo tests/server/test_[a-l]*.py)"
  "$(echo tests/server/test_[m-z]*.py)"
  "$(echo tests/station/test_[a-o]*.py)"
  "$(echo tests/station/test_[p-z]*.py)"
  "$(echo tests/test_*.py)"
)
results=$(mktemp -d /tmp/sohoa-tests.XXXXXX)
status=0
for i in "${!groups[@]}"; do
  # shellcheck disable=SC2086  # a group is a list of paths
  .venv/bin/python -m pytest -m "$mark" -p no:cacheprovider --junitxml="$results/group-$i.xml" \
    ${groups[$i]} "$@" || { rc=$?; [ "$rc" -eq 5 ] || status=1; }  # 5: no test in this group (stress)
done
.venv/bin/python - "$results" <<'PY'
import pathlib, sys
import xml.etree.ElementTree as ET
total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for path in sorted(pathlib.Path(sys.argv[1]).glob("group-*.xml")):
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for key in total:
            total[key] += int(suite.get(key, 0))
failed = total["failures"] + total["errors"]
passed = total["tests"] - failed - total["skipped"]
print(f"total: {passed} passed, {failed} failed, {total['skipped']} skipped")
PY
rm -rf "$results"
exit "$status"
