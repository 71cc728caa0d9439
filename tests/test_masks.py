"""Tests of splicer_tutorial.masks: mask noise operators and IoU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from splicer_tutorial import masks
from splicer_tutorial.histology import make_tissue
from splicer_tutorial.masks import (
    NOISE_KINDS, add_objects, degrade, dilate, disc, drop_objects, erode, iou, quality_verdict, to_binary,
)

LEVELS = {"dilate": [0, 1, 2, 3], "erode": [0, 1, 2], "drop": [0.0, 0.25, 0.5, 0.75, 1.0],
          "add": [0.0, 0.25, 0.5, 0.75, 1.0]}


@pytest.fixture(scope="module")
def nuclei() -> torch.Tensor:
    """Ground-truth nuclei label maps (64, 32, 32) of the synthetic H&E tiles."""
    return make_tissue(64, 0.0, 32, seed=0)[1]


def _centred_disc(radius: float, size: int = 21) -> torch.Tensor:
    """A (1, size, size) bool disc of ``radius`` around the middle pixel."""
    d = torch.arange(size) - size // 2
    return (d[:, None] ** 2 + d[None, :] ** 2 <= radius**2)[None]


def test_iou_known_values() -> None:
    a = torch.zeros(5, 4, 4, dtype=torch.bool)
    b = a.clone()
    a[0, :2, :2] = True
    b[0, :2, :2] = True  # identical: 1
    a[1, :2, :2] = True
    b[1, 2:, 2:] = True  # disjoint: 0
    a[2, :2, :2] = True
    b[2, :2, 1:3] = True  # 2 shared of 6: 1/3
    a[3, 0, 0] = True  # one empty: 0
    # image 4: both empty: 1
    assert torch.allclose(iou(a, b), torch.tensor([1.0, 0.0, 1 / 3, 0.0, 1.0]))
    labels = torch.tensor([[[0, 1], [2, 0]]])  # label maps count as their foreground
    assert iou(labels, labels != 0).item() == 1.0


def test_disc_is_the_skimage_disk() -> None:
    assert disc(0).tolist() == [[True]]
    assert disc(1).tolist() == [[False, True, False], [True, True, True], [False, True, False]]
    assert int(disc(2).sum()) == 13 and int(disc(3).sum()) == 29


def test_one_pixel_dilates_to_the_disc() -> None:
    dot = torch.zeros(1, 11, 11, dtype=torch.bool)
    dot[0, 5, 5] = True
    for r in (1, 2, 3, 2.5):
        k = int(r)
        grown = torch.zeros(11, 11, dtype=torch.bool)
        grown[5 - k:6 + k, 5 - k:6 + k] = disc(r)
        assert torch.equal(dilate(dot, r)[0], grown), r


def test_a_disc_dilated_by_one_grows_by_its_ring() -> None:
    """The new pixels are the 4-neighbours of the disc outside it: all at distance (R, R + 1]."""
    for radius in (3, 4.5, 6):
        shape = _centred_disc(radius)
        grown = dilate(shape, 1)
        ring = grown & ~shape
        shifted = torch.zeros_like(shape)
        shifted[:, 1:] |= shape[:, :-1]
        shifted[:, :-1] |= shape[:, 1:]
        shifted[:, :, 1:] |= shape[:, :, :-1]
        shifted[:, :, :-1] |= shape[:, :, 1:]
        assert torch.equal(grown, shape | shifted)
        d = torch.arange(21) - 10
        distance = (d[:, None] ** 2 + d[None, :] ** 2).float().sqrt()[None]
        assert ring.any() and bool((distance[ring] > radius).all()) and bool((distance[ring] <= radius + 1).all())
        assert torch.equal(erode(grown, 1), shape)  # a disc is open and closed under the unit disc


def test_erode_of_dilate_returns_a_filled_square() -> None:
    """Closing keeps a square (away from the border, which erosion counts as foreground)."""
    square = torch.zeros(2, 24, 24, dtype=torch.bool)
    square[0, 7:15, 8:16] = True
    square[1, 8:17, 7:12] = True
    for r in (1, 2, 3):
        assert torch.equal(erode(dilate(square, r), r), square), r
    opened = dilate(erode(square, 1), 1)  # opening by the unit disc cuts the squares' 4 corners
    assert not (opened & ~square).any() and int((square & ~opened).sum()) == 8


def test_morphology_matches_scipy_and_the_border_is_foreground() -> None:
    from scipy import ndimage

    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 24, 24, generator=g) < 0.08
    for r in (1, 2, 3.5):
        footprint = disc(r).numpy()
        expected = np.stack([ndimage.binary_dilation(a, footprint) for a in x.numpy()])
        assert np.array_equal(dilate(x, r).numpy(), expected)
        expected = np.stack([ndimage.binary_erosion(a, footprint, border_value=1) for a in (~x).numpy()])
        assert np.array_equal(erode(~x, r).numpy(), expected)
    full = torch.ones(1, 8, 8, dtype=torch.bool)
    assert torch.equal(erode(full, 3), full)


def test_label_maps_grow_into_background_only_and_separate_when_eroded(nuclei: torch.Tensor) -> None:
    grown = dilate(nuclei, 2)
    assert grown.dtype == nuclei.dtype
    assert torch.equal(grown[nuclei > 0], nuclei[nuclei > 0])
    assert torch.equal(to_binary(grown), dilate(to_binary(nuclei), 2))
    shrunk = erode(nuclei, 1)
    assert bool(((shrunk == nuclei) | (shrunk == 0)).all())
    assert torch.equal(dilate(nuclei, 0), nuclei) and torch.equal(erode(nuclei, 0), nuclei)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_iou_falls_monotonically_with_the_level(kind: str, nuclei: torch.Tensor) -> None:
    clean = to_binary(nuclei)
    scores = torch.stack([iou(to_binary(degrade(nuclei, kind, level, seed=3)), clean) for level in LEVELS[kind]])
    assert torch.allclose(scores[0], torch.ones(len(nuclei)))
    assert bool((scores[1:] <= scores[:-1] + 1e-6).all()), "IoU rose with the level for some image"
    means = scores.mean(dim=1)
    assert bool((means[1:] < means[:-1]).all()), means


def test_drop_objects_ends() -> None:
    labels = make_tissue(200, 0.0, 32, seed=1)[1]
    assert torch.equal(drop_objects(labels, 0.0, seed=0), labels)
    assert int(drop_objects(labels, 1.0, seed=0).count_nonzero()) == 0
    half = drop_objects(labels, 0.5, seed=0)
    before = sum(len(m.unique()) - 1 for m in labels)
    after = sum(len(m.unique()) - 1 for m in half)
    assert 0.4 < after / before < 0.6
    kept = half > 0
    assert torch.equal(half[kept], labels[kept])  # kept objects keep their labels


def test_add_objects_adds_about_p_times_the_objects(nuclei: torch.Tensor) -> None:
    count = lambda m: torch.tensor([len(x.unique()) - 1 for x in m]).float()  # noqa: E731
    assert torch.equal(add_objects(nuclei, 0.0, seed=0), nuclei)
    more = add_objects(nuclei, 1.0, seed=0)
    assert bool((count(more) > count(nuclei)).all())
    assert 1.7 < (count(more) / count(nuclei)).mean() < 2.05
    assert torch.equal(more[nuclei > 0], nuclei[nuclei > 0])  # painted into background only
    new = (more > 0) & (nuclei == 0)
    assert bool((more[new] > nuclei.flatten(1).amax(1)[:, None, None].expand_as(more)[new]).all())
    fixed = add_objects(nuclei, 0.5, seed=0, radius=1.0)
    blobs = (fixed > 0) & (nuclei == 0)
    assert 0 < blobs.sum() < 5 * 0.5 * count(nuclei).sum() + 1  # a radius-1 blob is at most 5 pixels


@pytest.mark.parametrize("kind", ("drop", "add"))
def test_same_seed_same_noise(kind: str, nuclei: torch.Tensor) -> None:
    a, b = degrade(nuclei, kind, 0.5, seed=7), degrade(nuclei, kind, 0.5, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, degrade(nuclei, kind, 0.5, seed=8))


def test_bad_arguments_are_named(nuclei: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="r must be a non-negative number"):
        dilate(nuclei, -1)
    with pytest.raises(ValueError, match="r must be a non-negative number"):
        erode(nuclei, float("nan"))
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        drop_objects(nuclei, 1.5)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        add_objects(nuclei, -0.1)
    with pytest.raises(ValueError, match="radius must be a non-negative number"):
        add_objects(nuclei, 0.5, radius=-2.0)
    with pytest.raises(ValueError, match="mask must be a bool mask or an integer label map"):
        dilate(nuclei.float(), 1)
    with pytest.raises(ValueError, match=r"mask must be batched \(N, H, W\)"):
        erode(nuclei[0], 1)
    with pytest.raises(ValueError, match="labels must be an integer label map"):
        drop_objects(nuclei > 0, 0.5)
    with pytest.raises(ValueError, match="negative labels"):
        drop_objects(-nuclei, 0.5)
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        iou(nuclei, nuclei[:3])
    with pytest.raises(ValueError, match="kind is 'blur'; use one of"):
        degrade(nuclei, "blur", 1)
    with pytest.raises(ValueError, match="must be a torch.Tensor"):
        masks.to_binary(np.zeros((1, 4, 4)))


# ------------------------------------------------------------------ the verdict


def test_quality_verdict_finds_where_splicer_stops_helping() -> None:
    baseline = [0.60, 0.61, 0.59]
    by_source = {
        "ground_truth": [(1.0, 0.70), (1.0, 0.71), (1.0, 0.69)],
        "dilate:1": [(0.8, 0.66), (0.8, 0.67), (0.8, 0.65)],
        "dilate:2": [(0.5, 0.60), (0.5, 0.62), (0.5, 0.59)],
    }
    result = quality_verdict(baseline, by_source)
    assert [row["source"] for row in result["rows"]] == ["ground_truth", "dilate:1", "dilate:2"]
    assert [row["helps"] for row in result["rows"]] == [True, True, False]
    assert result["lowest_helping_iou"] == pytest.approx(0.8)
    assert result["rows"][0]["gain"] == pytest.approx(0.10)
    # se = sqrt(0.01^2 / 3 + 0.01^2 / 3)
    assert result["rows"][0]["se"] == pytest.approx((2 * 0.0001 / 3) ** 0.5)
    assert "down to IoU 0.80" in result["verdict"] and "dilate:2" in result["verdict"]


def test_quality_verdict_says_when_nothing_helps_or_iou_does_not_decide() -> None:
    baseline = [0.60, 0.62]
    noisy = {"ground_truth": [(1.0, 0.55), (1.0, 0.70)], "erode:1": [(0.5, 0.61), (0.5, 0.60)]}
    assert quality_verdict(baseline, noisy)["lowest_helping_iou"] is None
    assert "No mask source helped" in quality_verdict(baseline, noisy)["verdict"]
    interleaved = {"ground_truth": [(1.0, 0.60), (1.0, 0.62)], "drop:0.5": [(0.5, 0.70), (0.5, 0.71)]}
    assert "IoU alone does not decide" in quality_verdict(baseline, interleaved)["verdict"]
    every = {"ground_truth": [(1.0, 0.70), (1.0, 0.71)], "dilate:1": [(0.8, 0.69), (0.8, 0.70)]}
    assert "did not stop helping" in quality_verdict(baseline, every)["verdict"]


def test_quality_verdict_needs_two_seeds() -> None:
    with pytest.raises(ValueError, match="baseline has 1 seed"):
        quality_verdict([0.6], {"ground_truth": [(1.0, 0.7), (1.0, 0.7)]})
    with pytest.raises(ValueError, match="source 'ground_truth' has 1 seed"):
        quality_verdict([0.6, 0.6], {"ground_truth": [(1.0, 0.7)]})
    with pytest.raises(ValueError, match="by_source is empty"):
        quality_verdict([0.6, 0.6], {})
