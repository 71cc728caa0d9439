"""The named plans of ``python -m splicer_tutorial sweep --plan NAME``.

Each plan is a list of lines in the sweep's plan format (see :mod:`splicer_tutorial.sweep`):
a result name, relative to the results folder, then the ``run`` arguments, with ``{seed}``
for the seed. Lines come in order of importance: a sweep with a time budget does the first
ones first. ``python -m splicer_tutorial sweep --plan NAME --list`` prints a plan with the
state of each run.

* ``full``: every full-mode run the book reads (GPU), the central claim first;
* ``fast``: every fast-mode run the chapters make live, five seeds (CPU), read by the
  chapters for their error bars;
* ``scale``: when does suppression appear on MNIST-CIFAR? The fast preset with one knob
  turned at a time (epochs, width, resolution, data), baseline, CIFAR-only and SpliCER
  at each point (CPU; SpliCER zero-filled);
* ``cpu``: chapter 7's contenders at the CPU point of the scale study (CPU; components
  zero-filled, the default when they ran), then the component contenders again with
  cropped halves (``design/<variant>-crop``);
* ``design``: the design choices the paper leaves open (form and temperature of the
  component term, the primary term, a block-diagonal or shared projector, lambda,
  zero-fill or crop, shared geometry), one change to zero-filled SpliCER each, at the CPU
  point (CPU); cropping won, and is now the dominoes' default
  (:func:`splicer_tutorial.experiments.train_config`);
* ``exercises``: the run of every "predict, then run" exercise, five seeds in fast mode,
  so that each solution states the answer with its seed spread (CPU, minutes);
* ``limits``: where SpliCER stops: the classifier's shortcut (probes on the object chunk,
  last-layer retraining), a label that needs both halves, wrong splits, and components
  that carry nothing; five seeds in fast mode (CPU, about half an hour on 2 cores). Their
  full-mode runs close the ``full`` plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import randbits


@dataclass(frozen=True)
class Plan:
    """A named plan: what it is for, its lines and the seeds it runs by default."""

    description: str
    lines: Callable[[], list[str]]
    seeds: tuple[int, ...]


# ------------------------------------------------------------------------- full mode


def _full() -> list[str]:
    mode = "--mode full"
    dominoes = lambda name, args: f"dominoes-{name}-s{{seed}}.json {mode} {args} --seed {{seed}}"  # noqa: E731
    lines = [
        # 1. the book's central claim: the SimCLR baseline, SpliCER, and CIFAR-only
        dominoes("simclr-baseline", "--method simclr --curve-every 10 --umap 2000"),
        dominoes("simclr-splicer", "--method simclr --variant splicer"),
        dominoes("simclr-cifar_only", "--method simclr --reference cifar_only"),
        dominoes("simclr-random_init", "--method simclr --reference random_init"),
        # 2. the alternatives to SpliCER's chunks, and the other reference
        *(dominoes(f"simclr-{v}", f"--method simclr --variant {v}") for v in ("sigma_je", "average", "separate")),
        dominoes("simclr-mnist_only", "--method simclr --reference mnist_only"),
        # 3. VICReg
        dominoes("vicreg-baseline", "--method vicreg --curve-every 10"),
        *(dominoes(f"vicreg-{v}", f"--method vicreg --variant {v}")
          for v in ("splicer", "sigma_je", "average", "separate")),
        *(dominoes(f"vicreg-{r}", f"--method vicreg --reference {r}") for r in ("cifar_only", "mnist_only")),
    ]
    # 4. the multi-channel chapters, histology, and supervised dominoes
    channel = lambda name, args: f"{name}-s{{seed}}.json {mode} {args} --seed {{seed}}"  # noqa: E731
    lines += [
        channel("multiplex-baseline", "--dataset multiplex"),
        channel("multiplex-splicer", "--dataset multiplex --variant splicer"),
        channel("multiplex-splicer-lam3", "--dataset multiplex --variant splicer --lam 3"),
        channel("multiplex-separate", "--dataset multiplex --variant separate"),
        channel("multiplex-without_nuisance", "--dataset multiplex --reference only:DAPI+membrane+CD3+CD4+CD8+CD20"),
        channel("multiplex-random_init", "--dataset multiplex --reference random_init"),
        channel("multispectral-baseline", "--dataset multispectral"),
        channel("multispectral-splicer", "--dataset multispectral --variant splicer"),
        *(channel(f"multispectral-splicer-{by}", f"--dataset multispectral --variant splicer --allocate {by}")
          for by in ("variance", "probe")),
        channel("multispectral-without_visible",
                "--dataset multispectral --reference only:B1+B5+B6+B7+B8+B8A+B9+B10+B11+B12"),
        channel("multispectral-random_init", "--dataset multispectral --reference random_init"),
        channel("channel_toy-baseline", "--dataset channel_toy"),
        channel("channel_toy-splicer-groups", "--dataset channel_toy --variant splicer --groups code+digit,fashion+object"),
        channel("channel_toy-splicer-channels", "--dataset channel_toy --variant splicer"),
        channel("channel_toy-only_hard", "--dataset channel_toy --reference only:fashion+object"),
        channel("channel_toy-random_init", "--dataset channel_toy --reference random_init"),
        channel("histology-baseline", "--dataset histology"),
        channel("histology-random_init", "--dataset histology --reference random_init"),
        *(channel(f"histology-splicer-{masks.replace(':', '')}", f"--dataset histology --variant splicer --masks {masks}")
          for masks in ("ground_truth", "classical", "dilate:1", "dilate:2", "erode:1", "drop:0.5", "add:1.0",
                        "regions")),
        channel("supervised", "--dataset binary_dominoes"),
    ]
    # 5. the ablations of SpliCER (SimCLR), one setting changed each, and RandBits
    ablations = {"quarters": "--sections 2x2", "lam0.5": "--lam 0.5", "lam2": "--lam 2",
                 "no_primary": "--no-primary", "zero": "--fill zero", "same_geometry": "--same-geometry",
                 "block": "--projector block", "joint_pass": "--joint-pass"}
    lines += [channel(f"ablation-{name}", f"--variant splicer {flags}") for name, flags in ablations.items()]
    grid = randbits.PRESETS["full"]["grid"]
    for temperature in grid["temperatures"]:
        lines += [channel(f"randbits-b{b}-t{temperature}", f"--dataset randbits --bits {b} --temperature {temperature}")
                  for b in grid["bits"]]
    for b in grid["bits"]:
        lines.append(channel(f"randbits-b{b}-random_init", f"--dataset randbits --bits {b} --reference random_init"))
        if b:
            lines += [channel(f"randbits-{v}-b{b}-t0.2", f"--dataset randbits --bits {b} --temperature 0.2 --variant {v}")
                      for v in ("splicer", "sigma_je")]
    # 6. where SpliCER stops (the limits chapter)
    return lines + _limits("full")


# ------------------------------------------------------------------------- fast mode


def _fast() -> list[str]:
    """Every fast-mode run the chapters make live, by its content; seed 0 is the chapter's own run.

    Lines a chapter shares with another (chapter 3's SimCLR is also chapters 1 and 7's
    baseline) are one run. Most important first: the dominoes, RandBits, the multi-channel
    sets, histology, then the ablations and supervised dominoes.
    """
    line = lambda name, args: f"fast/{name}-s{{seed}}.json --mode fast {args} --seed {{seed}}"  # noqa: E731
    lines = [
        # chapters 1, 3 and 7: dominoes
        line("dominoes-simclr-baseline", "--method simclr --curve-every 2"),
        line("dominoes-simclr-cifar_only", "--method simclr --reference cifar_only --no-knn"),
        line("dominoes-simclr-splicer", "--method simclr --variant splicer --no-knn"),
        line("dominoes-simclr-random_init", "--method simclr --reference random_init"),
        line("dominoes-simclr-mnist_only", "--method simclr --reference mnist_only --no-knn"),
        line("dominoes-vicreg-baseline", "--method vicreg --no-knn"),
        *(line(f"dominoes-simclr-{v}", f"--method simclr --variant {v} --no-knn")
          for v in ("sigma_je", "average", "separate")),
        line("dominoes-vicreg-splicer", "--method vicreg --variant splicer --no-knn"),
    ]
    # chapter 4: RandBits, bits x temperature and a random encoder per bit count; chapter 9:
    # the channel split at the temperature of strongest suppression
    grid = randbits.PRESETS["fast"]["grid"]
    for b in grid["bits"]:
        lines.append(line(f"randbits-b{b}-random_init", f"--dataset randbits --bits {b} --temperature 0.05 "
                                                        "--reference random_init"))
        lines += [line(f"randbits-b{b}-t{t}", f"--dataset randbits --bits {b} --temperature {t}")
                  for t in grid["temperatures"]]
    lines += [line(f"randbits-b{b}-t0.2-{v}", f"--dataset randbits --bits {b} --temperature 0.2 --variant {v} --no-knn")
              for b in (2, 4, 8) for v in ("splicer", "sigma_je")]
    # chapters 11 and 12: multiplex cells and multispectral tiles
    lines += [
        line("multiplex-random_init", "--dataset multiplex --reference random_init"),
        line("multiplex-without_nuisance", "--dataset multiplex --reference only:DAPI+membrane+CD3+CD4+CD8+CD20"),
        line("multiplex-baseline", "--dataset multiplex"),
        line("multiplex-splicer", "--dataset multiplex --variant splicer"),
        line("multiplex-splicer-lam3", "--dataset multiplex --variant splicer --lam 3"),
        line("multiplex-separate", "--dataset multiplex --variant separate"),
        line("multispectral-random_init", "--dataset multispectral --reference random_init"),
        line("multispectral-without_visible",
             "--dataset multispectral --reference only:B1+B5+B6+B7+B8+B8A+B9+B10+B11+B12"),
        line("multispectral-baseline", "--dataset multispectral"),
        line("multispectral-splicer", "--dataset multispectral --variant splicer"),
        *(line(f"multispectral-splicer-{by}", f"--dataset multispectral --variant splicer --allocate {by}")
          for by in ("variance", "probe")),
    ]
    # chapter 10: the channel toy; chapter 13: histology
    lines += [
        line("channel_toy-random_init", "--dataset channel_toy --reference random_init"),
        line("channel_toy-only_hard", "--dataset channel_toy --reference only:fashion+object"),
        line("channel_toy-baseline", "--dataset channel_toy"),
        line("channel_toy-splicer-groups", "--dataset channel_toy --variant splicer --groups code+digit,fashion+object"),
        line("histology-random_init", "--dataset histology --reference random_init"),
        line("histology-baseline", "--dataset histology"),
        *(line(f"histology-splicer-{masks.replace(':', '')}", f"--dataset histology --variant splicer --masks {masks}")
          for masks in ("ground_truth", "dilate:2", "erode:1", "drop:0.5", "regions")),
    ]
    # chapter 8: the ablations, at half the fast epochs; chapter 2: supervised binary dominoes
    ablations = {"": "", "-quarters": "--sections 2x2", "-lam0.5": "--lam 0.5", "-lam2": "--lam 2",
                 "-no_primary": "--no-primary", "-zero": "--fill zero", "-same_geometry": "--same-geometry",
                 "-block": "--projector block", "-joint_pass": "--joint-pass"}
    lines += [line("dominoes-e4-simclr-baseline", "--method simclr --epochs 4 --no-knn")]
    lines += [line(f"dominoes-e4-simclr-splicer{name}", f"--method simclr --variant splicer --epochs 4 {flags} --no-knn")
              for name, flags in ablations.items()]
    lines.append(line("supervised", "--dataset binary_dominoes"))
    return [" ".join(text.split()) for text in lines]


# ------------------------------------------------------------- the CPU scale study

#: The points of the scale study, in the order they run: (epochs, width, resolution,
#: dominoes per class). The fast preset is (8, 16, half, 200).
SCALE_POINTS: tuple[tuple[int, int, str, int], ...] = (
    (64, 32, "half", 200),
    (8, 16, "half", 200),
    (16, 16, "half", 200),
    (32, 16, "half", 200),
    (64, 16, "half", 200),
    (128, 16, "half", 200),
    (64, 16, "full", 200),
    (64, 16, "half", 800),
    (64, 64, "half", 200),
    (256, 16, "half", 200),
)
#: The runs at each point: name -> run arguments.
SCALE_RUNS = {"baseline": "", "cifar_only": "--reference cifar_only", "splicer": "--variant splicer --fill zero"}
#: The scale study and the CPU point's contenders were run with zero-filled components, the
#: default before the design study; cropped SpliCER at the CPU point is the design study's
#: ``crop`` row.
#: Cropped SpliCER (the default since the design study) at every point, after the runs above:
#: result name, run arguments. At the CPU point its line is the design study's ``crop`` line.
SCALE_CROPPED = ("splicer-crop", "--variant splicer --fill crop")


def scale_point_name(epochs: int, width: int, resolution: str, per_class: int) -> str:
    """A point's part of a result name, e.g. ``"e64-w32-half-n200"``."""
    return f"e{epochs}-w{width}-{resolution}-n{per_class}"


