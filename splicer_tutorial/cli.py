"""The command line: ``python -m splicer_tutorial {data,bench,run,sweep} ...``.

* ``data``: where the data folder is and which files are found, verified or missing.
* ``bench``: images per second of augmentation and of training steps on this device.
* ``run``: one run, written as JSON with its provenance: SSL pretraining plus probes on
  dominoes (a variant or a reference) or RandBits, or a supervised classifier on binary
  dominoes.
* ``sweep``: many runs from a plan (:mod:`splicer_tutorial.plans`, or a plan file), skipping
  those already done, several at once, within a time budget (:mod:`splicer_tutorial.sweep`).

It calls the same functions the chapters call. Every option is checked before any data is
loaded or model built: a malformed argument (``--seed -1``, ``--lam nan``) exits with status 2,
a value or combination the run rejects (``--epochs 0``, ``--lam 2`` with the baseline, an
``--out`` that cannot be written, ``--device cuda`` without a GPU) with status 1; both with
a one-line message naming the option and no traceback. So does a failure during the run
(missing or corrupt data, an unreadable file, a diverging loss). ``--debug`` (or
``SPLICER_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import functools
import io
import json
import math
import os
import shlex
import signal
import sys
import tempfile
from pathlib import Path

import torch

from . import bench, channels, datasets, distributed, losses, masks, owndata, plans, randbits, results, runs, sweep
from .config import resolve_device

DATASETS = ("dominoes", "binary_dominoes", "randbits", *channels.NAMES)
#: your own images (folder:PATH or npz:PATH), as the option checks name them
OWN = "folder:PATH or npz:PATH"
#: the data sets an SSL run trains on (binary_dominoes trains a supervised classifier)
SSL_DATASETS = (*(name for name in DATASETS if name != "binary_dominoes"), OWN)
#: numpy's seeds: 0 .. 2**32 - 1
SEED_MAX = 2**32 - 1
#: the variants with a primary term and weighted component terms
COMPONENT_VARIANTS = ("splicer", "sigma_je", "average")
#: the variants that split an image into components
SPLIT_VARIANTS = (*COMPONENT_VARIANTS, "separate")
#: ``run`` options that only some variants use: option -> those variants
VARIANT_OPTIONS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("lam", "no_primary", "component_term", "component_temperature", "component_projector",
                     "same_geometry", "joint_pass"), COMPONENT_VARIANTS),
    "projector": ("baseline", *COMPONENT_VARIANTS),  # separate encoders always have K projectors side by side
    **dict.fromkeys(("sections", "fill", "groups", "masks", "no_background", "random_mask"), SPLIT_VARIANTS),
    **dict.fromkeys(("chunk_sizes", "allocate"), ("splicer",)),
}
#: ``run`` options that only some data sets use: option -> those data sets
DATASET_OPTIONS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("temperature", "backbone", "width", "crop_scale", "checkpoint", "checkpoint_every", "resume",
                     "sync_batchnorm", "umap", *VARIANT_OPTIONS), SSL_DATASETS),
    **dict.fromkeys(("curve_every", "sections", "fill", "per_class", "resolution", "source", "random_mask",
                     "shortcut_probes", "interaction"), ("dominoes",)),
    **dict.fromkeys(("bits", "zero_bits"), ("randbits",)),
    # channel groups: the multi-channel sets but histology, whose components are its masks
    **dict.fromkeys(("groups", "allocate"),
                    (*(name for name in channels.NAMES if channels.get(name).groups), OWN)),
    "masks": ("histology",),
    "no_background": ("histology", OWN),
    **dict.fromkeys(("image_size", "save_embeddings"), (OWN,)),
    "no_knn": ("dominoes", "randbits"),  # the multi-channel runs have no kNN probe
    "correlation": tuple(name for name in DATASETS if name != "randbits"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m splicer_tutorial", description=__doc__.splitlines()[0].replace("``", "'"))
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one line (or set SPLICER_DEBUG=1)")
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
    run.add_argument("--dataset", type=_dataset, default="dominoes", metavar="DATASET",
                     help="dominoes (SSL), binary_dominoes (a supervised classifier), randbits (SSL), a "
                          f"multi-channel set (SSL): {', '.join(channels.NAMES)}; or your own images (SSL): "
                          "folder:PATH (multi-channel .tif files) or npz:PATH (see splicer_tutorial.owndata)")
    run.add_argument("--method", choices=[*sorted(losses.METHODS), "supervised"], default=None,
                     help="simclr (default) or vicreg; binary_dominoes is always supervised")
    run.add_argument("--variant", choices=list(losses.VARIANTS), default="baseline")
    run.add_argument("--reference", default=None,
                     help="a reference run instead, in one grammar: random_init, or only:<components>: dominoes "
                          "only:object (also named cifar_only) or only:digit (mnist_only); the multi-channel sets "
                          "only:<channels> (e.g. only:fashion+object); randbits random_init only")
    run.add_argument("--bits", type=_bits, default=None,
                     help=f"randbits: the number of bit channels, 0 to {randbits.MAX_BITS}")
    run.add_argument("--curve-every", type=_positive, default=None, metavar="N",
                     help="dominoes: probe each half's decodability every N >= 1 epochs (learning curves); "
                          "leave it out for no curves")
    run.add_argument("--umap", type=_positive, default=None, metavar="N",
                     help="store a 2-D UMAP of N test images' features in the result (e.g. 2000), so that a "
                          "reader without the model can draw it; leave it out for none")
    run.add_argument("--seed", type=_seed, default=0, help=f"0 to {SEED_MAX} (numpy's range)")
    run.add_argument("--mode", choices=("fast", "full"), default=None,
                     help="default: $SPLICER_MODE, else fast (with a GPU too)")
    run.add_argument("--epochs", type=int, default=None, help="override the mode's epochs")
    run.add_argument("--batch-size", type=int, default=None)
    run.add_argument("--temperature", type=_temperature, default=None,
                     help="SimCLR's temperature, > 0 and finite (default 0.2; VICReg has none)")
    run.add_argument("--correlation", type=_fraction, default=None,
                     help="fraction of matched training pairs, 0 to 1 (default 1)")
    run.add_argument("--lam", type=_weight, default=None,
                     help="splicer, sigma_je, average: weight of the component terms, >= 0 (default 1)")
    run.add_argument("--no-primary", action="store_true", help="drop the primary two-view term")
    run.add_argument("--component-term", choices=losses.COMPONENT_TERMS, default=None,
                     help="the component terms' loss: base (the method's own; default) or cross (a cross-view "
                          "InfoNCE, chunk against component only, SimCLR)")
    run.add_argument("--component-temperature", type=_temperature, default=None,
                     help="the component terms' temperature (default: --temperature)")
    run.add_argument("--component-projector", choices=("own", "shared"), default=None,
                     help="own: components get a projector of chunk width (default); shared: the primary's")
    run.add_argument("--fill", choices=("zero", "crop"), default=None,
                     help="components: crop each section to its own image (the dominoes' default where the "
                          "components may differ in shape from the image: not with --joint-pass, --same-geometry, "
                          "--random-mask, --groups or masks) or zero-fill it at the image's shape")
    run.add_argument("--sections", type=_pair, default=None, metavar="RxC",
                     help="components: a rows x cols grid of sections (2x1: halves, 2x2: quarters)")
    run.add_argument("--random-mask", type=_positive, default=None, metavar="BLOCK",
                     help="components: the two halves of a fixed random mask of BLOCK-pixel squares, each row of "
                          "squares split equally (a split that follows no feature; instead of --sections)")
    run.add_argument("--groups", type=_groups, default=None, metavar="A+B,C",
                     help="multi-channel sets: components as channel groups by name, e.g. code+digit,fashion+object")
    run.add_argument("--chunk-sizes", type=_sizes, default=None, metavar="N,N",
                     help="SpliCER: unequal chunk sizes adding up to the embedding size, e.g. 32,96")
    run.add_argument("--allocate", choices=("variance", "probe"), default=None,
                     help="multi-channel sets, SpliCER: size the chunks by each group's variance or by a random "
                          "encoder's probe of the target on a small decorrelated labelled set")
    run.add_argument("--masks", type=_masks, default=None, metavar="SOURCE",
                     help="histology: SpliCER's training masks: ground_truth (default), classical (the scikit-image "
                          "segmenter), ground truth degraded: dilate:R, erode:R, drop:P, add:P, or regions (the "
                          "multi-class map: stroma, nuclei, gaps; three components)")
    run.add_argument("--joint-pass", action="store_true",
                     help="encode views and same-shape components in one pass (shared BatchNorm statistics)")
    run.add_argument("--projector", choices=("dense", "block"), default=None,
                     help="block: the primary projector's last layer block-diagonal, one block per chunk")
    run.add_argument("--same-geometry", action="store_true",
                     help="augment components with the primary view's crop and flip")
    run.add_argument("--crop-scale", type=_scale_range, default=None, metavar="LO,HI",
                     help="the random crops' area as a fraction of the image, 0 < LO <= HI <= 1 (default 0.25,1)")
    run.add_argument("--no-background", action="store_true",
                     help="histology: no component for mask label 0 (the nuclei alone, one chunk)")
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
    run.add_argument("--checkpoint", default=None, metavar="PATH",
                     help="save the trained model there (.pt); a finished run found there is loaded instead")
    run.add_argument("--checkpoint-every", type=_positive, default=None, metavar="N",
                     help="also save the training state there every N epochs, for jobs that may be stopped")
    run.add_argument("--resume", action="store_true",
                     help="go on from the stopped run saved at --checkpoint; it ends as an uninterrupted run would")
    run.add_argument("--threads", type=_positive, default=None,
                     help="CPU threads for torch (default: torch's choice); results on a CPU depend on it")
    run.add_argument("--device", default=None, help="cpu, cuda, ... (default: a GPU if present)")
    run.add_argument("--no-knn", action="store_true", help="skip the kNN probe")
    run.add_argument("--shortcut-probes", action="store_true",
                     help="dominoes: also fit the object probe on correlated data and on a small balanced set "
                          "(last-layer retraining), each on the whole embedding and on the object half's chunk")
    run.add_argument("--interaction", action="store_true",
                     help="dominoes: also probe the label that needs both halves (does the digit's class equal "
                          "the object's?) on the test set half_matched")
    run.add_argument("--zero-bits", action="store_true",
                     help="randbits: also probe the digit with the bit planes set to zero (test set bits_zeroed)")
    run.add_argument("--image-size", type=_pair, default=None, metavar="HxW",
                     help="your own images: resize every image to H x W (images of several sizes are refused "
                          "otherwise)")
    run.add_argument("--save-embeddings", default=None, metavar="FILE.npz",
                     help="your own images: also save every image's features and embedding, with its name, split "
                          "and labels")
    run.add_argument("--sync-batchnorm", action="store_true",
                     help="under torchrun on GPUs: BatchNorm statistics over the global batch")
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
    """The ``run`` command's parsed and checked arguments (:func:`check_run`), as a dict;
    ``ValueError`` with the parser's or the check's message.

    ``--out`` may be left out (it is then ``None``).
    """
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            parsed = _parser().parse_args(["run", *args, *([] if "--out" in args else ["--out", ""])])
    except SystemExit:
        message = errors.getvalue().strip().removeprefix("python -m splicer_tutorial run: error: ")
        raise ValueError(f"run rejects {shlex.join(args)!r}: {message or 'not a run'}") from None
    try:
        check_run(parsed)
    except ValueError as error:
        raise ValueError(f"run rejects {shlex.join(args)!r}: {error}") from None
    values = vars(parsed)
    for name in ("command", "debug"):
        values.pop(name)
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


def _checked(text: str, kind: type, valid, expected: str):
    """``text`` as an int or a float that ``valid`` accepts; else argparse's error
    ``expected <expected>, got <text>`` (argparse puts the option's name in front)."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive(text: str) -> int:
    """``"32"`` -> 32; a positive integer."""
    return _checked(text, int, lambda value: value >= 1, "a positive integer")


def _seed(text: str) -> int:
    """``"3"`` -> 3; a seed numpy accepts."""
    return _checked(text, int, lambda value: 0 <= value <= SEED_MAX, f"an integer seed from 0 to {SEED_MAX}")


def _bits(text: str) -> int:
    """``"4"`` -> 4; a number of RandBits bit channels."""
    return _checked(text, int, lambda value: 0 <= value <= randbits.MAX_BITS,
                    f"a number of bits from 0 to {randbits.MAX_BITS}")


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
    if not seeds or min(seeds) < 0 or max(seeds) > SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected seeds from 0 to {SEED_MAX} like 0,1,2 or 0-4, got {text!r}")
    return seeds


def _temperature(text: str) -> float:
    """``"0.5"`` -> 0.5; a positive, finite temperature."""
    return _checked(text, float, lambda value: 0 < value < math.inf, "a positive, finite temperature like 0.2")


def _weight(text: str) -> float:
    """``"0.5"`` -> 0.5; a finite weight, 0 or more."""
    return _checked(text, float, lambda value: 0 <= value < math.inf, "a finite weight >= 0 like 0.5")


def _fraction(text: str) -> float:
    """``"0.8"`` -> 0.8; a number from 0 to 1."""
    return _checked(text, float, lambda value: 0 <= value <= 1, "a fraction from 0 to 1 like 0.8")


def _seconds(text: str) -> float:
    """``"540"`` -> 540.0; a positive, finite number of seconds."""
    return _checked(text, float, lambda value: 0 < value < math.inf, "a positive number of seconds")


#: ``--masks``: the sources without a level, then those with one
MASKS = ("ground_truth", "classical", "regions")


def _masks(text: str) -> str:
    """A histology mask source: ``ground_truth``, ``classical``, ``regions``, or ground truth
    degraded (:data:`splicer_tutorial.masks.NOISE_KINDS`): ``dilate:R``, ``erode:R`` (R >= 0
    pixels), ``drop:P``, ``add:P`` (P from 0 to 1)."""
    kind, _, level = text.partition(":")
    try:
        value = float(level)
    except ValueError:
        value = math.nan  # fails every comparison below
    highest = math.inf if kind in ("dilate", "erode") else 1
    if text in MASKS or (kind in masks.NOISE_KINDS and 0 <= value <= highest and math.isfinite(value)):
        return text
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(MASKS)}, dilate:R, erode:R (R pixels >= 0), "
                                     f"drop:P or add:P (P from 0 to 1), e.g. dilate:2; got {text!r}")


