"""Experiments: the runs the chapters and the command line share.

:func:`run_dominoes` is one pretraining plus probing run on MNIST-CIFAR dominoes. The
settings of each mode live in :data:`PRESETS`:

* ``fast``: dominoes at half resolution (3x32x16), 200 per class (2,000 train /
  2,000 test per variant), a small ConvNet, a few epochs: a minute or two on a laptop
  CPU. Too small to show suppression reliably (see the chapters); it shows the mechanics.
* ``full``: full-resolution dominoes (8,000 train / 2,000 test from the shipped test
  sets), ResNet-18, 80 epochs at batch 512: the setting of the one-seed feasibility run,
  with activation checkpointing so that every full run fits a 16 GB GPU.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import numpy as np

from . import config as config_module
from . import dominoes as dominoes_module
from . import probes as probes_module
from . import results as results_module
from .chunks import as_chunk_sizes, chunk_slices
from .deconstruct import by_sections, grid_boxes
from .training import TrainConfig, pretrain, untrained

PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "data": {"downsample": 2, "max_per_class": 200},
        "train": {"backbone": "convnet", "width": 16, "epochs": 8, "batch_size": 256, "lr": 3e-3},
    },
    "full": {
        "data": {"downsample": 1, "max_per_class": None},
        # activation checkpointing: every full run of every data set fits a 16 GB GPU in bf16
        # (training.estimate_memory; without it SpliCER on 13-band 64x64 tiles needs about 31 GB)
        "train": {"backbone": "resnet18", "epochs": 80, "batch_size": 512, "lr": 2e-3,
                  "checkpoint_activations": True},
    },
}


def load_dominoes(mode: str | None = None, seed: int = 0, source_split: str = "test", interaction: bool = False,
                  **kwargs: Any):
    """The dominoes of a mode's preset: ``{"train": {variant: set}, "test": {...}}``.

    ``max_per_class`` (dominoes per class in each split) and ``downsample`` (1: full
    resolution 3x64x32, 2: half, 3x32x16) override the preset's; with ``interaction``
    each split also holds ``"half_matched"`` (:func:`splicer_tutorial.dominoes.half_matched`,
    made from its correlated set), the test set of the label that needs both halves. Other
    keyword arguments go to :func:`splicer_tutorial.dominoes.load_dominoes`.
    """
    preset = PRESETS[config_module.mode(mode)]["data"]
    max_per_class = kwargs.pop("max_per_class", preset["max_per_class"])
    factor = kwargs.pop("downsample", preset["downsample"])
    data = dominoes_module.load_dominoes(
        source_split=source_split, max_per_class=max_per_class, seed=seed, **kwargs
    )
    if interaction:
        for s, sets in enumerate(data.values()):
            sets[dominoes_module.INTERACTION_SET] = dominoes_module.half_matched(sets["correlated"], seed=[seed, s])
    return {split: {v: s.downsampled(factor) for v, s in sets.items()} for split, sets in data.items()}


def train_config(mode: str | None = None, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a mode's preset, with any field overridden.

    The component variants' components are the domino's halves **cropped** to their own
    images (``fill="crop"``, 3x32x16 at full resolution), unless ``fill`` is given or the
    run needs components of the images' shape (see :func:`crops_halves`; the channel data
    sets share this preset function). At both scales measured (the fast ablations and the
    CPU point's design study, chapters 07 and 08), cropped halves gave SpliCER a better
    object probe than zero-filled ones, and they cost half as much to encode.
    ``TrainConfig`` itself keeps ``fill="zero"``, the one fill every kind of component
    allows.
    """
    values = {**PRESETS[config_module.mode(mode)]["train"], **overrides}
    if "fill" not in overrides and crops_halves(values):
        values["fill"] = "crop"
    return TrainConfig.from_values(values)


def crops_halves(values: dict[str, Any]) -> bool:
    """Whether a dominoes run of these config values crops its components by default: a
    component variant whose components are sections of the image (not ``groups``,
    ``mask_labels`` or a ``random_mask``) encoded apart from the views (not ``joint_pass``)
    at a size of their own (not ``same_geometry``, which keeps them at the image's size)."""
    return (values.get("variant", "baseline") != "baseline" and not values.get("joint_pass")
            and not values.get("same_geometry")
            and values.get("random_mask") is None and values.get("groups") is None
            and values.get("mask_labels") is None)


