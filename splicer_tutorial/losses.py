"""Self-supervised losses as ``nn.Module`` subclasses: SimCLR, VICReg, and SpliCER around either.

Shapes: embeddings are ``z: (B, D)``; components' embeddings are ``c: (B, K, D_c)``.

The SpliCER family wraps any two-argument base loss ``L(a, b)``:

* :class:`SpliCERLoss` registers component k to chunk k of the primary embedding;
* :class:`SigmaJELoss` aligns the whole primary embedding to every component (no chunks);
* :class:`AverageTargetLoss` aligns the whole embedding to the average of the components.

Their component terms use the base loss, or another two-argument loss such as
:class:`CrossViewInfoNCELoss` (``component=``).

All three keep the ordinary two-view term on the primary image unless
``keep_primary=False``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .chunks import chunk_sizes


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"expected two embeddings of the same shape (B, D), got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    if a.shape[0] < 2:
        raise ValueError(f"a batch of at least 2 is needed, got {a.shape[0]}.")


class NTXentLoss(nn.Module):
    """SimCLR's normalised temperature-scaled cross-entropy (Chen et al. 2020).

    For 2N embeddings from two views, with cosine similarity ``s`` and temperature ``t``,
    the loss of anchor i whose positive is j(i) (the other view of the same image) is

        l_i = -log( exp(s(i, j(i)) / t) / sum_{k != i} exp(s(i, k) / t) )

    and the loss is the mean of ``l_i`` over all 2N anchors. When every embedding is the
    same, every similarity is equal and the loss is ``log(2N - 1)``.

    Example::

        loss = NTXentLoss(temperature=0.2)(z1, z2)   # z1, z2: (N, D)
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        self.temperature = temperature

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        _check_pair(z1, z2)
        n = z1.shape[0]
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        logits = z @ z.T / self.temperature
        logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
        positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        return F.cross_entropy(logits, positives)


class CrossViewInfoNCELoss(nn.Module):
    """A cross-view InfoNCE: each embedding of one set against the whole other set only.

    For N pairs (a_i, b_i) with cosine similarity ``s`` and temperature ``t``,

        L = 1/2 * mean_i [ -log( exp(s(a_i, b_i) / t) / sum_j exp(s(a_i, b_j) / t) )
                         + -log( exp(s(b_i, a_i) / t) / sum_j exp(s(b_i, a_j) / t) ) ]

    Unlike :class:`NTXentLoss`, the negatives of ``a_i`` are the other b's only, never the
    other a's: an N x N batch-by-batch term, the form the SpliCER authors' earlier code
    (TriDeNT) used, at temperature 0.5, to register a component to the primary image.
    When every embedding is the same, the loss is ``log(N)``.

    Example::

        loss = CrossViewInfoNCELoss(temperature=0.5)(chunk, component)   # both (N, D)
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if not 0 < temperature < float("inf"):
            raise ValueError(f"temperature must be a positive number, got {temperature}.")
        self.temperature = temperature

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        _check_pair(a, b)
        logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / self.temperature
        targets = torch.arange(a.shape[0], device=a.device)
        return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def invariance_term(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """VICReg invariance: the mean squared distance between the two views' embeddings."""
    return F.mse_loss(z1, z2)


