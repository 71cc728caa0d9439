"""Tests of splicer_tutorial.losses: NT-Xent, VICReg, and the SpliCER family around them."""

from __future__ import annotations

import math

import pytest
import torch

from splicer_tutorial.losses import (
    AverageTargetLoss,
    NTXentLoss,
    SeparateLoss,
    SigmaJELoss,
    SpliCERLoss,
    VICRegLoss,
    allocate_chunks,
    covariance_term,
    invariance_term,
    make_loss,
    variance_term,
)


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def ntxent_by_hand(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    """The NT-Xent loss written out: one anchor at a time, plain Python sums."""
    z = [row / row.norm() for row in torch.cat([z1, z2])]
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        j = i + n if i < n else i - n
        sim = lambda a, b: float(z[a] @ z[b]) / t  # noqa: E731
        denominator = sum(math.exp(sim(i, k)) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(sim(i, j)) / denominator)
    return total / (2 * n)


# ------------------------------------------------------------------ NT-Xent


@pytest.mark.parametrize("n, d, t, seed", [(3, 4, 0.5, 0), (2, 3, 0.1, 1), (5, 8, 1.0, 2)])
def test_ntxent_matches_the_formula_by_hand(n: int, d: int, t: float, seed: int) -> None:
    z1, z2 = rand(n, d, seed=seed), rand(n, d, seed=seed + 100)
    assert NTXentLoss(t)(z1, z2).item() == pytest.approx(ntxent_by_hand(z1, z2, t), rel=1e-10)


def test_ntxent_fixed_small_case() -> None:
    # unit vectors at right angles except the positive pairs, which coincide
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    loss = NTXentLoss(0.5)(z1, z1.clone()).item()
    # anchor similarities: positive 1, other view of the other image 0, other image 0
    expected = -math.log(math.exp(2) / (math.exp(2) + 2 * math.exp(0)))
    assert loss == pytest.approx(expected, rel=1e-12)


def test_ntxent_is_symmetric_in_the_views() -> None:
    z1, z2 = rand(6, 5, seed=3), rand(6, 5, seed=4)
    loss = NTXentLoss(0.2)
    assert loss(z1, z2).item() == pytest.approx(loss(z2, z1).item(), rel=1e-12)


def test_ntxent_ignores_scale_and_batch_order() -> None:
    z1, z2 = rand(6, 5, seed=5), rand(6, 5, seed=6)
    loss = NTXentLoss(0.3)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    assert loss(3 * z1, 0.5 * z2).item() == pytest.approx(loss(z1, z2).item(), rel=1e-10)
    assert loss(z1[perm], z2[perm]).item() == pytest.approx(loss(z1, z2).item(), rel=1e-10)


@pytest.mark.parametrize("n", [2, 3, 10])
@pytest.mark.parametrize("t", [0.1, 0.5])
def test_ntxent_of_identical_embeddings_is_log_2n_minus_1(n: int, t: float) -> None:
    z = torch.ones(n, 4, dtype=torch.float64) * torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    assert NTXentLoss(t)(z, z.clone()).item() == pytest.approx(math.log(2 * n - 1), rel=1e-12)


def test_ntxent_falls_when_positives_align() -> None:
    z1 = rand(8, 16, seed=7)
    noise = rand(8, 16, seed=8)
    loss = NTXentLoss(0.2)
    assert loss(z1, z1 + 0.1 * noise) < loss(z1, z1 + noise) < loss(z1, noise)


@pytest.mark.parametrize("t", [0.0, -1.0])
def test_ntxent_temperature_must_be_positive(t: float) -> None:
    with pytest.raises(ValueError, match=r"temperature must be > 0"):
        NTXentLoss(t)


@pytest.mark.parametrize("loss", [NTXentLoss(), VICRegLoss()])
def test_pair_shape_errors(loss) -> None:
    with pytest.raises(ValueError, match=r"same shape \(B, D\), got \(4, 3\) and \(4, 2\)"):
        loss(torch.rand(4, 3), torch.rand(4, 2))
    with pytest.raises(ValueError, match=r"same shape"):
        loss(torch.rand(4, 3, 1), torch.rand(4, 3, 1))
    with pytest.raises(ValueError, match=r"a batch of at least 2 is needed, got 1"):
        loss(torch.rand(1, 3), torch.rand(1, 3))


# ------------------------------------------------------------------ VICReg


def test_invariance_term() -> None:
    z = rand(5, 3)
    assert invariance_term(z, z.clone()).item() == 0.0
    assert invariance_term(z, z + 2).item() == pytest.approx(4.0)


def test_variance_term_collapsed_and_spread() -> None:
    collapsed = torch.ones(16, 6, dtype=torch.float64) * 3
    assert variance_term(collapsed).item() == pytest.approx(1.0 - math.sqrt(1e-4), rel=1e-9)  # gamma - sqrt(eps)
    assert variance_term(collapsed, gamma=2.0).item() == pytest.approx(2.0 - math.sqrt(1e-4), rel=1e-9)
    spread = rand(200, 6, seed=1) * 3  # std about 3
    assert variance_term(spread).item() == 0.0
    # exact unit std per dimension: the hinge is just at zero
    unit = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64) / math.sqrt(2)
    assert variance_term(unit).item() == pytest.approx(0.0, abs=1e-4)


