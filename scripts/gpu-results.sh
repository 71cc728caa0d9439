#!/usr/bin/env bash
# The book's full-mode results from one command on a GPU node without a network (issue 18):
# install the package and what the node lacks from a wheelhouse folder (filled by
# scripts/wheelhouse.sh on a machine with a network), check the data, then run the plan in
# its order of importance within a time budget. The dominoes runs go one at a time; the runs
# on small images (RandBits, channel toy, multiplex, multispectral, histology) go several at a
# time, as concurrent processes on the one GPU. Each maximal stretch of one kind in the plan
# is one step: one `sweep` call, given what is left of the budget. Runs already done are
# skipped, so running the same command again goes on where it stopped.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash scripts/gpu-results.sh [options]

Runs the book's full-mode plan on this machine's GPU within a time budget; run it again to go on.

  --budget SECONDS  start no run that would not end within this many seconds, counted from the
                    first run (the install and the data check come before) (default 540)
  --wheelhouse DIR  first install splicer-tutorial and what this Python lacks from DIR, without a
                    network (pip --no-index; fill DIR with scripts/wheelhouse.sh)
  --results DIR     the results folder (default: $SPLICER_RESULTS_DIR, else the checkout's results/)
  --device DEVICE   passed to every run, e.g. cuda, cuda:1, cpu (default: a GPU if present)
  --seeds SEEDS     e.g. 0-2 or 0,1,2 (default 0-2)
  --plan NAME|FILE  a named plan of `sweep` or a plan file (default full)
  --jobs N          the small-image runs at once (default 4); the dominoes runs go one at a time
  --list            print the steps and how many runs each has left; run nothing
  -h, --help        this help

Python: the active virtual or conda environment, else the checkout's .venv (made with
--wheelhouse when missing). Exit status: 0 when the plan is done or the budget ran out, 1 when
a run failed or a check did, 2 for a bad option, 130 when stopped by a signal.
EOF
}
say() { echo "gpu-results: $*"; }
fail() { echo "gpu-results: $1" >&2; exit "${2:-1}"; }