def _dataset(text: str) -> str:
    """A data set of the run path, or your own images (``folder:PATH``, ``npz:PATH``)."""
    if text in DATASETS or owndata.is_own(text):
        return text
    raise argparse.ArgumentTypeError(f"invalid choice {text!r}; choose one of {', '.join(DATASETS)}, or folder:PATH "
                                     "or npz:PATH for your own images")


def _groups(text: str) -> tuple[tuple[str, ...], ...]:
    """``"code+digit,object"`` -> (("code", "digit"), ("object",))."""
    groups = tuple(tuple(name for name in group.split("+") if name) for group in text.split(","))
    if not groups or any(not g for g in groups):
        raise argparse.ArgumentTypeError(f"groups look like code+digit,fashion+object; got {text!r}")
    return groups


def _scale_range(text: str) -> tuple[float, float]:
    """``"0.1,0.4"`` -> (0.1, 0.4); a crop's area range, 0 < low <= high <= 1."""
    try:
        low, high = (float(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two fractions like 0.1,0.4, got {text!r}") from None
    if not 0 < low <= high <= 1:
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI <= 1 like 0.1,0.4, got {text!r}")
    return low, high


def _sizes(text: str) -> tuple[int, ...]:
    """``"32,96"`` -> (32, 96)."""
    try:
        return tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas like 32,96, got {text!r}") from None


#: ``run`` options passed to the training config under their own name when given, and the
#: switches that set a config field: option -> (field, value when the switch is on).
_CONFIG_VALUES = ("method", "variant", "seed", "epochs", "batch_size", "temperature", "lam", "fill", "sections",
                  "random_mask", "projector", "groups", "chunk_sizes", "backbone", "width", "component_term",
                  "component_temperature", "component_projector", "crop_scale")
_CONFIG_SWITCHES = {"no_primary": ("keep_primary", False), "same_geometry": ("same_geometry", True),
                    "joint_pass": ("joint_pass", True), "no_background": ("mask_background", False)}


def _ssl_overrides(args: argparse.Namespace) -> dict:
    overrides = {name: getattr(args, name) for name in _CONFIG_VALUES if getattr(args, name) is not None}
    overrides |= {field: value for option, (field, value) in _CONFIG_SWITCHES.items() if getattr(args, option)}
    return overrides


@functools.lru_cache(maxsize=1)
def _run_defaults() -> dict:
    """Every ``run`` option's default value."""
    return vars(_parser().parse_args(["run", "--out", ""]))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _listed(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def check_run(args: argparse.Namespace) -> None:
    """Refuse, with a ``ValueError`` naming the option, a ``run`` whose options do not fit
    together: an option that the data set, the variant or the method would ignore
    (:data:`DATASET_OPTIONS`, :data:`VARIANT_OPTIONS`), a reference of another data set, and
    the like. Cheap: no data is loaded and no model built. An option counts as given when
    its value is not its default.
    """
    given = [name for name, default in _run_defaults().items() if getattr(args, name, default) != default]
    if args.method == "supervised" and args.dataset != "binary_dominoes":
        raise ValueError("--method supervised only applies to --dataset binary_dominoes; drop it for an SSL run.")
    if args.dataset == "binary_dominoes" and (args.method not in (None, "supervised") or args.variant != "baseline"):
        raise ValueError("--dataset binary_dominoes trains a supervised classifier; drop --method and --variant.")
    _check_reference(args)
    dataset = OWN if owndata.is_own(args.dataset) else args.dataset
    for name in given:
        datasets_using = DATASET_OPTIONS.get(name, (*DATASETS, OWN))
        if dataset not in datasets_using:
            where = ("the SSL runs (every --dataset but binary_dominoes, a supervised classifier)"
                     if datasets_using == SSL_DATASETS else f"--dataset {_listed(datasets_using)}")
            raise ValueError(f"{_flag(name)} only applies to {where}, not {args.dataset}; drop {_flag(name)}.")
    for name in given:
        variants = VARIANT_OPTIONS.get(name, tuple(losses.VARIANTS))
        if args.variant not in variants:
            raise ValueError(f"{_flag(name)} only applies to --variant {_listed(variants)}, not {args.variant}; "
                             f"choose one of those with --variant, or drop {_flag(name)}.")
    if args.method == "vicreg":
        for name in ("temperature", "component_temperature"):
            if name in given:
                raise ValueError(f"{_flag(name)} only applies to --method simclr: VICReg has no temperature; "
                                 f"drop {_flag(name)}.")
        if args.component_term == "cross":
            raise ValueError("--component-term cross is a SimCLR loss (a cross-view InfoNCE), not one of "
                             "--method vicreg; drop it, or use --method simclr.")
    if args.curve_every is not None and args.reference == "random_init":
        raise ValueError("--curve-every measures learning curves during training, and --reference random_init "
                         "trains nothing; drop --curve-every.")
    if args.random_mask is not None and (args.sections is not None or args.fill == "crop"):
        raise ValueError("--random-mask makes its own two components (zero-filled); drop --sections and --fill crop.")
    if args.joint_pass and args.fill == "crop":
        raise ValueError("--joint-pass encodes components of the images' shape in one pass with the views, and "
                         "--fill crop makes smaller ones, so it would do nothing; drop one of them.")
    if (args.checkpoint_every is not None or args.resume) and args.checkpoint is None:
        raise ValueError("--checkpoint-every and --resume need --checkpoint PATH (where the training is saved).")
    if args.checkpoint is not None and args.reference == "random_init":
        raise ValueError("--reference random_init trains nothing, so there is nothing to checkpoint; drop --checkpoint.")
    if args.allocate is not None and args.chunk_sizes is not None:
        raise ValueError("--allocate computes the chunk sizes; leave --chunk-sizes out.")


def _check_reference(args: argparse.Namespace) -> None:
    if args.reference is not None:
        try:
            runs.parse_reference(args.dataset, args.reference)
        except ValueError as error:
            raise ValueError(f"--reference {args.reference} does not apply to --dataset {args.dataset}: {error}") from None


#: ``run`` options that shape the data, by their name in :mod:`splicer_tutorial.runs`
DATA_OPTIONS = {"correlation": "correlation", "per_class": "max_per_class", "source": "source_split",
                "bits": "bits", "masks": "masks", "zero_bits": "zeroed", "interaction": "interaction",
                "image_size": "size"}


def _config(args: argparse.Namespace):
    """The training config of checked ``run`` arguments: a :class:`TrainConfig`, or for
    ``binary_dominoes`` the supervised settings (a dict)."""
    if args.dataset == "binary_dominoes":
        settings = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                      ("correlation", args.correlation)) if v is not None}
        return runs.train_config(args.dataset, args.mode, seed=args.seed, **settings)
    overrides = _ssl_overrides(args)
    extra = {"bits": args.bits} if args.dataset == "randbits" else {"masks": args.masks} if args.masks else {}
    return runs.train_config(args.dataset, args.mode, overrides.pop("variant"), **extra, **overrides)


def run_config(args: list[str]) -> dict | None:
    """The training config, as a result file records it (``result["config"]``), that these
    ``run`` arguments give with the package as it is now; None for ``binary_dominoes``
    (its results record the supervised settings in another form); without ``chunk_sizes``
    under ``--allocate`` (the run chooses them). ``ValueError`` as
    :func:`parse_run_arguments` for arguments ``run`` would reject.

    A sweep compares it with a result's recorded config: when a default has changed since
    the result was written, the two differ although the arguments do not.
    """
    values = parse_run_arguments(list(args))
    namespace = argparse.Namespace(**values)
    if namespace.dataset == "binary_dominoes":
        return None
    config = json.loads(json.dumps(_config(namespace).to_dict()))
    if namespace.allocate is not None:  # the run chooses its chunk sizes itself
        config.pop("chunk_sizes")
    return config


#: ``run`` options whose whole effect is on the training config (:func:`_ssl_overrides`): two
#: results whose arguments differ only in these are the same run when their configs agree
#: (``--fill zero`` given, say, where it was the default).
CONFIG_OPTIONS = (*_CONFIG_VALUES, *_CONFIG_SWITCHES)


def _run(args: argparse.Namespace, argv: list[str]) -> dict:
    """One run of checked arguments (:func:`check_run`), through :func:`splicer_tutorial.runs.run`."""
    if args.dataset == "randbits" and args.bits is None:  # a plan line may leave it out
        raise ValueError("--dataset randbits needs --bits N (the number of bit channels, e.g. 10).")
    config = _config(args)
    options = {name: getattr(args, flag) for flag, name in DATA_OPTIONS.items()
               if getattr(args, flag) not in (None, False) and name in runs.family(args.dataset).data_options}
    if args.resolution is not None:
        options["downsample"] = {"full": 1, "half": 2}[args.resolution]
    if args.no_knn:
        options["knn"] = False
    if args.shortcut_probes:
        options["shortcut"] = True
    if args.save_embeddings is not None:
        options["save_embeddings"] = args.save_embeddings
    if args.sync_batchnorm:
        options["sync_batchnorm"] = True
    if args.curve_every is not None:
        options["curve_every"] = args.curve_every
    if args.umap is not None:
        options["umap"] = args.umap
    if args.allocate is not None:
        options["allocate"] = args.allocate
    if args.checkpoint is not None:
        options.update(checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, resume=args.resume)
    return runs.run(args.dataset, config, args.mode, reference=args.reference, device=args.device,
                    command=["python", "-m", "splicer_tutorial", *argv], **options)


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


def check_out(out: str) -> None:
    """Refuse, with a ``ValueError`` naming ``--out``, a result file that could not be
    written: an empty name, an existing folder, a path under a file or in a folder this
    process may not write. A temporary file is created and removed in the nearest folder
    that exists (:func:`splicer_tutorial.results.save` makes the missing ones).
    """
    if not out.strip():
        raise ValueError("--out is empty; give the JSON file to write, e.g. --out results/my-run.json.")
    path = Path(out)
    try:
        if path.is_dir():
            raise ValueError(f"--out {out} is a folder; give a file in it, e.g. --out {path / 'run.json'}.")
        folder = path.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            raise ValueError(f"--out {out} cannot be written: {folder} is a file, not a folder; choose another path.")
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".splicer-write-check-"):
            pass
    except OSError as error:
        raise ValueError(f"--out {out} cannot be written ({error.strerror or error}); choose a folder you may "
                         "write to.") from None