REFERENCES = ("cifar_only", "mnist_only", "random_init")
#: The book's one grammar for references is ``random_init`` or ``only:<components>``; on
#: dominoes the components are the halves, and ``cifar_only`` / ``mnist_only`` are the names
#: of ``only:object`` / ``only:digit``.
ONLY = {"only:object": "cifar_only", "only:digit": "mnist_only"}


def parse_reference(reference: str | None) -> str | None:
    """A dominoes reference in the book's grammar, as the name results record: ``None``,
    ``"random_init"``, ``"cifar_only"`` (also ``"only:object"``) or ``"mnist_only"`` (also
    ``"only:digit"``); a one-line error naming the accepted ones for anything else."""
    reference = ONLY.get(reference, reference)
    if reference is not None and reference not in REFERENCES:
        raise ValueError(f"reference is {reference!r}; use None, random_init, only:object (cifar_only) or "
                         "only:digit (mnist_only).")
    return reference

#: SpliCER's default settings, and how each ablation that changes one is named.
_ABLATION_NAMES = {
    "sections": lambda v: f"{v[0] * v[1]} sections ({v[0]}x{v[1]})",
    "fill": lambda v: f"{v}-fill components",
    "groups": lambda v: f"channel groups {v}",
    "lam": lambda v: f"lambda = {v:g}",
    "keep_primary": lambda v: "no primary two-view term" if not v else "primary two-view term",
    "same_geometry": lambda v: "shared augmentation geometry" if v else "independent geometry",
    "projector": lambda v: f"{v} projector",
    "joint_pass": lambda v: "views and components in one pass" if v else "separate passes",
}


def ablation_label(config: dict | TrainConfig) -> str:
    """How a run's config departs from SpliCER's defaults, e.g. ``"lambda = 0.5"``.

    Compares the fields an ablation changes (sections, fill, groups, lam, keep_primary,
    same_geometry, projector, joint_pass) with SpliCER's on dominoes (:func:`train_config`); ``"default"`` when none
    differ. Lists several changes joined by ``", "``.
    """
    values = config.to_dict() if isinstance(config, TrainConfig) else config
    default = train_config(variant="splicer").to_dict()
    changed = []
    for field, name in _ABLATION_NAMES.items():
        value, base = values.get(field, default[field]), default[field]
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        if value != base:
            changed.append(name(value))
    return ", ".join(changed) or "default"


def keep_half(data: dict, half: str) -> dict:
    """The same data with one half kept and the other set to 0.

    ``half="object"`` keeps the CIFAR half (the ``cifar_only`` reference),
    ``half="digit"`` the MNIST half (``mnist_only``). The labels are unchanged.
    """
    halves = {"digit": 0, "object": 1}
    if half not in halves:
        raise ValueError(f"half is {half!r}; use 'digit' or 'object'.")

    def keep(dataset):
        height, width = dataset.images.shape[-2:]
        box = grid_boxes(height, width, 2, 1)[halves[half]]
        return dataclasses.replace(dataset, images=by_sections(dataset.images, [box])[:, 0])

    return {split: {v: keep(s) for v, s in sets.items()} for split, sets in data.items()}


def probe_curve(data: dict, n_train: int = 1000, n_test: int = 500, device=None) -> Callable:
    """A ``pretrain`` callback measuring decodability of each half as training goes on.

    It fits linear probes on small subsets of the randomised variants: ``object`` on
    ``mnist_randomised`` and ``digit`` on ``cifar_randomised``, where the other half
    cannot help.
    """
    splits = {"object": "mnist_randomised", "digit": "cifar_randomised"}
    subsets = {
        factor: (data["train"][variant].subset(min(n_train, len(data["train"][variant]))),
                 data["test"][variant].subset(min(n_test, len(data["test"][variant]))))
        for factor, variant in splits.items()
    }

    def measure(model) -> dict[str, float]:
        out = {}
        for factor, (train, test) in subsets.items():
            x_train = probes_module.extract_features(model.encoder, train.images, device=device)
            x_test = probes_module.extract_features(model.encoder, test.images, device=device)
            out[factor] = probes_module.linear_probe(x_train, train.labels(factor).numpy(),
                                                     x_test, test.labels(factor).numpy())
        return out

    return measure


