#!/usr/bin/env bash
# Set up and run the tests: the unit tests and every notebook end to end (nbmake, outputs kept),
# then the book built from those outputs without executing anything again, then every built
# page opened in headless Chromium (tests/browser).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# Debian's Chromium and ChromeDriver for the browser test.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && command -v sudo > /dev/null && sudo="sudo"
  { $sudo apt-get install -y -qq chromium chromium-driver > /dev/null 2>&1 \
    || { $sudo apt-get update -qq > /dev/null 2>&1 && $sudo apt-get install -y -qq chromium chromium-driver > /dev/null 2>&1; }; } \
    || echo "test: could not install the Debian packages chromium and chromium-driver; the browser test will fail" >&2
fi
export SPLICER_MODE=fast
# Two workers (pytest-xdist), one torch thread each: the fast-mode models are small, so two
# single-threaded kernels finish far sooner than one two-threaded kernel at a time, and one
# thread each keeps OpenMP from spinning on a busy core. Tests go out one at a time to
# whichever worker is free (--maxschedchunk 1), chapters first and the later (longer)
# chapters before the earlier ones, so that no long chapter starts last and runs alone.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
chapters=$(ls book/*.ipynb | sort -r)
python -m pytest $chapters tests --ignore=tests/browser --nbmake --nbmake-timeout=600 --overwrite \
  -p no:cacheprovider -n "${SPLICER_TEST_WORKERS:-2}" --dist load --maxschedchunk 1 --durations=12 "$@"
python scripts/fetch_page_js.py
# Build from the outputs nbmake wrote, executing nothing again (the config's "cache" would run every
# notebook again through jupyter-cache).
# (The copy sits beside _config.yml, as its relative paths are read from where it is.)
sed 's/^  execute_notebooks: cache$/  execute_notebooks: "off"/' _config.yml > _config.executed.yml
grep -q 'execute_notebooks: "off"' _config.executed.yml
jupyter-book build . -W --keep-going --config _config.executed.yml
SPLICER_BROWSER_TEST=required python -m pytest tests/browser -p no:cacheprovider -q
echo "Screenshots of every page: $(pwd)/_build/screenshots"
