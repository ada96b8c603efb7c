#!/usr/bin/env bash
# Run `mocap-bridge bench` and keep the JSON: benchmarks/run.sh [--quick] [--source FILE] [--clients N] ...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/results-$(hostname -s)-$(date +%Y%m%d-%H%M%S).json"
mocap-bridge bench --json "$@" > "$out"
echo "results: $out" >&2
