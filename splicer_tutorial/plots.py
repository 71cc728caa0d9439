"""The figures of the book: dominoes, components, training curves, probe bars, UMAP.

Every function draws on matplotlib axes it makes (or that you pass) and returns the
figure, so a chapter can show it, save it, or draw more on it. Images are uint8
(N, C, H, W) or float in [0, 1]; results are the plain dicts of
:mod:`splicer_tutorial.probes`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch

FIGURE_WIDTH = 9.0  # inches: every figure of the book is this wide
FACTOR_COLOURS = {"digit": "#4C72B0", "object": "#DD8452"}


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
    ax.legend(frameon=False)
    if has_probe:
        ax = axes[0, 1]
        for factor, accuracy in history.online_probe.items():
            ax.plot(np.arange(1, len(accuracy) + 1), accuracy, "o-", label=factor, color=FACTOR_COLOURS.get(factor))
        if chance is not None:
            ax.axhline(chance, ls=":", color="0.4", label="chance")
        ax.set(xlabel="epoch", ylabel="accuracy", title="online linear probe (training batches)", ylim=(0, 1))
        ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def _mean_std(value) -> tuple[float, float]:
    values = np.atleast_1d(np.asarray(value, dtype=float))
    return float(values.mean()), float(values.std()) if len(values) > 1 else 0.0


def plot_probes(
    runs: Mapping[str, Mapping[str, Mapping[str, float | Sequence[float]]]],
    chance: float | None = None,
    factors: Sequence[str] = ("digit", "object"),
    title: str | None = None,
) -> plt.Figure:
    """Grouped bars of probe accuracy: one panel per factor, a group per test split.

    ``runs`` is ``{run name: {split: {factor: accuracy}}}``; an accuracy may be a list
    (one per seed), drawn as mean with a standard-deviation error bar.
    """
    names = list(runs)
    splits = list(next(iter(runs.values())))
    fig, axes = plt.subplots(1, len(factors), figsize=(FIGURE_WIDTH, 3.4), squeeze=False, sharey=True)
    width = 0.8 / len(names)
    for ax, factor in zip(axes[0], factors):
        for i, name in enumerate(names):
            stats = [_mean_std(runs[name][split][factor]) for split in splits]
            x = np.arange(len(splits)) + (i - (len(names) - 1) / 2) * width
            bars = ax.bar(x, [m for m, _ in stats], width, yerr=[s for _, s in stats], label=name, capsize=2)
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
        if chance is not None:
            ax.axhline(chance, ls=":", color="0.3", label="chance")
        ax.set_xticks(np.arange(len(splits)), [s.replace("_", "\n") for s in splits], fontsize=8)
        ax.set(title=f"{factor} probe", ylim=(0, 1.05))
    axes[0, 0].set_ylabel("test accuracy")
    axes[0, -1].legend(frameon=False, fontsize=8, loc="upper right")
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

    Uses umap-learn (its first call compiles with numba: ~10-30 s).
    """
    import umap  # imported here: slow to import, and only this figure needs it

    points = umap.UMAP(n_neighbors=n_neighbors, random_state=seed, n_jobs=1).fit_transform(features)
    fig, axes = plt.subplots(1, len(labels), figsize=(FIGURE_WIDTH, FIGURE_WIDTH / len(labels)), squeeze=False)
    for ax, (name, y) in zip(axes[0], labels.items()):
        scatter = ax.scatter(points[:, 0], points[:, 1], c=y, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
        ax.set(title=f"coloured by {name}", xticks=[], yticks=[])
    fig.colorbar(scatter, ax=axes[0].tolist(), ticks=range(10), shrink=0.8)
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
    axes[0, -1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_bits(
    table: dict[float, dict[int, list[float]]],
    reference: dict[int, list[float]] | None = None,
    chance: float = 0.1,
    ax=None,
    title: str | None = None,
    highlight: tuple[int, float] | None = None,
):
    """Digit accuracy against the number of bits: a line per temperature (mean, with a
    standard-deviation band where there are several runs), an optional dashed reference
    line (``{n_bits: [accuracy]}``, e.g. a random encoder) and the chance level.

    ``table`` is what :func:`splicer_tutorial.randbits.collect` returns; ``highlight=(n_bits, temperature)`` rings
    one point. Returns the figure.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGURE_WIDTH * 0.6, 3.4))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, max(len(table), 1)))
    for colour, (temperature, row) in zip(colours, table.items()):
        bits = np.array(list(row))
        mean = np.array([np.mean(v) for v in row.values()])
        std = np.array([np.std(v) for v in row.values()])
        ax.plot(bits, mean, "o-", color=colour, label=f"SimCLR, T = {temperature:g}")
        if np.any(std > 0):
            ax.fill_between(bits, mean - std, mean + std, color=colour, alpha=0.2)
    if reference:
        ax.plot(list(reference), [np.mean(v) for v in reference.values()], "s--", color="0.5",
                label="random encoder")
    if highlight is not None and highlight[1] in table and highlight[0] in table[highlight[1]]:
        ax.plot([highlight[0]], [np.mean(table[highlight[1]][highlight[0]])], "o", ms=14, mfc="none",
                mec="crimson", mew=2)
    ax.axhline(chance, ls=":", color="0.3", label="chance")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="number of bits", ylabel="digit linear-probe accuracy", ylim=(0, 1.02), title=title)
    ax.legend(frameon=False, fontsize=8)
    ax.figure.tight_layout()
    return ax.figure
