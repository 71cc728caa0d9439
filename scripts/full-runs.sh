#!/usr/bin/env bash
# Every full-mode run the book reads, three seeds each, written to results/ (needs a GPU).
# Usage: bash scripts/full-runs.sh [seeds...]   (default: 0 1 2). Existing files are kept.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# the speed of this GPU, for the "How fast is it?" page
[ -f results/bench-gpu-full.json ] || python -m splicer_tutorial bench --mode full --out results/bench-gpu-full.json
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
  # chapter 7: SpliCER and its alternatives
  for method in simclr vicreg; do
    for variant in splicer sigma_je average separate; do
      run "dominoes-$method-$variant-s$s.json" --method "$method" --variant "$variant" --seed "$s"
    done
  done
  # chapter 8: ablations of SpliCER (SimCLR), one setting changed each
  run "ablation-quarters-s$s.json" --variant splicer --sections 2x2 --seed "$s"
  run "ablation-lam0.5-s$s.json" --variant splicer --lam 0.5 --seed "$s"
  run "ablation-lam2-s$s.json" --variant splicer --lam 2 --seed "$s"
  run "ablation-no_primary-s$s.json" --variant splicer --no-primary --seed "$s"
  run "ablation-crop-s$s.json" --variant splicer --fill crop --seed "$s"
  run "ablation-same_geometry-s$s.json" --variant splicer --same-geometry --seed "$s"
  run "ablation-block-s$s.json" --variant splicer --projector block --seed "$s"
  run "ablation-joint_pass-s$s.json" --variant splicer --joint-pass --seed "$s"
  # chapter 10: the channel toy
  run "channel_toy-baseline-s$s.json" --dataset channel_toy --seed "$s"
  run "channel_toy-splicer-groups-s$s.json" --dataset channel_toy --variant splicer \
    --groups code+digit,fashion+object --seed "$s"
  run "channel_toy-splicer-channels-s$s.json" --dataset channel_toy --variant splicer --seed "$s"
  run "channel_toy-only_hard-s$s.json" --dataset channel_toy --reference only:fashion+object --seed "$s"
  run "channel_toy-random_init-s$s.json" --dataset channel_toy --reference random_init --seed "$s"
  # chapter 11: synthetic multiplex cells
  run "multiplex-baseline-s$s.json" --dataset multiplex --seed "$s"
  run "multiplex-splicer-s$s.json" --dataset multiplex --variant splicer --seed "$s"
  run "multiplex-splicer-lam3-s$s.json" --dataset multiplex --variant splicer --lam 3 --seed "$s"
  run "multiplex-separate-s$s.json" --dataset multiplex --variant separate --seed "$s"
  run "multiplex-without_nuisance-s$s.json" --dataset multiplex \
    --reference only:DAPI+membrane+CD3+CD4+CD8+CD20 --seed "$s"
  run "multiplex-random_init-s$s.json" --dataset multiplex --reference random_init --seed "$s"
  # chapter 12: synthetic multispectral tiles, and the chunk-allocation ablation
  run "multispectral-baseline-s$s.json" --dataset multispectral --seed "$s"
  run "multispectral-splicer-s$s.json" --dataset multispectral --variant splicer --seed "$s"
  for by in variance probe; do
    run "multispectral-splicer-$by-s$s.json" --dataset multispectral --variant splicer --allocate "$by" --seed "$s"
  done
  run "multispectral-without_visible-s$s.json" --dataset multispectral \
    --reference only:B1+B5+B6+B7+B8+B8A+B9+B10+B11+B12 --seed "$s"
  run "multispectral-random_init-s$s.json" --dataset multispectral --reference random_init --seed "$s"
  # chapter 13: histology tiles, SpliCER against the quality of its training masks
  run "histology-baseline-s$s.json" --dataset histology --seed "$s"
  run "histology-random_init-s$s.json" --dataset histology --reference random_init --seed "$s"
  for masks in ground_truth classical dilate:1 dilate:2 erode:1 drop:0.5 add:1.0 regions; do
    run "histology-splicer-${masks/:/}-s$s.json" --dataset histology --variant splicer --masks "$masks" --seed "$s"
  done
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
    # chapter 9: the channel split, at the temperature of strongest suppression
    if [ "$b" != 0 ]; then
      for variant in splicer sigma_je; do
        run "randbits-$variant-b$b-t0.2-s$s.json" --dataset randbits --bits "$b" --temperature 0.2 \
          --variant "$variant" --seed "$s"
      done
    fi
  done
done
