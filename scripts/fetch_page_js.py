"""Fetch the scripts the built book's pages load, so that they work offline too.

* **Widgets.** The notebooks are executed with their widget state saved; in the HTML each
  widget is drawn from it by the ``@jupyter-widgets/html-manager`` embedder, loaded through
  RequireJS (``requirejs``).
* **Maths.** MathJax 3 (``mathjax``): the TeX-to-HTML bundle, its fonts and the TeX
  extensions it loads on demand.

All three come from the npm registry at pinned versions, checked against the registry's
sha512, into ``_fetched/`` (not committed), which Sphinx serves as ``_static/``
(``html_static_path`` in ``_config.yml``). ``scripts/build-book.sh`` and ``scripts/test.sh``
run this before ``jupyter-book build``; nothing is fetched when the files are already there
at the pinned versions.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "_fetched"
REGISTRY = "https://registry.npmjs.org"
STAMP = DEST / "versions.json"

# name, version, tarball sha512 (the registry's dist.integrity), where its files go under
# _fetched/, and which of the tarball's files to keep (paths under package/)
PACKAGES = [
    ("@jupyter-widgets/html-manager", "1.0.15",
     "5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
     "widgets/@jupyter-widgets/html-manager",
     # the AMD embedder and the icon fonts it loads relative to the CDN path
     lambda path: path.startswith("dist/") and path.endswith(("embed-amd.js", ".woff", ".woff2", ".ttf", ".eot", ".svg"))),
    ("requirejs", "2.3.8",
     "7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
     "widgets",
     lambda path: path == "require.js"),
    ("mathjax", "3.2.2",
     "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
     "mathjax",
     lambda path: path == "es5/tex-mml-chtml.js" or path.startswith(
         ("es5/output/chtml/fonts/woff-v2/", "es5/input/tex/extensions/", "es5/a11y/", "es5/ui/"))),
]


def _tarball_url(name: str, version: str) -> str:
    return f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz"


def _fetch(name: str, version: str, sha512: str) -> bytes:
    url = _tarball_url(name, version)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as error:
        raise SystemExit(
            f"fetch_page_js: could not download {name}@{version} from {url} ({error}). The built "
            "book needs it to draw its widgets and maths; connect to the npm registry and run "
            "`python scripts/fetch_page_js.py` again."
        ) from error
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != sha512:
        raise SystemExit(f"fetch_page_js: {url} does not match its pinned sha512 (got {digest}); "
                         "refusing to use it. Check the versions pinned in scripts/fetch_page_js.py.")
    return data


def main() -> int:
    wanted = {name: version for name, version, *_ in PACKAGES}
    if STAMP.exists() and json.loads(STAMP.read_text()) == wanted:
        return 0
    shutil.rmtree(DEST, ignore_errors=True)
    for name, version, sha512, folder, keep in PACKAGES:
        with tarfile.open(fileobj=io.BytesIO(_fetch(name, version, sha512)), mode="r:gz") as tar:
            kept = 0
            for member in tar.getmembers():
                path = member.name.removeprefix("package/")
                if member.isfile() and keep(path):
                    data = tar.extractfile(member).read()
                    targets = [DEST / folder / path]
                    if name == "@jupyter-widgets/html-manager" and not path.endswith(".js"):
                        # the controls' styles look for the same fonts one level up
                        targets.append(DEST / "widgets" / "@jupyter-widgets" / Path(path).name)
                    for target in targets:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(data)
                    kept += 1
            if not kept:
                raise SystemExit(f"fetch_page_js: {name}@{version} holds none of the expected files")
    STAMP.write_text(json.dumps(wanted, indent=2) + "\n")
    print(f"fetch_page_js: {', '.join(f'{n}@{v}' for n, v in wanted.items())} in {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
