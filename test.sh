#!/usr/bin/env bash
# The whole test suite: set up what is missing, lint and format check with ruff, then unit, conformance and
# integration tests.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
ruff check .
ruff format --check .
exec python -m pytest "$@"