def scale_line(run: str, args: str, point: tuple[int, int, str, int], method: str = "simclr",
               folder: str = "scale") -> str:
    """The plan line of one run (fast mode) at one point of the scale study."""
    epochs, width, resolution, per_class = point
    knobs = f"--epochs {epochs} --width {width} --resolution {resolution} --per-class {per_class}"
    name = run if method == "simclr" else f"{method}-{run}"
    return " ".join(f"{folder}/dominoes-{name}-{scale_point_name(*point)}-s{{seed}}.json --mode fast "
                    f"--method {method} {args} {knobs} --no-knn --seed {{seed}}".split())


def _scale() -> list[str]:
    cropped = [scale_line(*SCALE_CROPPED, point, folder="design" if point == CPU_POINT else "scale")
               for point in SCALE_POINTS]
    return [*(scale_line(run, args, point) for point in SCALE_POINTS for run, args in SCALE_RUNS.items()), *cropped]


#: Where the CPU reproduction runs: the first point of the scale study.
CPU_POINT = SCALE_POINTS[0]


#: The component contenders run again with cropped halves, the default since the design
#: study, in the order they run: (method, variant). Their files sit beside the design
#: study's cropped SpliCER in ``design/``, named ``<variant>-crop``.
CROPPED_CONTENDERS = (("simclr", "sigma_je"), ("vicreg", "splicer"), ("simclr", "average"), ("simclr", "separate"))


