#!/usr/bin/env bash
# Set up and run the tests: the unit tests, every notebook end to end (nbmake, outputs kept),
# then the book built from those outputs without executing anything again.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
export SPLICER_MODE=fast
python -m pytest tests book --nbmake --nbmake-timeout=600 --overwrite -p no:cacheprovider --durations=8 "$@"
jupyter-book build . -W --keep-going
