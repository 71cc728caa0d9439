"""The package's fingerprint: proof that a redesign changed no output.

Two parts:

* **data**: every loader's data (fast preset, seeds 0 and 1): dominoes, RandBits and each
  multi-channel data set, images, labels and masks in a fixed order, as a SHA-256 (bit for
  bit) and, per array, its dtype, shape, mean and standard deviation. The synthetic
  generators draw with torch's vectorised kernels (``normal_``, ``sin``, ``exp``), whose
  last bits depend on the CPU's instruction set, so on another kind of CPU a few pixels
  may round one grey level apart: there the summary must agree to within :data:`TOLERANCE`;
* **runs**: one committed fast-mode result per data family and variant (seed 0), re-run
  from its recorded command; every number under ``probes``, ``naive_probes``, ``knn``,
  ``chunk_probes.matrix``, ``half_probes`` and the other probe records must come out
  identical (dates, timings and provenance are ignored).

    python scripts/fingerprint.py data  > before.json   # seconds
    python scripts/fingerprint.py data --check tests/fingerprint.json
    python scripts/fingerprint.py runs [--only GLOB]     # minutes per run, one thread

``data --check FILE`` and ``runs`` exit 1 and name what differs. tests/test_fingerprint.py
keeps the data part (and one run) as a test.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

#: One committed seed-0 fast result per data family and variant (results/fast/).
RUNS = (
    "dominoes-simclr-baseline-s0.json", "dominoes-simclr-splicer-s0.json", "dominoes-simclr-sigma_je-s0.json",
    "dominoes-simclr-average-s0.json", "dominoes-simclr-separate-s0.json", "dominoes-simclr-cifar_only-s0.json",
    "dominoes-simclr-random_init-s0.json", "dominoes-vicreg-splicer-s0.json",
    "dominoes-e4-simclr-splicer-block-s0.json", "dominoes-e4-simclr-splicer-crop-s0.json",
    "dominoes-e4-simclr-splicer-quarters-s0.json",
    "randbits-b4-t0.2-s0.json", "randbits-b4-t0.2-splicer-s0.json", "randbits-b4-t0.2-sigma_je-s0.json",
    "channel_toy-baseline-s0.json", "channel_toy-splicer-groups-s0.json", "channel_toy-only_hard-s0.json",
    "multiplex-splicer-s0.json", "multiplex-separate-s0.json", "multiplex-without_nuisance-s0.json",
    "multispectral-splicer-s0.json", "multispectral-splicer-variance-s0.json",
    "histology-splicer-ground_truth-s0.json", "histology-splicer-regions-s0.json",
    "supervised-s0.json",
)

#: Result keys that are not outputs of the experiment.
IGNORED = {"command", "date", "device", "versions", "wall_s", "commit", "history"}


def _as_numpy(array) -> np.ndarray:
    return array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)


def _digest(*arrays) -> str:
    hasher = hashlib.sha256()
    for array in arrays:
        array = _as_numpy(array)
        hasher.update(str((array.dtype, array.shape)).encode())
        hasher.update(np.ascontiguousarray(array).tobytes())
    return hasher.hexdigest()[:16]


#: How far an array's mean or standard deviation may move on another kind of CPU (a few
#: pixels one grey level apart move a mean by about 1e-5 grey levels; a real change, far more).
TOLERANCE = 1e-3


def _summary(*arrays) -> list[list]:
    """[dtype, shape, mean, standard deviation] of each array: what must not change across CPUs."""
    out = []
    for array in arrays:
        array = _as_numpy(array)
        values = array.astype(np.float64)
        out.append([str(array.dtype), list(array.shape), float(values.mean()) if values.size else 0.0,
                    float(values.std()) if values.size else 0.0])
    return out


def same_data(saved: dict | str, found: dict | str) -> bool:
    """Whether two fingerprints of one loader say the same data: bit for bit, or, where the
    bits differ (another kind of CPU), the same dtypes and shapes and every mean and standard
    deviation within :data:`TOLERANCE` (relative to the array's scale, at least 1)."""
    if saved == found or isinstance(saved, str) or isinstance(found, str):
        return saved == found
    if saved["sha"] == found["sha"]:
        return True
    if len(saved["arrays"]) != len(found["arrays"]):
        return False
    return all(a[:2] == b[:2] and all(abs(x - y) <= TOLERANCE * max(1.0, abs(x)) for x, y in zip(a[2:], b[2:]))
               for a, b in zip(saved["arrays"], found["arrays"]))


def as_json(found: dict[str, dict | str]) -> str:
    """The data fingerprint as JSON text, one line per loader's SHA and one per array, so that
    a diff of ``tests/fingerprint.json`` names the loader and the array that changed."""
    entries = []
    for key, value in found.items():
        if isinstance(value, dict):
            arrays = ",\n".join(f"   {json.dumps(array)}" for array in value["arrays"])
            entries.append(f' {json.dumps(key)}: {{"sha": {json.dumps(value["sha"])}, "arrays": [\n{arrays}\n  ]}}')
        else:
            entries.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(entries) + "\n}\n"


def _tensors(value, prefix: str = ""):
    """(name, array) for every tensor or array inside a data set, in a fixed order."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        yield prefix, value
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _tensors(value[key], f"{prefix}/{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{prefix}/{i}")
    elif hasattr(value, "__dataclass_fields__"):
        for key in sorted(value.__dataclass_fields__):
            yield from _tensors(getattr(value, key), f"{prefix}.{key}")


def data_fingerprint() -> dict[str, dict | str]:
    """``{"<loader> seed <s>": {"sha": sha256 prefix, "arrays": _summary}}`` for every loader,
    fast preset, seeds 0 and 1 (``"not available"`` for a real data set not shipped here)."""
    import splicer_tutorial as st

    loaders = {
        "dominoes": lambda seed: st.experiments.load_dominoes("fast", seed=seed),
        "randbits": lambda seed: st.randbits.load_randbits(4, seed=seed, **st.randbits.PRESETS["fast"]["data"]),
    }
    for name in sorted(st.channels.NAMES):
        loaders[name] = lambda seed, name=name: st.channels.get(name).load("fast", seed=seed)
    out = {}
    for name, load in loaders.items():
        for seed in (0, 1):
            try:
                arrays = [array for _, array in _tensors(load(seed))]
            except st.datasets.DataNotFoundError:  # a real data set not shipped here (EuroSAT)
                out[f"{name} seed {seed}"] = "not available"
                continue
            out[f"{name} seed {seed}"] = {"sha": _digest(*arrays), "arrays": _summary(*arrays)}
    return out


def _outputs(result: dict) -> dict:
    return {key: value for key, value in result.items() if key not in IGNORED}


def _differences(before, after, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        found = [f"{path}.{key}: only before" for key in before.keys() - after.keys()]
        found += [f"{path}.{key}: only after" for key in after.keys() - before.keys()]
        for key in sorted(before.keys() & after.keys()):
            found += _differences(before[key], after[key], f"{path}.{key}")
        return found
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"[:200]]


def rerun(name: str, folder: Path) -> list[str]:
    """Re-run ``results/fast/<name>``'s recorded command; the differences in its outputs.

    Keys present only after the rerun are new records, not changes, and are not listed."""
    committed = json.loads((ROOT / "results" / "fast" / name).read_text())
    words = shlex.split(committed["command"])
    words[words.index("--out") + 1] = str(folder / name)
    done = subprocess.run([sys.executable, *words[1:]], cwd=folder, capture_output=True, text=True)
    if done.returncode:
        return [f"the command failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"]
    again = json.loads((folder / name).read_text())
    return [d for d in _differences(_outputs(committed), _outputs(again)) if not d.endswith("only after")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("data", "runs"))
    parser.add_argument("--check", type=Path, help="data: compare with this saved fingerprint")
    parser.add_argument("--only", default="*", help="runs: only result files matching this glob")
    args = parser.parse_args(argv)
    if args.part == "data":
        found = data_fingerprint()
        if args.check is None:
            print(as_json(found), end="")
            return 0
        saved = json.loads(args.check.read_text())
        differing = [key for key in saved.keys() | found.keys()
                     if key not in saved or key not in found or not same_data(saved[key], found[key])]
        for key in sorted(differing):
            print(f"data differs: {key}: {str(saved.get(key))[:300]} -> {str(found.get(key))[:300]}")
        bitwise = sum(isinstance(saved.get(k), dict) and saved[k]["sha"] == found[k]["sha"] for k in found)
        print(f"data: the same ({bitwise} of {len(found)} bit for bit)" if not differing
              else f"data: {len(differing)} loaders differ")
        return 1 if differing else 0
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for name in RUNS:
            if not fnmatch.fnmatch(name, args.only):
                continue
            differences = rerun(name, Path(folder))
            failed += bool(differences)
            print(f"{name}: " + ("identical" if not differences else "DIFFERS\n  " + "\n  ".join(differences[:10])),
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