def _cpu() -> list[str]:
    contenders = {**SCALE_RUNS, **{v: f"--variant {v} --fill zero" for v in ("sigma_je", "average", "separate")}}
    return [*(scale_line(run, args, CPU_POINT) for run, args in contenders.items()),
            *(scale_line(run, SCALE_RUNS[run], CPU_POINT, "vicreg") for run in ("baseline", "splicer")),
            *(scale_line(f"{variant}-crop", f"--variant {variant} --fill crop", CPU_POINT, method, folder="design")
              for method, variant in CROPPED_CONTENDERS)]


#: The design choices the paper leaves open, each one change to SpliCER's defaults as they
#: were then (zero-filled components: every line but ``crop`` says ``--fill zero``), in the
#: order they run: name -> run arguments.
DESIGN_CHOICES = {
    "cross-t0.5": "--component-term cross --component-temperature 0.5",
    "no_primary": "--no-primary",
    "block": "--projector block",
    "shared_projector": "--component-projector shared",
    "lam2": "--lam 2",
    "crop": "--fill crop",
    "t0.5": "--component-temperature 0.5",
    "cross-t0.2": "--component-term cross",
    "same_geometry": "--same-geometry",
    "lam0.5": "--lam 0.5",
}


def _design() -> list[str]:
    return [scale_line(f"splicer-{name}", f"--variant splicer {args if '--fill' in args else args + ' --fill zero'}",
                       CPU_POINT, folder="design")
            for name, args in DESIGN_CHOICES.items()]


