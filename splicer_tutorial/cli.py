"""The command line: ``python -m splicer_tutorial {data,bench,run,sweep} ...``.

* ``data``: where the data folder is and which files are found, verified or missing.
* ``bench``: images per second of augmentation and of training steps on this device.
* ``run``: one run, written as JSON with its provenance: SSL pretraining plus probes on
  dominoes (a variant or a reference) or RandBits, or a supervised classifier on binary
  dominoes.
* ``sweep``: many runs from a plan (:mod:`splicer_tutorial.plans`, or a plan file), skipping
  those already done, several at once, within a time budget (:mod:`splicer_tutorial.sweep`).

It calls the same functions the chapters call. A malformed argument exits with status 2,
a value the run rejects (``--epochs 0``, ``--device cuda`` without a GPU) with status 1;
both with a one-line message and no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import shlex
import signal
import sys
from pathlib import Path

import torch

from . import bench, channels, datasets, experiments, histology, losses, plans, randbits, results, supervised, sweep
from .config import resolve_device

DATASETS = ("dominoes", "binary_dominoes", "randbits", *channels.NAMES)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m splicer_tutorial", description=__doc__.splitlines()[0].replace("``", "'"))
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("data", help="report the data folder and the files found in it")

    timing = commands.add_parser("bench", help="images per second of augmentation and training steps, as JSON")
    timing.add_argument("--mode", choices=("fast", "full"), default=None,
                        help="fast: a small network and batch (CPU); full: batch 512, 3x64x32, ResNet-18")
    timing.add_argument("--batch-size", type=int, default=None)
    timing.add_argument("--image-size", type=_pair, default=None, metavar="HxW", help="e.g. 64x32")
    timing.add_argument("--backbone", choices=("convnet", "resnet18"), default=None)
    timing.add_argument("--steps", type=int, default=None, help="timed calls per measurement")
    timing.add_argument("--device", default=None)
    timing.add_argument("--out", required=True, help="the JSON file to write")

    run = commands.add_parser("run", help="one pretraining and probing run, written as JSON")
    run.add_argument("--dataset", choices=DATASETS, default="dominoes",
                     help="dominoes (SSL), binary_dominoes (a supervised classifier), randbits (SSL), or a "
                          "multi-channel set (SSL): channel_toy, multiplex, multispectral")
    run.add_argument("--method", choices=[*sorted(losses.METHODS), "supervised"], default=None,
                     help="simclr (default) or vicreg; binary_dominoes is always supervised")
    run.add_argument("--variant", choices=list(losses.VARIANTS), default="baseline")
    run.add_argument("--reference", default=None,
                     help="a reference run instead: dominoes cifar_only|mnist_only|random_init; randbits "
                          "random_init; channel_toy, multiplex, multispectral: random_init or only:<channels> "
                          "(e.g. only:fashion+object)")
    run.add_argument("--bits", type=int, default=None, help="randbits: the number of bit channels")
    run.add_argument("--curve-every", type=int, default=None,
                     help="dominoes: probe each half's decodability every N epochs (learning curves)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--mode", choices=("fast", "full"), default=None,
                     help="default: $SPLICER_MODE, else fast (with a GPU too)")
    run.add_argument("--epochs", type=int, default=None, help="override the mode's epochs")
    run.add_argument("--batch-size", type=int, default=None)
    run.add_argument("--temperature", type=float, default=None)
    run.add_argument("--correlation", type=float, default=None,
                     help="dominoes: fraction of matched training pairs (default 1)")
    run.add_argument("--lam", type=float, default=None, help="weight of the component terms")
    run.add_argument("--no-primary", action="store_true", help="drop the primary two-view term")
    run.add_argument("--component-term", choices=losses.COMPONENT_TERMS, default=None,
                     help="the component terms' loss: base (the method's own; default) or cross (a cross-view "
                          "InfoNCE, chunk against component only, SimCLR)")
    run.add_argument("--component-temperature", type=_temperature, default=None,
                     help="the component terms' temperature (default: --temperature)")
    run.add_argument("--component-projector", choices=("own", "shared"), default=None,
                     help="own: components get a projector of chunk width (default); shared: the primary's")
    run.add_argument("--fill", choices=("zero", "crop"), default=None)
    run.add_argument("--sections", type=_pair, default=None, metavar="RxC",
                     help="components: a rows x cols grid of sections (2x1: halves, 2x2: quarters)")
    run.add_argument("--groups", type=_groups, default=None, metavar="A+B,C",
                     help="multi-channel sets: components as channel groups by name, e.g. code+digit,fashion+object")
    run.add_argument("--chunk-sizes", type=_sizes, default=None, metavar="N,N",
                     help="SpliCER: unequal chunk sizes adding up to the embedding size, e.g. 32,96")
    run.add_argument("--allocate", choices=("variance", "probe"), default=None,
                     help="multi-channel sets, SpliCER: size the chunks by each group's variance or by a random "
                          "encoder's probe of the target on a small decorrelated labelled set")
    run.add_argument("--masks", default=None, metavar="SOURCE",
                     help="histology: SpliCER's training masks: ground_truth (default), classical (the scikit-image "
                          "segmenter), ground truth degraded: dilate:R, erode:R, drop:P, add:P, or regions (the "
                          "multi-class map: stroma, nuclei, gaps; three components)")
    run.add_argument("--joint-pass", action="store_true",
                     help="encode views and same-shape components in one pass (shared BatchNorm statistics)")
    run.add_argument("--projector", choices=("dense", "block"), default=None,
                     help="block: the primary projector's last layer block-diagonal, one block per chunk")
    run.add_argument("--same-geometry", action="store_true",
                     help="augment components with the primary view's crop and flip")
    run.add_argument("--source", choices=("test", "train", "all"), default="test",
                     help="dominoes: the shipped test sets (offline) or the full sets")
    run.add_argument("--backbone", choices=("convnet", "resnet18"), default=None,
                     help="override the mode's encoder (fast: convnet, full: resnet18)")
    run.add_argument("--width", type=_positive, default=None,
                     help="override the encoder's width (channels of its first stage)")
    run.add_argument("--per-class", type=_positive, default=None, metavar="N",
                     help="dominoes: at most N dominoes per class in each split (fast: 200; the shipped test "
                          "sets give at most 800 train and 200 test per class)")
    run.add_argument("--resolution", choices=("half", "full"), default=None,
                     help="dominoes: half (3x32x16, fast mode) or full (3x64x32, full mode) resolution")
    run.add_argument("--threads", type=_positive, default=None,
                     help="CPU threads for torch (default: torch's choice); results on a CPU depend on it")
    run.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU if present)")
    run.add_argument("--no-knn", action="store_true", help="skip the kNN probe")
    run.add_argument("--out", required=True, help="the JSON file to write")

    many = commands.add_parser("sweep", help="many runs from a plan, skipping those already done")
    many.add_argument("--plan", required=True,
                      help=f"a named plan ({', '.join(plans.PLANS)}) or a plan file: one run per line, the result "
                           "name then the run arguments, with {seed} for the seed")
    many.add_argument("--seeds", type=_seeds, default=None, metavar="0,1,2",
                      help="the seeds, e.g. 0,1,2 or 0-4 (default: the named plan's; 0,1,2 for a file)")
    many.add_argument("--only", default=None, metavar="GLOB",
                      help="only the runs whose result name matches, e.g. 'dominoes-*' or 'scale/*-e64-w32-*'")
    many.add_argument("--by-seed", action="store_true",
                      help="run seed by seed (every line for the first seed, then the next) instead of line by line")
    many.add_argument("--jobs", type=_positive, default=1, help="runs at once, each its own process (default 1)")
    many.add_argument("--threads", type=_positive, default=None,
                      help="CPU threads per run (default: this machine's threads split over the jobs)")
    many.add_argument("--budget", type=_seconds, default=None, metavar="SECONDS",
                      help="start no run that would not end within this many seconds of the sweep's start")
    many.add_argument("--device", default=None, help="passed to every run (default: a GPU if present)")
    many.add_argument("--results", default=None, metavar="DIR",
                      help="the results folder (default: $SPLICER_RESULTS_DIR, else the checkout's results/)")
    many.add_argument("--list", action="store_true", help="print the plan with each run's state; run nothing")
    return parser


def parse_run_arguments(args: list[str]) -> dict:
    """The ``run`` command's parsed arguments, as a dict; ``ValueError`` with the parser's message.

    ``--out`` may be left out (it is then ``None``).
    """
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            values = vars(_parser().parse_args(["run", *args, *([] if "--out" in args else ["--out", ""])]))
    except SystemExit:
        message = errors.getvalue().strip().removeprefix("python -m splicer_tutorial run: error: ")
        raise ValueError(f"run rejects {shlex.join(args)!r}: {message or 'not a run'}") from None
    values.pop("command")
    values["out"] = values["out"] or None
    return values


def _pair(text: str) -> tuple[int, int]:
    """``"2x1"`` -> (2, 1): a grid (rows x cols) or an image size (height x width)."""
    try:
        first, second = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two integers like 2x1, got {text!r}") from None
    if first < 1 or second < 1:
        raise argparse.ArgumentTypeError(f"both numbers must be positive, got {text!r}")
    return first, second


def _positive(text: str) -> int:
    """``"32"`` -> 32; a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` or ``"0-4"`` -> (0, 1, 2) or (0, 1, 2, 3, 4)."""
    try:
        if "-" in text:
            first, last = (int(n) for n in text.split("-"))
            seeds = tuple(range(first, last + 1))
        else:
            seeds = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2 or 0-4, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative seeds like 0,1,2 or 0-4, got {text!r}")
    return seeds


def _temperature(text: str) -> float:
    """``"0.5"`` -> 0.5; a positive, finite temperature."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 0.2, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive, finite temperature like 0.2, got {text!r}")
    return value


def _seconds(text: str) -> float:
    """``"540"`` -> 540.0; a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _groups(text: str) -> tuple[tuple[str, ...], ...]:
    """``"code+digit,object"`` -> (("code", "digit"), ("object",))."""
    groups = tuple(tuple(name for name in group.split("+") if name) for group in text.split(","))
    if not groups or any(not g for g in groups):
        raise argparse.ArgumentTypeError(f"groups look like code+digit,fashion+object; got {text!r}")
    return groups


def _sizes(text: str) -> tuple[int, ...]:
    """``"32,96"`` -> (32, 96)."""
    try:
        return tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas like 32,96, got {text!r}") from None


def _ssl_overrides(args: argparse.Namespace) -> dict:
    overrides = {
        "method": args.method,
        "variant": args.variant,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "temperature": args.temperature,
        "lam": args.lam,
        "fill": args.fill,
        "sections": args.sections,
        "projector": args.projector,
        "groups": args.groups,
        "chunk_sizes": args.chunk_sizes,
        "backbone": args.backbone,
        "width": args.width,
        "component_term": args.component_term,
        "component_temperature": args.component_temperature,
        "component_projector": args.component_projector,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.no_primary:
        overrides["keep_primary"] = False
    if args.same_geometry:
        overrides["same_geometry"] = True
    if args.joint_pass:
        overrides["joint_pass"] = True
    return overrides


def _only_for(args: argparse.Namespace, dataset: str, **options) -> None:
    given = [name for name, value in options.items() if value not in (None, False)]
    if given and args.dataset != dataset:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ValueError(f"{flags} only applies to --dataset {dataset}, not {args.dataset}.")


def _check_reference(args: argparse.Namespace) -> None:
    reference = args.reference
    if reference is None:
        return
    allowed = {"dominoes": experiments.REFERENCES, "randbits": ("random_init",), "binary_dominoes": ()}
    if args.dataset in channels.NAMES:
        channels.parse_reference(args.dataset, reference)
    elif reference not in allowed[args.dataset]:
        raise ValueError(f"--reference {reference} does not apply to --dataset {args.dataset}; "
                         f"use one of {list(allowed[args.dataset]) or 'none'}.")


def _run(args: argparse.Namespace, argv: list[str]) -> dict:
    command = ["python", "-m", "splicer_tutorial", *argv]
    _only_for(args, "dominoes", curve_every=args.curve_every, sections=args.sections, fill=args.fill,
              per_class=args.per_class, resolution=args.resolution)
    _check_reference(args)
    for flag, value in (("--groups", args.groups), ("--allocate", args.allocate)):
        if value is not None and args.dataset not in channels.NAMES:
            raise ValueError(f"{flag} only applies to the multi-channel sets {list(channels.NAMES)}, not {args.dataset}.")
    _only_for(args, "histology", masks=args.masks)
    if args.allocate is not None and args.chunk_sizes is not None:
        raise ValueError("--allocate computes the chunk sizes; leave --chunk-sizes out.")
    _only_for(args, "randbits", bits=args.bits)
    if args.method == "supervised" and args.dataset != "binary_dominoes":
        raise ValueError("--method supervised only applies to --dataset binary_dominoes.")
    if args.dataset == "binary_dominoes":
        if args.method not in (None, "supervised") or args.variant != "baseline":
            raise ValueError("--dataset binary_dominoes trains a supervised classifier; drop --method and --variant.")
        if args.backbone is not None or args.width is not None:
            raise ValueError("--backbone and --width apply to the SSL runs; binary_dominoes uses its own classifier.")
        overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                       ("correlation", args.correlation)) if v is not None}
        return supervised.run_supervised(args.mode, args.seed, device=args.device, command=command, **overrides)
    if args.dataset == "randbits":
        if args.bits is None:
            raise ValueError("--dataset randbits needs --bits N (the number of bit channels, e.g. 10).")
        overrides = _ssl_overrides(args)
        temperature = overrides.pop("temperature", 0.2)
        seed = overrides.pop("seed")
        return randbits.run_randbits(args.bits, temperature, args.mode, seed=seed, device=args.device,
                                     knn=not args.no_knn, random_init=args.reference == "random_init",
                                     command=command, **overrides)
    if args.dataset in channels.NAMES:
        spec = channels.get(args.dataset)
        overrides = _ssl_overrides(args)
        regions = spec.name == "histology" and args.masks == "regions"
        if regions and overrides["variant"] != "baseline":
            overrides["mask_labels"] = len(histology.REGIONS)  # stroma, nuclei, gaps
        config = channels.train_config(spec, args.mode, overrides.pop("variant"), **overrides)
        correlation = 1.0 if args.correlation is None else args.correlation
        if regions:
            source, mean_iou = "regions", 1.0
            data, _ = histology.load_tissue(args.mode, correlation=correlation, seed=args.seed, masks="regions")
        elif spec.name == "histology":
            data, instances = histology.load_tissue(args.mode, correlation=correlation, seed=args.seed)
            source = args.masks or "ground_truth"
            data, mean_iou = histology.with_training_masks(data, instances, source, seed=args.seed)
        else:
            data = spec.load(args.mode, correlation=correlation, seed=args.seed)
        result = channels.run(spec, config, args.mode, data=data, reference=args.reference, device=args.device,
                              command=command, allocate=args.allocate)
        if spec.name == "histology":
            result["masks"] = {"source": source, "iou": mean_iou}
        return result
    config = experiments.train_config(args.mode, **_ssl_overrides(args))
    extra = {} if args.correlation is None else {"correlation": args.correlation}
    if args.per_class is not None:
        extra["max_per_class"] = args.per_class
    if args.resolution is not None:
        extra["downsample"] = {"full": 1, "half": 2}[args.resolution]
    data = experiments.load_dominoes(args.mode, seed=args.seed, source_split=args.source, **extra)
    return experiments.run_dominoes(
        config, args.mode, data=data, device=args.device, reference=args.reference,
        knn=not args.no_knn, curve_every=args.curve_every, command=command,
    )


def _summary(result: dict) -> str:
    """A few lines of what a run measured."""
    table = result.get("probes") or result.get("auc") or {}
    name = "probe accuracy" if "probes" in result else "AUC"
    lines = [f"{name}:"]
    for variant, values in table.items():
        lines.append(f"  {variant:18s} " + "  ".join(f"{f} {a:.3f}" for f, a in values.items()))
    return "\n".join(lines)


def _plan(args: argparse.Namespace) -> list[sweep.PlannedRun]:
    """The runs of ``--plan``: a named plan or a plan file."""
    if args.plan in plans.PLANS:
        plan = plans.PLANS[args.plan]
        return sweep.parse_plan(plan.lines(), args.seeds or plan.seeds, source=f"plan {args.plan}", by_seed=args.by_seed)
    path = Path(args.plan)
    if not path.is_file():
        raise ValueError(f"--plan {args.plan} is neither a named plan ({', '.join(plans.PLANS)}) nor a file; "
                         "give one of those names or the path of a plan file.")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"--plan {args.plan} cannot be read ({error}); check the file.") from None
    return sweep.parse_plan(text.splitlines(), args.seeds or (0, 1, 2), source=str(path), by_seed=args.by_seed)


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


def _sweep(args: argparse.Namespace) -> int:
    plan = _plan(args)
    if args.only is not None:
        plan = [planned for planned in plan if fnmatch.fnmatchcase(planned.out, args.only)]
        if not plan:
            raise ValueError(f"--only {args.only} matches no run of --plan {args.plan}; see --list for the names.")
    folder = Path(args.results) if args.results else results.results_dir()
    if args.list:
        for planned, state in sweep.status(plan, folder).items():
            print(f"{state:10s} {planned}" if not state.startswith("conflict") else f"CONFLICT   {planned}: {state}")
        return 0
    if args.device is not None:
        resolve_device(args.device)  # refused before any run starts
    # a plain `kill` stops the runs in progress too, and still prints the summary
    signal.signal(signal.SIGTERM, _interrupt)
    summary = sweep.sweep(plan, folder, jobs=args.jobs, budget=args.budget, threads=args.threads,
                          device=args.device, log=lambda line: print(line, flush=True))
    print(summary.report(), flush=True)
    if summary.interrupted:
        return 130
    return 1 if summary.failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "data":
            print(datasets.format_data_report())
        elif args.command == "bench":
            result = bench.run_bench(
                args.mode, device=args.device, command=["python", "-m", "splicer_tutorial", *argv],
                batch_size=args.batch_size, image_size=args.image_size, backbone=args.backbone, steps=args.steps,
            )
            print(f"wrote {results.save(result, args.out)}")
            for name, value in result["ratios"].items():
                print(f"  {name:40s} {value:.2f}")
        elif args.command == "run":
            if args.threads is not None:
                torch.set_num_threads(args.threads)
            result = _run(args, argv)
            path = results.save(result, args.out)
            print(f"wrote {path} in {result['wall_s']:.0f} s")
            print(_summary(result))
        elif args.command == "sweep":
            return _sweep(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"python -m splicer_tutorial {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0
