"""Tests of splicer_tutorial.deconstruct: components by sections, channel groups and masks."""

from __future__ import annotations

import pytest
import torch

from splicer_tutorial.deconstruct import (
    box_masks,
    by_channels,
    by_masks,
    by_sections,
    channel_mask,
    grid_boxes,
    halves,
    split,
)


@pytest.fixture
def x() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 4, 12, 8, generator=g)


# ------------------------------------------------------------------ boxes


def test_grid_boxes_known_values() -> None:
    assert grid_boxes(64, 32, 2, 1) == [(0, 32, 0, 32), (32, 64, 0, 32)]
    assert grid_boxes(4, 6, 2, 3) == [
        (0, 2, 0, 2), (0, 2, 2, 4), (0, 2, 4, 6),
        (2, 4, 0, 2), (2, 4, 2, 4), (2, 4, 4, 6),
    ]
    assert halves(64, 32) == [(0, 32, 0, 32), (32, 64, 0, 32)]
    assert halves(8, 6, "left-right") == [(0, 8, 0, 3), (0, 8, 3, 6)]


@pytest.mark.parametrize("height, width, rows, cols, name", [
    (0, 8, 1, 1, "height"), (8, -1, 1, 1, "width"), (8, 8, 0, 1, "rows"), (8, 8, 1, 2.0, "cols"),
])
def test_grid_boxes_bad_arguments_are_named(height, width, rows, cols, name) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a positive int"):
        grid_boxes(height, width, rows, cols)


def test_a_grid_that_does_not_divide_cuts_as_evenly_as_it_can() -> None:
    assert grid_boxes(12, 8, 5, 1) == [(0, 3, 0, 8), (3, 6, 0, 8), (6, 8, 0, 8), (8, 10, 0, 8), (10, 12, 0, 8)]
    assert grid_boxes(32, 16, 3, 1) == [(0, 11, 0, 16), (11, 22, 0, 16), (22, 32, 0, 16)]
    with pytest.raises(ValueError, match=r"a 4x8 image cannot be cut into a 5x1 grid"):
        grid_boxes(4, 8, 5, 1)


def test_halves_bad_direction() -> None:
    with pytest.raises(ValueError, match=r"direction is 'diagonal'"):
        halves(8, 8, "diagonal")


def test_box_masks_cover_each_box() -> None:
    masks = box_masks(grid_boxes(4, 6, 2, 3), 4, 6)
    assert masks.shape == (6, 4, 6)
    assert torch.equal(masks.sum(0), torch.ones(4, 6))  # a partition: every pixel once
    assert masks[4, 2:4, 2:4].eq(1).all() and masks[4].sum() == 4


# ------------------------------------------------------------------ sections


@pytest.mark.parametrize("boxes", [halves(12, 8), halves(12, 8, "left-right"), grid_boxes(12, 8, 2, 2),
                                   grid_boxes(12, 8, 3, 4)])
def test_zero_fill_partition_sums_to_the_image(x: torch.Tensor, boxes) -> None:
    parts = by_sections(x, boxes)
    assert parts.shape == (3, len(boxes), 4, 12, 8)
    assert torch.equal(parts.sum(1), x)
    # each component is the image inside its box and zero outside it
    for k, (t, b, l, r) in enumerate(boxes):
        inside = torch.zeros(12, 8, dtype=torch.bool)
        inside[t:b, l:r] = True
        assert torch.equal(parts[:, k][..., inside], x[..., inside])
        assert parts[:, k][..., ~inside].eq(0).all()


def test_zero_fill_overlapping_boxes_keep_their_pixels(x: torch.Tensor) -> None:
    parts = by_sections(x, [(0, 12, 0, 8), (2, 5, 1, 3)])
    assert torch.equal(parts[:, 0], x)
    assert torch.equal(parts[:, 1, :, 2:5, 1:3], x[:, :, 2:5, 1:3])
    assert parts[:, 1].abs().sum() == x[:, :, 2:5, 1:3].abs().sum()