def test_variance_term_known_value() -> None:
    # one dimension with std 0.5 (and eps tiny), one with std 2: hinge 0.5 and 0, mean 0.25
    a = torch.tensor([-0.5, 0.5], dtype=torch.float64) * math.sqrt(0.5)
    z = torch.stack([a, 4 * a], dim=1)
    assert variance_term(z, eps=0.0).item() == pytest.approx(0.25, rel=1e-12)


def test_covariance_term_decorrelated_and_correlated() -> None:
    # orthonormal, zero-mean columns (QR of centred data): no covariance between dims
    h = torch.eye(8, dtype=torch.float64) - 1 / 8  # the centring matrix
    basis, _ = torch.linalg.qr(h @ rand(8, 3, seed=3))
    assert covariance_term(basis * 5).item() == pytest.approx(0.0, abs=1e-20)
    assert covariance_term(rand(10, 1)).item() == 0.0  # one dimension: nothing off the diagonal
    x = rand(50, 1, seed=4)
    correlated = torch.cat([x, x, -x], dim=1)
    var = x.var().item()
    # three dims with |cov| = var for each of 6 off-diagonal entries, divided by D = 3
    assert covariance_term(correlated).item() == pytest.approx(6 * var**2 / 3, rel=1e-10)


def test_vicreg_weights_and_value() -> None:
    z1, z2 = rand(32, 4, seed=5), rand(32, 4, seed=6)
    expected = 25 * invariance_term(z1, z2) + 25 * (variance_term(z1) + variance_term(z2)) + (
        covariance_term(z1) + covariance_term(z2))
    assert VICRegLoss()(z1, z2).item() == pytest.approx(expected.item(), rel=1e-12)
    only_inv = VICRegLoss(1.0, 0.0, 0.0)(z1, z2)
    assert only_inv.item() == pytest.approx(invariance_term(z1, z2).item())


# ------------------------------------------------------------------ SpliCER family


@pytest.fixture(params=["simclr", "vicreg"])
def base(request) -> torch.nn.Module:
    return NTXentLoss(0.5) if request.param == "simclr" else VICRegLoss()


def test_splicer_value_is_primary_plus_chunk_terms(base) -> None:
    z1, z2, c = rand(6, 8, seed=1), rand(6, 8, seed=2), rand(6, 2, 4, seed=3)
    loss = SpliCERLoss(base, num_components=2, lam=0.7)
    terms = loss.terms([z1, z2], c)
    chunk = lambda z, k: z[:, 4 * k : 4 * (k + 1)]  # noqa: E731
    registered = sum(base(chunk(z, k), c[:, k]) for z in (z1, z2) for k in range(2)) / 2
    assert terms["primary"].item() == pytest.approx(base(z1, z2).item(), rel=1e-12)
    assert terms["components"].item() == pytest.approx(registered.item(), rel=1e-12)
    assert terms["total"].item() == pytest.approx((base(z1, z2) + 0.7 * registered).item(), rel=1e-12)
    assert loss([z1, z2], c).item() == terms["total"].item()


