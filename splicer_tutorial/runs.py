"""The run path: one :func:`run` for every data set the book trains on.

Every data set is one :class:`Family` in :data:`FAMILIES`: how its data loads for a mode,
the :class:`~splicer_tutorial.training.TrainConfig` of a mode and variant, the references it
offers and the run that pretrains and probes it. Three calls serve all of them, from the
chapters and from ``python -m splicer_tutorial run``::

    config = st.runs.train_config("multiplex", MODE, "splicer")     # the mode's preset
    data = st.runs.load("multiplex", MODE, seed=0)                  # optional: run loads it
    result = st.run("multiplex", config, MODE, data=data, reference="only:DAPI+membrane")

Every result is built by :func:`splicer_tutorial.results.record` (``config``, ``dataset``,
``components``, provenance, ``probes``, ...); the supervised classifier on binary dominoes
(:mod:`splicer_tutorial.supervised`) is the one exception: it is not SSL, and its result
holds AUCs instead of probes. The settings of every family and mode are in one table,
:data:`PRESETS`: ``PRESETS[dataset][mode] == {"data": {...}, "train": {...}}``.

References, in one grammar for every family: ``"random_init"`` (no training), or
``"only:<components>"`` (the same run on images with the other components blank;
dominoes: ``only:object`` / ``only:digit``, also named ``cifar_only`` / ``mnist_only``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import channels, experiments, owndata, randbits, supervised
from . import config as config_module
from . import probes as probes_module
from . import results as results_module
from .files import write_atomically
from .training import TrainConfig, pretrain, untrained


#: The run options of every SSL family that go to :func:`splicer_tutorial.training.pretrain`: save and
#: resume training, and BatchNorm over the global batch of a distributed run.
CHECKPOINTING = ("checkpoint", "checkpoint_every", "resume", "sync_batchnorm")


@dataclass(frozen=True)
class Family:
    """One data set, as the run path sees it.

    Attributes:
        name: as in ``run --dataset NAME``.
        presets: ``{mode: {"data": settings of its loader, "train": TrainConfig fields}}``.
        train_config: ``(mode, variant, **overrides) -> TrainConfig`` (for
            ``binary_dominoes``: the supervised settings, a dict).
        load: ``(mode, seed, **data options) -> (data, notes)``: the data, and what the
            result should record about how it was made (e.g. histology's mask source).
        run: ``(config, mode, data, reference, device, progress, command, return_model,
            **run options) -> result`` (or ``(result, model)``).
        data_options: the keyword arguments ``load`` takes beside mode and seed.
        run_options: the keyword arguments ``run`` takes beside the common ones.
        check_reference: raises a one-line ``ValueError`` for a reference it does not offer.
        config_holds_data: the config's settings say how the data is made, and ``run``
            loads it from them (the supervised classifier, whose settings hold its data's).
    """

    name: str
    presets: Mapping[str, Mapping[str, Mapping[str, Any]]]
    train_config: Callable[..., Any]
    load: Callable[..., tuple[dict, dict]]
    run: Callable[..., Any]
    data_options: tuple[str, ...]
    run_options: tuple[str, ...]
    check_reference: Callable[[str | None], Any]
    config_holds_data: bool = False


# ------------------------------------------------------------------------- dominoes


def _dominoes_load(mode: str, seed: int, **options: Any) -> tuple[dict, dict]:
    return experiments.load_dominoes(mode, seed=seed, **options), {}


def _dominoes_run(config, mode, data, reference, device, progress, command, return_model, **options):
    return experiments.run_dominoes(config, mode, data=data, device=device, reference=reference, progress=progress,
                                    command=command, return_model=return_model, **options)


def _dominoes_config(mode: str | None = None, variant: str = "baseline", **overrides: Any) -> TrainConfig:
    return experiments.train_config(mode, variant=variant, **overrides)


# -------------------------------------------------------------------- multi-channel


def _channel_family(name: str) -> Family:
    spec = channels.get(name)

    def load(mode: str, seed: int, correlation: float = 1.0, **options: Any) -> tuple[dict, dict]:
        return spec.load_with_notes(mode, seed, correlation, **options)

    def train_config(mode: str | None = None, variant: str = "baseline", **overrides: Any) -> TrainConfig:
        options = {k: overrides.pop(k) for k in spec.data_options if k in overrides}  # e.g. histology's masks
        return channels.train_config(spec, mode, variant, **{**spec.config_overrides(variant, options), **overrides})

    def run_it(config, mode, data, reference, device, progress, command, return_model, **options):
        return channels.run(spec, config, mode, data=data, reference=reference, device=device, progress=progress,
                            command=command, return_model=return_model, **options)

    train = {"augment": spec.augment, "photometric_channels": spec.photometric_channels}
    presets = {mode: {"data": dict(spec.presets[mode]), "train": {**experiments.PRESETS[mode]["train"], **train}}
               for mode in experiments.PRESETS}
    return Family(
        name=name, presets=presets, train_config=train_config, load=load, run=run_it,
        data_options=("correlation", *spec.data_options),
        run_options=("missing", "allocate", *CHECKPOINTING),
        check_reference=lambda reference: channels.parse_reference(spec, reference),
    )


# ------------------------------------------------------------------------- RandBits


def _randbits_config(mode: str | None = None, variant: str = "baseline", bits: int | None = None,
                     **overrides: Any) -> TrainConfig:
    """RandBits' preset :class:`TrainConfig`; the component variants split the digit
    channel from the ``bits`` bit channels (:func:`splicer_tutorial.randbits.channel_split`)
    unless ``groups`` are given. The augmentation is fixed (``randbits.FIXED``): the bit
    planes are only cropped and flipped, so both views carry the same bits."""
    fixed = sorted(set(overrides) & set(randbits.FIXED))
    if fixed:
        raise ValueError(f"{fixed} are fixed for RandBits ({randbits.FIXED}): the bits must be equal in both views.")
    if variant != "baseline" and overrides.get("groups") is None:
        if bits is None:
            raise ValueError(f"variant {variant!r} splits the digit from the bits; give bits= (the number of bit "
                             "channels) or groups=.")
        overrides["groups"] = randbits.channel_split(bits)
    return TrainConfig.from_values({**randbits.PRESETS[config_module.mode(mode)]["train"], "variant": variant,
                                    **overrides, **randbits.FIXED})


def _randbits_load(mode: str, seed: int, bits: int | None = None, **options: Any) -> tuple[dict, dict]:
    if bits is None:
        raise ValueError("RandBits needs bits= (the number of bit channels, e.g. 10; run --bits N).")
    settings = {**randbits.PRESETS[mode]["data"], **options}
    return randbits.load_randbits(bits, seed=seed, **settings), {}


def _randbits_run(config, mode, data, reference, device, progress, command, return_model, knn: bool = True,
                  **checkpointing: Any):
    """Pretrain on RandBits' images, then probe the digit (linear, and kNN with ``knn``)."""
    start = time.perf_counter()
    train = data["train"]["randbits"]
    if reference == "random_init":
        model, history = untrained(config, train.images.shape[1])
        model.to(device)
    else:
        model, history = pretrain(train.images, config, probe_labels={"digit": train.digit}, device=device,
                                  progress=progress, **checkpointing)
    evaluation = probes_module.evaluate(model.encoder, data, factors=randbits.FACTORS, knn=knn, device=device)
    evaluation.pop("naive_probes", None)  # needs a "correlated" variant; RandBits has none
    result = results_module.record(
        config, mode, device, command, start, data, train.images.shape[1:], randbits.CHANCE, history,
        dataset="randbits", reference=reference, n_bits=train.n_bits, temperature=config.temperature, **evaluation,
    )
    return (result, model) if return_model else result


def _randbits_reference(reference: str | None) -> str | None:
    if reference not in (None, "random_init"):
        raise ValueError(f"reference is {reference!r}; RandBits offers None or 'random_init'.")
    return reference


# ------------------------------------------------------------------ binary dominoes


def _supervised_config(mode: str | None = None, variant: str = "baseline", seed: int = 0, **overrides: Any) -> dict:
    """The supervised classifier's settings: ``seed`` and overrides of
    :data:`splicer_tutorial.supervised.PRESETS`, its data's (``correlation``,
    ``downsample``) among them (checked now)."""
    if variant != "baseline":
        raise ValueError(f"variant={variant!r}: binary_dominoes trains a supervised classifier; leave the variant out.")
    supervised.split_overrides(config_module.mode(mode), overrides)  # unknown settings: an error now
    return {"seed": seed, **overrides}


def _supervised_load(mode: str, seed: int, **options: Any) -> tuple[dict, dict]:
    return supervised.load_binary_dominoes(mode, seed=seed, **options), {}


def _supervised_run(config, mode, data, reference, device, progress, command, return_model):
    settings = dict(config)
    return supervised.run_supervised(mode, settings.pop("seed"), progress=progress, device=device, data=data,
                                     command=command, return_model=return_model, **settings)


def _no_reference(reference: str | None) -> None:
    if reference is not None:
        raise ValueError(f"reference is {reference!r}; binary_dominoes (a supervised classifier) offers none.")


# ------------------------------------------------------------------ your own images


@functools.lru_cache(maxsize=4)
def own_family(dataset: str) -> Family:
    """Your own images (``folder:PATH`` or ``npz:PATH``, :mod:`splicer_tutorial.owndata`) as
    a multi-channel family: the images are read (and checked) now. Data option ``size``
    (resize every image to (H, W)); run options those of the multi-channel sets, and
    ``save_embeddings`` (a ``.npz`` path: every image's encoder features and embedding z)."""
    spec = owndata.dataset(dataset)

    def load(mode: str, seed: int, size: tuple[int, int] | None = None) -> tuple[dict, dict]:
        return owndata.load(dataset, mode, seed=seed, size=size), {}

    def train_config(mode: str | None = None, variant: str = "baseline", **overrides: Any) -> TrainConfig:
        return channels.train_config(spec, mode, variant, **overrides)

    def run_it(config, mode, data, reference, device, progress, command, return_model,
               save_embeddings: str | None = None, missing: bool | None = None, **options):
        missing = bool(spec.factors) if missing is None else missing  # nothing to probe without labels
        if save_embeddings is not None:  # before any training
            _embeddings_path(save_embeddings)
        result, model = channels.run(spec, config, mode, data=data, reference=reference, device=device,
                                     progress=progress, command=command, return_model=True, missing=missing, **options)
        if save_embeddings is not None:
            result["embeddings"] = str(save_embeddings_file(model, data, save_embeddings, device=device))
        return (result, model) if return_model else result

    presets = {mode: {"data": {}, "train": {**experiments.PRESETS[mode]["train"], "augment": spec.augment}}
               for mode in experiments.PRESETS}
    return Family(
        name=dataset, presets=presets, train_config=train_config, load=load, run=run_it,
        data_options=("size",), run_options=("missing", "allocate", "save_embeddings", *CHECKPOINTING),
        check_reference=lambda reference: channels.parse_reference(spec, reference),
    )


def _embeddings_path(path: str | Path) -> Path:
    """``path`` as the ``.npz`` :func:`save_embeddings_file` writes; a one-line error otherwise."""
    if Path(path).suffix != ".npz":
        raise ValueError(f"save_embeddings={str(path)!r} must end in .npz.")
    return Path(path)


def save_embeddings_file(model, data: dict, path: str, device=None) -> Path:
    """Every image's encoder features ``h`` (N, F) and embedding ``z`` (N, D), with its name
    and split, written to ``path`` (an ``.npz``, atomically). Returns the path."""
    path = _embeddings_path(path)
    sets = [(split, s) for split, named in data.items() for s in named.values()]
    arrays = {
        "features": np.concatenate([probes_module.extract_features(model.encoder, s.images, device=device)
                                    for _, s in sets]),
        "embeddings": np.concatenate([probes_module.extract_features(model.embed, s.images, device=device)
                                      for _, s in sets]),
        "names": np.array([name for _, s in sets for name in (s.names or [str(i) for i in range(len(s))])]),
        "split": np.array([split for split, s in sets for _ in range(len(s))]),
    }
    for factor in sets[0][1].factors:
        arrays[f"labels_{factor}"] = np.concatenate([s.labels(factor).numpy() for _, s in sets])

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    write_atomically(path, write)
    return path


# ---------------------------------------------------------------------- the registry


#: Every data set of the run path, by its ``run --dataset`` name.
FAMILIES: dict[str, Family] = {
    "dominoes": Family(
        name="dominoes", presets=experiments.PRESETS, train_config=_dominoes_config, load=_dominoes_load,
        run=_dominoes_run, data_options=("correlation", "max_per_class", "downsample", "source_split", "interaction"),
        run_options=("knn", "curve_every", "test_sets", "chunks", "shortcut", "n_balanced", *CHECKPOINTING),
        check_reference=experiments.parse_reference,
    ),
    "binary_dominoes": Family(
        name="binary_dominoes", presets=supervised.PRESETS, train_config=_supervised_config, load=_supervised_load,
        run=_supervised_run, data_options=(), run_options=(),
        check_reference=_no_reference, config_holds_data=True,
    ),
    "randbits": Family(
        name="randbits", presets={m: {"data": p["data"], "train": p["train"]} for m, p in randbits.PRESETS.items()},
        train_config=_randbits_config, load=_randbits_load, run=_randbits_run,
        data_options=("bits", "n_train", "n_test", "size", "zeroed"), run_options=("knn", *CHECKPOINTING),
        check_reference=_randbits_reference,
    ),
    **{name: _channel_family(name) for name in channels.NAMES},
}

#: The settings of every data set and mode, in one shape:
#: ``PRESETS[dataset][mode] == {"data": {...}, "train": {...}}``.
PRESETS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    name: {mode: {"data": dict(p["data"]), "train": dict(p["train"])} for mode, p in family.presets.items()}
    for name, family in FAMILIES.items()
}


def family(dataset: str) -> Family:
    """The :class:`Family` called ``dataset`` (or your own images, ``folder:PATH`` or
    ``npz:PATH``: :func:`own_family`); a one-line error naming the known ones."""
    if owndata.is_own(dataset):
        return own_family(dataset)
    if dataset not in FAMILIES:
        raise ValueError(f"dataset={dataset!r} is not a data set of the run path; use one of {list(FAMILIES)}, "
                         "or folder:PATH / npz:PATH for your own images.")
    return FAMILIES[dataset]


def train_config(dataset: str, mode: str | None = None, variant: str = "baseline", **overrides: Any):
    """The :class:`~splicer_tutorial.training.TrainConfig` of ``dataset``'s preset for the
    mode, with ``variant`` and any field overridden. Family extras: RandBits takes
    ``bits=`` (its component variants split the digit from the bits); histology takes
    ``masks="regions"`` (three mask components). For ``binary_dominoes``, the supervised
    settings (a dict with ``seed``)."""
    return family(dataset).train_config(mode, variant, **overrides)


def parse_reference(dataset: str, reference: str | None):
    """Check a reference against what ``dataset`` offers (the book's grammar:
    ``random_init`` or ``only:<components>``); a one-line ``ValueError`` otherwise."""
    return family(dataset).check_reference(reference)


def _split_options(chosen: Family, options: dict[str, Any]) -> tuple[dict, dict]:
    unknown = sorted(set(options) - set(chosen.data_options) - set(chosen.run_options))
    if unknown:
        raise ValueError(f"{unknown} are not options of a {chosen.name} run; it takes data options "
                         f"{list(chosen.data_options)} and run options {list(chosen.run_options)}.")
    return ({k: v for k, v in options.items() if k in chosen.data_options},
            {k: v for k, v in options.items() if k in chosen.run_options})


def load(dataset: str, mode: str | None = None, seed: int = 0, **options: Any) -> dict:
    """``dataset``'s data for a mode's preset: ``{"train" | "test": {variant: set}}``.
    ``options``: the family's data options (e.g. dominoes ``correlation``,
    ``max_per_class``; RandBits ``bits``; histology ``masks``)."""
    chosen = family(dataset)
    data_options, run_options = _split_options(chosen, options)
    if run_options:
        raise ValueError(f"{sorted(run_options)} are run options, not data options; give them to run().")
    return chosen.load(config_module.mode(mode), seed, **data_options)[0]


def run(
    dataset: str,
    config=None,
    mode: str | None = None,
    *,
    data: dict | None = None,
    reference: str | None = None,
    device=None,
    progress: bool = True,
    command: list[str] | None = None,
    return_model: bool = False,
    umap: int | None = None,
    **options: Any,
):
    """Pretrain on ``dataset`` as ``config`` says, then probe: one run of any family.

    Args:
        dataset: a name of :data:`FAMILIES` (``dominoes``, ``randbits``, ``multiplex``, ...).
        config: from :func:`train_config` (default: the mode's baseline).
        mode: ``fast`` or ``full`` (default: :func:`splicer_tutorial.config.mode`).
        data: the data (as from :func:`load`); loaded for the mode with seed ``config.seed``
            and the data ``options`` when left out.
        reference: ``None``, ``"random_init"`` or ``"only:<components>"`` (:func:`parse_reference`).
        return_model: also return the trained model.
        umap: also store a 2-D UMAP of this many test images' features in the result
            (``result["umap"]``, :func:`embedding_map`), for a reader without the model.
        **options: the family's data options (when ``data`` is left out) and run options,
            e.g. dominoes ``knn=False, curve_every=2``; multi-channel ``allocate="variance"``;
            RandBits ``bits=10``. An option the family does not take is an error.

    Returns the result (:func:`splicer_tutorial.results.record`), with whatever the loader
    noted about the data (histology: ``masks``); with ``return_model``, ``(result, model)``.
    """
    chosen = family(dataset)
    mode = config_module.mode(mode)
    data_options, run_options = _split_options(chosen, options)
    chosen.check_reference(reference)
    if umap is not None:
        if isinstance(umap, bool) or not isinstance(umap, int) or umap < MIN_MAP:
            raise ValueError(f"umap={umap!r}: expected the number of test images to map, an int of at least "
                             f"{MIN_MAP} (e.g. 2000).")
        if chosen.config_holds_data:
            raise ValueError(f"umap: {dataset} trains a supervised classifier, with no SSL embedding to map; "
                             "drop umap.")
    config = config if config is not None else chosen.train_config(mode)
    device = config_module.resolve_device(device)
    notes: dict[str, Any] = {}
    if data is None and not chosen.config_holds_data:
        data, notes = chosen.load(mode, config.seed, **data_options)
    elif data_options:
        raise ValueError(f"{sorted(data_options)} shape the data that run() loads, and data= was given; drop them.")
    out = chosen.run(config, mode, data, reference, device, progress, command, return_model or bool(umap),
                     **run_options)
    result, model = out if return_model or umap else (out, None)
    if umap:
        result["umap"] = embedding_map(model, data, dataset, umap, seed=config.seed, device=device)
    result.update(notes)
    return (result, model) if return_model else result


#: The fewest test images :func:`embedding_map` maps (UMAP needs neighbours to find).
MIN_MAP = 10
#: The test set whose map :func:`run` stores with ``umap``, by data set (default:
#: ``independent``, where every factor is drawn on its own, else the first test set).
MAP_SETS = {"dominoes": "mnist_randomised"}


def embedding_map(model, data: dict, dataset: str, n: int, seed: int = 0, device=None) -> dict[str, Any]:
    """A 2-D UMAP of the encoder features of ``n`` test images, as a result stores it.

    The images are a seeded sample of the data set's map set (:data:`MAP_SETS`; all of it
    when it holds fewer than ``n``), kept in their order. Returns ``{"set": name, "n": n,
    "points": (n, 2) nested list (3 decimals), "labels": {factor: n labels}}``: what
    :func:`splicer_tutorial.plots.plot_map` draws.
    """
    name = MAP_SETS.get(dataset, "independent" if "independent" in data["test"] else next(iter(data["test"])))
    test = data["test"][name]
    chosen = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    features = probes_module.extract_features(model.encoder, test.images[chosen], device=device)
    points = probes_module.umap_points(features, seed=seed)
    return {"set": name, "n": len(chosen), "points": np.round(points.astype(float), 3).tolist(),
            "labels": {factor: test.labels(factor)[chosen].tolist() for factor in test.factor_names}}


def run_randbits(n_bits: int, temperature: float, mode: str | None = None, seed: int = 0, progress: bool = True,
                 data: dict | None = None, device=None, knn: bool = True, reference: str | None = None,
                 command: list[str] | None = None, return_model: bool = False, **overrides: Any):
    """SimCLR on RandBits with ``n_bits`` bit channels at ``temperature``: :func:`run` with
    ``train_config("randbits", mode, bits=n_bits, temperature=temperature, seed=seed,
    **overrides)``. ``overrides``: TrainConfig fields (``variant``, ``epochs``, ...) or the
    preset's data settings (``n_train``, ``n_test``, ``size``) when ``data`` is left out.

    Returns :func:`run`'s result, with ``n_bits`` and ``temperature``."""
    data_settings = {k: overrides.pop(k) for k in ("n_train", "n_test", "size") if k in overrides}
    config = train_config("randbits", mode, overrides.pop("variant", "baseline"), bits=n_bits,
                          temperature=temperature, seed=seed, **overrides)
    if data is not None and data["train"]["randbits"].n_bits != n_bits:
        raise ValueError(f"data holds {data['train']['randbits'].n_bits} bits but n_bits={n_bits}; pass matching "
                         "data or none.")
    options = {} if data is not None else {"bits": n_bits, **data_settings}
    return run("randbits", config, mode, data=data, reference=reference, device=device, progress=progress,
               command=command, return_model=return_model, knn=knn, **options)


def runner(dataset: str, mode: str | None = None, data: dict | None = None, **fixed: Any) -> Callable[..., Any]:
    """A chapter's one-line way to run many variants of ``dataset`` on the same data.

    ``run = runner("multiplex", MODE, data=data, device=DEVICE)``, then
    ``run("splicer", lam=3.0)`` or ``run(reference="random_init")``. Each call builds
    :func:`train_config` for its ``variant`` (TrainConfig fields among its keyword
    arguments) and calls :func:`run` (the family's options and :func:`run`'s own among
    them, e.g. ``allocate="variance"``, ``return_model=True``); ``data=`` in a call replaces
    the runner's data for that call. ``fixed`` holds keyword arguments of every call.
    """
    chosen = family(dataset)
    own = {"reference", "device", "progress", "command", "return_model"}

    def run_one(variant: str = "baseline", reference: str | None = None, data: dict | None = data, **overrides: Any):
        given = {**fixed, **overrides}
        run_keys = own | set(chosen.data_options) | set(chosen.run_options)
        options = {k: v for k, v in given.items() if k in run_keys}
        config = chosen.train_config(mode, variant, **{k: v for k, v in given.items() if k not in run_keys})
        return run(dataset, config, mode, data=data, reference=reference, **options)

    return run_one