@pytest.mark.parametrize("rows, cols", [(2, 1), (1, 2), (2, 2), (3, 4)])
def test_crop_mode_shapes_and_content(x: torch.Tensor, rows: int, cols: int) -> None:
    boxes = grid_boxes(12, 8, rows, cols)
    parts = by_sections(x, boxes, fill="crop")
    assert parts.shape == (3, rows * cols, 4, 12 // rows, 8 // cols)
    for k, (t, b, l, r) in enumerate(boxes):
        assert torch.equal(parts[:, k], x[:, :, t:b, l:r])


def test_crop_with_unequal_boxes_raises(x: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"fill='crop' needs boxes of one size"):
        by_sections(x, [(0, 6, 0, 8), (6, 12, 0, 4)], fill="crop")


def test_bad_fill_is_named(x: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"fill is 'blank'"):
        by_sections(x, halves(12, 8), fill="blank")


@pytest.mark.parametrize("boxes, pattern", [
    ([], "boxes is empty"),
    ([(0, 6, 0)], "must be \\(top, bottom, left, right\\)"),
    ([(0, 13, 0, 8)], "does not lie inside a 12x8 image"),
    ([(0, 12, 0, 9)], "does not lie inside a 12x8 image"),
    ([(6, 6, 0, 8)], "top < bottom"),
    ([(0, 12, 5, 2)], "left < right"),
    ([(-1, 6, 0, 8)], "does not lie inside"),
])
@pytest.mark.parametrize("fill", ["zero", "crop"])
def test_bad_boxes_raise(x: torch.Tensor, boxes, pattern: str, fill: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        by_sections(x, boxes, fill=fill)


@pytest.mark.parametrize("fn, args", [
    (by_sections, (halves(12, 8),)),
    (by_channels, ([[0], [1]],)),
    (by_masks, (torch.zeros(12, 8, dtype=torch.long), 2)),
])
def test_images_must_be_4d(fn, args) -> None:
    with pytest.raises(ValueError, match=r"x must be a \(B, C, H, W\) tensor, got \(4, 12, 8\)"):
        fn(torch.rand(4, 12, 8), *args)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16, torch.uint8])
def test_sections_keep_dtype(dtype: torch.dtype) -> None:
    x = (torch.rand(2, 3, 8, 4, generator=torch.Generator().manual_seed(1)) * 200).to(dtype)
    parts = by_sections(x, halves(8, 4))
    assert parts.dtype == dtype and parts.device == x.device
    assert torch.equal(parts.sum(1, dtype=dtype), x)
    cropped = by_sections(x, halves(8, 4), fill="crop")
    assert cropped.dtype == dtype


def test_components_follow_the_input_device(x: torch.Tensor) -> None:
    device = torch.device("meta")  # shape/dtype/device propagation without a GPU
    parts = by_sections(x.to(device), halves(12, 8))
    assert parts.device.type == "meta" and parts.shape == (3, 2, 4, 12, 8)
    assert by_channels(x.to(device), [[0, 1], [2, 3]]).device.type == "meta"


def test_components_keep_gradients(x: torch.Tensor) -> None:
    x = x.clone().requires_grad_(True)
    by_sections(x, halves(12, 8))[:, 1].sum().backward()
    assert torch.equal(x.grad[:, :, 6:], torch.ones(3, 4, 6, 8))
    assert x.grad[:, :, :6].eq(0).all()


# ------------------------------------------------------------------ channels


@pytest.mark.parametrize("groups", [[[0, 1], [2, 3]], [[0], [1], [2], [3]], [[3, 0], [2], [1]]])
def test_channel_groups_partition_sums_to_the_image(x: torch.Tensor, groups) -> None:
    parts = by_channels(x, groups)
    assert parts.shape == (3, len(groups), 4, 12, 8)
    assert torch.equal(parts.sum(1), x)
    for k, group in enumerate(groups):
        others = [c for c in range(4) if c not in group]
        assert torch.equal(parts[:, k, group], x[:, group])
        assert parts[:, k, others].eq(0).all()


