# Sourced by build-book.sh and test.sh: make (or reuse) .venv, install torch first, then the rest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first: the pinned CPU build lies on the project's machines; an unpinned torch downloads a CUDA build.
python -m pip install --quiet "torch==2.13.0" || python -m pip install --quiet "torch>=2.2"
python -m pip install --quiet -r requirements.txt
python -m pip install --quiet --no-deps -e .
# Fashion-MNIST (the channel-toy chapter) comes from the Debian package dataset-fashion-mnist.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get > /dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && command -v sudo > /dev/null && sudo="sudo"
  $sudo apt-get install -y -qq dataset-fashion-mnist > /dev/null 2>&1 \
    || { $sudo apt-get update -qq > /dev/null 2>&1 && $sudo apt-get install -y -qq dataset-fashion-mnist > /dev/null 2>&1; } \
    || echo "setup: could not install the Debian package dataset-fashion-mnist; the channel-toy chapter needs it" >&2
fi
# The offline copies of MNIST and CIFAR-10 sit in ../shared/data on the project's machines.
if [ -z "${SPLICER_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export SPLICER_DATA_DIR="$(cd ../shared/data && pwd)"
fi