# ------------------------------------------------------------------------ exercises


def _exercises() -> list[str]:
    """The run of each "predict, then run" exercise, in fast mode, named as the fast plan
    names its runs (``fast/...``): the chapters read them beside the runs they change."""
    line = lambda name, args: f"fast/{name}-s{{seed}}.json --mode fast {args} --seed {{seed}}"  # noqa: E731
    bits = randbits.PRESETS["fast"]["grid"]["bits"]
    return [" ".join(text.split()) for text in [
        # chapter 2: a weaker correlation; five times the epochs
        line("supervised-corr0.9", "--dataset binary_dominoes --correlation 0.9"),
        line("supervised-e10", "--dataset binary_dominoes --epochs 10"),
        # chapter 3: small crops; chapter 7: no primary term; chapter 8: left and right halves
        line("dominoes-simclr-crops0.1-0.4", "--method simclr --crop-scale 0.1,0.4 --no-knn"),
        line("dominoes-simclr-splicer-no_primary", "--method simclr --variant splicer --no-primary --no-knn"),
        line("dominoes-e4-simclr-splicer-left_right", "--method simclr --variant splicer --epochs 4 --sections 1x2 "
                                                      "--no-knn"),
        # chapter 4: the digit probed with the bits zeroed, trained and untrained; a hotter loss at every bit
        # count; chapter 9: the split without the primary term
        line(f"randbits-b{max(bits)}-t0.1-zeroed", f"--dataset randbits --bits {max(bits)} --temperature 0.1 "
                                                    "--zero-bits --no-knn"),
        line(f"randbits-b{max(bits)}-random_init-zeroed", f"--dataset randbits --bits {max(bits)} --temperature 0.05 "
                                                           "--reference random_init --zero-bits --no-knn"),
        *(line(f"randbits-b{b}-t0.5", f"--dataset randbits --bits {b} --temperature 0.5") for b in bits),
        line("randbits-b8-t0.2-splicer-no_primary", "--dataset randbits --bits 8 --temperature 0.2 --variant splicer "
                                                    "--no-primary --no-knn"),
        # chapter 10: one component per channel; chapter 11: a weaker shortcut
        line("channel_toy-splicer-channels", "--dataset channel_toy --variant splicer"),
        line("multiplex-baseline-corr0.5", "--dataset multiplex --correlation 0.5"),
        # chapter 12: no component for the visible bands; a lopsided allocation
        line("multispectral-splicer-no_visible_group", "--dataset multispectral --variant splicer "
                                                       "--groups B5+B6+B7+B8A,B11+B12"),
        line("multispectral-splicer-chunks16-16-96", "--dataset multispectral --variant splicer --chunk-sizes 16,16,96"),
        # chapter 13: worse masks; no background component
        *(line(f"histology-splicer-{m.replace(':', '')}", f"--dataset histology --variant splicer --masks {m}")
          for m in ("dilate:3", "drop:0.8")),
        line("histology-splicer-no_background", "--dataset histology --variant splicer --no-background"),
    ]]