def chunk_probes(
    model, data: dict, chunks: int | Sequence[int], n_train: int = 1000, n_test: int = 500, device=None
) -> dict:
    """Chunk x factor probe accuracy of a model's projected embedding z on ``mnist_randomised``.

    There digit and object are independent, so each chunk's probe says which factor that
    chunk holds (:func:`splicer_tutorial.probes.chunk_probe_matrix`). ``chunks``: their
    number, or their sizes (:meth:`TrainConfig.embedding_chunks`, the chunks a run
    trained). Returns ``{"split", "factors", "chunk_sizes", "matrix": (K, 2) nested list}``.
    """
    train = data["train"]["mnist_randomised"].subset(min(n_train, len(data["train"]["mnist_randomised"])))
    test = data["test"]["mnist_randomised"].subset(min(n_test, len(data["test"]["mnist_randomised"])))
    return probes_module.chunk_probes(model.embed, train, test, ("digit", "object"), chunks, "mnist_randomised",
                                      device=device)


def shortcut_probes(model, data: dict, chunks: Sequence[int], object_chunk: int | None = None,
                    n_balanced: int = 300, device=None) -> dict:
    """The classifier's shortcut, and two ways around it, in the projected embedding z.

    A linear probe of the object is fitted in one of two ways and scored on the test split
    of ``mnist_randomised`` (where the digit says nothing about the object):

    * ``"correlated"``: on the correlated training dominoes, as a user would fit it
      (digit and object agree, so the probe may read either; :mod:`~splicer_tutorial.probes`'
      naive probe, here in z);
    * ``"balanced"``: on ``n_balanced`` training dominoes of ``mnist_randomised`` whose digit
      differs from their object, the same number per object class: last-layer retraining
      on a small set without the shortcut (Kirichenko et al. 2022);

    each reading either all of z (``"whole"``) or only chunk ``object_chunk`` of it
    (``"object_chunk"``; ``chunks``: the chunk sizes, :meth:`TrainConfig.embedding_chunks`),
    the chunk SpliCER registers to the object half. Without ``object_chunk`` only
    ``"whole"`` is measured. Returns ``{"correlated": {"whole": acc, "object_chunk": acc},
    "balanced": {...}, "object_chunk": k, "chunk_sizes": [...], "n_balanced": n}``.
    """
    train_set, test = data["train"]["correlated"], data["test"]["mnist_randomised"]
    pool = data["train"]["mnist_randomised"]
    classes = int(pool.object.max()) + 1
    per_class = n_balanced // classes
    disagree = (pool.digit != pool.object).numpy()
    picked = np.concatenate([np.flatnonzero(disagree & (pool.object.numpy() == c))[:per_class] for c in range(classes)])
    if per_class < 1 or len(picked) < per_class * classes:
        raise ValueError(f"n_balanced={n_balanced} asks for {per_class} dominoes per object class whose digit "
                         f"differs; the training split of mnist_randomised has too few. Use a smaller n_balanced.")
    balanced = pool.subset(picked)
    z = {name: probes_module.extract_features(model.embed, s.images, device=device)
         for name, s in (("correlated", train_set), ("balanced", balanced), ("test", test))}
    sizes = as_chunk_sizes(z["test"].shape[1], chunks)
    reads = {"whole": slice(None)}
    if object_chunk is not None:
        reads["object_chunk"] = chunk_slices(z["test"].shape[1], len(sizes), sizes)[object_chunk]
    out: dict[str, Any] = {}
    for fit, fitted_on in (("correlated", train_set), ("balanced", balanced)):
        out[fit] = {read: probes_module.linear_probe(z[fit][:, cut], fitted_on.object.numpy(), z["test"][:, cut],
                                                     test.object.numpy())
                    for read, cut in reads.items()}
    return {**out, "object_chunk": object_chunk, "chunk_sizes": list(sizes), "n_balanced": len(balanced)}