@pytest.mark.parametrize("k_components", [2, 4])
def test_splicer_gradient_of_component_j_stays_in_chunk_j(base, k_components: int) -> None:
    d = 8
    width = d // k_components
    loss = SpliCERLoss(base, num_components=k_components, keep_primary=False)
    z = rand(6, d, seed=10).requires_grad_(True)
    c = rand(6, k_components, width, seed=11).requires_grad_(True)
    for j in range(k_components):
        # the term of component j alone: the loss minus the loss with component j replaced
        other = c.detach().clone()
        other[:, j] = rand(6, width, seed=20 + j)
        term_j = loss.register(z, c) - loss.register(z, other)
        (grad_z,) = torch.autograd.grad(term_j, z)
        outside = torch.ones(d, dtype=torch.bool)
        outside[j * width : (j + 1) * width] = False
        assert torch.equal(grad_z[:, outside], torch.zeros_like(grad_z[:, outside]))
        assert grad_z[:, ~outside].abs().sum() > 0
        # and chunk j's gradient from the whole loss is that of L_base(chunk j, c_j) alone
        (grad_all,) = torch.autograd.grad(loss([z, z.detach()], c), z)
        z_j = z[:, j * width : (j + 1) * width].detach().requires_grad_(True)
        (grad_j,) = torch.autograd.grad(base(z_j, c[:, j].detach()) / 2, z_j)
        assert torch.allclose(grad_all[:, ~outside], grad_j, rtol=1e-10, atol=1e-12)


def test_splicer_keep_primary_false_drops_the_primary_term(base) -> None:
    z1, z2, c = rand(6, 8, seed=1), rand(6, 8, seed=2), rand(6, 2, 4, seed=3)
    without = SpliCERLoss(base, 2, keep_primary=False).terms([z1, z2], c)
    with_ = SpliCERLoss(base, 2, keep_primary=True).terms([z1, z2], c)
    assert without["primary"].item() == 0.0
    assert with_["total"].item() == pytest.approx((without["total"] + base(z1, z2)).item(), rel=1e-12)
    # the primary term moves the parts of z that no component touches: here, a second view
    z2_leaf = z2.clone().requires_grad_(True)
    (g_without,) = torch.autograd.grad(SpliCERLoss(base, 2, keep_primary=False)([z1, z2_leaf], c), z2_leaf)
    (g_with,) = torch.autograd.grad(SpliCERLoss(base, 2, keep_primary=True)([z1, z2_leaf], c), z2_leaf)
    (g_primary,) = torch.autograd.grad(base(z1, z2_leaf), z2_leaf)
    assert torch.allclose(g_with - g_without, g_primary, atol=1e-10)
    assert g_primary.abs().sum() > 0


def test_splicer_chunks_an_indivisible_embedding_as_evenly_as_it_can(base) -> None:
    loss = SpliCERLoss(base, num_components=3)
    assert loss.component_dim(12) == 4
    assert loss.sizes(10) == (4, 3, 3) and loss.component_dim(10) == 4
    z1, z2, c = rand(6, 10), rand(6, 10), rand(6, 3, 4)
    explicit = SpliCERLoss(base, num_components=3, chunk_sizes=(4, 3, 3))
    assert torch.equal(loss([z1, z2], c), explicit([z1, z2], c))
    with pytest.raises(ValueError, match=r"a length of 2 cannot be cut into 3 chunks"):
        loss.component_dim(2)


