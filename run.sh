#!/usr/bin/env bash
# The main job: set up what is missing, then run the default scenario (out/four-node-day/latest/).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
exec eip run scenarios/four_node_day.yaml "$@"