def interaction_probes(encoder, data: dict, knn: bool = True, device=None) -> dict[str, float]:
    """Decodability of the label that needs both halves: does the digit's class equal the
    object's? Linear (and kNN, a non-linear read-out, with ``knn``) probes of ``"match"``
    on the encoder's features of ``half_matched`` (:func:`splicer_tutorial.dominoes.half_matched`),
    fitted on its training split and scored on its test split; chance is 0.5.
    Returns ``{"linear": accuracy, "knn": accuracy}``."""
    name, label = dominoes_module.INTERACTION_SET, dominoes_module.INTERACTION
    train, test = data["train"][name], data["test"][name]
    x_train = probes_module.extract_features(encoder, train.images, device=device)
    x_test = probes_module.extract_features(encoder, test.images, device=device)
    y_train, y_test = train.labels(label).numpy(), test.labels(label).numpy()
    out = {"linear": probes_module.linear_probe(x_train, y_train, x_test, y_test)}
    if knn:
        out["knn"] = probes_module.knn_probe(x_train, y_train, x_test, y_test)
    return out


#: The factor each randomised split measures: there the other half says nothing about it.
_MEASURES = {"object": "mnist_randomised", "digit": "cifar_randomised"}


def half_probes(encoder, data: dict, device=None) -> dict[str, dict[str, float]]:
    """Each factor's decodability from whole dominoes and from its own half alone.

    For the object on ``mnist_randomised`` and the digit on ``cifar_randomised``: a linear
    probe on the encoder's features of whole dominoes (``"whole"``) and of the same
    dominoes with the other half blank (``"alone"``), fitted on the training split and
    scored on the test split. Returns ``{factor: {"whole": accuracy, "alone": accuracy}}``.

    The two tell apart two reasons an encoder may read the object poorly on whole
    dominoes: it learned less about objects (both numbers low: suppression in learning),
    or the digit half's features get in the way of the read-out (``"alone"`` high,
    ``"whole"`` low: interference at read-out), which no change to training need fix.
    """
    out: dict[str, dict[str, float]] = {}
    for factor, split in _MEASURES.items():
        alone = keep_half({"train": {split: data["train"][split]}, "test": {split: data["test"][split]}}, factor)
        for name, sets in (("whole", data), ("alone", alone)):
            train, test = sets["train"][split], sets["test"][split]
            out.setdefault(factor, {})[name] = probes_module.linear_probe(
                probes_module.extract_features(encoder, train.images, device=device), train.labels(factor).numpy(),
                probes_module.extract_features(encoder, test.images, device=device), test.labels(factor).numpy())
    return out


