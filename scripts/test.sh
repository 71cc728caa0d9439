#!/usr/bin/env bash
# Set up and run the tests: the unit tests, every notebook end to end (nbmake, outputs kept),
# then the book built from those outputs without executing anything again.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
export SPLICER_MODE=fast
# Two workers (pytest-xdist), one torch thread each: the fast-mode models are small, so two
# single-threaded kernels finish far sooner than one two-threaded kernel at a time, and one
# thread each keeps OpenMP from spinning on a busy core. Chapters first, as they are longest.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
python -m pytest book tests --nbmake --nbmake-timeout=600 --overwrite -p no:cacheprovider \
  -n "${SPLICER_TEST_WORKERS:-2}" --dist worksteal --durations=12 "$@"
jupyter-book build . -W --keep-going
