"""The command line: ``python -m splicer_tutorial {data,run} ...``.

* ``data``: where the data folder is and which files are found, verified or missing.
* ``run``: one pretraining plus probing run, written as JSON with its provenance.

It calls the same functions the chapters call. A malformed argument exits with status 2,
a value the run rejects (``--epochs 0``, ``--device cuda`` without a GPU) with status 1;
both with a one-line message and no traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import datasets, experiments, losses, results

DATASETS = ("dominoes",)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m splicer_tutorial", description=__doc__.splitlines()[0].replace("``", "'"))
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("data", help="report the data folder and the files found in it")

    run = commands.add_parser("run", help="one pretraining and probing run, written as JSON")
    run.add_argument("--dataset", choices=DATASETS, default="dominoes")
    run.add_argument("--method", choices=sorted(losses.METHODS), default="simclr")
    run.add_argument("--variant", choices=list(losses.VARIANTS), default="baseline")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--mode", choices=("fast", "full"), default=None,
                     help="default: $SPLICER_MODE, else full with a GPU and fast without")
    run.add_argument("--epochs", type=int, default=None, help="override the mode's epochs")
    run.add_argument("--batch-size", type=int, default=None)
    run.add_argument("--temperature", type=float, default=None)
    run.add_argument("--lam", type=float, default=None, help="weight of the component terms")
    run.add_argument("--no-primary", action="store_true", help="drop the primary two-view term")
    run.add_argument("--fill", choices=("zero", "crop"), default=None)
    run.add_argument("--same-geometry", action="store_true",
                     help="augment components with the primary view's crop and flip")
    run.add_argument("--source", choices=("test", "train", "all"), default="test",
                     help="source images: the shipped test sets (offline) or the full sets")
    run.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU if present)")
    run.add_argument("--no-knn", action="store_true", help="skip the kNN probe")
    run.add_argument("--out", required=True, help="the JSON file to write")
    return parser


def _run(args: argparse.Namespace, argv: list[str]) -> None:
    overrides = {
        "method": args.method,
        "variant": args.variant,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "temperature": args.temperature,
        "lam": args.lam,
        "fill": args.fill,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.no_primary:
        overrides["keep_primary"] = False
    if args.same_geometry:
        overrides["same_geometry"] = True
    config = experiments.train_config(args.mode, **overrides)
    data = experiments.load_dominoes(args.mode, seed=args.seed, source_split=args.source)
    result = experiments.run_dominoes(
        config, args.mode, data=data, device=args.device, knn=not args.no_knn,
        command=["python", "-m", "splicer_tutorial", *argv],
    )
    path = results.save(result, args.out)
    probes = result["probes"]
    print(f"wrote {path} in {result['wall_s']:.0f} s")
    for variant, accuracies in probes.items():
        print(f"  {variant:18s} " + "  ".join(f"{f} {a:.3f}" for f, a in accuracies.items()))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "data":
            print(datasets.format_data_report())
        elif args.command == "run":
            _run(args, argv)
    except (ValueError, FileNotFoundError) as error:
        print(f"python -m splicer_tutorial {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0
