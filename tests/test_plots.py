"""Figures draw what they are given: the right number of panels, bars, lines and images."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.legend import Legend
import numpy as np
import pytest
import torch

from splicer_tutorial import plots
from splicer_tutorial.dominoes import DominoSet
from splicer_tutorial.training import History


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_to_display_converts_uint8_and_float_alike():
    image = torch.randint(0, 256, (3, 8, 4), dtype=torch.uint8)
    as_uint8 = plots.to_display(image)
    as_float = plots.to_display(image.float() / 255)
    assert as_uint8.shape == (8, 4, 3)
    np.testing.assert_allclose(as_uint8, as_float, atol=1e-6)
    assert plots.to_display(torch.rand(5, 8, 4)).shape == (8, 4)  # other channel counts: the mean


def test_show_dominoes_titles_each_image_with_both_labels():
    images = torch.randint(0, 256, (6, 3, 16, 8), dtype=torch.uint8)
    labels = torch.arange(6)
    dominoes = DominoSet(images, labels, labels.flip(0), "train/correlated")
    fig = plots.show_dominoes(dominoes, n=4, class_names=[f"c{i}" for i in range(10)])
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["digit 0\nc5", "digit 1\nc4", "digit 2\nc3", "digit 3\nc2"]
    assert fig._suptitle.get_text() == "train/correlated"


def test_show_components_draws_image_and_each_component():
    images = torch.rand(3, 3, 16, 8)
    components = torch.rand(3, 2, 3, 8, 8)
    fig = plots.show_components(images, components, n=2)
    assert len(fig.axes) == 2 * 3
    assert sum(len(ax.images) for ax in fig.axes) == 6


def test_plot_history_has_a_probe_panel_only_with_probe_data():
    history = History(loss=[3.0, 2.5, 2.0, 1.8], epoch_loss=[2.75, 1.9])
    assert len(plots.plot_history(history).axes) == 1
    history.online_probe = {"digit": [0.2, 0.5], "object": [0.1, 0.2]}
    fig = plots.plot_history(history, chance=0.1)
    assert len(fig.axes) == 2
    assert len(fig.axes[1].lines) == 3  # two factors and the chance line


def test_plot_probes_draws_mean_and_std_per_run_and_split():
    runs = {
        "baseline": {"correlated": {"digit": 0.9, "object": 0.9}, "mnist_randomised": {"digit": 0.8, "object": 0.3}},
        "splicer": {"correlated": {"digit": [0.9, 0.92], "object": [0.9, 0.92]},
                    "mnist_randomised": {"digit": [0.8, 0.82], "object": [0.4, 0.5]}},
    }
    fig = plots.plot_probes(runs, chance=0.1)
    object_axis = fig.axes[1]
    heights = sorted(round(p.get_height(), 3) for p in object_axis.patches)
    assert heights == [0.3, 0.45, 0.9, 0.91]
    assert object_axis.get_title() == "object probe"


def test_plot_umap_draws_one_panel_per_labelling():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 150)
    features = rng.normal(size=(150, 8)) + 4 * labels[:, None]
    fig = plots.plot_umap(features, {"digit": labels, "object": labels[::-1]}, n_neighbors=10)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("coloured by")]
    assert [ax.get_title() for ax in panels] == ["coloured by digit", "coloured by object"]
    assert all(len(ax.collections[0].get_offsets()) == 150 for ax in panels)


def test_plot_map_draws_a_stored_map_without_umap():
    stored = {"points": [[0.0, 1.0], [2.0, 3.5], [1.0, -1.0]], "labels": {"digit": [0, 1, 2], "object": [2, 2, 1]}}
    fig = plots.plot_map(stored["points"], stored["labels"], title="full mode")
    panels = [ax for ax in fig.axes if ax.get_title().startswith("coloured by")]
    assert [ax.get_title() for ax in panels] == ["coloured by digit", "coloured by object"]
    assert panels[0].collections[0].get_offsets().tolist() == stored["points"]
    assert panels[1].collections[0].get_array().tolist() == [2, 2, 1]
    with pytest.raises(ValueError, match=r"points must be \(N, 2\), got \(3, 3\)"):
        plots.plot_map(np.zeros((3, 3)), {"digit": [0, 1, 2]})


def test_plot_curves_draws_a_line_per_run_and_reference_lines():
    curves = {"a": [{"epoch": 0, "digit": 0.2, "object": 0.1}, {"epoch": 2, "digit": 0.8, "object": 0.3}],
              "b": [{"epoch": 0, "digit": 0.2, "object": 0.1}]}
    fig = plots.plot_curves(curves, chance=0.1, references={"ref": {"digit": 0.9, "object": 0.5}})
    assert len(fig.axes) == 2
    assert len(fig.axes[1].lines) == 2 + 1 + 1  # two runs, a reference, chance
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.1, 0.3])


def test_plot_accuracy_vs_bits_draws_a_line_per_temperature_with_reference_and_chance():
    table = {0.1: {0: [0.9], 4: [0.5, 0.7]}, 0.2: {0: [0.9], 4: [0.3]}}
    fig = plots.plot_accuracy_vs_bits(table, reference={0: [0.8], 4: [0.6]}, highlight=(4, 0.1))
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels[:3] == ["SimCLR, T = 0.1", "SimCLR, T = 0.2", "random encoder"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.9, 0.6])  # the mean of the seeds
    assert len(ax.collections) == 1  # a std band only where there are several runs
    by_variant = plots.plot_accuracy_vs_bits({"baseline": {2: [0.5]}, "splicer": {2: [0.7]}}, label="{key}")
    assert [line.get_label() for line in by_variant.axes[0].lines][:2] == ["baseline", "splicer"]
    assert ax.get_ylabel() == "digit linear-probe accuracy"
    assert plots.plot_accuracy_vs_bits(table, ylabel="digit kNN accuracy").axes[0].get_ylabel() == "digit kNN accuracy"


def test_plot_suppression_chunk_matrix_and_cost() -> None:
    runs = {"a": {"mnist_randomised": {"object": [0.4, 0.5]}, "cifar_randomised": {"digit": 0.9}},
            "ref": {"mnist_randomised": {"object": 0.6}, "cifar_randomised": {"digit": 0.8}}}
    fig = plots.plot_suppression(runs, reference="ref", chance=0.1)
    assert len(fig.axes) == 2
    bars = [p.get_width() for p in fig.axes[0].patches]
    np.testing.assert_allclose(bars, [0.45, 0.6])  # mean of the seeds, then the reference
    assert fig.axes[0].lines[-2].get_xdata()[0] == pytest.approx(0.6)  # the reference line
    matrix = np.array([[0.9, 0.2], [0.3, 0.7]])
    fig = plots.plot_chunk_matrix({"m": matrix, "n": matrix.T})
    assert len(fig.axes) == 3  # two heatmaps and a colour bar
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), matrix)
    assert not any(t.get_text() for t in fig.axes[1].get_yticklabels())  # the same K: rows named once
    fig = plots.plot_chunk_matrix({"K=2": matrix, "K=3": np.vstack([matrix, [0.5, 0.5]])}, chunk_names=["a", "b", "c"])
    assert [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes[:2]] == [["a", "b"], ["a", "b", "c"]]
    missing = {"none": {"a": 0.9, "b": 0.8}, "x+y": {"a": 0.3, "b": 0.7}}
    fig = plots.plot_missing({"base": missing, "splicer": missing}, ("b", "a"))
    assert len(fig.axes) == 3
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[0.8, 0.9], [0.7, 0.3]])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["missing: none", "missing: x+y"]
    fig = plots.plot_mask_quality({"truth": (1.0, 0.8), "dilate:2": (0.5, 0.6)}, {"baseline": 0.55})
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [1.0, 0.5] and list(line.get_ydata()) == [0.8, 0.6]
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[0].texts) == 2  # points, one reference; two labels
    fig = plots.plot_cost({"a": {"epoch_s": 2.0, "peak_memory_mb": None}, "b": {"epoch_s": 4.0}})
    assert len(fig.axes) == 1  # no memory panel without GPU measurements
    assert [p.get_width() for p in fig.axes[0].patches] == [2.0, 4.0]
    fig = plots.plot_cost({"a": {"epoch_s": 2.0, "peak_memory_mb": 100.0}})
    assert len(fig.axes) == 2


def test_plot_auc_draws_a_bar_per_run_and_variant() -> None:
    intact = {"correlated": "object", "mnist_randomised": "object", "cifar_randomised": "digit"}
    bars = {"ours": {"correlated": 1.0, "mnist_randomised": 0.5, "cifar_randomised": 0.99},
            "theirs": {"correlated": 1.0, "mnist_randomised": 0.49, "cifar_randomised": 1.0}}
    fig = plots.plot_auc(bars, intact, errors={"ours": {v: 0.01 for v in intact}})
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [1.0, 0.5, 0.99, 1.0, 0.49, 1.0]
    assert "AUC vs digit label" in ax.get_xticklabels()[2].get_text()


def test_plot_scale_draws_accuracy_and_differences() -> None:
    from splicer_tutorial import experiments, results

    rows = []
    for point, flops in (((8, 16, "half", 200), 1e11), ((64, 16, "half", 200), 1e12), ((64, 16, "full", 200), 4e12)):
        values = {"baseline": [0.40, 0.41], "cifar_only": [0.43, 0.44], "splicer": [0.41, 0.42]}
        rows.append({"point": point, "flops": flops, "values": values, "series": experiments.scale_series(point),
                     "gap": results.compare(values["cifar_only"], values["baseline"]),
                     "gain": results.compare(values["splicer"], values["baseline"])})
    fig = plots.plot_scale(rows, title="scale")
    left, right = fig.axes[:2]
    assert left.get_xscale() == "log" and right.get_xscale() == "log"
    # per difference: the epochs series joins two points; the width and resolution series hold one each
    assert sorted(len(c.lines[0].get_xdata()) for c in right.containers) == [1, 1, 1, 1, 2, 2]
    plt.close(fig)


def test_plot_scale_labels_of_points_close_in_compute_do_not_overlap() -> None:
    from splicer_tutorial import experiments, results

    rows = []
    # the scale study's crowded middle, between points far below and above it (as the book's figure has it)
    for point, flops, level in (((8, 16, "half", 200), 3.6e11, 0.35), ((64, 32, "half", 200), 1.06e13, 0.401),
                                ((64, 16, "full", 200), 1.11e13, 0.416), ((256, 16, "half", 200), 1.17e13, 0.389),
                                ((64, 16, "half", 800), 1.29e13, 0.416), ((64, 64, "half", 200), 4.1e13, 0.42)):
        values = {"baseline": [level, level + 0.002], "cifar_only": [0.44, 0.45]}
        rows.append({"point": point, "flops": flops, "values": values, "series": experiments.scale_series(point),
                     "gap": results.compare(values["cifar_only"], values["baseline"]), "gain": None})
    fig = plots.plot_scale(rows)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    assert len(labels) == 6
    assert not any(_overlaps(a, b) for i, a in enumerate(labels) for b in labels[i + 1:])
    plt.close(fig)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _figure_with_legend(name: str):
    history = History(loss=[3.0, 2.5, 2.0, 1.8], epoch_loss=[2.7, 1.9])
    history.online_probe = {"digit": [0.5, 0.9], "object": [0.2, 0.3]}
    runs = {"a": {"correlated": {"digit": 0.9, "object": 0.95}}, "b": {"correlated": {"digit": 0.98, "object": 0.99}}}
    curves = {"run": [{"epoch": 1, "digit": 0.9, "object": 0.95}, {"epoch": 2, "digit": 0.97, "object": 0.99}]}
    return {
        "plot_history": lambda: plots.plot_history(history, chance=0.1),
        "plot_probes": lambda: plots.plot_probes(runs, chance=0.1),
        "plot_curves": lambda: plots.plot_curves(curves, chance=0.1),
        "plot_accuracy_vs_bits": lambda: plots.plot_accuracy_vs_bits({0.1: {0: [0.99], 4: [0.98]}}),
        "plot_mask_quality": lambda: plots.plot_mask_quality({"truth": (1.0, 0.99), "dilate:2": (0.5, 0.98)},
                                                             {"baseline": 0.99}),
        "plot_auc": lambda: plots.plot_auc({"ours": {"correlated": 0.99}}, {"correlated": "object"}),
    }[name]()


@pytest.mark.parametrize("name", ["plot_history", "plot_probes", "plot_curves", "plot_accuracy_vs_bits",
                                  "plot_mask_quality", "plot_auc"])
def test_no_legend_hides_data(name) -> None:
    """Slide-ready: every legend sits beside the panels, over none of them (the data here
    fill each panel's top corners, where a legend inside would go)."""
    fig = _figure_with_legend(name)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [child for a in fig.axes for child in a.get_children() if isinstance(child, Legend)]
    assert legends, f"{name} draws no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not _overlaps(box, ax.get_window_extent(renderer)), f"{name}: a legend covers a panel"
    plt.close(fig)


def test_figures_share_the_book_style_and_show_as_svg_in_a_notebook(monkeypatch) -> None:
    assert plt.rcParams["axes.spines.top"] is False and plt.rcParams["legend.frameon"] is False
    chosen = []
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    monkeypatch.setattr("matplotlib_inline.backend_inline.set_matplotlib_formats", lambda *f: chosen.extend(f))
    plots.use_book_style()
    assert chosen == ["svg"]
