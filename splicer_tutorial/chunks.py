"""Chunk geometry: how a length is cut into K parts, in one place.

SpliCER cuts things into K parts in four places: the embedding z into chunks (the loss,
the chunk probes), the separate encoders' concatenated projection, the block-diagonal
projector's layers, and an image side into a grid of sections. All of them call
:func:`chunk_sizes`, so a run trains and is probed on the same chunks, and an uneven
division (3 components of a 128-dimensional embedding, 3 rows of a 32-pixel domino) works
everywhere or nowhere.

The rule is that of ``torch.tensor_split`` and ``numpy.array_split``: parts as equal as
they can be, the first ``dim % k`` one larger (128 into 3: 43, 43, 42; 64 into 3: 22, 21,
21).
"""

from __future__ import annotations

from collections.abc import Sequence


def chunk_sizes(dim: int, k: int, sizes: Sequence[int] | None = None) -> tuple[int, ...]:
    """The sizes of the ``k`` chunks of a length ``dim``.

    ``sizes``, when given, are the chunks asked for (e.g. a run's ``chunk_sizes``): they are
    checked (``k`` positive sizes adding up to ``dim``) and returned. Otherwise the chunks
    are as equal as they can be, the first ``dim % k`` one larger.

    ``chunk_sizes(128, 2) == (64, 64)``; ``chunk_sizes(128, 3) == (43, 43, 42)``;
    ``chunk_sizes(128, 2, [40, 88]) == (40, 88)``.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"the number of chunks must be a positive int, got {k!r}.")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < k:
        raise ValueError(f"a length of {dim!r} cannot be cut into {k} chunks of at least 1; "
                         f"make it at least {k}.")
    if sizes is None:
        small, extra = divmod(dim, k)
        return tuple(small + 1 if i < extra else small for i in range(k))
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) != k or min(sizes) < 1:
        raise ValueError(f"chunk sizes {sizes} must be {k} positive sizes, one per component.")
    if sum(sizes) != dim:
        raise ValueError(f"chunk sizes {sizes} add up to {sum(sizes)}, not to {dim}; make them add up to {dim}.")
    return sizes


def as_chunk_sizes(dim: int, chunks: int | Sequence[int]) -> tuple[int, ...]:
    """Chunks given either way, as sizes: a number K of chunks (as equal as they can be) or
    the sizes themselves (checked to add up to ``dim``). ``as_chunk_sizes(128, 3) ==
    (43, 43, 42)``; ``as_chunk_sizes(128, [40, 88]) == (40, 88)``."""
    if isinstance(chunks, int):
        return chunk_sizes(dim, chunks)
    return chunk_sizes(dim, len(chunks), chunks)


def chunk_slices(dim: int, k: int, sizes: Sequence[int] | None = None) -> list[slice]:
    """The ``k`` chunks of :func:`chunk_sizes` as slices, in order: ``x[:, s]`` is one chunk."""
    slices, start = [], 0
    for size in chunk_sizes(dim, k, sizes):
        slices.append(slice(start, start + size))
        start += size
    return slices