def test_splicer_component_width_must_be_d_over_k_or_d(base) -> None:
    with pytest.raises(ValueError, match=r"must have 4 dimensions \(the largest chunk\) or 8 .* got 5"):
        SpliCERLoss(base, 2)([rand(4, 8), rand(4, 8)], rand(4, 2, 5))


def test_splicer_full_width_components_register_their_own_chunk(base) -> None:
    """Components through the primary projector (B, K, D): chunk k of component k is used."""
    z1, z2, wide = rand(6, 8), rand(6, 8), rand(6, 2, 8)
    narrow = torch.stack([wide[:, 0, :4], wide[:, 1, 4:]], dim=1)  # (B, K, D/K)
    loss = SpliCERLoss(base, 2)
    assert torch.allclose(loss([z1, z2], wide), loss([z1, z2], narrow))
    assert not torch.allclose(loss([z1, z2], wide), loss([z1, z2], wide[:, :, :4]))


@pytest.mark.parametrize("cls", [SpliCERLoss, SigmaJELoss, AverageTargetLoss])
@pytest.mark.parametrize("shape", [(4, 3, 4), (5, 2, 4), (4, 8), (4, 2, 4, 1)])
def test_wrong_component_shapes_raise(cls, shape) -> None:
    with pytest.raises(ValueError, match=r"components must be \(B=4, K=2, D_c\)"):
        cls(NTXentLoss(), 2)([rand(4, 8), rand(4, 8)], rand(*shape))


@pytest.mark.parametrize("cls", [SigmaJELoss, AverageTargetLoss])
def test_unchunked_variants_need_full_width(cls) -> None:
    assert cls(NTXentLoss(), 2).component_dim(8) == 8
    with pytest.raises(ValueError, match=r"components must have D = 8 dimensions, got 4"):
        cls(NTXentLoss(), 2)([rand(4, 8), rand(4, 8)], rand(4, 2, 4))


def test_views_must_be_two() -> None:
    with pytest.raises(ValueError, match=r"views must hold the embeddings of 2 views, got 3"):
        SpliCERLoss(NTXentLoss(), 2)([rand(4, 8)] * 3, rand(4, 2, 4))


def test_num_components_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"num_components must be >= 1, got 0"):
        SpliCERLoss(NTXentLoss(), 0)


def test_sigma_je_sums_the_whole_embedding_against_each_component(base) -> None:
    z1, z2, c = rand(6, 8, seed=1), rand(6, 8, seed=2), rand(6, 3, 8, seed=3)
    terms = SigmaJELoss(base, 3).terms([z1, z2], c)
    expected = sum(base(z, c[:, k]) for z in (z1, z2) for k in range(3)) / 2
    assert terms["components"].item() == pytest.approx(expected.item(), rel=1e-12)
    assert terms["total"].item() == pytest.approx((base(z1, z2) + expected).item(), rel=1e-12)


def test_average_target_uses_the_mean_component(base) -> None:
    z1, z2, c = rand(6, 8, seed=1), rand(6, 8, seed=2), rand(6, 3, 8, seed=3)
    terms = AverageTargetLoss(base, 3).terms([z1, z2], c)
    mean = c.mean(dim=1)
    expected = (base(z1, mean) + base(z2, mean)) / 2
    assert terms["components"].item() == pytest.approx(expected.item(), rel=1e-12)


def test_average_of_identical_components_is_registering_to_one(base) -> None:
    z1, z2, one = rand(6, 8, seed=1), rand(6, 8, seed=2), rand(6, 1, 8, seed=3)
    many = AverageTargetLoss(base, 4)([z1, z2], one.repeat(1, 4, 1))
    single = AverageTargetLoss(base, 1)([z1, z2], one)
    assert many.item() == pytest.approx(single.item(), rel=1e-12)
    # Sigma-JE with K identical components counts the same term K times
    sigma = SigmaJELoss(base, 4, keep_primary=False)([z1, z2], one.repeat(1, 4, 1))
    sigma_one = SigmaJELoss(base, 1, keep_primary=False)([z1, z2], one)
    assert sigma.item() == pytest.approx(4 * sigma_one.item(), rel=1e-12)


