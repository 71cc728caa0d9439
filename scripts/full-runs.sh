#!/usr/bin/env bash
# Every full-mode run the book reads, three seeds each (needs a GPU): the sweep's 'full' plan,
# the book's central claim first. Runs already in results/ are skipped; run it again to go on.
# Usage: bash scripts/full-runs.sh [sweep options, e.g. --seeds 0-4 --budget 3600 --jobs 2]
# A thin wrapper around `sweep --plan full` (plus the GPU benchmark), kept for a machine already set
# up: scripts/gpu-results.sh runs the same plan on a node without a network (install from a
# wheelhouse, data check, a 540 s budget by default, the small-image runs several at a time).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# the speed of this GPU, for the "How fast is it?" page
[ -f results/bench-gpu-full.json ] || python -m splicer_tutorial bench --mode full --out results/bench-gpu-full.json
exec python -m splicer_tutorial sweep --plan full "$@"
