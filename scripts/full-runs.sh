#!/usr/bin/env bash
# Every full-mode run the book reads, three seeds each (needs a GPU): the sweep's 'full' plan,
# the book's central claim first. Runs already in results/ are skipped; run it again to go on.
# Usage: bash scripts/full-runs.sh [sweep options, e.g. --seeds 0-4 --budget 3600 --jobs 2]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# the speed of this GPU, for the "How fast is it?" page
[ -f results/bench-gpu-full.json ] || python -m splicer_tutorial bench --mode full --out results/bench-gpu-full.json
exec python -m splicer_tutorial sweep --plan full "$@"