budget=540 wheelhouse="" results="${SPLICER_RESULTS_DIR:-}" device="" seeds=0-2 plan=full jobs=4 list=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --list) list=1; shift ;;
    --budget|--wheelhouse|--results|--device|--seeds|--plan|--jobs)
      [[ $# -ge 2 && -n ${2:-} ]] || fail "$1 needs a value; see --help" 2
      printf -v "${1#--}" '%s' "$2"
      shift 2 ;;
    *) fail "unknown option '$1'; see --help" 2 ;;
  esac
done
{ [[ $budget =~ ^[0-9]*[.]?[0-9]+$ ]] && awk -v b="$budget" 'BEGIN { exit !(b > 0) }'; } \
  || fail "--budget: expected a positive number of seconds, got '$budget'" 2
[[ $jobs =~ ^[1-9][0-9]*$ ]] || fail "--jobs: expected a positive integer, got '$jobs'" 2
here=$PWD
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
if [ -f "$(absolute "$plan")" ] || [[ $plan == */* ]]; then plan=$(absolute "$plan"); fi
[ -z "$results" ] || results=$(absolute "$results")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
results=${results:-$PWD/results}
if [ -n "$wheelhouse" ]; then
  [ -d "$(absolute "$wheelhouse")" ] || fail "--wheelhouse: no folder '$wheelhouse'" 2
  wheelhouse=$(cd "$(absolute "$wheelhouse")" && pwd)
fi

# Python: the active environment, else .venv (scripts/setup.sh makes it with a network; here a
# wheelhouse fills it).
if [ -z "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ]; then
  if [ ! -x .venv/bin/python ] && [ -n "$wheelhouse" ]; then python3 -m venv .venv; fi
  # shellcheck disable=SC1091
  if [ -x .venv/bin/python ]; then . .venv/bin/activate; fi
fi
python=$(command -v python || command -v python3) || fail "no python on PATH; activate an environment first"
if [ -n "$wheelhouse" ]; then
  compgen -G "$wheelhouse/splicer_tutorial-*.whl" > /dev/null \
    || fail "$wheelhouse holds no wheel of splicer-tutorial; fill it with scripts/wheelhouse.sh"
  # what is installed already (an editable checkout, torch) stays; only what is missing comes from DIR
  "$python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheelhouse" \
    "splicer-tutorial[notebooks]" \
    || fail "pip could not install from $wheelhouse without a network (its error is above); fill it with \
scripts/wheelhouse.sh for this node's $("$python" -V 2>&1) and platform"
fi
# as scripts/setup.sh: the offline copies of MNIST and CIFAR-10 in ../shared/data; and no downloads
if [ -z "${SPLICER_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  SPLICER_DATA_DIR="$(cd ../shared/data && pwd)"
  export SPLICER_DATA_DIR
fi
export SPLICER_OFFLINE="${SPLICER_OFFLINE:-1}"

last_line() { grep -v '^[[:space:]]*$' <<< "$1" | tail -n 1 | sed 's/^python -m splicer_tutorial [a-z]*: error: //'; }
if [ "$list" = 0 ]; then
  checked=$("$python" -m splicer_tutorial data 2>&1) || {
    problem=$(last_line "$checked")
    [[ $problem != *"No module named"* ]] || problem+="; install it: --wheelhouse DIR, filled by scripts/wheelhouse.sh"
    fail "the data check failed: $problem"
  }
  checked=$(head -n 1 <<< "$checked")
  say "data checked: ${checked#Data folder: }"
fi

# Each run's state (this also checks the plan and the seeds), then the plan's lines in order.
listing=$("$python" -m splicer_tutorial sweep --plan "$plan" --seeds "$seeds" --results "$results" --list 2>&1) \
  || { status=$?; fail "$(last_line "$listing")" "$status"; }
declare -A state=()
while IFS= read -r row; do
  [ -n "$row" ] || continue
  name=${row:11}
  case "$row" in "CONFLICT "*) state[${name%%: *}]=conflict ;; "done "*) state[$name]="done" ;; *) state[$name]=todo ;; esac
done <<< "$listing"
if [ -f "$plan" ]; then
  text=$(cat "$plan")
else
  text=$("$python" -c 'import sys; from splicer_tutorial import plans; print("\n".join(plans.PLANS[sys.argv[1]].lines()))' "$plan")
fi
if [[ $seeds == *-* ]]; then seed_list=$(seq "${seeds%-*}" "${seeds#*-}"); else seed_list=${seeds//,/ }; fi

# Steps: the plan's runs, seeds expanded in the sweep's order (line by line, seed by seed), cut
# where the runs change between dominoes and small images. A step's runs go to its own plan file.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small='[[:space:]]--dataset[=[:space:]]+(randbits|channel_toy|multiplex|multispectral|eurosat_ms|histology)([[:space:]]|$)'
steps=0 kind="" todo=() step_jobs=() step_runs=() step_todo=() step_first=() step_last=()
while IFS= read -r line; do
  line=${line#"${line%%[![:space:]]*}"}
  [[ -z $line || $line == \#* ]] && continue
  if [[ " $line" =~ $small ]]; then this=small; else this=dominoes; fi
  if [ "$this" != "$kind" ]; then
    kind=$this steps=$((steps + 1))
    step_runs[steps]=0 step_todo[steps]=0 step_first[steps]=""
    if [ "$kind" = small ]; then step_jobs[steps]=$jobs; else step_jobs[steps]=1; fi
  fi
  # shellcheck disable=SC2086  # the seeds are words
  for seed in $([[ $line == *"{seed}"* ]] && echo $seed_list || echo once); do
    run=${line//\{seed\}/$seed}
    read -r name _ <<< "$run"
    echo "$run" >> "$tmp/step-$steps.plan"
    step_runs[steps]=$((step_runs[steps] + 1))
    step_first[steps]=${step_first[steps]:-$name} step_last[steps]=$name
    if [ "${state[$name]:-todo}" = todo ]; then
      todo+=("$name")
      step_todo[steps]=$((step_todo[steps] + 1))
    fi
  done
done <<< "$text"

summary() {  # the one line that ends every run of this script: what is done and what is left
  # (with an argument: what this run did and how long it took)
  local total=${#state[@]} before=0 now=0 conflicts=0 name
  for name in ${state[@]+"${!state[@]}"}; do
    case "${state[$name]}" in done) before=$((before + 1)) ;; conflict) conflicts=$((conflicts + 1)) ;; esac
  done
  for name in ${todo[@]+"${todo[@]}"}; do [ ! -f "$results/$name" ] || now=$((now + 1)); done
  local left=$((total - before - now - conflicts))
  echo -n "gpu-results: $((before + now)) of $total runs done${1:+ ($now this time)}, $left left"
  [ "$conflicts" = 0 ] || echo -n ", $conflicts conflicts (made by other arguments: see sweep --list)"
  echo -n "${1:-}"
  if [ "$left" = 0 ]; then echo "; the plan is done, in $results"
  elif [ -n "${1:-}" ]; then echo "; run the same command again to go on"
  else echo; fi
}
if [ "$list" = 1 ]; then
  for ((n = 1; n <= steps; n++)); do
    say "step $n: ${step_todo[n]} of ${step_runs[n]} to run, ${step_jobs[n]} at a time: ${step_first[n]} .. ${step_last[n]}"
  done
  summary
  exit 0
fi

# The steps, each a sweep given what is left of the budget. A signal stops the sweep in progress
# (it stops its runs, whose results are then not written) and then this script.
child="" stopped=0 failed=0 start=""
trap 'stopped=1; [ -z "$child" ] || kill -TERM "$child" 2> /dev/null || true' TERM INT
for ((n = 1; n <= steps; n++)); do
  [ "$stopped" = 0 ] || break
  [ "${step_todo[n]}" -gt 0 ] || continue
  if [ -z "$start" ]; then
    start=$SECONDS left_s=$budget
  else
    left_s=$(awk -v b="$budget" -v e=$((SECONDS - start)) 'BEGIN { if (b - e >= 1) print b - e }')
    [ -n "$left_s" ] || { say "the budget of $budget s is spent; step $n and later wait for the next run"; break; }
  fi
  say "step $n of $steps: ${step_todo[n]} to run, ${step_jobs[n]} at a time, within $left_s s: ${step_first[n]} .. ${step_last[n]}"
  command=(-m splicer_tutorial sweep --plan "$tmp/step-$n.plan" --results "$results" --jobs "${step_jobs[n]}"
           --budget "$left_s")
  [ -z "$device" ] || command+=(--device "$device")
  "$python" "${command[@]}" 2> "$tmp/stderr" &
  child=$!
  status=0
  wait "$child" || status=$?
  [ "$stopped" = 0 ] || { wait "$child" 2> /dev/null || true; }
  child=""
  if grep -q "^python -m splicer_tutorial sweep: error:" "$tmp/stderr"; then fail "$(last_line "$(cat "$tmp/stderr")")"; fi
  cat "$tmp/stderr" >&2
  case "$status" in 0) ;; 130) stopped=1 ;; *) failed=1 ;; esac
done
elapsed=$((SECONDS - ${start:-$SECONDS}))
if [ "$stopped" = 1 ]; then
  summary ", stopped by a signal after $elapsed s"
  exit 130
elif [ "$failed" = 1 ]; then
  summary ", in $elapsed s of the $budget s budget; some runs FAILED (see the sweep's report above)"
  exit 1
fi
summary ", in $elapsed s of the $budget s budget"
