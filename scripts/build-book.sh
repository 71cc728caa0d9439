#!/usr/bin/env bash
# Set up and build the book into _build/html, executing every chapter (fast mode without a GPU).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
python scripts/fetch_page_js.py  # widget and maths scripts, served from the book itself
jupyter-book build . -W --keep-going
echo "The book is in $(pwd)/_build/html/index.html"