def run_dominoes(
    config: TrainConfig,
    mode: str | None = None,
    data: dict | None = None,
    device: str | None = None,
    reference: str | None = None,
    knn: bool = True,
    curve_every: int | None = None,
    progress: bool = True,
    command: list[str] | None = None,
    return_model: bool = False,
    test_sets: tuple[str, ...] | None = None,
    chunks: bool = True,
    shortcut: bool = False,
    n_balanced: int = 300,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    sync_batchnorm: bool = False,
):
    """Pretrain on correlated training dominoes, then probe every variant.

    Args:
        config: the run.
        mode: ``fast`` or ``full`` (default: :func:`splicer_tutorial.config.mode`).
        data: the dominoes; loaded for the mode when left out.
        reference: ``None`` for the run the config describes, or a reference run
            (:func:`parse_reference`): ``"cifar_only"`` / ``"mnist_only"``, also written
            ``"only:object"`` / ``"only:digit"`` (the same run on dominoes whose other half
            is blank, trained and probed so) or ``"random_init"`` (no training).
        curve_every: measure decodability of each half every this many epochs
            (:func:`probe_curve`); stored in ``history.curves``.
        return_model: also return the trained model.
        test_sets: probe only these test sets (default: all); e.g.
            ``("mnist_randomised", "cifar_randomised")`` for the two numbers that measure
            suppression, at a third of the probing time.
        checkpoint, checkpoint_every, resume: save the training there (every so many
            epochs) and go on from a stopped run (:func:`splicer_tutorial.training.pretrain`).
        sync_batchnorm: BatchNorm over the global batch of a distributed run (GPUs).
        chunks: for a trained run, also probe each chunk of the projected embedding
            (:func:`chunk_probes`; K chunks for the component variants, 2 for the baseline),
            stored as ``chunk_probes``.
        shortcut: also measure :func:`shortcut_probes` (the object chunk is the bottom
            half's where the components are a domino's two halves), stored as
            ``shortcut_probes``; ``n_balanced``: the size of its balanced set. Data with a ``half_matched`` set (``load_dominoes(interaction=True)``)
            also gets :func:`interaction_probes`, stored as ``interaction_probes``.

    Returns a JSON-ready dict (:func:`splicer_tutorial.results.record`): ``config``,
    ``dataset`` (``"dominoes"``), ``components``, ``reference``, ``mode``, ``seed``, provenance
    (``command``, ``device``, ``versions``, ``date``), ``wall_s``, ``history``,
    ``probes``, ``naive_probes`` and ``knn`` (each ``{variant: {factor: accuracy}}``),
    ``half_probes`` (:func:`half_probes`, on the whole dominoes even for a reference run
    trained with one half blank) and ``chance``; with ``return_model``, the pair ``(result, model)``.
    """
    mode = config_module.mode(mode)
    reference = parse_reference(reference)
    device = config_module.resolve_device(device)
    start = time.perf_counter()
    data = data if data is not None else load_dominoes(mode, seed=config.seed)
    whole = data
    if reference in ("cifar_only", "mnist_only"):
        data = keep_half(data, "object" if reference == "cifar_only" else "digit")
    train = data["train"]["correlated"]
    if reference == "random_init":
        model, history = untrained(config, train.images.shape[1])
    else:
        callback = probe_curve(data, device=device) if curve_every else None
        model, history = pretrain(
            train.images,
            config,
            probe_labels={"digit": train.digit, "object": train.object},
            device=device,
            progress=progress,
            callback=callback,
            callback_every=curve_every or 1,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
            sync_batchnorm=sync_batchnorm,
        )
    if test_sets is None:  # the interaction set has its own probe
        test_sets = tuple(v for v in data["test"] if v != dominoes_module.INTERACTION_SET)
    evaluation = probes_module.evaluate(model.encoder, data, knn=knn, device=device, test_sets=test_sets)
    if chunks and reference is None and "mnist_randomised" in data["test"]:
        evaluation["chunk_probes"] = chunk_probes(model, data, config.embedding_chunks(), device=device)
    if shortcut:
        halves = config.components.kind == "sections" and config.components.sections == (2, 1)
        evaluation["shortcut_probes"] = shortcut_probes(model, data, config.embedding_chunks(),
                                                        object_chunk=1 if halves else None,
                                                        n_balanced=n_balanced, device=device)
    if dominoes_module.INTERACTION_SET in data["test"]:
        evaluation["interaction_probes"] = interaction_probes(model.encoder, data, device=device)  # kNN included
    if all(split in whole["train"] and split in whole["test"] for split in _MEASURES.values()):
        evaluation["half_probes"] = half_probes(model.encoder, whole, device=device)
    result = results_module.record(
        config, mode, device, command, start, data, train.images.shape[1:], 1 / (int(train.object.max()) + 1),
        history, dataset="dominoes", reference=reference, **evaluation,
    )
    return (result, model) if return_model else result


# ----------------------------------------------------------------- the scale study