def variance_term(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """VICReg variance: ``mean_d relu(gamma - sqrt(Var(z_d) + eps))``; large for collapsed z."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """VICReg covariance: the squared off-diagonal covariances of z, summed, divided by D."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = z.T @ z / (n - 1)
    off_diagonal = cov - torch.diag(torch.diag(cov))
    return off_diagonal.pow(2).sum() / d


class VICRegLoss(nn.Module):
    """VICReg (Bardes, Ponce, LeCun 2022):

        L = lambda * s(Z, Z') + mu * [v(Z) + v(Z')] + nu * [c(Z) + c(Z')]

    with s the invariance (mean squared error), v the variance hinge and c the covariance
    penalty (:func:`invariance_term`, :func:`variance_term`, :func:`covariance_term`);
    ``lambda, mu, nu = 25, 25, 1`` by default.
    """

    def __init__(self, invariance: float = 25.0, variance: float = 25.0, covariance: float = 1.0) -> None:
        super().__init__()
        self.weights = (invariance, variance, covariance)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        _check_pair(z1, z2)
        w_inv, w_var, w_cov = self.weights
        return (
            w_inv * invariance_term(z1, z2)
            + w_var * (variance_term(z1) + variance_term(z2))
            + w_cov * (covariance_term(z1) + covariance_term(z2))
        )


class _ComponentLoss(nn.Module):
    """Shared machinery: the primary two-view term plus weighted component terms.

    ``component`` is the loss of the component terms (default: ``base``, the primary's).
    """

    def __init__(
        self, base: nn.Module, num_components: int, lam: float = 1.0, keep_primary: bool = True,
        component: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if num_components < 1:
            raise ValueError(f"num_components must be >= 1, got {num_components}.")
        self.base, self.num_components = base, num_components
        self.component = base if component is None else component
        self.lam, self.keep_primary = lam, keep_primary

    def component_dim(self, proj_dim: int) -> int:
        """The width the component projector must have for a primary embedding of ``proj_dim``."""
        return proj_dim

    def register(self, z: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def terms(self, views: Sequence[torch.Tensor], components: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss's parts: ``primary``, ``components`` and their weighted ``total``.

        views: the primary embeddings of two views, each (B, D); components: (B, K, D_c).
        The component term is averaged over the primary views.
        """
        if len(views) != 2:
            raise ValueError(f"views must hold the embeddings of 2 views, got {len(views)}.")
        z1, z2 = views
        if components.ndim != 3 or components.shape[:2] != (z1.shape[0], self.num_components):
            raise ValueError(
                f"components must be (B={z1.shape[0]}, K={self.num_components}, D_c), "
                f"got {tuple(components.shape)}."
            )
        primary = self.base(z1, z2) if self.keep_primary else z1.new_zeros(())
        registered = (self.register(z1, components) + self.register(z2, components)) / 2
        return {"primary": primary, "components": registered, "total": primary + self.lam * registered}

    def forward(self, views: Sequence[torch.Tensor], components: torch.Tensor) -> torch.Tensor:
        return self.terms(views, components)["total"]


class SpliCERLoss(_ComponentLoss):
    """SpliCER: register component k to chunk k of the primary embedding.

    The primary embedding z (B, D) is split into K chunks ``z^(1..K)``, by default as
    equal as they can be (:func:`splicer_tutorial.chunks.chunk_sizes`: D/K each when K
    divides D), and with components' embeddings c (B, K, D_c)

        L = L_base(z_1, z_2) + lambda * sum_k L_base(z^(k), c_k)

    (the component sum averaged over the two primary views; the first term dropped with
    ``keep_primary=False``). Chunk k is driven only by component k, so an easy component
    cannot crowd a hard one out of the representation.

    ``chunk_sizes`` gives unequal chunks (they must add up to D); the component embeddings
    are then as wide as the largest chunk and component k uses its first ``chunk_sizes[k]``
    dimensions. Component embeddings as wide as z (components through the primary
    projector) register their own chunk k to chunk k of z.

    ``component`` replaces the base loss in the component terms (e.g. a
    :class:`CrossViewInfoNCELoss` at temperature 0.5); the primary term keeps ``base``.

    Example::

        loss = SpliCERLoss(NTXentLoss(0.2), num_components=2)
        value = loss([z1, z2], c)     # z1, z2: (B, 128); c: (B, 2, 64)
    """

    def __init__(
        self,
        base: nn.Module,
        num_components: int,
        lam: float = 1.0,
        keep_primary: bool = True,
        chunk_sizes: Sequence[int] | None = None,
        component: nn.Module | None = None,
    ) -> None:
        super().__init__(base, num_components, lam, keep_primary, component)
        if chunk_sizes is not None:
            chunk_sizes = tuple(int(c) for c in chunk_sizes)
            if len(chunk_sizes) != num_components or min(chunk_sizes) < 1:
                raise ValueError(
                    f"chunk_sizes must be {num_components} positive sizes, one per component, got {chunk_sizes}."
                )
        self.chunk_sizes = chunk_sizes

    def sizes(self, proj_dim: int) -> tuple[int, ...]:
        """The chunk sizes for an embedding of ``proj_dim`` dimensions
        (:func:`splicer_tutorial.chunks.chunk_sizes`)."""
        return chunk_sizes(proj_dim, self.num_components, self.chunk_sizes)

    def component_dim(self, proj_dim: int) -> int:
        return max(self.sizes(proj_dim))

    def register(self, z: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
        sizes = self.sizes(z.shape[1])
        chunks = z.split(list(sizes), dim=1)
        if components.shape[2] == max(sizes):  # a component projector as wide as the largest chunk
            targets = [components[:, k, : sizes[k]] for k in range(self.num_components)]
        elif components.shape[2] == z.shape[1]:  # the primary projector: component k's own chunk k
            targets = [c[:, k] for k, c in enumerate(components.split(list(sizes), dim=2))]
        else:
            raise ValueError(
                f"each component embedding must have {max(sizes)} dimensions (the largest chunk) or "
                f"{z.shape[1]} (the primary projector's, of which chunk k is used), got {components.shape[2]}."
            )
        return sum(self.component(chunks[k], targets[k]) for k in range(self.num_components))


class SigmaJELoss(_ComponentLoss):
    """Sigma-JE, the unchunked baseline: the whole embedding aligned to every component.

        L = L_base(z_1, z_2) + lambda * sum_k L_base(z, c_k),    c: (B, K, D)
    """

    def register(self, z: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
        if components.shape[2] != z.shape[1]:
            raise ValueError(f"components must have D = {z.shape[1]} dimensions, got {components.shape[2]}.")
        return sum(self.component(z, components[:, k]) for k in range(self.num_components))


class AverageTargetLoss(_ComponentLoss):
    """The average-of-components target: the whole embedding aligned to their mean.

        L = L_base(z_1, z_2) + lambda * L_base(z, (1/K) sum_k c_k),    c: (B, K, D)
    """

    def register(self, z: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
        if components.shape[2] != z.shape[1]:
            raise ValueError(f"components must have D = {z.shape[1]} dimensions, got {components.shape[2]}.")
        return self.component(z, components.mean(dim=1))


class SeparateLoss(nn.Module):
    """The separate-encoders baseline: K independent SSL problems, one per component.

    Encoder k sees only component k; the projections of the K components are
    concatenated into z (B, D) and chunk k (:func:`splicer_tutorial.chunks.chunk_sizes`)
    holds component k's. For two views,

        L = sum_k L_base(z_1^(k), z_2^(k))

    Nothing couples the components: each encoder learns its component as if it were alone,
    so the easy component cannot suppress the hard one, but nothing is shared either.
    """

    def __init__(self, base: nn.Module, num_components: int) -> None:
        super().__init__()
        if num_components < 1:
            raise ValueError(f"num_components must be >= 1, got {num_components}.")
        self.base, self.num_components = base, num_components

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        _check_pair(z1, z2)
        sizes = list(chunk_sizes(z1.shape[1], self.num_components))
        return sum(self.base(a, b) for a, b in zip(z1.split(sizes, dim=1), z2.split(sizes, dim=1)))


METHODS = {"simclr": NTXentLoss, "vicreg": VICRegLoss}
VARIANTS = {
    "baseline": None,
    "splicer": SpliCERLoss,
    "sigma_je": SigmaJELoss,
    "average": AverageTargetLoss,
    "separate": SeparateLoss,
}


#: The forms of the component term: the method's own loss, or a cross-view InfoNCE.
COMPONENT_TERMS = ("base", "cross")


def make_loss(
    method: str,
    variant: str = "baseline",
    num_components: int = 2,
    temperature: float = 0.2,
    lam: float = 1.0,
    keep_primary: bool = True,
    chunk_sizes: Sequence[int] | None = None,
    component_term: str = "base",
    component_temperature: float | None = None,
) -> nn.Module:
    """A loss by name: ``method`` in {simclr, vicreg}, ``variant`` in {baseline, splicer, sigma_je,
    average, separate}. ``lam`` and ``keep_primary`` apply to splicer, sigma_je and average;
    ``chunk_sizes`` (unequal chunks) to splicer only.

    ``component_term`` sets the loss of the component terms of splicer, sigma_je and
    average: ``"base"`` (the method's own, e.g. the 2N-view NT-Xent) or ``"cross"``
    (:class:`CrossViewInfoNCELoss`, SimCLR only), at ``component_temperature`` (default:
    ``temperature``).
    """
    if method not in METHODS:
        raise ValueError(f"method is {method!r}; use one of {sorted(METHODS)}.")
    if variant not in VARIANTS:
        raise ValueError(f"variant is {variant!r}; use one of {sorted(VARIANTS)}.")
    if component_term not in COMPONENT_TERMS:
        raise ValueError(f"component_term is {component_term!r}; use one of {COMPONENT_TERMS}.")
    base = NTXentLoss(temperature) if method == "simclr" else VICRegLoss()
    wrapper = VARIANTS[variant]
    if chunk_sizes is not None and wrapper is not SpliCERLoss:
        raise ValueError(f"chunk_sizes applies to variant 'splicer' only, not {variant!r}; leave it None.")
    if (component_term != "base" or component_temperature is not None) and wrapper in (None, SeparateLoss):
        raise ValueError(f"component_term and component_temperature apply to the component variants "
                         f"(splicer, sigma_je, average), not {variant!r}; leave them at their defaults.")
    if method == "vicreg" and (component_term != "base" or component_temperature is not None):
        raise ValueError("VICReg has no temperature and no cross-view form; leave component_term='base' and "
                         "component_temperature=None with method 'vicreg'.")
    t = temperature if component_temperature is None else component_temperature
    component = {"base": NTXentLoss(t) if method == "simclr" else base, "cross": CrossViewInfoNCELoss(t)}[component_term]
    if wrapper is None:
        return base
    if wrapper is SeparateLoss:
        if lam != 1.0 or not keep_primary:
            raise ValueError(
                "variant 'separate' has no primary term and no component weight; "
                "leave lam=1 and keep_primary=True."
            )
        return SeparateLoss(base, num_components)
    if wrapper is SpliCERLoss:
        return SpliCERLoss(base, num_components, lam=lam, keep_primary=keep_primary, chunk_sizes=chunk_sizes,
                           component=component)
    return wrapper(base, num_components, lam=lam, keep_primary=keep_primary, component=component)


def allocate_chunks(scores: Sequence[float], proj_dim: int, minimum: int = 1) -> tuple[int, ...]:
    """Chunk sizes proportional to per-component ``scores`` that add up to ``proj_dim``.

    Each chunk gets at least ``minimum`` dimensions; the rest is shared in proportion to
    the scores (e.g. channel variances, or probe accuracies above chance) by largest
    remainders. ``allocate_chunks([1, 1, 2], 128) == (32, 32, 64)``.
    """
    scores = [float(s) for s in scores]
    if not scores or any(s < 0 for s in scores) or sum(scores) <= 0:
        raise ValueError(f"scores must be non-negative with a positive sum, got {scores}.")
    spare = proj_dim - minimum * len(scores)
    if spare < 0:
        raise ValueError(f"proj_dim={proj_dim} cannot give {len(scores)} chunks at least {minimum} dimensions each.")
    exact = [spare * s / sum(scores) for s in scores]
    sizes = [int(e) for e in exact]
    by_remainder = sorted(range(len(scores)), key=lambda k: exact[k] - sizes[k], reverse=True)
    for k in by_remainder[: spare - sum(sizes)]:
        sizes[k] += 1
    return tuple(minimum + s for s in sizes)
