#!/usr/bin/env bash
# Fill a wheelhouse folder, on a machine with a network, for scripts/gpu-results.sh on a GPU node
# without one (issue 18): a wheel of this package, built from the checkout, then torch (chosen as
# scripts/setup.sh does) and every other dependency of splicer-tutorial[notebooks], as binary
# wheels for the node's Python and platform (pip download --only-binary=:all:).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash scripts/wheelhouse.sh DIR [options]

Fills DIR for `bash scripts/gpu-results.sh --wheelhouse DIR` on a node without a network: a wheel of
splicer-tutorial built from this checkout, and from the package index torch and every other
dependency of splicer-tutorial[notebooks], as binary wheels for the node's Python and platform.

  --python-version X.Y     the node's Python, as `python3 --version` there says (default 3.11)
  --platform TAG           the node's platform (default manylinux_2_28_x86_64: Linux on x86-64 with
                           glibc 2.28 or later, as `ldd --version` there says; torch's wheels need
                           it); a manylinux tag takes the older manylinux wheels too; repeatable
  --torch SPEC             the torch to download (default: torch==2.13.0, else torch>=2.2, as
                           scripts/setup.sh); the package index's torch for Linux is its CUDA build;
                           pip's settings (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL) pick another index
  -r, --requirements FILE  download these too (e.g. requirements.txt: the tests and the book)
  --package-only           build the package's wheel only (after a change to it); download nothing
  --dry-run                print the commands; run nothing
  -h, --help               this help
EOF
}
fail() { echo "wheelhouse: $1" >&2; exit "${2:-1}"; }

dir="" python_version=3.11 platforms=() torch="" requirements=() package_only=0 dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --package-only) package_only=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    --python-version|--platform|--torch|-r|--requirements)
      [[ $# -ge 2 && -n ${2:-} ]] || fail "$1 needs a value; see --help" 2
      case "$1" in
        --python-version) python_version=$2 ;;
        --platform) platforms+=("$2") ;;
        --torch) torch=$2 ;;
        *) [ -f "$2" ] || fail "$1: no file '$2'" 2; requirements+=(-r "$(cd "$(dirname "$2")" && pwd)/$(basename "$2")") ;;
      esac
      shift 2 ;;
    -*) fail "unknown option '$1'; see --help" 2 ;;
    *) [ -z "$dir" ] || fail "one folder only, got '$dir' and '$1'; see --help" 2; dir=$1; shift ;;
  esac
done
[ -n "$dir" ] || fail "give the folder to fill: bash scripts/wheelhouse.sh DIR; see --help" 2
[[ $python_version =~ ^3\.[0-9]+$ ]] || fail "--python-version: expected a version like 3.11, got '$python_version'" 2
[ ${#platforms[@]} -gt 0 ] || platforms=(manylinux_2_28_x86_64)

# A manylinux tag (manylinux_2_N_ARCH, or manylinux2014/2010/1_ARCH) stands for every manylinux tag
# of that glibc or an older one, as pip would accept on such a machine; other tags stay as they are.
compatible() {
  local tag=$1 glibc arch
  case "$tag" in
    manylinux_2_*) arch=${tag#manylinux_2_}; glibc=${arch%%_*}; arch=${arch#*_} ;;
    manylinux2014_*) glibc=17 arch=${tag#manylinux2014_} ;;
    manylinux2010_*) glibc=12 arch=${tag#manylinux2010_} ;;
    manylinux1_*) glibc=5 arch=${tag#manylinux1_} ;;
    *) echo "$tag"; return ;;
  esac
  [[ $glibc =~ ^[0-9]+$ && -n $arch && $arch != "$tag" ]] || fail "--platform: cannot read the manylinux tag '$tag'" 2
  for ((minor = glibc; minor >= 5; minor--)); do echo "manylinux_2_${minor}_$arch"; done
  if [ "$glibc" -ge 17 ]; then echo "manylinux2014_$arch"; fi
  if [ "$glibc" -ge 12 ]; then echo "manylinux2010_$arch"; fi
  echo "manylinux1_$arch"
}
platform_options=()
for tag in "${platforms[@]}"; do
  tags=$(compatible "$tag")
  while read -r each; do platform_options+=(--platform "$each"); done <<< "$tags"
done

case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=$(command -v python || command -v python3) || fail "no python on PATH"
run() {  # a command, or with --dry-run its words
  local words
  if [ "$dry_run" = 1 ]; then printf -v words '%q ' "$@"; echo "${words% }"; else "$@"; fi
}
[ "$dry_run" = 1 ] || mkdir -p "$dir"

# The package, built from a copy of the checkout (a build writes build/ and *.egg-info where it
# runs). Without build isolation when this Python has the build backend (setuptools >= 68, with
# wheel before 70.1), so that the build needs no network.
source_copy=$(mktemp -d)
trap 'rm -rf "$source_copy"' EXIT
cp -r pyproject.toml README.md LICENSE splicer_tutorial "$source_copy/"
find "$source_copy" -name __pycache__ -prune -exec rm -rf {} +
isolation=()
if "$python" -c 'import importlib.util as u, setuptools as s, sys; v = tuple(map(int, s.__version__.split(".")[:2]))
sys.exit(not (v >= (70, 1) or v >= (68, 0) and u.find_spec("wheel")))' 2> /dev/null; then
  isolation=(--no-build-isolation)
fi
[ "$dry_run" = 1 ] || rm -f "$dir"/splicer_tutorial-*.whl
run "$python" -m pip wheel --quiet --disable-pip-version-check --no-deps ${isolation[@]+"${isolation[@]}"} \
  -w "$dir" "$source_copy"
package=$(compgen -G "$dir/splicer_tutorial-*.whl" || echo "$dir/splicer_tutorial-VERSION-py3-none-any.whl")
if [ "$package_only" = 1 ]; then
  [ "$dry_run" = 1 ] || echo "wheelhouse: built $package"
  exit 0
fi

download=("$python" -m pip download --disable-pip-version-check --only-binary=:all: --python-version "$python_version"
          "${platform_options[@]}" -d "$dir" "${package}[notebooks]" ${requirements[@]+"${requirements[@]}"})
if [ -n "$torch" ]; then
  run "${download[@]}" "$torch"
else
  run "${download[@]}" "torch==2.13.0" || run "${download[@]}" "torch>=2.2"
fi
[ "$dry_run" = 0 ] || exit 0
if compgen -G "$dir/torch-*+cpu*" > /dev/null; then
  echo "wheelhouse: warning: the torch in $dir is a CPU build; for a GPU give --torch or a CUDA index" >&2
fi
wheels=$(compgen -G "$dir/*.whl" | wc -l)
echo "wheelhouse: $dir holds $wheels wheels ($(du -sh "$dir" | cut -f1)) for Python $python_version on" \
     "${platforms[*]}; on the node: bash scripts/gpu-results.sh --wheelhouse DIR"
