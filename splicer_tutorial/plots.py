"""The figures of the book: dominoes, components, training curves, probe bars, UMAP.

Every function draws on matplotlib axes it makes (or that you pass) and returns the
figure, so a chapter can show it, save it, or draw more on it. Images are uint8
(N, C, H, W) or float in [0, 1]; results are the plain dicts of
:mod:`splicer_tutorial.probes`.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.legend import Legend
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch

from .probes import umap_points
from .results import mean_se

FIGURE_WIDTH = 9.0  # inches: every figure of the book is this wide
FACTOR_COLOURS = {"digit": "#4C72B0", "object": "#DD8452"}

#: The book's one figure style (:func:`use_book_style`): plain axes, legible on a slide,
#: colour-blind-safe colours (Okabe and Ito's palette), vector output.
BOOK_STYLE: dict[str, object] = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": plt.cycler(color=["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
                                         "#F0E442", "#000000"]),
    "image.cmap": "viridis",
    "svg.fonttype": "path",
}


def use_book_style(svg: bool = True) -> None:
    """Draw every later figure in :data:`BOOK_STYLE`, and in a notebook show them as SVG
    (sharp at any size; the built book offers each figure for download as SVG and PNG).
    Importing this module calls it once."""
    plt.rcParams.update(BOOK_STYLE)
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # no IPython: nothing shows figures inline
        return
    if svg and get_ipython() is not None:
        set_matplotlib_formats("svg")


def legend_outside(ax: plt.Axes, **kwargs) -> Legend:
    """The legend of ``ax`` beside it, to the right, so that it hides no data (``kwargs`` go
    to :meth:`~matplotlib.axes.Axes.legend`; ``corner="lower"`` puts it at the bottom)."""
    corner = kwargs.pop("corner", "upper")
    anchor = (1.02, 1.0) if corner == "upper" else (1.02, 0.0)
    return ax.legend(loc=f"{corner} left", bbox_to_anchor=anchor, borderaxespad=0.0, **kwargs)


def to_display(image: torch.Tensor) -> np.ndarray:
    """One image (C, H, W), uint8 or float in [0, 1], as an (H, W, 3) or (H, W) array."""
    image = image.detach().cpu()
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float()
    image = image.clamp(0, 1)
    if image.shape[0] == 3:
        return image.permute(1, 2, 0).numpy()
    return image.mean(0).numpy()


def show_images(
    images: torch.Tensor,
    titles: Sequence[str] | None = None,
    columns: int = 8,
    height: float = 2.2,
    title: str | None = None,
) -> plt.Figure:
    """A grid of images (N, C, H, W) with optional titles per image and for the figure."""
    n = len(images)
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(FIGURE_WIDTH, height * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_display(images[i]), cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_dominoes(dominoes, n: int = 8, class_names: Sequence[str] | None = None) -> plt.Figure:
    """The first ``n`` dominoes of a :class:`~splicer_tutorial.dominoes.DominoSet`, titled by label."""
    titles = []
    for d, o in zip(dominoes.digit[:n].tolist(), dominoes.object[:n].tolist()):
        obj = class_names[o] if class_names is not None else str(o)
        titles.append(f"digit {d}\n{obj}")
    return show_images(dominoes.images[:n], titles, columns=min(n, 8), title=dominoes.name)


def show_components(images: torch.Tensor, components: torch.Tensor, n: int = 4) -> plt.Figure:
    """Each of ``n`` images beside its K components.

    images: (B, C, H, W); components: (B, K, C, h, w), as made by
    :mod:`splicer_tutorial.deconstruct`.
    """
    n = min(n, len(images))
    k = components.shape[1]
    fig, axes = plt.subplots(n, k + 1, figsize=(1.6 * (k + 1), 2.4 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(to_display(images[i]), cmap="gray", vmin=0, vmax=1)
        for j in range(k):
            axes[i, j + 1].imshow(to_display(components[i, j]), cmap="gray", vmin=0, vmax=1)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=9)
    for j in range(k):
        axes[0, j + 1].set_title(f"component {j}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_history(history, chance: float | None = None) -> plt.Figure:
    """Loss per step (left) and the online probe's accuracy per epoch (right)."""
    has_probe = bool(history.online_probe)
    fig, axes = plt.subplots(1, 2 if has_probe else 1, figsize=(FIGURE_WIDTH, 3.2), squeeze=False)
    ax = axes[0, 0]
    ax.plot(history.loss, lw=0.8, color="0.5", label="per step")
    if history.epoch_loss:
        steps = len(history.loss) // len(history.epoch_loss)
        ax.plot(np.arange(1, len(history.epoch_loss) + 1) * steps - 1, history.epoch_loss, "o-", color="k", label="epoch mean")
    ax.set(xlabel="step", ylabel="loss", title="pretraining loss")
    legend_outside(ax)
    if has_probe:
        ax = axes[0, 1]
        for factor, accuracy in history.online_probe.items():
            ax.plot(np.arange(1, len(accuracy) + 1), accuracy, "o-", label=factor, color=FACTOR_COLOURS.get(factor))
        if chance is not None:
            ax.axhline(chance, ls=":", color="0.4", label="chance")
        ax.set(xlabel="epoch", ylabel="accuracy", title="online linear probe (training batches)", ylim=(0, 1))
        legend_outside(ax)
    fig.tight_layout()
    return fig


