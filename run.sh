#!/usr/bin/env bash
# The main job: set up what is missing, then run the default scenario (for now the protocol demo).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
exec eip demo "$@"
