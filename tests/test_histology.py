"""Tests of splicer_tutorial.histology: synthetic H&E tiles with nuclei masks, and the classical segmenter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from splicer_tutorial import histology
from splicer_tutorial import deconstruct as st_deconstruct
from splicer_tutorial import masks as st_masks
from splicer_tutorial.histology import CHANNELS, FACTORS, make_tissue, segment_nuclei, segmentation_steps
from splicer_tutorial.masks import iou, to_binary


@pytest.fixture(scope="module")
def tiles():
    """An independent set at the fast size: stain and tissue drawn on their own."""
    return make_tissue(2000, 0.0, 32, seed=0)


def _stat(values: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-tile weighted mean and sd of values (N, H, W) over weights (N, H, W)."""
    total = weights.sum(dim=(1, 2))
    mean = (values * weights).sum(dim=(1, 2)) / total
    var = ((values - mean[:, None, None]) ** 2 * weights).sum(dim=(1, 2)) / total
    return mean, var.sqrt()


def _threshold_accuracy(feature: torch.Tensor, labels: torch.Tensor) -> float:
    """The best accuracy of one threshold on a feature (either direction)."""
    f, y = feature.numpy(), labels.numpy().astype(bool)
    best = 0.0
    for cut in np.quantile(f, np.linspace(0.02, 0.98, 49)):
        accuracy = float(((f > cut) == y).mean())
        best = max(best, accuracy, 1 - accuracy)
    return best


def _haematoxylin_eosin(images: torch.Tensor) -> torch.Tensor:
    """Stain amounts (N, 2, H, W): the optical density unmixed on the generator's stain vectors."""
    density = -torch.log((images.float() + 0.5) / 256)
    vectors = torch.stack([torch.tensor(histology.STAIN_VECTORS[s]) for s in ("haematoxylin", "eosin")], 1)
    unmix = torch.linalg.pinv(vectors / vectors.norm(dim=0))  # (2, 3)
    return torch.einsum("kc,nchw->nkhw", unmix, density)


def _mean_elongation(labels: torch.Tensor) -> torch.Tensor:
    """Per tile, the mean over its nuclei of sqrt(long / short second moment) (1: round)."""
    n, height, width = labels.shape
    slots = int(labels.max()) + 1
    index = (labels + slots * torch.arange(n)[:, None, None]).flatten()
    yy, xx = torch.meshgrid(torch.arange(height).double(), torch.arange(width).double(), indexing="ij")
    yy, xx = yy.expand(n, -1, -1).flatten(), xx.expand(n, -1, -1).flatten()
    sums = torch.zeros(6, n * slots, dtype=torch.float64)
    for row, values in enumerate((torch.ones_like(yy), yy, xx, yy * yy, xx * xx, yy * xx)):
        sums[row].index_add_(0, index, values)
    count, my, mx = sums[0].clamp(min=1), sums[1] / sums[0].clamp(min=1), sums[2] / sums[0].clamp(min=1)
    a, b, c = sums[3] / count - my**2, sums[4] / count - mx**2, sums[5] / count - my * mx
    root = torch.sqrt(((a - b) / 2) ** 2 + c**2)
    ratio = torch.sqrt(((a + b) / 2 + root) / ((a + b) / 2 - root).clamp(min=1e-3))
    valid = (sums[0] >= 4).view(n, slots)
    valid[:, 0] = False
    ratio = torch.where(valid, ratio.view(n, slots), 0.0)
    return (ratio.sum(1) / valid.sum(1)).float()


def _counts(labels: torch.Tensor) -> torch.Tensor:
    return torch.tensor([len(m.unique()) - 1 for m in labels]).float()