def _mean_se(value) -> tuple[float, float]:
    """Mean and standard error of an accuracy or a list of them (one per seed)."""
    mean, se, _ = mean_se(np.atleast_1d(np.asarray(value, dtype=float)))
    return mean, se


def plot_probes(
    runs: Mapping[str, Mapping[str, Mapping[str, float | Sequence[float]]]],
    chance: float | None = None,
    factors: Sequence[str] = ("digit", "object"),
    title: str | None = None,
) -> plt.Figure:
    """Grouped bars of probe accuracy: one panel per factor, a group per test split.

    ``runs`` is ``{run name: {split: {factor: accuracy}}}``; an accuracy may be a list
    (one per seed), drawn as mean with a standard-error bar.
    """
    names = list(runs)
    splits = list(next(iter(runs.values())))
    fig, axes = plt.subplots(1, len(factors), figsize=(FIGURE_WIDTH, 3.4), squeeze=False, sharey=True)
    width = 0.8 / len(names)
    for ax, factor in zip(axes[0], factors):
        for i, name in enumerate(names):
            stats = [_mean_se(runs[name][split][factor]) for split in splits]
            x = np.arange(len(splits)) + (i - (len(names) - 1) / 2) * width
            bars = ax.bar(x, [m for m, _ in stats], width, yerr=[s for _, s in stats], label=name, capsize=2)
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
        if chance is not None:
            ax.axhline(chance, ls=":", color="0.3", label="chance")
        ax.set_xticks(np.arange(len(splits)), [s.replace("_", "\n") for s in splits], fontsize=8)
        ax.set(title=f"{factor} probe", ylim=(0, 1.05))
    axes[0, 0].set_ylabel("test accuracy")
    legend_outside(axes[0, -1])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_umap(
    features: np.ndarray,
    labels: Mapping[str, np.ndarray],
    seed: int = 0,
    n_neighbors: int = 15,
) -> plt.Figure:
    """A 2-D UMAP of features (N, F), drawn once per labelling in ``labels``.

    Uses umap-learn through :func:`splicer_tutorial.probes.umap_points` (its first call
    compiles with numba: ~10-30 s); :func:`plot_map` draws the points.
    """
    return plot_map(umap_points(features, seed=seed, n_neighbors=n_neighbors), labels)


