"""Tests of splicer_tutorial.models: encoders, projectors and the SSL model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from splicer_tutorial.models import (
    BlockLinear, ConvNet, ResNet18, SeparateEncoders, SSLModel, forward_flops, make_encoder, mlp,
)


@pytest.fixture(autouse=True)
def seeded() -> None:
    torch.manual_seed(0)


SIZES = [(32, 32), (64, 32), (32, 16)]


@pytest.mark.parametrize("channels", [1, 3, 7])
@pytest.mark.parametrize("size", SIZES)
def test_convnet_feature_dims(channels: int, size) -> None:
    net = ConvNet(channels, width=4)
    assert net.out_dim == 32
    out = net(torch.rand(2, channels, *size))
    assert out.shape == (2, 32) and torch.isfinite(out).all()


@pytest.mark.parametrize("channels", [1, 3, 7])
@pytest.mark.parametrize("size", SIZES)
def test_small_resnet18_feature_dims(channels: int, size) -> None:
    net = ResNet18(channels, width=4)
    assert net.out_dim == 32
    assert net(torch.rand(2, channels, *size)).shape == (2, 32)


def test_resnet18_at_width_64_has_512_features_and_resnet18_layout() -> None:
    net = ResNet18(3)
    assert net.out_dim == 512
    with torch.no_grad():
        assert net.eval()(torch.rand(1, 3, 32, 16)).shape == (1, 512)
    assert len(net.layers) == 8  # four stages of two basic blocks
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 1 + 16  # the stem and two per block
    assert net.stem[0].stride == (1, 1)  # a 3x3 stride-1 stem, no max-pool
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())
    params = sum(p.numel() for p in net.parameters())
    assert 11_000_000 < params < 11_300_000  # ResNet-18 without the fc layer: ~11.17M


def test_convnet_downsamples_by_eight() -> None:
    net = ConvNet(3, width=4)
    assert net.layers(torch.rand(1, 3, 64, 32)).shape == (1, 32, 8, 4)


def test_encoders_are_differentiable() -> None:
    for net in (ConvNet(3, width=4), ResNet18(3, width=4)):
        x = torch.rand(2, 3, 16, 16, requires_grad=True)
        net(x).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("name, width, cls, dim", [
    ("convnet", None, ConvNet, 256), ("convnet", 8, ConvNet, 64),
    ("resnet18", 8, ResNet18, 64), ("resnet18", None, ResNet18, 512),
])
def test_make_encoder(name: str, width, cls, dim: int) -> None:
    net = make_encoder(name, in_channels=5, width=width)
    assert isinstance(net, cls) and net.out_dim == dim


def test_make_encoder_bad_name() -> None:
    with pytest.raises(ValueError, match=r"backbone is 'vit'.*resnet18.*convnet"):
        make_encoder("vit")


@pytest.mark.parametrize("layers, linears", [(1, 1), (2, 2), (3, 3)])
def test_mlp_layers(layers: int, linears: int) -> None:
    net = mlp(10, 16, 6, layers=layers)
    kinds = [type(m) for m in net]
    assert kinds.count(nn.Linear) == linears
    assert kinds.count(nn.BatchNorm1d) == kinds.count(nn.ReLU) == layers - 1
    assert isinstance(net[-1], nn.Linear) and net[-1].out_features == 6
    assert net[0].in_features == 10
    if layers > 1:
        assert net[0].out_features == 16
    assert net(torch.rand(4, 10)).shape == (4, 6)


def test_mlp_needs_a_layer() -> None:
    with pytest.raises(ValueError, match=r"layers must be >= 1, got 0"):
        mlp(4, 4, 4, layers=0)


def test_ssl_model_shapes() -> None:
    model = SSLModel(ConvNet(3, width=4), proj_dim=16, hidden_dim=24, component_dim=8)
    x = torch.rand(4, 3, 32, 16)
    assert model(x).shape == (4, 32)
    assert model.embed(x).shape == (4, 16)
    assert model.embed_components(torch.rand(4, 2, 3, 32, 16)).shape == (4, 2, 8)
    assert model.embed_components(torch.rand(4, 3, 3, 16, 16)).shape == (4, 3, 8)  # crops


def test_embed_components_shares_the_encoder_and_is_batched() -> None:
    model = SSLModel(ConvNet(3, width=4), proj_dim=16, hidden_dim=24, component_dim=8).eval()
    comps = torch.rand(3, 2, 3, 16, 16)
    with torch.no_grad():
        together = model.embed_components(comps)
        one_by_one = model.component_projector(model.encoder(comps[:, 1]))
    assert torch.allclose(together[:, 1], one_by_one, atol=1e-5)


def test_shared_projector_projects_components_like_the_primary() -> None:
    model = SSLModel(ConvNet(3, width=4), proj_dim=16, hidden_dim=24, share_projector=True).eval()
    comps = torch.rand(3, 2, 3, 32, 16)
    with torch.no_grad():
        assert torch.allclose(model.embed_components(comps)[:, 0], model.embed(comps[:, 0]), atol=1e-5)
    with pytest.raises(ValueError, match="leave component_dim None"):
        SSLModel(ConvNet(3, width=4), component_dim=8, share_projector=True)


def test_embed_components_without_projector_raises() -> None:
    model = SSLModel(ConvNet(3, width=4), proj_dim=16, hidden_dim=24)
    assert model.component_projector is None
    with pytest.raises(RuntimeError, match=r"no component projector.*component_dim"):
        model.embed_components(torch.rand(2, 2, 3, 16, 16))


# ------------------------------------------------------------------ block-diagonal projector


def test_block_linear_is_block_diagonal_and_matches_its_dense_matrix() -> None:
    torch.manual_seed(0)
    layer = BlockLinear(12, 6, blocks=3)
    dense = layer.dense_weight()
    assert dense.shape == (6, 12)
    for k in range(3):
        for j in range(3):
            block = dense[2 * k : 2 * (k + 1), 4 * j : 4 * (j + 1)]
            assert (block != 0).any() if j == k else (block == 0).all()
    x = torch.randn(5, 12)
    assert torch.allclose(layer(x), x @ dense.T + layer.bias, atol=1e-6)


def test_block_linear_chunk_k_depends_on_group_k_only() -> None:
    torch.manual_seed(0)
    layer = BlockLinear(8, 4, blocks=2)
    x = torch.randn(3, 8, requires_grad=True)
    layer(x)[:, 2:].sum().backward()  # output chunk 1
    assert (x.grad[:, :4] == 0).all() and (x.grad[:, 4:] != 0).any()


@pytest.mark.parametrize("out_sizes", [None, (1, 2, 3)])
def test_block_linear_with_unequal_blocks_is_block_diagonal(out_sizes) -> None:
    """8 inputs into 3 groups (3, 3, 2); outputs as equal as they can be or as asked for."""
    torch.manual_seed(0)
    layer = BlockLinear(8, 6, blocks=3, out_sizes=out_sizes)
    rows = out_sizes or (2, 2, 2)
    assert layer.in_sizes == (3, 3, 2) and layer.out_sizes == rows
    dense, x = layer.dense_weight(), torch.randn(5, 8, requires_grad=True)
    expected = torch.block_diag(*[torch.ones(o, i) for o, i in zip(rows, (3, 3, 2))]).bool()
    assert ((dense != 0) == expected).all()
    assert torch.allclose(layer(x), x @ dense.T + layer.bias, atol=1e-6)
    layer(x)[:, sum(rows[:2]):].sum().backward()  # output chunk 2 reads input group 2 (the last 2) only
    assert (x.grad[:, :6] == 0).all() and (x.grad[:, 6:] != 0).all()
    assert (layer.weight.grad * (1 - layer.mask) == 0).all()  # nothing off the blocks ever learns


def test_block_linear_errors() -> None:
    with pytest.raises(ValueError, match="cannot both be cut into blocks=3 groups"):
        BlockLinear(8, 2, blocks=3)
    with pytest.raises(ValueError, match=r"chunk sizes \(4, 4\) must be 3 positive sizes"):
        BlockLinear(8, 8, blocks=3, out_sizes=(4, 4))


def test_mlp_blocks_only_last_or_all_layers() -> None:
    last = mlp(16, 8, 4, layers=2, blocks=2)
    assert isinstance(last[0], nn.Linear) and isinstance(last[-1], BlockLinear)
    every = mlp(16, 8, 4, layers=2, blocks=2, block_all=True)
    assert isinstance(every[0], BlockLinear) and isinstance(every[-1], BlockLinear)
    model = SSLModel(ConvNet(3, 4), proj_dim=8, hidden_dim=16, projector_blocks=2)
    assert isinstance(model.projector[-1], BlockLinear)


# ------------------------------------------------------------------ separate encoders


def halves_of(x: torch.Tensor) -> torch.Tensor:
    return torch.stack(x.chunk(2, dim=2), dim=1)  # (B, 2, C, H/2, W)


def test_separate_encoders_concatenate_and_see_only_their_component() -> None:
    torch.manual_seed(0)
    model = SeparateEncoders([ConvNet(3, 4), ConvNet(3, 4)], halves_of).eval()
    assert model.out_dim == 2 * 32
    x = torch.rand(2, 3, 16, 8)
    features = model(x)
    assert features.shape == (2, 64)
    changed = x.clone()
    changed[:, :, 8:] = torch.rand(2, 3, 8, 8)  # a new bottom half
    again = model(changed)
    assert torch.allclose(features[:, :32], again[:, :32])  # encoder 0 sees the top only
    assert not torch.allclose(features[:, 32:], again[:, 32:])


def test_separate_encoders_errors() -> None:
    with pytest.raises(ValueError, match="encoders is empty"):
        SeparateEncoders([], halves_of)
    model = SeparateEncoders([ConvNet(3, 4), ConvNet(3, 4)], halves_of)
    with pytest.raises(ValueError, match=r"components must be \(B, K=2"):
        model.encode_components(torch.rand(2, 3, 3, 8, 8))


def test_forward_flops_counts_the_convolutions() -> None:
    # one 3x3 convolution from 1 to 2 channels on a 4x4 image, padding 1: 2 * 9 * 16 multiply-adds
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    assert forward_flops(conv, (1, 4, 4)) == 2 * (2 * 9 * 16)
    model = SSLModel(ConvNet(3, width=4), proj_dim=16, hidden_dim=24)
    assert forward_flops(model, (3, 32, 16), "embed") > forward_flops(model.encoder, (3, 32, 16)) > 0
    assert model.training  # left as it was


def test_checkpointed_resnet_gives_the_same_gradients_and_batchnorm_statistics() -> None:
    """Activation checkpointing is exact: the same loss, gradients and running statistics
    (the recomputation in the backward pass must not update BatchNorm a second time)."""
    x = torch.rand(6, 3, 16, 8)
    found = []
    for checkpoint_activations in (False, True):
        torch.manual_seed(0)
        encoder = ResNet18(3, 8, checkpoint_activations)
        for _ in range(2):  # two steps: the statistics of the first feed the second's
            output = encoder(x).pow(2).sum()
            output.backward()
        found.append((output.item(), [p.grad for p in encoder.parameters()], list(encoder.buffers())))
    (loss, grads, buffers), (loss_ck, grads_ck, buffers_ck) = found
    assert loss == pytest.approx(loss_ck, rel=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, grads_ck))
    assert all(torch.equal(a, b) for a, b in zip(buffers, buffers_ck))
    with pytest.raises(ValueError, match="checkpoint_activations applies to backbone 'resnet18'"):
        make_encoder("convnet", 3, 8, checkpoint_activations=True)