def test_shapes_names_dtypes_and_balanced_labels(tiles) -> None:
    data, labels = tiles
    assert data.images.shape == (2000, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.channel_names == CHANNELS == ("R", "G", "B") and set(data.factors) == set(FACTORS)
    assert labels.shape == (2000, 32, 32) and labels.dtype == torch.int64 and int(labels.min()) == 0
    for factor in FACTORS:
        assert abs(data.labels(factor).float().mean().item() - 0.5) < 0.04


def test_same_seed_same_tiles() -> None:
    (a, ma), (b, mb) = make_tissue(20, 0.5, 32, seed=7), make_tissue(20, 0.5, 32, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(ma, mb)
    assert torch.equal(a.labels("stain"), b.labels("stain"))
    assert not torch.equal(a.images, make_tissue(20, 0.5, 32, seed=8)[0].images)


@pytest.mark.parametrize("correlation", [0.0, 0.6, 1.0])
def test_stain_follows_the_tissue_at_the_correlation_rate(correlation: float) -> None:
    data, _ = make_tissue(2000, correlation, 24, seed=1)
    same = (data.labels("stain") == data.labels("tissue")).float().mean().item()
    assert abs(same - (correlation + (1 - correlation) / 2)) < 0.035


def test_masks_are_where_the_nuclei_are(tiles) -> None:
    """Inside the masks: haematoxylin, blue-purple; outside: eosin, pink or white."""
    data, labels = tiles
    nuclei = (labels > 0).float()
    fraction = nuclei.mean(dim=(1, 2))
    assert 0.03 < fraction.min() and fraction.max() < 0.45
    counts = _counts(labels)
    assert counts.min() >= 3 and counts.max() <= 10  # 4..10 drawn; rarely a crowded tile places fewer
    stains = _haematoxylin_eosin(data.images)
    h_in, _ = _stat(stains[:, 0], nuclei)
    h_out, _ = _stat(stains[:, 0], 1 - nuclei)
    assert h_in.min() > 0.8 and h_out.max() < 0.3
    rgb = data.images.float()
    blue_minus_red_in, _ = _stat(rgb[:, 2] - rgb[:, 0], nuclei)
    blue_minus_red_out, _ = _stat(rgb[:, 2] - rgb[:, 0], 1 - nuclei)
    assert blue_minus_red_in.min() > 40 and blue_minus_red_out.max() < 10  # the stroma: pink to white
    assert (rgb[:, 0] * nuclei).sum() / nuclei.sum() < 0.6 * (rgb[:, 0] * (1 - nuclei)).sum() / (1 - nuclei).sum()
    each = torch.stack([labels == k for k in range(1, 11)], 1)  # every label value 1..M is used
    present = each.flatten(2).any(2)
    assert torch.equal(present.sum(1).float(), counts)


def test_nuclei_count_and_area_carry_no_tissue_label(tiles) -> None:
    data, labels = tiles
    tissue = data.labels("tissue")
    for feature in (_counts(labels), (labels > 0).float().mean(dim=(1, 2))):
        a, b = feature[tissue == 0], feature[tissue == 1]
        assert abs(a.mean() - b.mean()) < 0.1 * feature.std()
        grid = torch.quantile(feature, torch.linspace(0.05, 0.95, 19))
        ecdf = lambda x: (x[:, None] <= grid).float().mean(0)  # noqa: E731
        assert (ecdf(a) - ecdf(b)).abs().max() < 0.07  # two-sample KS-like distance


def test_stroma_colour_separates_stain_not_tissue(tiles) -> None:
    data, labels = tiles
    stroma = (labels == 0).float()
    green, _ = _stat(data.images[:, 1].float(), stroma)
    eosin, _ = _stat(_haematoxylin_eosin(data.images)[:, 1], stroma)
    tissue, stain = data.labels("tissue"), data.labels("stain")
    for feature in (green, eosin):
        assert _threshold_accuracy(feature, stain) > 0.97
        assert _threshold_accuracy(feature, tissue) < 0.57
        for s in (0, 1):  # within one stain, the tissue classes' stroma look alike
            f, t = feature[stain == s], tissue[stain == s]
            assert abs(f[t == 0].mean() - f[t == 1].mean()) < 0.15 * f.std()


def test_nuclei_statistics_separate_tissue_not_stain(tiles) -> None:
    """Chromatin coarseness and elongation inside the true masks carry the tissue, not the stain."""
    data, labels = tiles
    nuclei = (labels > 0).float()
    tissue, stain = data.labels("tissue"), data.labels("stain")
    h_mean, h_sd = _stat(_haematoxylin_eosin(data.images)[:, 0], nuclei)
    chromatin = h_sd / h_mean
    elongation = _mean_elongation(labels)
    for feature in (chromatin, elongation):
        assert _threshold_accuracy(feature, tissue) > 0.8  # a hand-made statistic reads it (SSL beside the stain, less)
        assert _threshold_accuracy(feature, stain) < 0.57
    rgb = data.images.float()
    colour = torch.stack([_stat(rgb[:, c], nuclei)[0] for c in range(3)], 1)
    gap = (colour[stain == 0].mean(0) - colour[stain == 1].mean(0)).abs()
    assert gap.max() < 2.0  # the nuclei look the same under both stains


def test_classical_segmenter_finds_the_nuclei(tiles) -> None:
    data, labels = tiles
    images, truth = data.images[:120], labels[:120]
    found = segment_nuclei(images)
    assert found.shape == truth.shape and found.dtype == torch.int64
    score = iou(to_binary(found), to_binary(truth))
    print(f"classical segmenter: mean IoU {score.mean():.3f} on {len(score)} fast tiles")
    assert score.mean() > 0.9 and score.min() > 0.6
    assert (_counts(found) - _counts(truth)).abs().mean() < 0.5  # watershed splits touching nuclei
    assert torch.equal(segment_nuclei(images[:10]), found[:10])


def test_segmentation_steps_show_every_stage(tiles) -> None:
    image = tiles[0].images[3]
    steps = segmentation_steps(image)
    assert list(steps) == ["image", "haematoxylin", "smoothed", "mask", "distance", "markers", "labels"]
    assert steps["image"].shape == (32, 32, 3)
    for key in list(steps)[1:]:
        assert steps[key].shape == (32, 32), key
    assert steps["mask"].dtype == bool and steps["labels"].dtype == np.int64
    assert np.array_equal(steps["labels"] > 0, steps["mask"])
    assert set(np.unique(steps["labels"][steps["markers"] > 0])) == set(range(1, steps["labels"].max() + 1))
    assert np.array_equal(segmentation_steps(image.permute(1, 2, 0).numpy())["labels"], steps["labels"])


def test_example_image_loads_offline() -> None:
    try:
        image = histology.load_example_image()
    except (ImportError, RuntimeError) as err:
        pytest.skip(f"scikit-image's immunohistochemistry image is not available: {err}")
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8


def test_load_tissue_splits_variants_and_masks() -> None:
    data, masks = histology.load_tissue("fast", correlation=1.0, n_train=40, n_test=20, size=24)
    assert set(data) == set(masks) == {"train", "test"}
    for split, n in (("train", 40), ("test", 20)):
        assert set(data[split]) == set(masks[split]) == set(histology.VARIANTS)
        for variant, s in data[split].items():
            assert len(s) == n and masks[split][variant].shape == (n, 24, 24) and s.name == f"{split}/{variant}"
    correlated = data["train"]["correlated"]
    assert torch.equal(correlated.labels("stain"), correlated.labels("tissue"))
    assert not torch.equal(data["train"]["independent"].images[:20], data["test"]["independent"].images)
    again, _ = make_tissue(20, 0.0, 24, seed=11, name="test/independent")  # the documented seeds
    assert torch.equal(again.images, data["test"]["independent"].images)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="n must be a positive int"):
        make_tissue(0, 0.0)
    with pytest.raises(ValueError, match=r"correlation must be in \[0, 1\]"):
        make_tissue(4, 1.5)
    with pytest.raises(ValueError, match="size must be an int of at least 24"):
        make_tissue(4, 0.0, size=16)
    with pytest.raises(ValueError, match=r"images must be a uint8 tensor \(N, 3, H, W\)"):
        segment_nuclei(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"images must be a uint8 tensor \(N, 3, H, W\)"):
        segment_nuclei(torch.zeros(2, 4, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="image must be one uint8 RGB image"):
        segmentation_steps(np.zeros((32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="radius must be a positive number"):
        segmentation_steps(np.zeros((32, 32, 3), dtype=np.uint8), radius=0)
    with pytest.raises(ValueError, match="unknown overrides"):
        histology.load_tissue("fast", n_tiles=3)


# ------------------------------------------------------------------ runs and mask quality


def test_training_masks_from_each_source() -> None:
    tiles, instances = make_tissue(40, 0.0, 32, seed=2)
    truth = histology.training_masks(instances)
    assert truth.dtype == torch.int64 and torch.equal(truth, (instances > 0).long())
    assert torch.equal(tiles.masks, truth)  # the sets carry the binary nuclei masks
    classical = histology.training_masks(instances, "classical", tiles.images)
    assert st_masks.iou(classical, truth).mean() > 0.9
    ious = [float(st_masks.iou(histology.training_masks(instances, f"dilate:{r}"), truth).mean()) for r in (1, 2)]
    assert 1 > ious[0] > ious[1]
    for bad, pattern in (("blur:2", "use one of"), ("drop:lots", "must be a number"), ("classical", "pass images")):
        with pytest.raises(ValueError, match=pattern):
            histology.training_masks(instances, bad)


def test_with_training_masks_replaces_only_the_training_masks_and_reports_iou() -> None:
    data, instances = histology.load_tissue("fast", n_train=40, n_test=20, size=24)
    same, iou_truth = histology.with_training_masks(data, instances)
    assert iou_truth == 1.0
    noisy, iou_noisy = histology.with_training_masks(data, instances, "erode:1")
    assert iou_noisy < 0.9
    assert not torch.equal(noisy["train"]["correlated"].masks, data["train"]["correlated"].masks)
    assert noisy["test"]["independent"] is data["test"]["independent"]
    blank = histology.nuclei_only(data)["train"]["correlated"]
    assert (blank.images[blank.masks[:, None].expand_as(blank.images) == 0] == 0).all()


def test_a_mask_splicer_run_through_the_shared_run() -> None:
    from splicer_tutorial import channels

    data, _ = histology.load_tissue("fast", n_train=64, n_test=32, size=24)
    config = channels.train_config("histology", "fast", "splicer", backbone="convnet", width=4, epochs=1,
                                   batch_size=32)
    assert config.mask_labels == 2 and config.groups is None
    assert (config.augment, config.photometric_channels) == ("channels", 0)  # no colour jitter
    result = channels.run("histology", config, "fast", data=data, device="cpu", progress=False)
    assert set(result["probes"]["independent"]) == set(FACTORS) and list(result["missing"]) == ["none"]
    assert result["chance"] == 0.5


def test_the_multi_class_map_partitions_each_tile_into_stroma_nuclei_and_gaps() -> None:
    binary, instances = make_tissue(60, 0.0, 32, seed=4)
    regions, same_instances = make_tissue(60, 0.0, 32, seed=4, masks="regions")
    assert torch.equal(regions.images, binary.images) and torch.equal(same_instances, instances)  # one draw
    labels = regions.masks
    assert labels.dtype == torch.int64 and set(labels.unique().tolist()) == {0, 1, 2}
    assert torch.equal(labels == 1, instances > 0)  # nuclei exactly where the instances are
    assert torch.equal(labels.clamp(max=1) * (labels != 2), binary.masks)  # gaps come out of the stroma
    # the gaps keep a tenth of the stain: brighter than the stroma around them
    brightness = regions.images.float().mean(1)  # (N, H, W)
    assert brightness[labels == 2].mean() > brightness[labels == 0].mean() + 30
    # and the map splits an image into three components that add back up to it
    parts = st_deconstruct.by_masks(regions.images[:8].float(), labels[:8], num_labels=len(histology.REGIONS))
    assert torch.allclose(parts.sum(1), regions.images[:8].float())
    with pytest.raises(ValueError, match="'nuclei'.*'regions'"):
        make_tissue(4, 0.0, 32, masks="cells")


def test_nuclei_only_keeps_the_nuclei_label_of_a_region_map() -> None:
    data, instances = histology.load_tissue("fast", n_train=20, n_test=10, size=24, masks="regions")
    kept = histology.nuclei_only(data)["train"]["correlated"]
    outside = (instances["train"]["correlated"] == 0)[:, None].expand_as(kept.images)
    assert (kept.images[outside] == 0).all()
    assert (kept.images[~outside] == data["train"]["correlated"].images[~outside]).all()
