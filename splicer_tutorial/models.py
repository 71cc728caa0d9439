"""Networks: encoders (backbones), projectors, and the model that joins them.

* :class:`ResNet18`: ResNet-18 with a 3x3 stride-1 stem and no max-pool, the usual
  choice for 32x32-scale images, for any number of input channels (512 features).
* :class:`ConvNet`: a small four-block ConvNet that trains in minutes on a CPU.
* :func:`mlp`: the projector, ``Linear-BN-ReLU`` blocks and a final ``Linear``, which can
  be block-diagonal (:class:`BlockLinear`): K independent maps, one per chunk.
* :class:`SeparateEncoders`: one encoder per component, their features concatenated (the
  "separate encoders" baseline that SpliCER's reviewers asked for).
* :class:`SSLModel`: an encoder with a projector for the primary image and, for
  SpliCER and its variants, a second projector for the components.

Downstream evaluation uses ``model.encoder`` only: the projectors are discarded, so a
SpliCER model costs what the base model costs at inference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from .chunks import chunk_sizes

BACKBONES = ("resnet18", "convnet")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (He et al. 2016)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


#: Called with each checkpointed block's input while set (see :func:`checkpointed`): how
#: :func:`splicer_tutorial.training.estimate_memory` counts what checkpointing keeps.
KEPT_INPUTS: list[Callable[[torch.Tensor], None]] = []


def checkpointed(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``block(x)`` with activation checkpointing: only ``x`` is kept for the backward pass,
    and the block runs again there to recompute the rest (exact: the same numbers, at the
    cost of a second forward pass). The recomputation leaves BatchNorm's running
    statistics as the first pass left them, so they are updated once per step, as without
    checkpointing."""
    for keep in KEPT_INPUTS:
        keep(x)
    passes = []

    def run(inputs: torch.Tensor) -> torch.Tensor:
        if not passes:  # the forward pass
            passes.append(1)
            return block(inputs)
        buffers = [b.clone() for b in block.buffers()]  # the recomputation in the backward pass
        try:
            return block(inputs)
        finally:  # also when the checkpoint stops the recomputation early, as it does
            with torch.no_grad():
                for buffer, before in zip(block.buffers(), buffers):
                    buffer.copy_(before)

    return torch.utils.checkpoint.checkpoint(run, x, use_reentrant=False)


class ResNet18(nn.Module):
    """ResNet-18 for small images: x (B, C, H, W) -> features (B, 512 * width / 64).

    ``in_channels`` sets C; ``width`` the channels of the first stage (64 in the paper
    network; smaller values make a cheaper network of the same shape). With
    ``checkpoint_activations`` each residual block keeps only its input for the backward
    pass (:func:`checkpointed`): several times less activation memory for about a third
    more compute, the same gradients.
    """

    def __init__(self, in_channels: int = 3, width: int = 64, checkpoint_activations: bool = False) -> None:
        super().__init__()
        self.checkpoint_activations = checkpoint_activations
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        layers, channels = [], width
        for stage, stride in enumerate((1, 2, 2, 2)):
            out = width * 2**stage
            layers += [BasicBlock(channels, out, stride), BasicBlock(out, out)]
            channels = out
        self.layers = nn.Sequential(*layers)
        self.out_dim = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.checkpoint_activations and torch.is_grad_enabled():
            for block in self.layers:
                x = checkpointed(block, x)
            return x.mean(dim=(2, 3))
        return self.layers(x).mean(dim=(2, 3))


