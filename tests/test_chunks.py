"""chunks: the one rule for cutting a length into K parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from splicer_tutorial.chunks import chunk_sizes, chunk_slices


@pytest.mark.parametrize("dim, k, expected", [(128, 2, (64, 64)), (128, 3, (43, 43, 42)), (64, 3, (22, 21, 21)),
                                              (7, 7, (1,) * 7), (5, 1, (5,))])
def test_chunks_are_as_equal_as_they_can_be(dim, k, expected) -> None:
    assert chunk_sizes(dim, k) == expected


@pytest.mark.parametrize("dim, k", [(128, 3), (10, 4), (33, 5), (16, 16)])
def test_the_rule_is_torch_and_numpy_s(dim, k) -> None:
    """The same parts as torch.tensor_split and numpy.array_split."""
    assert chunk_sizes(dim, k) == tuple(len(p) for p in torch.tensor_split(torch.arange(dim), k))
    assert chunk_sizes(dim, k) == tuple(len(p) for p in np.array_split(np.arange(dim), k))


def test_sizes_asked_for_are_checked_and_kept() -> None:
    assert chunk_sizes(128, 2, [40, 88]) == (40, 88)
    with pytest.raises(ValueError, match=r"chunk sizes \(40, 80\) add up to 120, not to 128"):
        chunk_sizes(128, 2, (40, 80))
    with pytest.raises(ValueError, match=r"must be 3 positive sizes"):
        chunk_sizes(128, 3, (64, 64))
    with pytest.raises(ValueError, match=r"must be 2 positive sizes"):
        chunk_sizes(128, 2, (0, 128))


@pytest.mark.parametrize("dim, k", [(2, 3), (0, 1)])
def test_too_short_a_length_is_named(dim, k) -> None:
    with pytest.raises(ValueError, match=rf"a length of {dim} cannot be cut into {k} chunks"):
        chunk_sizes(dim, k)


@pytest.mark.parametrize("k", [0, -1, 2.0, True])
def test_a_bad_number_of_chunks_is_named(k) -> None:
    with pytest.raises(ValueError, match="the number of chunks must be a positive int"):
        chunk_sizes(8, k)


def test_slices_tile_the_length_in_order() -> None:
    slices = chunk_slices(10, 3)
    assert slices == [slice(0, 4), slice(4, 7), slice(7, 10)]
    assert chunk_slices(128, 2, (40, 88)) == [slice(0, 40), slice(40, 128)]


def test_chunks_given_as_a_number_or_as_sizes() -> None:
    from splicer_tutorial.chunks import as_chunk_sizes

    assert as_chunk_sizes(128, 3) == (43, 43, 42)
    assert as_chunk_sizes(128, [40, 88]) == (40, 88)
    with pytest.raises(ValueError, match=r"chunk sizes \(40, 80\) add up to 120, not to 128"):
        as_chunk_sizes(128, (40, 80))