def training_flops(result: dict) -> float:
    """The training compute of a dominoes result as its SimCLR baseline would spend it:
    forward and backward (3x a forward pass) of encoder and projector on two views of every
    image seen, ``epochs * (n // batch) * batch`` images. A rough FLOP count, for ordering
    runs by compute (component passes, probes and augmentation are left out)."""
    from .models import forward_flops
    from .training import build

    config = TrainConfig(**{**result["config"], "variant": "baseline"})
    model, _ = build(config, result["image_shape"][0])
    n = result["data"]["train"]["correlated"]
    batch = min(config.batch_size, n)
    images_seen = config.epochs * (n // batch) * batch
    return 3.0 * 2 * forward_flops(model, tuple(result["image_shape"]), "embed") * images_seen


def scale_point(result: dict) -> tuple[int, int, str, int]:
    """(epochs, width, resolution, dominoes per class) of a dominoes result, as in
    :data:`splicer_tutorial.plans.SCALE_POINTS`."""
    config = result["config"]
    resolution = "full" if result["image_shape"][1] >= 64 else "half"
    classes = round(1 / result["chance"])
    return config["epochs"], config["width"], resolution, result["data"]["train"]["correlated"] // classes


def scale_study(runs: list[dict], path: str = "probes.mnist_randomised.object") -> list[dict]:
    """The scale study from its results: one row per point, in order of training compute.

    ``runs`` are SimCLR dominoes results (e.g. ``results.load("scale/*.json")``); each is
    filed under its :func:`scale_point` and its name (``baseline``, ``cifar_only``,
    ``splicer``, ...; a run with cropped components as ``<variant>-crop``, e.g.
    ``splicer-crop``), and measured along the dotted ``path`` (default: the object probe on
    ``mnist_randomised``; ``"half_probes.object.alone"`` reads it from the object half
    alone, see :func:`half_probes`). Each row holds ``point``, ``flops`` (:func:`training_flops`),
    ``values`` ({name: :class:`~splicer_tutorial.results.SeedValues` along ``path``}), ``series`` (:func:`scale_series`),
    ``gap`` (CIFAR-only minus the
    baseline), ``gain`` (zero-filled SpliCER minus the baseline) and ``gain_crop`` (cropped
    SpliCER minus the baseline), each a
    :class:`~splicer_tutorial.results.Comparison` or None where a side is missing.
    """
    points: dict[tuple, dict] = {}
    for run in runs:
        if run["config"]["method"] != "simclr":
            continue
        row = points.setdefault(scale_point(run), {"values": {}, "flops": training_flops(run)})
        config = run["config"]
        name = run.get("reference") or config["variant"] + (
            "-crop" if config["variant"] != "baseline" and config.get("fill") == "crop" else "")
        row["values"].setdefault(name, []).append((run["seed"], results_module.values([run], path)[0]))
    rows = []
    for point, row in sorted(points.items(), key=lambda item: item[1]["flops"]):
        values = {name: results_module.SeedValues([v for _, v in sorted(pairs)], [s for s, _ in sorted(pairs)])
                  for name, pairs in row["values"].items()}
        vs_baseline = lambda name: (results_module.compare(values[name], values["baseline"])  # noqa: E731
                                    if name in values and "baseline" in values else None)
        rows.append({"point": point, "flops": row["flops"], "values": values, "series": scale_series(point),
                     "gap": vs_baseline("cifar_only"), "gain": vs_baseline("splicer"),
                     "gain_crop": vs_baseline("splicer-crop")})
    return rows


def scale_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`scale_study`'s rows: each point's setting, compute, seeds, the
    accuracy of baseline, CIFAR-only and SpliCER with zero-filled and with cropped halves
    (mean ± SE, %), the gap and each SpliCER's gain over the baseline."""
    lines = ["| epochs | width | resolution | per class | GFLOPs | seeds | baseline | CIFAR-only | SpliCER, zero fill "
             "| SpliCER, cropped | gap: CIFAR-only - baseline | gain: zero fill - baseline "
             "| gain: cropped - baseline |", "|" + "---|" * 13]
    for row in rows:
        values = row["values"]
        cells = [results_module.format_mean_se(values[name]) if name in values else "–"
                 for name in ("baseline", "cifar_only", "splicer", "splicer-crop")]
        seeds = max(len(v) for v in values.values())
        differences = ["–" if row.get(key) is None else row[key].text() for key in ("gap", "gain", "gain_crop")]
        lines.append("| " + " | ".join([*map(str, row["point"]), f"{row['flops'] / 1e9:,.0f}", str(seeds), *cells,
                                        *differences]) + " |")
    return "\n".join(lines)


def scale_series(point: tuple[int, int, str, int]) -> list[str]:
    """The knobs a point lies along, as a plot draws them: ``"epochs"`` (width 16), ``"width"``
    (64 epochs), ``"resolution"``, ``"dominoes"`` (per class), each from the fast preset's
    half resolution and 200 dominoes per class. (64, 16, half, 200) lies on two."""
    epochs, width, resolution, per_class = point
    series = []
    if (width, resolution, per_class) == (16, "half", 200):
        series.append("epochs")
    if (epochs, resolution, per_class) == (64, "half", 200):
        series.append("width")
    if resolution == "full" and (epochs, width, per_class) == (64, 16, 200):
        series.append("resolution")
    if per_class != 200 and (epochs, width, resolution) == (64, 16, "half"):
        series.append("dominoes")
    return series