class ConvNet(nn.Module):
    """A small ConvNet: four ``conv3x3-BN-ReLU`` blocks, the last three with stride 2.

    x (B, C, H, W) -> features (B, 8 * width).
    """

    def __init__(self, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()
        blocks, channels = [], in_channels
        for stage, stride in enumerate((1, 2, 2, 2)):
            out = width * 2**stage
            blocks += [nn.Conv2d(channels, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.layers = nn.Sequential(*blocks)
        self.out_dim = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).mean(dim=(2, 3))


def make_encoder(name: str, in_channels: int = 3, width: int | None = None,
                 checkpoint_activations: bool = False) -> nn.Module:
    """An encoder by name: ``"resnet18"`` (width 64) or ``"convnet"`` (width 32).
    ``checkpoint_activations``: ResNet-18 only (:class:`ResNet18`)."""
    if name == "resnet18":
        return ResNet18(in_channels, width or 64, checkpoint_activations)
    if checkpoint_activations:
        raise ValueError("checkpoint_activations applies to backbone 'resnet18'; the small ConvNet does not need it.")
    if name == "convnet":
        return ConvNet(in_channels, width or 32)
    raise ValueError(f"backbone is {name!r}; use one of {BACKBONES}.")


def forward_flops(module: nn.Module, input_shape: tuple[int, ...], method: str = "forward") -> int:
    """Floating-point operations of one call of ``module.<method>`` (e.g. ``"embed"`` of an
    :class:`SSLModel`) on one input of ``input_shape`` (e.g. (3, 32, 16)), as torch's
    ``FlopCounterMode`` counts them (a multiply-add is 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = module.training
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        getattr(module, method)(torch.zeros(2, *input_shape))
    module.train(was_training)
    return counter.get_total_flops() // 2


class BlockLinear(nn.Module):
    """A block-diagonal linear layer: ``blocks`` independent maps side by side.

    x (B, in_features) is cut into ``blocks`` groups and the output into as many chunks,
    both by :func:`splicer_tutorial.chunks.chunk_sizes` (as equal as they can be, or the
    output's ``out_sizes``); group k is mapped by its own weight ``W_k`` to output chunk k:

        y^(k) = W_k x^(k) + b^(k)

    so output chunk k depends on input group k only, and the gradient of anything computed
    from chunk k reaches group k only. This is the *sparse* projector that the SpliCER
    paper's theory assumes. Equal blocks are one ``einsum`` over a (K, out/K, in/K)
    weight; unequal ones (512 into 3) one matmul with the off-diagonal blocks masked out.
    """

    def __init__(self, in_features: int, out_features: int, blocks: int, out_sizes: Sequence[int] | None = None) -> None:
        super().__init__()
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise ValueError(f"blocks must be a positive int, got {blocks!r}.")
        if in_features < blocks or out_features < blocks:
            raise ValueError(
                f"in_features={in_features} and out_features={out_features} cannot both be cut into "
                f"blocks={blocks} groups of at least 1; choose sizes of at least {blocks}."
            )
        self.blocks = blocks
        self.in_features, self.out_features = in_features, out_features
        self.in_sizes = chunk_sizes(in_features, blocks)
        self.out_sizes = chunk_sizes(out_features, blocks, out_sizes)
        self.equal = len(set(self.in_sizes)) == 1 and len(set(self.out_sizes)) == 1
        if self.equal:
            fan_in = in_features // blocks
            bound = fan_in**-0.5  # nn.Linear's default initialisation, per block
            self.weight = nn.Parameter(torch.empty(blocks, out_features // blocks, fan_in).uniform_(-bound, bound))
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
            return
        mask = torch.block_diag(*[torch.ones(o, i) for o, i in zip(self.out_sizes, self.in_sizes)])
        bound = torch.cat([torch.full((o,), i**-0.5) for o, i in zip(self.out_sizes, self.in_sizes)])
        self.register_buffer("mask", mask)
        self.weight = nn.Parameter((torch.rand(out_features, in_features) * 2 - 1) * bound[:, None] * mask)
        self.bias = nn.Parameter((torch.rand(out_features) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.equal:
            return F.linear(x, self.weight * self.mask, self.bias)
        groups = x.unflatten(1, (self.blocks, -1))  # (B, K, in/K)
        return torch.einsum("bki,koi->bko", groups, self.weight).flatten(1) + self.bias

    def dense_weight(self) -> torch.Tensor:
        """The equivalent (out_features, in_features) matrix: zero off the diagonal blocks."""
        return torch.block_diag(*self.weight) if self.equal else self.weight * self.mask

    def extra_repr(self) -> str:
        sizes = "" if self.equal else f", out_sizes={self.out_sizes}"
        return f"in_features={self.in_features}, out_features={self.out_features}, blocks={self.blocks}{sizes}"


def _linear(in_dim: int, out_dim: int, blocks: int, out_sizes: Sequence[int] | None = None) -> nn.Module:
    return nn.Linear(in_dim, out_dim) if blocks == 1 else BlockLinear(in_dim, out_dim, blocks, out_sizes)


def mlp(
    in_dim: int, hidden_dim: int, out_dim: int, layers: int = 2, blocks: int = 1, block_all: bool = False,
    out_sizes: Sequence[int] | None = None,
) -> nn.Sequential:
    """A projector: ``layers - 1`` blocks of ``Linear-BN-ReLU``, then a ``Linear``.

    (B, in_dim) -> (B, out_dim). With ``blocks=K`` the last ``Linear`` is block-diagonal
    (:class:`BlockLinear`), so output chunk k is computed from hidden group k only; with
    ``block_all=True`` every layer is, which makes K independent projectors side by side.
    ``out_sizes``: the K output chunks of the block layer (default: as equal as they can be).
    """
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}.")
    modules: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        modules += [_linear(dim, hidden_dim, blocks if block_all else 1), nn.BatchNorm1d(hidden_dim), nn.ReLU()]
        dim = hidden_dim
    modules.append(_linear(dim, out_dim, blocks, out_sizes))
    return nn.Sequential(*modules)


class SeparateEncoders(nn.Module):
    """One encoder per component; an image's features are theirs, concatenated.

    ``split`` turns images (B, C, H, W) into components (B, K, C, h, w) (e.g.
    ``functools.partial(deconstruct.split, sections=(2, 1))``); encoder k sees component k
    only. ``forward(x)`` splits and encodes, so probes can call it on whole images like any
    encoder: x (B, C, H, W) -> (B, K * F). Unlike SpliCER, this model needs the components
    at inference too, and has K times the encoder's parameters.
    """

    def __init__(self, encoders: list[nn.Module], split) -> None:
        super().__init__()
        if len(encoders) < 1:
            raise ValueError("encoders is empty; give one encoder per component.")
        self.encoders = nn.ModuleList(encoders)
        self.split = split
        self.out_dim = sum(e.out_dim for e in encoders)

    def encode_components(self, components: torch.Tensor) -> torch.Tensor:
        """components (B, K, C, h, w) -> concatenated features (B, K * F)."""
        if components.ndim != 5 or components.shape[1] != len(self.encoders):
            raise ValueError(
                f"components must be (B, K={len(self.encoders)}, C, h, w), got {tuple(components.shape)}."
            )
        return torch.cat([encoder(components[:, k]) for k, encoder in enumerate(self.encoders)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_components(self.split(x))


class SSLModel(nn.Module):
    """An encoder, a projector for the primary image, and an optional component projector.

    ``embed(x)`` gives the primary embedding z (B, proj_dim); ``embed_components(c)``
    takes components (B, K, C, h, w), runs them through the *same* encoder in one batched
    pass and returns (B, K, component_dim). ``projector_blocks=K`` makes the primary
    projector's last layer block-diagonal (chunk k of z from hidden group k only);
    ``block_all=True`` makes all its layers so; ``chunk_sizes`` gives its K chunks (default:
    as equal as they can be). ``share_projector=True`` projects the components with the
    primary projector instead of one of their own: (B, K, proj_dim).
    """

    def __init__(
        self,
        encoder: nn.Module,
        proj_dim: int = 128,
        hidden_dim: int = 512,
        component_dim: int | None = None,
        projector_blocks: int = 1,
        block_all: bool = False,
        share_projector: bool = False,
        chunk_sizes: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if share_projector and component_dim:
            raise ValueError("share_projector=True projects components with the primary projector; "
                             "leave component_dim None.")
        self.encoder = encoder
        self.projector = mlp(encoder.out_dim, hidden_dim, proj_dim, blocks=projector_blocks, block_all=block_all,
                             out_sizes=chunk_sizes if projector_blocks > 1 else None)
        self.component_projector = (
            mlp(encoder.out_dim, hidden_dim, component_dim) if component_dim
            else self.projector if share_projector else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features (B, F): what downstream probes use."""
        return self.encoder(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> primary embedding (B, proj_dim)."""
        return self.projector(self.encoder(x))

    def embed_components(self, components: torch.Tensor) -> torch.Tensor:
        """components (B, K, C, h, w) -> (B, K, component_dim)."""
        return self.project_components(self.encoder(components.flatten(0, 1)), components.shape[:2])

    def project_components(self, features: torch.Tensor, batch_k: tuple[int, int]) -> torch.Tensor:
        """Encoder features of B * K components (B * K, F) -> their embeddings (B, K, component_dim)."""
        if self.component_projector is None:
            raise RuntimeError(
                "this model has no component projector; build it with component_dim set "
                "(the SpliCER-style variants do this for you)."
            )
        return self.component_projector(features).unflatten(0, tuple(batch_k))