def _one_line(error: BaseException) -> str:
    """An exception's message on one line; an OS error as its file and reason."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{error.filename}: {error.strerror}; check that it exists and that you may read and write it."
    else:
        text = str(error) or type(error).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _debugging(args: argparse.Namespace) -> bool:
    return args.debug or os.environ.get("SPLICER_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    argv = argv[argv.index(args.command):]  # without --debug: the command a result records
    try:
        return _command(args, argv)
    except (ValueError, OSError, FloatingPointError, MemoryError) as error:  # data errors: ValueError, OSError
        if _debugging(args):
            raise
        sys.stdout.flush()  # what was printed comes first; the error is the last line
        print(f"python -m splicer_tutorial {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1


def _command(args: argparse.Namespace, argv: list[str]) -> int:
    if args.command == "data":
        rows = datasets.describe_data_dir()
        print(datasets.format_data_report(rows))
        problem = datasets.data_problem(rows)
        if problem is not None:
            raise ValueError(problem)
    elif args.command == "bench":
        check_out(args.out)
        result = bench.run_bench(
            args.mode, device=args.device, command=["python", "-m", "splicer_tutorial", *argv],
            batch_size=args.batch_size, image_size=args.image_size, backbone=args.backbone, steps=args.steps,
        )
        print(f"wrote {results.save(result, args.out)}")
        for name, value in result["ratios"].items():
            print(f"  {name:40s} {value:.2f}")
    elif args.command == "run":
        check_run(args)
        check_out(args.out)
        if args.device is not None:
            resolve_device(args.device)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        args.device = distributed.init_from_env(args.device)  # under torchrun: join the processes
        try:
            result = _run(args, argv)
            if distributed.is_main():  # one process writes
                path = results.save(result, args.out)
                print(f"wrote {path} in {result['wall_s']:.0f} s")
                print(_summary(result))
        finally:
            distributed.finish()
    elif args.command == "sweep":
        return _sweep(args)
    return 0