def test_channels_seven_channel_image_keeps_dtype() -> None:
    x = torch.randint(0, 256, (2, 7, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    parts = by_channels(x, [[0, 1, 2], [3, 4], [5, 6]])
    assert parts.dtype == torch.uint8
    assert torch.equal(parts.sum(1, dtype=torch.uint8), x)


@pytest.mark.parametrize("groups, pattern", [
    ([], "groups is empty"),
    ([[0], []], r"groups\[1\] = \[\] must be a non-empty list"),
    ([[0], [4]], r"groups\[1\] = \[4\] .*0\.\.3 \(x has 4 channels\)"),
    ([[-1]], r"groups\[0\] = \[-1\]"),
    ([[0.0]], r"groups\[0\]"),
])
def test_bad_channel_groups_raise(x: torch.Tensor, groups, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        by_channels(x, groups)


# ------------------------------------------------------------------ masks


def test_label_map_with_all_labels_sums_to_the_image(x: torch.Tensor) -> None:
    labels = torch.randint(0, 3, (3, 12, 8), generator=torch.Generator().manual_seed(2))
    parts = by_masks(x, labels, num_labels=3)
    assert parts.shape == (3, 3, 4, 12, 8)
    assert torch.equal(parts.sum(1), x)
    for k in range(3):
        inside = (labels == k).unsqueeze(1).expand_as(x)
        assert torch.equal(parts[:, k][inside], x[inside])
        assert parts[:, k][~inside].eq(0).all()


def test_binary_masks_and_soft_masks(x: torch.Tensor) -> None:
    fg = torch.zeros(3, 12, 8)
    fg[:, 3:9, 2:6] = 1
    masks = torch.stack([fg, 1 - fg], dim=1)
    parts = by_masks(x, masks)
    assert parts.shape == (3, 2, 4, 12, 8)
    assert torch.equal(parts.sum(1), x)
    assert torch.equal(by_masks(x, masks.bool()), parts)
    soft = by_masks(x, torch.full((3, 1, 12, 8), 0.25))
    assert torch.allclose(soft[:, 0], 0.25 * x)


def test_masks_keep_dtype_of_the_images() -> None:
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    parts = by_masks(x, torch.zeros(2, 4, 4, dtype=torch.int64), num_labels=2)
    assert parts.dtype == torch.float64
    assert torch.equal(parts[:, 0], x) and parts[:, 1].eq(0).all()


def test_float_label_map_raises(x: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"label map must hold integer labels"):
        by_masks(x, torch.zeros(3, 12, 8), num_labels=2)


def test_label_map_without_num_labels_raises(x: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"num_labels is needed"):
        by_masks(x, torch.zeros(3, 12, 8, dtype=torch.long))


@pytest.mark.parametrize("bad", [-1, 3])
def test_label_values_out_of_range_raise(x: torch.Tensor, bad: int) -> None:
    labels = torch.zeros(3, 12, 8, dtype=torch.long)
    labels[1, 2, 3] = bad
    with pytest.raises(ValueError, match=rf"masks holds labels .*{bad}.* outside 0\.\.2"):
        by_masks(x, labels, num_labels=3)


@pytest.mark.parametrize("masks", [
    torch.zeros(2, 2, 12, 8),  # batch
    torch.zeros(3, 2, 12, 7),  # width
    torch.zeros(3, 2, 11, 8),  # height
    torch.zeros(2, 12, 8, dtype=torch.long),  # label map batch
])
def test_mask_shape_mismatch_raises(x: torch.Tensor, masks: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"do not match images of shape \(3, 4, 12, 8\)"):
        by_masks(x, masks, num_labels=2)


def test_mask_with_wrong_rank_raises(x: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"masks must be \(B, K, H, W\)"):
        by_masks(x, torch.zeros(12, 8))


def test_overlapping_channel_groups_are_refused() -> None:
    with pytest.raises(ValueError, match=r"groups\[1\] = \[1, 2\] repeats channels \[1\]"):
        by_channels(torch.rand(2, 3, 4, 4), [[0, 1], [1, 2]])


def test_channel_mask_marks_each_groups_channels() -> None:
    keep = channel_mask([[0], [1, 3]], 4)
    assert keep.shape == (2, 4, 1, 1)
    assert keep[:, :, 0, 0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 1]]


def test_split_chooses_channels_or_sections() -> None:
    x = torch.rand(2, 3, 8, 4)
    assert torch.equal(split(x, groups=[[0], [1, 2]]), by_channels(x, [[0], [1, 2]]))
    assert torch.equal(split(x, (2, 2), "crop"), by_sections(x, grid_boxes(8, 4, 2, 2), "crop"))
    assert split(x).shape == (2, 2, 3, 8, 4)
    thirds = split(x, (3, 1))  # 8 rows into 3: 3, 3, 2
    assert thirds.shape == (2, 3, 3, 8, 4) and torch.equal(thirds.sum(dim=1), x)
    assert torch.equal(thirds[:, 2, :, 6:], x[:, :, 6:]) and (thirds[:, 2, :, :6] == 0).all()
    with pytest.raises(ValueError, match="fill='crop' needs boxes of one size"):
        split(x, (3, 1), "crop")


def test_channel_groups_by_name() -> None:
    x = torch.rand(2, 3, 4, 4)
    names = ["DAPI", "CD3", "CD8"]
    assert torch.equal(by_channels(x, [["DAPI"], ["CD3", 2]], names=names), by_channels(x, [[0], [1, 2]]))
    with pytest.raises(ValueError, match=r"groups\[1\] names 'CD4', which is not a channel; channels are"):
        by_channels(x, [["DAPI"], ["CD4"]], names=names)
    with pytest.raises(ValueError, match="no channel names were given"):
        by_channels(x, [["DAPI"]])
    with pytest.raises(ValueError, match="names lists 2 channels but x has 3"):
        by_channels(x, [[0]], names=["a", "b"])


@pytest.mark.parametrize("value", [1.5, -0.25, float("nan"), 2])
def test_mask_values_outside_0_1_raise(x: torch.Tensor, value: float) -> None:
    masks = torch.zeros(3, 2, 12, 8, dtype=torch.long if isinstance(value, int) else torch.float32)
    masks[0, 1, 2, 3] = value
    with pytest.raises(ValueError, match=r"masks must hold values in \[0, 1\].*got values from"):
        by_masks(x, masks)


def test_components_one_record_of_kind_count_chunks_and_split() -> None:
    from splicer_tutorial.deconstruct import Components

    halves = Components()
    assert halves.kind == "sections" and halves.count == 2 and halves.chunks(128) == (64, 64)
    assert Components(sections=(3, 1)).chunks(128) == (43, 43, 42)
    assert Components(groups=((0,), (1, 2)), chunk_sizes=[40, 88]).chunks(128) == (40, 88)
    assert Components(mask_labels=3, mask_background=False).count == 2
    x = torch.rand(2, 3, 8, 4)
    assert halves.split(x).shape == (2, 2, 3, 8, 4)
    assert torch.equal(halves.split(x).sum(1), x)  # zero-filled halves add back up to the image
    assert Components(fill="crop").split(x).shape == (2, 2, 3, 4, 4)
    assert Components(groups=((0,), (1, 2))).describe(("r", "g", "b")) == {
        "kind": "channels", "groups": [["r"], ["g", "b"]], "count": 2}
    assert Components(mask_labels=2).describe() == {"kind": "masks", "labels": 2, "background": True, "count": 2}
    labels = torch.zeros(2, 8, 4, dtype=torch.int64)
    labels[:, :4] = 1
    assert torch.equal(Components(mask_labels=2).split(x, labels)[:, 1], x * (labels == 1)[:, None])
    for bad, message in (({"sections": (0, 1)}, "sections must be"), ({"fill": "blur"}, "fill is"),
                         ({"groups": ()}, "non-empty"), ({"groups": ((0,),), "fill": "crop"}, "zero-filled"),
                         ({"mask_labels": 1}, "at least 2 labels")):
        with pytest.raises(ValueError, match=message):
            Components(**bad)
    with pytest.raises(ValueError, match="add up to 100, not to 128"):
        Components(chunk_sizes=(50, 50)).chunks(128)
    with pytest.raises(ValueError, match="pass masks="):
        Components(mask_labels=2).split(x)


def test_random_block_masks_split_every_row_of_blocks_equally() -> None:
    from splicer_tutorial.deconstruct import random_block_masks

    masks = random_block_masks(32, 16, 4, seed=0)
    assert masks.shape == (2, 32, 16) and torch.equal(masks.sum(0), torch.ones(32, 16))  # complementary
    blocks = masks[0].unfold(0, 4, 4).unfold(1, 4, 4)  # (8, 4, 4, 4): each block is all 0 or all 1
    assert torch.equal(blocks.amin(dim=(2, 3)), blocks.amax(dim=(2, 3)))
    assert torch.equal(blocks[..., 0, 0].sum(1), torch.full((8,), 2.0)), "two of four blocks in every row"
    # a domino's halves each give half their pixels to each component
    assert masks[0, :16].mean() == 0.5 and masks[0, 16:].mean() == 0.5
    assert torch.equal(random_block_masks(32, 16, 4, seed=0), masks)
    assert not torch.equal(random_block_masks(32, 16, 4, seed=1), masks)
    # the same squares at twice the resolution
    assert torch.equal(random_block_masks(64, 32, 8)[:, ::2, ::2], masks)
    odd = random_block_masks(6, 6, 2, seed=0)[0, ::2, ::2].sum(1)
    assert set(odd.tolist()) <= {1.0, 2.0}, "an odd row gives its odd block to either side"
    for args, message in (((32, 16, 5), "blocks must divide"), ((32, 16, 16), "rows of at least 2"),
                          ((32, 16, 0), "block must be a positive int")):
        with pytest.raises(ValueError, match=message):
            random_block_masks(*args)


def test_components_by_random_mask() -> None:
    from splicer_tutorial.deconstruct import Components, random_block_masks

    scattered = Components(random_mask=4)
    assert scattered.kind == "random_mask" and scattered.count == 2 and scattered.chunks(128) == (64, 64)
    assert scattered.describe() == {"kind": "random_mask", "block": 4, "count": 2}
    x = torch.rand(3, 3, 32, 16)
    parts = scattered.split(x)
    assert parts.shape == (3, 2, 3, 32, 16) and torch.equal(parts.sum(1), x)
    assert torch.equal(parts[:, 0], x * random_block_masks(32, 16, 4)[0])
    for bad in ({"random_mask": 0}, {"random_mask": 4, "fill": "crop"}, {"random_mask": 4, "groups": ((0,),)},
                {"random_mask": True}):
        with pytest.raises(ValueError, match="random_mask="):
            Components(**bad)
