#!/usr/bin/env bash
# The default suite: everything but the long stress runs. Components are required (SOHOA_REQUIRE_ALL=1):
# a missing scanner backend, broker, Tesseract, token or browser fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOHOA_REQUIRE_ALL=1
.venv/bin/ruff check station server protocol sohoa tests bench
exec .venv/bin/python -m pytest -m "not stress" -p no:cacheprovider "$@"