# --------------------------------------------------------------------------- limits


#: Where SpliCER stops (the chapter of that name): each run's name and its ``run`` arguments,
#: the same in fast mode (under ``limits/``) and in full mode (``limits-...``).
LIMITS: dict[str, str] = {
    # the classifier's shortcut and the label that needs both halves, on the same runs; every
    # component here is zero-filled, as the random mask's must be, so the splits compare on
    # equal terms
    **{f"dominoes-{name}": f"--method simclr {flags} --shortcut-probes --interaction --no-knn"
       for name, flags in (("baseline", ""), ("splicer", "--variant splicer --fill zero"),
                           ("splicer-no_primary", "--variant splicer --no-primary --fill zero"),
                           ("separate", "--variant separate --fill zero"), ("random_init", "--reference random_init"))},
    # the wrong splits: left and right halves, and a fixed random mask of 4-pixel squares (half
    # resolution; 8 at full resolution, the same squares of the domino)
    "dominoes-splicer-left_right": "--method simclr --variant splicer --sections 1x2 --fill zero --shortcut-probes "
                                   "--no-knn",
    "dominoes-splicer-random_mask": "--method simclr --variant splicer --random-mask {block} --shortcut-probes "
                                    "--no-knn",
    # components of unequal use: the cells with two noise channels, K = 2 useful components plus 0, 1 or 2
    # useless ones
    "multiplex_noise-baseline": "--dataset multiplex_noise",
    "multiplex_noise-splicer-k2": "--dataset multiplex_noise --variant splicer --groups "
                                  "DAPI+membrane+CD3+CD4+CD8+CD20,nuisance",
    "multiplex_noise-splicer-k3": "--dataset multiplex_noise --variant splicer --groups "
                                  "DAPI+membrane+CD3+CD4+CD8+CD20,nuisance,noise1",
    "multiplex_noise-splicer-k4": "--dataset multiplex_noise --variant splicer",
}


def _limits(mode: str = "fast") -> list[str]:
    """The runs of the limits chapter in ``mode``: fast ones under ``limits/``, full ones
    beside the other full results as ``limits-<name>``."""
    block = 4 if mode == "fast" else 8
    name = (lambda n: f"limits/{n}") if mode == "fast" else (lambda n: f"limits-{n}")  # noqa: E731
    return [" ".join(f"{name(n)}-s{{seed}}.json --mode {mode} {args.format(block=block)} --seed {{seed}}".split())
            for n, args in LIMITS.items()]


PLANS: dict[str, Plan] = {
    "fast": Plan("every fast-mode run the chapters show, five seeds; seed 0 is the chapter's own", _fast,
                 (0, 1, 2, 3, 4)),
    "full": Plan("every full-mode run the book reads (GPU), the central claim first", _full, (0, 1, 2)),
    "scale": Plan("MNIST-CIFAR suppression against training compute on the CPU", _scale, (0, 1, 2)),
    "cpu": Plan("chapter 7's contenders at the CPU point of the scale study", _cpu, (0, 1, 2)),
    "design": Plan("SpliCER's open design choices at the CPU point, one change each", _design, (0, 1, 2)),
    "exercises": Plan("the run of every predict-then-run exercise, five seeds in fast mode", _exercises,
                      (0, 1, 2, 3, 4)),
    "limits": Plan("where SpliCER stops: shortcut probes, the interaction label, wrong splits, useless components; "
                   "five seeds in fast mode", _limits, (0, 1, 2, 3, 4)),
}