def plot_map(points: np.ndarray | Sequence[Sequence[float]], labels: Mapping[str, Sequence[int]],
             title: str | None = None) -> plt.Figure:
    """Points of a 2-D map (N, 2), e.g. a UMAP, one panel per labelling in ``labels``
    (``{factor: (N,) labels}``), each coloured by its label. A result's stored map
    (``result["umap"]``, :func:`splicer_tutorial.runs.embedding_map`) draws as
    ``plot_map(m["points"], m["labels"])``."""
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (N, 2), got {points.shape}.")
    fig, axes = plt.subplots(1, len(labels), figsize=(FIGURE_WIDTH, FIGURE_WIDTH / len(labels)), squeeze=False)
    for ax, (name, y) in zip(axes[0], labels.items()):
        scatter = ax.scatter(points[:, 0], points[:, 1], c=np.asarray(y), cmap="tab10", s=3, vmin=-0.5, vmax=9.5,
                             rasterized=True)  # thousands of points: an image inside the SVG
        ax.set(title=f"coloured by {name}", xticks=[], yticks=[])
    fig.colorbar(scatter, ax=axes[0].tolist(), ticks=range(10), shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[Mapping[str, float]]],
    factors: Sequence[str] = ("digit", "object"),
    chance: float | None = None,
    references: Mapping[str, Mapping[str, float]] | None = None,
) -> plt.Figure:
    """Decodability during training: one panel per factor, a line per run.

    ``curves`` is ``{run name: history.curves}``, each entry ``{"epoch": e, factor: acc}``;
    ``references`` optional ``{name: {factor: acc}}`` drawn as dashed horizontal lines.
    """
    fig, axes = plt.subplots(1, len(factors), figsize=(FIGURE_WIDTH, 3.2), squeeze=False, sharey=True)
    for ax, factor in zip(axes[0], factors):
        for name, points in curves.items():
            ax.plot([p["epoch"] for p in points], [p[factor] for p in points], "o-", label=name)
        for name, values in (references or {}).items():
            ax.axhline(values[factor], ls="--", lw=1, color="0.5")
            ax.annotate(name, (0, values[factor]), fontsize=7, color="0.3", va="bottom")
        if chance is not None:
            ax.axhline(chance, ls=":", color="0.3")
        ax.set(xlabel="epoch", title=f"{factor} decodability", ylim=(0, 1))
    axes[0, 0].set_ylabel("linear probe accuracy")
    legend_outside(axes[0, -1])
    fig.tight_layout()
    return fig