# ------------------------------------------------------------------ unequal chunks


def test_splicer_with_chunk_sizes_registers_each_component_to_its_own_width() -> None:
    base = NTXentLoss(0.5)
    z1, z2, c = rand(6, 12, seed=1), rand(6, 12, seed=2), rand(6, 2, 8, seed=3)
    loss = SpliCERLoss(base, 2, keep_primary=False, chunk_sizes=(4, 8))
    assert loss.component_dim(12) == 8
    by_hand = sum(
        (base(z[:, :4], c[:, 0, :4]) + base(z[:, 4:], c[:, 1])) / 2 for z in (z1, z2)
    )
    assert loss([z1, z2], c).item() == pytest.approx(by_hand.item(), rel=1e-12)


def test_chunk_sizes_errors() -> None:
    with pytest.raises(ValueError, match=r"chunk sizes \(4, 6\) add up to 10, not to 12"):
        SpliCERLoss(NTXentLoss(), 2, chunk_sizes=(4, 6)).component_dim(12)
    with pytest.raises(ValueError, match="chunk_sizes must be 2 positive sizes"):
        SpliCERLoss(NTXentLoss(), 2, chunk_sizes=(12,))
    with pytest.raises(ValueError, match="chunk_sizes applies to variant 'splicer' only"):
        make_loss("simclr", "sigma_je", chunk_sizes=(64, 64))


def test_allocate_chunks_is_proportional_with_a_minimum() -> None:
    assert allocate_chunks([1, 1, 2], 128) == (32, 32, 64)
    assert sum(allocate_chunks([0.3, 0.1, 0.05, 0.55], 128, minimum=8)) == 128
    assert allocate_chunks([0, 1], 16, minimum=4) == (4, 12)
    with pytest.raises(ValueError, match="positive sum"):
        allocate_chunks([0, 0], 16)
    with pytest.raises(ValueError, match="cannot give 3 chunks at least 8"):
        allocate_chunks([1, 1, 1], 16, minimum=8)


# ------------------------------------------------------------------ separate encoders


@pytest.mark.parametrize("base", [NTXentLoss(0.5), VICRegLoss()])
def test_separate_loss_is_the_sum_of_per_chunk_losses(base) -> None:
    z1, z2 = rand(6, 12, seed=1), rand(6, 12, seed=2)
    value = SeparateLoss(base, 3)(z1, z2)
    by_hand = sum(base(z1[:, 4 * k : 4 * (k + 1)], z2[:, 4 * k : 4 * (k + 1)]) for k in range(3))
    assert value.item() == pytest.approx(by_hand.item(), rel=1e-12)


def test_separate_loss_known_value_with_identical_chunks() -> None:
    # every embedding identical: each chunk's NT-Xent is log(2N - 1), so K chunks give K times it
    z = torch.ones(4, 6, dtype=torch.float64)
    assert SeparateLoss(NTXentLoss(0.2), 2)(z, z).item() == pytest.approx(2 * math.log(7), rel=1e-12)


def test_separate_loss_chunks_do_not_interact() -> None:
    z1, z2 = rand(5, 8, seed=3).requires_grad_(), rand(5, 8, seed=4)
    loss = SeparateLoss(NTXentLoss(0.5), 2)
    # the gradient of the loss on chunk 0 is the gradient of chunk 0's own term
    loss(z1, z2).backward()
    alone = z1.detach()[:, :4].clone().requires_grad_()
    NTXentLoss(0.5)(alone, z2[:, :4]).backward()
    assert torch.allclose(z1.grad[:, :4], alone.grad)


def test_separate_loss_cuts_an_indivisible_embedding_as_the_others_do() -> None:
    z1, z2, base = rand(4, 8), rand(4, 8), NTXentLoss()
    expected = base(z1[:, :3], z2[:, :3]) + base(z1[:, 3:6], z2[:, 3:6]) + base(z1[:, 6:], z2[:, 6:])
    assert torch.allclose(SeparateLoss(base, 3)(z1, z2), expected)


