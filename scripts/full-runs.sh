#!/usr/bin/env bash
# Every full-mode run the book reads, three seeds each, written to results/ (needs a GPU).
# Usage: bash scripts/full-runs.sh [seeds...]   (default: 0 1 2). Existing files are kept.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=("${@:-0 1 2}")
seeds=(${seeds[*]})
run() {  # run OUT ARGS...: one run, skipped when its result exists
  local out="results/$1"; shift
  [ -f "$out" ] && { echo "keep $out"; return; }
  python -m splicer_tutorial run --mode full "$@" --out "$out"
}
for s in "${seeds[@]}"; do
  # chapter 2: supervised binary dominoes
  run "supervised-s$s.json" --dataset binary_dominoes --seed "$s"
  # chapter 3: feature suppression, with reference bars
  for method in simclr vicreg; do
    run "dominoes-$method-baseline-s$s.json" --method "$method" --seed "$s" --curve-every 10
    run "dominoes-$method-cifar_only-s$s.json" --method "$method" --reference cifar_only --seed "$s"
    run "dominoes-$method-mnist_only-s$s.json" --method "$method" --reference mnist_only --seed "$s"
  done
  run "dominoes-simclr-random_init-s$s.json" --method simclr --reference random_init --seed "$s"
done
# chapter 4: RandBits, the full grid of bits x temperature, and the random-encoder reference
grid=$(python -c "import splicer_tutorial as st; g = st.randbits.PRESETS['full']['grid']; print(' '.join(f'{b}:{t}' for t in g['temperatures'] for b in g['bits']))")
for s in "${seeds[@]}"; do
  for pair in $grid; do
    b=${pair%%:*}; t=${pair##*:}
    run "randbits-b$b-t$t-s$s.json" --dataset randbits --bits "$b" --temperature "$t" --seed "$s"
  done
  for b in $(python -c "import splicer_tutorial as st; print(*st.randbits.PRESETS['full']['grid']['bits'])"); do
    run "randbits-b$b-random_init-s$s.json" --dataset randbits --bits "$b" --reference random_init --seed "$s"
  done
done
