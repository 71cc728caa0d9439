"""Tests of splicer_tutorial.models: encoders, projectors and the SSL model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from splicer_tutorial.models import ConvNet, ResNet18, SSLModel, make_encoder, mlp


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


def test_embed_components_without_projector_raises() -> None:
    model = SSLModel(ConvNet(3, width=4), proj_dim=16, hidden_dim=24)
    assert model.component_projector is None
    with pytest.raises(RuntimeError, match=r"no component projector.*component_dim"):
        model.embed_components(torch.rand(2, 2, 3, 16, 16))