def test_separate_loss_errors() -> None:
    with pytest.raises(ValueError, match="a length of 2 cannot be cut into 3 chunks"):
        SeparateLoss(NTXentLoss(), 3)(rand(4, 2), rand(4, 2))
    with pytest.raises(ValueError, match="num_components must be >= 1"):
        SeparateLoss(NTXentLoss(), 0)
    with pytest.raises(ValueError, match="variant 'separate' has no primary term"):
        make_loss("simclr", "separate", lam=0.5)
    assert isinstance(make_loss("vicreg", "separate", num_components=4), SeparateLoss)


# ------------------------------------------------------------------ make_loss


@pytest.mark.parametrize("method, base_cls", [("simclr", NTXentLoss), ("vicreg", VICRegLoss)])
@pytest.mark.parametrize("variant, cls", [
    ("baseline", None), ("splicer", SpliCERLoss), ("sigma_je", SigmaJELoss), ("average", AverageTargetLoss),
])
def test_make_loss(method: str, base_cls, variant: str, cls) -> None:
    loss = make_loss(method, variant, num_components=3, temperature=0.3, lam=0.5, keep_primary=False)
    if cls is None:
        assert isinstance(loss, base_cls)
        base = loss
    else:
        assert isinstance(loss, cls) and isinstance(loss.base, base_cls)
        assert (loss.num_components, loss.lam, loss.keep_primary) == (3, 0.5, False)
        base = loss.base
    if method == "simclr":
        assert base.temperature == 0.3


def test_make_loss_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"^method is 'byol'; use one of \['simclr', 'vicreg'\]"):
        make_loss("byol")
    with pytest.raises(ValueError, match=r"^variant is 'split'; use one of"):
        make_loss("simclr", "split")


# ------------------------------------------------------- the component term's form


def test_cross_view_infonce_known_values_and_symmetry() -> None:
    from splicer_tutorial.losses import CrossViewInfoNCELoss

    same = torch.ones(5, 3)
    assert CrossViewInfoNCELoss(0.5)(same, same).item() == pytest.approx(math.log(5))
    a, b = rand(6, 4), rand(6, 4)
    loss = CrossViewInfoNCELoss(0.3)
    assert loss(a, b).item() == pytest.approx(loss(b, a).item())
    # matched pairs far apart from the others give a loss near zero
    codes = torch.eye(6)
    assert CrossViewInfoNCELoss(0.05)(codes, codes).item() < 1e-6
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        CrossViewInfoNCELoss(float("nan"))


def test_make_loss_component_term_and_temperature() -> None:
    from splicer_tutorial.losses import CrossViewInfoNCELoss

    loss = make_loss("simclr", "splicer", component_term="cross", component_temperature=0.5)
    assert isinstance(loss.component, CrossViewInfoNCELoss) and loss.component.temperature == 0.5
    assert isinstance(loss.base, NTXentLoss) and loss.base.temperature == 0.2
    warm = make_loss("simclr", "sigma_je", component_temperature=0.7)
    assert isinstance(warm.component, NTXentLoss) and warm.component.temperature == 0.7
    z1, z2, c = rand(8, 16), rand(8, 16), rand(8, 2, 8)
    plain = make_loss("simclr", "splicer")
    assert not torch.allclose(loss([z1, z2], c), plain([z1, z2], c))
    assert torch.allclose(loss.terms([z1, z2], c)["primary"], plain.terms([z1, z2], c)["primary"])
    with pytest.raises(ValueError, match="component_term is 'dot'"):
        make_loss("simclr", "splicer", component_term="dot")
    with pytest.raises(ValueError, match="apply to the component variants .* not 'baseline'"):
        make_loss("simclr", "baseline", component_term="cross")
    with pytest.raises(ValueError, match="VICReg has no temperature"):
        make_loss("vicreg", "splicer", component_temperature=0.5)
