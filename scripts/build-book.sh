#!/usr/bin/env bash
# Set up and build the book into _build/html, executing every chapter (fast mode without a GPU).
# The chapters run two at a time (SPLICER_BUILD_JOBS), one torch thread each, into Jupyter
# Book's execution cache; the build then renders them. A rebuild runs only the chapters
# whose code changed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
python scripts/fetch_page_js.py  # widget and maths scripts, served from the book itself
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python scripts/execute_book.py --jobs "${SPLICER_BUILD_JOBS:-2}"
jupyter-book build . -W --keep-going
echo "The book is in $(pwd)/_build/html/index.html"