def plot_accuracy_vs_bits(
    table: dict[float, dict[int, list[float]]],
    reference: dict[int, list[float]] | None = None,
    chance: float = 0.1,
    ax=None,
    title: str | None = None,
    highlight: tuple[int, float] | None = None,
    label: str = "SimCLR, T = {key:g}",
    ylabel: str = "digit linear-probe accuracy",
):
    """Digit accuracy against the number of bits: a line per temperature (mean, with a
    standard-error band where there are several runs), an optional dashed reference
    line (``{n_bits: [accuracy]}``, e.g. a random encoder) and the chance level.

    ``table`` is what :func:`splicer_tutorial.randbits.collect` returns; ``highlight=(n_bits, temperature)`` rings
    one point; ``label`` formats each line's legend from its key (``"{key}"`` for a table
    collected ``by="variant"``); ``ylabel`` names the probe (e.g. ``"digit kNN accuracy"``).
    Returns the figure.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGURE_WIDTH * 0.6, 3.4))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, max(len(table), 1)))
    for colour, (key, row) in zip(colours, table.items()):
        bits = np.array(list(row))
        mean, se = np.array([_mean_se(v) for v in row.values()]).T
        ax.plot(bits, mean, "o-", color=colour, label=label.format(key=key))
        if np.any(se > 0):
            ax.fill_between(bits, mean - se, mean + se, color=colour, alpha=0.2)
    if reference:
        ax.plot(list(reference), [np.mean(v) for v in reference.values()], "s--", color="0.5",
                label="random encoder")
    if highlight is not None and highlight[1] in table and highlight[0] in table[highlight[1]]:
        ax.plot([highlight[0]], [np.mean(table[highlight[1]][highlight[0]])], "o", ms=14, mfc="none",
                mec="crimson", mew=2)
    ax.axhline(chance, ls=":", color="0.3", label="chance")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="number of bits", ylabel=ylabel, ylim=(0, 1.02), title=title)
    legend_outside(ax)
    ax.figure.tight_layout()
    return ax.figure


#: The two numbers that measure suppression on dominoes: (test split, factor).
SUPPRESSION_CELLS = (("mnist_randomised", "object"), ("cifar_randomised", "digit"))


def plot_suppression(
    runs: Mapping[str, Mapping[str, Mapping[str, float | Sequence[float]]]],
    cells: Sequence[tuple[str, str]] = SUPPRESSION_CELLS,
    reference: str | None = None,
    chance: float | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Horizontal bars of the suppression numbers of several runs, one panel per cell.

    ``runs`` is ``{run name: {split: {factor: accuracy or [accuracy per seed]}}}`` (as from
    :func:`splicer_tutorial.results.group_probes`); ``cells`` the (split, factor) pairs to
    draw (default: object on ``mnist_randomised``, digit on ``cifar_randomised``). Lists are
    drawn as mean with a standard-error bar and the seeds as dots. The run named
    ``reference`` (e.g. ``"simclr/cifar_only"``) is also drawn as a dashed line.
    """
    names = list(runs)
    fig, axes = plt.subplots(1, len(cells), figsize=(FIGURE_WIDTH, 0.45 * len(names) + 1.4),
                             squeeze=False, sharey=True)
    y = np.arange(len(names))[::-1]
    for ax, (split, factor) in zip(axes[0], cells):
        values = [runs[name].get(split, {}).get(factor, np.nan) for name in names]
        stats = [_mean_se(v) for v in values]
        colours = ["0.55" if name == reference else FACTOR_COLOURS.get(factor, "C0") for name in names]
        ax.barh(y, [m for m, _ in stats], xerr=[s for _, s in stats], color=colours, capsize=2)
        for yi, value in zip(y, values):
            if isinstance(value, (list, tuple)) and len(value) > 1:
                ax.plot(value, [yi] * len(value), "k.", ms=3)
        for yi, (m, _) in zip(y, stats):
            ax.text(m + 0.01, yi, f"{m:.3f}", va="center", fontsize=8)
        if reference in runs:
            ax.axvline(stats[names.index(reference)][0], ls="--", color="0.3", lw=1)
        if chance is not None:
            ax.axvline(chance, ls=":", color="0.3")
        finite = [m for m, _ in stats if np.isfinite(m)]
        low = max(0.0, min(finite) - 0.1) if finite else 0.0
        ax.set(xlim=(low, 1.02), title=f"{factor} on {split}")
        ax.set_xlabel("test accuracy")
    axes[0, 0].set_yticks(y, names, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_scale(rows: Sequence[Mapping], title: str | None = None) -> plt.Figure:
    """The scale study: accuracy, the suppression gap and SpliCER's gain against training compute.

    ``rows`` are :func:`splicer_tutorial.experiments.scale_study`'s. Left: the object
    accuracy of the baseline, CIFAR-only and SpliCER with zero-filled and with cropped halves
    (mean ± SE over seeds) at every point. Right: the gap (CIFAR-only minus baseline) and
    each SpliCER's gain (SpliCER minus baseline) in points, ± 2 standard errors: a bar that crosses zero is not resolved. Points along
    one knob (``row["series"]``, a marker each) are joined by a line.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.8))
    markers = {"epochs": "o", "width": "s", "resolution": "^", "dominoes": "D"}

    def draw(ax, colour: str, label: str, points: Callable[[Mapping], tuple[float, float] | None]) -> None:
        labelled = False
        for series, marker in markers.items():
            on = [(r["flops"], points(r)) for r in rows if series in r["series"] and points(r) is not None]
            if on:
                x, stats = zip(*on)
                ax.errorbar(x, [m for m, _ in stats], [e for _, e in stats], marker=marker, color=colour,
                            capsize=2, ms=4, lw=1, label=None if labelled else label)
                labelled = True

    for name, colour, label in (("baseline", "C0", "baseline"), ("cifar_only", "0.45", "cifar_only"),
                                ("splicer", "C3", "SpliCER, zero fill"), ("splicer-crop", "C2", "SpliCER, cropped")):
        draw(left, colour, label, lambda r, n=name: (
            None if n not in r["values"] else tuple(100 * v for v in mean_se(r["values"][n])[:2])))
    for key, colour, label in (("gap", "0.45", "gap: CIFAR-only - baseline"),
                               ("gain", "C3", "gain: SpliCER (zero fill) - baseline"),
                               ("gain_crop", "C2", "gain: SpliCER (cropped) - baseline")):
        draw(right, colour, label, lambda r, k=key: (
            None if r.get(k) is None else (100 * r[k].difference, 200 * r[k].se)))
    right.axhline(0, color="0.3", lw=0.8)
    for ax, ylabel in ((left, "object accuracy on mnist_randomised (%)"), (right, "difference (points, ± 2 SE)")):
        ax.set_xscale("log")
        ax.set(xlabel="training compute of the baseline (FLOPs)", ylabel=ylabel)
    legend_outside(left, fontsize=7)
    knobs = [plt.Line2D([], [], marker=m, ls="", color="0.3", label=s) for s, m in markers.items()]
    right.add_artist(legend_outside(right, handles=knobs, fontsize=7, corner="lower", title="knob", title_fontsize=7))
    legend_outside(right, fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _label_points(fig, left, rows)
    return fig


def _label_points(fig: plt.Figure, ax: plt.Axes, rows: Sequence[Mapping]) -> None:
    """Label each point of the scale study's baseline with its setting (``e64 w16 full``), each
    label in the first place round its point that overlaps no label placed before it."""
    places = ((2, -9, "left"), (2, 4, "left"), (-2, 4, "right"), (-2, -9, "right"))
    renderer = fig.canvas.get_renderer()
    ax.get_xlim(), ax.get_ylim()  # settle the autoscaled limits before measuring text
    placed = []
    for r in sorted((r for r in rows if "baseline" in r["values"]), key=lambda r: r["flops"]):
        epochs, width, resolution, per_class = r["point"]
        text = f"e{epochs} w{width}" + ("" if resolution == "half" else " full") + (
            "" if per_class == 200 else f" n{per_class}")
        for dx, dy, align in places:
            label = ax.annotate(text, (r["flops"], 100 * mean_se(r["values"]["baseline"])[0]), fontsize=6,
                                color="0.35", xytext=(dx, dy), textcoords="offset points", ha=align)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed) or (dx, dy, align) == places[-1]:
                break
            label.remove()
        placed.append(box)


def plot_chunk_matrix(
    matrices: Mapping[str, np.ndarray],
    factors: Sequence[str] = ("digit", "object"),
    chunk_names: Sequence[str] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Heatmaps of chunk x factor probe accuracy, one per model.

    ``matrices`` is ``{model name: (K, F) array}`` from
    :func:`splicer_tutorial.probes.chunk_probe_matrix`; rows are the embedding's chunks,
    columns the factors. A chunk that specialises is bright in one column only. Models may
    have different K: each panel then names its own rows (the first K of ``chunk_names``).
    """
    counts = {len(np.asarray(matrix)) for matrix in matrices.values()}
    rows_count = max(counts)
    fig, axes = plt.subplots(1, len(matrices), figsize=(FIGURE_WIDTH, 1.2 + 0.55 * rows_count), squeeze=False,
                             layout="constrained")
    for i, (ax, (name, matrix)) in enumerate(zip(axes[0], matrices.items())):
        matrix = np.asarray(matrix)
        image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for (k, j), value in np.ndenumerate(matrix):
            ax.text(j, k, f"{value:.2f}", ha="center", va="center", fontsize=9,
                    color="white" if value < 0.6 else "black")
        rows = list(chunk_names or [f"chunk {k}" for k in range(matrix.shape[0])])[: matrix.shape[0]]
        ax.set_xticks(range(len(factors)), factors)
        ax.set_yticks(range(matrix.shape[0]), rows if i == 0 or len(counts) > 1 else [])  # K may differ by panel
        ax.set_title(name, fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="probe accuracy")
    if title:
        fig.suptitle(title)
    return fig


def plot_missing(
    missing: Mapping[str, Mapping[str, Mapping[str, float]]], factors: Sequence[str], title: str | None = None
) -> plt.Figure:
    """Heatmaps of probe accuracy per factor with one channel group missing, one per run.

    ``missing`` is ``{run name: result["missing"]}`` as measured by
    :func:`splicer_tutorial.channels.missing_channel_probes`: ``{missing group: {factor:
    accuracy}}``, the first row ``"none"``.
    """
    matrices = {name: np.array([[rows[m][f] for f in factors] for m in rows]) for name, rows in missing.items()}
    groups = list(next(iter(missing.values())))
    return plot_chunk_matrix(matrices, factors, [f"missing: {m}" for m in groups], title)


def plot_mask_quality(
    points: Mapping[str, tuple[float, float]], lines: Mapping[str, float] | None = None,
    ylabel: str = "probe accuracy", title: str | None = None,
) -> plt.Figure:
    """Accuracy against mask quality: one labelled point per mask source.

    ``points`` is ``{source: (mean IoU with the true masks, accuracy)}``; ``lines`` are
    horizontal references that do not depend on masks (e.g. the baseline, a random encoder).
    """
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH * 0.7, 3.6))
    ious, accuracies = zip(*points.values())
    ax.plot(ious, accuracies, "o", color="tab:blue", label="SpliCER, by training masks")
    for name, (x, y) in points.items():
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for (name, value), style in zip((lines or {}).items(), ("--", ":", "-.")):
        ax.axhline(value, linestyle=style, color="grey", label=name)
    ax.set_xlabel("mask IoU with the true nuclei")
    ax.set_ylabel(ylabel)
    legend_outside(ax)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_cost(costs: Mapping[str, Mapping[str, float | None]], title: str | None = None) -> plt.Figure:
    """Training cost per run: seconds per epoch, and peak GPU memory where it was measured.

    ``costs`` is ``{run name: {"epoch_s": float, "peak_memory_mb": float or None}}``.
    """
    names = list(costs)
    with_memory = any(costs[n].get("peak_memory_mb") for n in names)
    fig, axes = plt.subplots(1, 2 if with_memory else 1, figsize=(FIGURE_WIDTH, 0.4 * len(names) + 1.4),
                             squeeze=False, sharey=True)
    y = np.arange(len(names))[::-1]
    panels = [("epoch_s", "seconds per epoch")] + ([("peak_memory_mb", "peak GPU memory (MB)")] if with_memory else [])
    for ax, (key, label) in zip(axes[0], panels):
        values = [costs[n].get(key) or np.nan for n in names]
        ax.barh(y, values, color="0.5")
        for yi, v in zip(y, values):
            if np.isfinite(v):
                ax.text(v, yi, f" {v:.3g}", va="center", fontsize=8)
        ax.set_xlabel(label)
    axes[0, 0].set_yticks(y, names, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_bench(result: Mapping, title: str | None = None) -> plt.Figure:
    """Images per second of each measurement of a benchmark result (log scale).

    ``result`` is what :func:`splicer_tutorial.bench.run_bench` returns; augmentation-only
    measurements are orange, whole training steps blue.
    """
    names = list(result["measurements"])
    rates = [result["measurements"][n]["images_per_s"] for n in names]
    colours = [FACTOR_COLOURS["object"] if n.startswith("augment") else FACTOR_COLOURS["digit"] for n in names]
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 0.4 * len(names) + 1.2))
    y = np.arange(len(names))[::-1]
    ax.barh(y, rates, color=colours)
    for yi, rate in zip(y, rates):
        ax.text(rate, yi, f" {rate:,.0f}", va="center", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("source images per second (log scale)")
    ax.set_title(title or result.get("device", ""))
    fig.tight_layout()
    return fig


def plot_auc(
    bars: Mapping[str, Mapping[str, float]],
    intact: Mapping[str, str],
    errors: Mapping[str, Mapping[str, float]] | None = None,
    title: str = "",
) -> plt.Figure:
    """Grouped bars of ROC AUC per test variant (chance 0.5), as Shah et al. report them.

    ``bars`` is ``{name: {variant: AUC}}``; ``intact`` names, per variant, the label the
    AUC is measured against (the half that is not randomised); ``errors`` optional
    ``{name: {variant: std}}``.
    """
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.4))
    variants = list(intact)
    width = 0.8 / len(bars)
    for i, (name, values) in enumerate(bars.items()):
        x = np.arange(len(variants)) + (i - (len(bars) - 1) / 2) * width
        err = [errors[name][v] for v in variants] if errors and name in errors else None
        drawn = ax.bar(x, [values[v] for v in variants], width, yerr=err, capsize=3, label=name)
        ax.bar_label(drawn, fmt="%.3f", fontsize=8, padding=2)
    ax.axhline(0.5, ls=":", color="0.3", label="chance")
    ax.set_xticks(np.arange(len(variants)), [f"{v}\n(AUC vs {intact[v]} label)" for v in variants], fontsize=8)
    ax.set(ylabel="ROC AUC", ylim=(0, 1.12), title=title)
    legend_outside(ax)
    fig.tight_layout()
    return fig


use_book_style()
