"""Pretraining: one ``pretrain`` function for every method and variant.

A run is described by a :class:`TrainConfig` (method, variant, network, deconstruction,
augmentation, optimiser) and trained on a uint8 image tensor that is moved to the device
once; batches are indexed there and turned into floats on the fly. ``pretrain`` is seeded,
shows a progress bar, returns the trained :class:`~splicer_tutorial.models.SSLModel` with a
history (loss per step, an optional online linear probe per factor, throughput), and saves
or reloads a checkpoint when given a path.

One step of SpliCER (``variant="splicer"``) on a batch x (B, C, H, W):

1. two augmented views of x give the primary embeddings z1, z2 (B, D);
2. x is deconstructed into K components (B, K, C, h, w), each augmented once, encoded
   by the same encoder and projected to c (B, K, D/K);
3. the loss registers chunk k of z1 and z2 to c_k (see :mod:`splicer_tutorial.losses`).

The ``separate`` variant instead trains K encoders, encoder k on two views of component k
only (:class:`~splicer_tutorial.models.SeparateEncoders`).

Components are sections of the image (``sections``, ``fill``) or, when ``groups`` is
given, channel groups (zero-filled; after augmentation each component is re-masked to its
own channels, so a channel-wise jitter cannot leak into the others).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
# text bars: a widget bar sends a comm message per update and needs widget scripts in the static book
from tqdm import tqdm

from . import config as config_module
from . import distributed
from .augment import SSLAugment
from .files import write_atomically
from . import deconstruct
from .losses import VARIANTS, make_loss
from .models import KEPT_INPUTS, SeparateEncoders, SSLModel, make_encoder

PROJECTORS = ("dense", "block")
COMPONENT_PROJECTORS = ("own", "shared")


@dataclass
class TrainConfig:
    """Everything that defines a pretraining run (saved with every checkpoint and result)."""

    method: str = "simclr"  # simclr | vicreg
    variant: str = "baseline"  # baseline | splicer | sigma_je | average | separate
    backbone: str = "convnet"  # convnet | resnet18
    width: int | None = None  # encoder width; None: the backbone's default
    proj_dim: int = 128
    hidden_dim: int = 512
    projector: str = "dense"  # dense | block (the last projector layer block-diagonal, one block per chunk)
    sections: tuple[int, int] = (2, 1)  # components: a rows x cols grid of boxes (2x1: a domino's halves)
    fill: str = "zero"  # zero | crop
    groups: tuple[tuple[int | str, ...], ...] | None = None  # components: channel groups instead of sections
    mask_labels: int | None = None  # components: labels 0..K-1 of a per-image label map (pretrain(masks=))
    mask_background: bool = True  # with mask_labels: keep label 0 (background) as a component
    random_mask: int | None = None  # components: two halves of a fixed random mask of blocks this many pixels wide
    channel_names: tuple[str, ...] | None = None  # the images' channel names, so groups can name channels
    chunk_sizes: tuple[int, ...] | None = None  # unequal SpliCER chunks (must add up to proj_dim)
    same_geometry: bool = False  # augment components with the primary view's crop and flip
    joint_pass: bool = False  # encode views and same-shape components in one pass (shared BatchNorm statistics)
    lam: float = 1.0  # weight of the component terms
    keep_primary: bool = True  # keep the ordinary two-view term
    component_term: str = "base"  # base (the method's own loss) | cross (cross-view InfoNCE, SimCLR)
    component_temperature: float | None = None  # the component terms' temperature (None: temperature)
    component_projector: str = "own"  # own (a projector of chunk width) | shared (the primary projector)
    temperature: float = 0.2
    augment: str = "rgb"  # rgb | channels
    photometric_channels: int | None = None  # jitter only the first channels (None: all)
    crop_scale: tuple[float, float] = (0.25, 1.0)
    epochs: int = 10
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    amp: bool = True  # bf16 autocast on a GPU (never on the CPU)
    checkpoint_activations: bool = False  # resnet18: recompute each block's activations in the backward pass

    def __post_init__(self) -> None:
        self.crop_scale = tuple(self.crop_scale)
        if self.variant not in VARIANTS:
            raise ValueError(f"variant is {self.variant!r}; use one of {sorted(VARIANTS)}.")
        if self.projector not in PROJECTORS:
            raise ValueError(f"projector is {self.projector!r}; use one of {PROJECTORS}.")
        if self.channel_names is not None:
            self.channel_names = tuple(self.channel_names)
        if self.groups is not None:  # names to indices; the rest of the components is checked in one place
            self.groups = tuple(tuple(int(c) for c in g) for g in deconstruct.resolve_groups(self.groups, self.channel_names))
        components = self.components
        self.sections, self.chunk_sizes = components.sections, components.chunk_sizes
        if self.component_projector not in COMPONENT_PROJECTORS:
            raise ValueError(f"component_projector is {self.component_projector!r}; use one of {COMPONENT_PROJECTORS}.")
        if self.component_projector != "own" and self.variant in ("baseline", "separate"):
            raise ValueError(f"component_projector applies to the component variants (splicer, sigma_je, average), "
                             f"not {self.variant!r}; leave it 'own'.")
        if self.variant == "separate" and (self.lam != 1.0 or not self.keep_primary):
            raise ValueError(
                "variant 'separate' has no primary term and no component weight; "
                "leave lam=1 and keep_primary=True."
            )
        if self.chunk_sizes is not None:
            if self.variant != "splicer":
                raise ValueError(f"chunk_sizes applies to variant 'splicer' only, not {self.variant!r}; leave it None.")
            self.embedding_chunks()  # k positive sizes adding up to proj_dim, or a clear error now
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: contrastive losses need negatives.")

    @property
    def components(self) -> deconstruct.Components:
        """This run's components as one validated record (:class:`~splicer_tutorial.deconstruct.Components`)."""
        return deconstruct.Components(self.sections, self.fill, self.groups, self.mask_labels, self.mask_background,
                                      self.chunk_sizes, self.same_geometry, self.random_mask)

    @property
    def num_components(self) -> int:
        return self.components.count

    def embedding_chunks(self) -> tuple[int, ...]:
        """The sizes of the K chunks of the embedding z this run trains (and probes):
        ``chunk_sizes``, or as equal as they can be (:func:`splicer_tutorial.chunks.chunk_sizes`)."""
        return self.components.chunks(self.proj_dim)

    def split(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """The components of images x (B, C, H, W) this run uses: (B, K, C, h, w)
        (:meth:`~splicer_tutorial.deconstruct.Components.split`)."""
        return self.components.split(x, masks)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_values(cls, values: dict) -> "TrainConfig":
        """A config from a dict of its fields; a one-line error naming any unknown field."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known fields: {sorted(fields)}.")
        return cls(**values)


@dataclass
class History:
    """What happened during pretraining."""

    loss: list[float] = field(default_factory=list)  # per step
    epoch_loss: list[float] = field(default_factory=list)
    online_probe: dict[str, list[float]] = field(default_factory=dict)  # factor -> accuracy per epoch
    curves: list[dict] = field(default_factory=list)  # what the callback returned, with its epoch
    wall_s: float = 0.0  # training time, without the callback's
    images_per_s: float = 0.0
    epoch_s: list[float] = field(default_factory=list)  # wall time of each epoch, without the callback's
    peak_memory_mb: float | None = None  # peak GPU memory of training; None on a CPU (not tracked)
    estimated_memory_mb: float | None = None  # estimate_memory's total, where the run checked it
    parameters: int = 0  # trainable parameters, projectors included

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (kornia draws from PyTorch's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build(config: TrainConfig, in_channels: int = 3) -> tuple[SSLModel, nn.Module]:
    """The model and loss a config describes."""
    loss = make_loss(
        config.method, config.variant, config.num_components, config.temperature, config.lam, config.keep_primary,
        config.chunk_sizes, config.component_term, config.component_temperature,
    )
    blocks = 1 if config.projector == "dense" else config.num_components
    if config.variant == "separate":
        encoders = [make_encoder(config.backbone, in_channels, config.width, config.checkpoint_activations)
                    for _ in range(config.num_components)]
        encoder = SeparateEncoders(encoders, config.split)
        # K projectors side by side: chunk k of z is component k's projection
        return SSLModel(encoder, config.proj_dim, config.hidden_dim, None, config.num_components, True), loss
    shared = config.component_projector == "shared"
    component_dim = None if config.variant == "baseline" or shared else loss.component_dim(config.proj_dim)
    encoder = make_encoder(config.backbone, in_channels, config.width, config.checkpoint_activations)
    return SSLModel(encoder, config.proj_dim, config.hidden_dim, component_dim, blocks, share_projector=shared,
                    chunk_sizes=config.chunk_sizes), loss


def untrained(config: TrainConfig, in_channels: int = 3) -> tuple[SSLModel, History]:
    """A randomly initialised model of ``config`` (seeded) and an empty history: the
    ``random_init`` reference every probe is compared with."""
    seed_everything(config.seed)
    model, _ = build(config, in_channels)
    model.eval()
    return model, History(parameters=sum(p.numel() for p in model.parameters()))


def _check_masks(masks: torch.Tensor | None, images: torch.Tensor, config: TrainConfig) -> torch.Tensor | None:
    """The label maps of a mask run, checked; a warning for labels absent from some images."""
    if not config.mask_labels:
        if masks is not None:
            raise ValueError("masks were given but config.mask_labels is None; set mask_labels=K to use them.")
        return None
    if masks is None:
        raise ValueError(f"config.mask_labels={config.mask_labels} needs masks=: (N, H, W) label maps of the images.")
    if masks.dtype.is_floating_point or masks.dtype == torch.bool or masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W) integer label maps, got {masks.dtype} {tuple(masks.shape)}.")
    if (len(masks), *masks.shape[1:]) != (len(images), *images.shape[2:]):
        raise ValueError(f"masks {tuple(masks.shape)} do not match images {tuple(images.shape)}: one (H, W) "
                         "label map per image.")
    if masks.numel() and (int(masks.min()) < 0 or int(masks.max()) >= config.mask_labels):
        raise ValueError(f"masks hold labels {int(masks.min())}..{int(masks.max())}, outside "
                         f"0..{config.mask_labels - 1}; map them into range or raise mask_labels.")
    present = F.one_hot(masks.long().flatten(1), config.mask_labels).amax(dim=1)  # (N, K)
    for k, count in enumerate((present == 0).sum(dim=0).tolist()):
        if count:
            warnings.warn(f"{count} of {len(masks)} images have no pixel of label {k}: their component {k} is "
                          f"all zeros, and the loss registers their chunk {k} to the embedding of an empty "
                          "image (drop such images, or merge the label, if that is not wanted).", stacklevel=3)
    return masks.long()


def _as_uint8_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError("images must be a (N, C, H, W) tensor; pass e.g. dominoes['train']['correlated'].images.")
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (0-255), got {images.dtype}; keep the data set's uint8 images.")
    return images


def training_step(
    model: SSLModel, loss_fn: nn.Module, augment: SSLAugment, x: torch.Tensor, config: TrainConfig,
    masks: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's loss and the first view's encoder features (for the online probe).

    x: (B, C, H, W) float in [0, 1]; masks: (B, H, W) label maps, for mask components.
    In a distributed run x is this process's slice of the global batch, and the loss is
    the global batch's (:func:`splicer_tutorial.distributed.gather`).
    """
    batch = x.shape[0]
    if config.variant == "separate":
        parts = config.split(x, masks)  # (B, K, C, h, w)
        views = augment(parts.flatten(0, 1).repeat(2, 1, 1, 1)).unflatten(0, (2 * batch, -1))
        views = _remask(views, config)
        features = model.encoder.encode_components(views)  # (2B, K * F)
        z1, z2 = model.projector(features).chunk(2)
        return loss_fn(distributed.gather(z1), distributed.gather(z2)), features[:batch]
    if config.variant == "baseline":
        views = augment(x.repeat(2, 1, 1, 1))
        components = None
    else:
        first, components = augment.with_components(x, config.split(x, masks), config.same_geometry)
        components = _remask(components, config)
        views = torch.cat([first, augment(x)])
    if components is not None and config.joint_pass and components.shape[2:] == views.shape[1:]:
        # one encoder pass for views and components: one set of BatchNorm statistics, the
        # same in training as the running statistics used at evaluation
        everything = model.encoder(torch.cat([views, components.flatten(0, 1)]))
        features = everything[: 2 * batch]
        embedded = model.project_components(everything[2 * batch :], components.shape[:2])
    else:
        features = model.encoder(views)
        embedded = None if components is None else model.embed_components(components)
    # on several processes, the loss of the whole global batch (splicer_tutorial.distributed)
    z1, z2 = (distributed.gather(z) for z in model.projector(features).chunk(2))
    loss = loss_fn(z1, z2) if components is None else loss_fn([z1, z2], distributed.gather(embedded))
    return loss, features[:batch]


def estimate_memory(
    config: TrainConfig, images: torch.Tensor, masks: torch.Tensor | None = None, n_images: int | None = None,
    bf16: bool = True, probe_batch: int = 4,
) -> dict[str, float]:
    """The device memory a run of ``config`` needs, in bytes, estimated on the CPU in a second.

    * ``parameters``: weights, gradients and AdamW's two moments: four fp32 copies;
    * ``activations``: what autograd keeps for the backward pass of one training step,
      measured on ``probe_batch`` of ``images`` (N, C, H, W) uint8 (and their ``masks``)
      with a saved-tensor hook and scaled to the batch (it grows in proportion); in
      bf16 autocast when ``bf16``, as a GPU run computes;
    * ``data``: the uint8 training images (``n_images`` of them, default ``len(images)``),
      which stay on the device;
    * ``masks``: their int64 label maps, for mask components (0 without ``masks``);
    * ``total``: their sum, plus a fifth for what the hook cannot see (the gradients of
      the activations during the backward pass, the allocator's rounding).

    Weights saved for the backward pass are counted once, under ``parameters``.
    """
    model, loss_fn = build(config, images.shape[1])
    model.train()
    augment = SSLAugment(config.augment, crop_scale=config.crop_scale,
                         photometric_channels=config.photometric_channels)
    x = images[:probe_batch].float() / 255
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    def keep(tensor: torch.Tensor) -> None:  # a checkpointed block's input, kept outside the hook's view
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()

    KEPT_INPUTS.append(keep)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), \
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            training_step(model, loss_fn, augment, x, config, None if masks is None else masks[:probe_batch])
    finally:
        KEPT_INPUTS.remove(keep)
    parameters = 4 * 4 * sum(p.numel() for p in model.parameters())
    activations = sum(saved.values()) * min(config.batch_size, n_images or len(images)) / len(x)
    n = n_images or len(images)
    data = n * images[0].numel()  # uint8: a byte per value
    label_maps = 0 if masks is None else n * images[0, 0].numel() * 8  # int64 (H, W) per image
    return {"parameters": float(parameters), "activations": float(activations), "data": float(data),
            "masks": float(label_maps), "total": 1.2 * (parameters + activations + data + label_maps)}


def available_memory(device: torch.device) -> float:
    """Bytes free for a run on ``device``: a GPU's free memory, or the CPU's available RAM."""
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def check_memory(config: TrainConfig, images: torch.Tensor, masks: torch.Tensor | None,
                 device: torch.device) -> dict[str, float]:
    """Refuse, before any work, a run whose :func:`estimate_memory` exceeds what ``device``
    has free: one line saying how much it needs and what to change. Returns the estimate."""
    bf16 = config.amp and device.type == "cuda"
    estimate = estimate_memory(config, images, masks, bf16=bf16)
    free = available_memory(device)
    if estimate["total"] <= free:
        return estimate
    gb = 2**30
    batch = min(config.batch_size, len(images))
    fixed = estimate["total"] - 1.2 * estimate["activations"]
    fitting = batch
    while fitting > 2 and fixed + 1.2 * estimate["activations"] * fitting / batch > free:
        fitting //= 2
    advice = [f"batch_size={fitting}" if fitting > 2 and fitting < batch else "a device with more memory"]
    if config.backbone == "resnet18" and not config.checkpoint_activations:
        advice.insert(0, "checkpoint_activations=True (exact, about a third more compute)")
    raise MemoryError(f"this run needs about {estimate['total'] / gb:.1f} GB on {device.type} (activations "
                      f"{estimate['activations'] / gb:.1f} GB at batch {batch}) and {free / gb:.1f} GB are free; "
                      f"use {' or '.join(advice)}.")


def _remask(components: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Zero each channel component outside its own channels again after augmentation.

    components: (B, K, C, h, w). A channel-wise jitter adds an offset to every channel, the
    zeroed ones too; this keeps component k a function of its own channels only.
    """
    if not config.groups:
        return components
    keep = deconstruct.channel_mask(config.groups, components.shape[2], components.device)
    return components * keep.to(components.dtype)


def pretrain(
    images: torch.Tensor,
    config: TrainConfig | None = None,
    probe_labels: dict[str, torch.Tensor] | None = None,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    callback: Callable[[SSLModel], dict] | None = None,
    callback_every: int = 1,
    masks: torch.Tensor | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    sync_batchnorm: bool = False,
) -> tuple[SSLModel, History]:
    """Pretrain a model on ``images`` (N, C, H, W) uint8 and return ``(model, history)``.

    Args:
        images: the training images; moved to the device once.
        config: the run; ``TrainConfig()`` when left out.
        probe_labels: optional ``{factor: labels (N,)}``; an online linear probe per factor
            is trained on detached features and its accuracy recorded each epoch.
        checkpoint: a ``.pt`` path; when it exists and holds a finished run of the same
            config, it is loaded instead of training; otherwise the run is saved there.
        checkpoint_every: also save the training state there every this many epochs
            (weights, optimiser, schedule, online probes, history and random state), for
            jobs that may be stopped.
        resume: go on from a stopped run's checkpoint: the run then ends exactly as an
            uninterrupted one would. Without it such a checkpoint is an error.
        device: ``None`` or ``"auto"`` chooses a GPU when there is one.
        progress: show a progress bar.
        callback: called with the model (in eval mode) before training and after every
            ``callback_every`` epochs and the last; what it returns (a dict, e.g. probe
            accuracies) is stored in ``history.curves`` with its ``epoch``.
        masks: (N, H, W) integer label maps of the images, for ``config.mask_labels``
            (component k of an image is its pixels of label k). A label absent from an
            image gives it an all-zero component k; a warning says how many, and the loss
            registers chunk k of such images to the embedding of an empty image.
        sync_batchnorm: in a distributed run (``torchrun``, :mod:`splicer_tutorial.distributed`),
            compute BatchNorm statistics over the global batch. There each process keeps
            its shard of the images (every N-th, the same number on each), all draw the
            same seeded order, each trains on its slice of every global batch
            (``config.batch_size`` must divide by N) with augmentations of its own, inside
            ``DistributedDataParallel``; only rank 0 saves checkpoints.
    """
    config = config or TrainConfig()
    images = _as_uint8_images(images)
    masks = _check_masks(masks, images, config)
    if config.variant != "baseline" and len(images):  # components that do not fit these images: an error now
        config.split(images[:1].float() / 255, None if masks is None else masks[:1])
    device = config_module.resolve_device(device)
    if checkpoint_every is not None and (checkpoint is None or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every={checkpoint_every!r} needs checkpoint= (a .pt path) and a value >= 1.")
    stopped = None
    if checkpoint is not None and Path(checkpoint).exists():
        saved = torch.load(Path(checkpoint), map_location="cpu", weights_only=False)
        if saved.get("training") is None:  # a finished run
            model, history = load_checkpoint(checkpoint, expected=config, in_channels=images.shape[1])
            return model.to(device), history
        if not resume:
            raise ValueError(f"checkpoint {checkpoint} holds a run stopped after epoch {saved['training']['epoch']}; "
                             "pass resume=True (run --resume) to go on from there, or delete it.")
        _check_saved_config(checkpoint, saved, config)
        stopped = saved

    estimate = None
    if config.backbone == "resnet18" or device.type == "cuda":  # the small ConvNet on a CPU always fits
        estimate = check_memory(config, images, masks, device)
    rank, world = distributed.rank_and_world()
    if sync_batchnorm and device.type != "cuda":
        raise ValueError("sync_batchnorm needs GPUs (PyTorch's SyncBatchNorm runs on CUDA only); drop it on the CPU.")
    probe_labels = dict(probe_labels or {})
    for factor, y in probe_labels.items():
        if len(y) != len(images):
            raise ValueError(f"probe_labels[{factor!r}] has {len(y)} labels for {len(images)} images; they must match.")
    classes = {factor: int(y.max()) + 1 for factor, y in probe_labels.items()}  # of all images, not one shard
    order_generator = None
    if world > 1:  # this process's shard: every world-th image, the same number on every process
        if config.batch_size % world:
            raise ValueError(f"batch_size={config.batch_size} does not divide among {world} processes; choose a "
                             f"multiple of {world}.")
        shard = slice(rank, len(images) // world * world, world)
        images, masks = images[shard], None if masks is None else masks[shard]
        probe_labels = {f: y[shard] for f, y in probe_labels.items()}
        order_generator = torch.Generator().manual_seed(config.seed)  # the same order on every process
    seed_everything(config.seed)
    model, loss_fn = build(config, images.shape[1])
    if world > 1 and sync_batchnorm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    augment = SSLAugment(
        config.augment, crop_scale=config.crop_scale, photometric_channels=config.photometric_channels
    ).to(device)
    train_step = _Step(model, loss_fn, augment, config)
    if world > 1:
        torch.manual_seed(config.seed * 1000 + rank + 1)  # augmentations of its own on each process
        train_step = nn.parallel.DistributedDataParallel(
            train_step, device_ids=[device.index] if device.type == "cuda" else None)
    data = images.to(device)
    masks = None if masks is None else masks.to(device)
    n = len(data)
    batch_size = min(config.batch_size // world, n)
    steps_per_epoch = n // batch_size
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.1
    )
    probes = _online_probes(model.encoder.out_dim, classes, device)
    probe_optimiser = torch.optim.Adam(probes.parameters(), lr=1e-2) if probes else None
    labels = {f: y.to(device) for f, y in (probe_labels or {}).items()}
    use_amp = config.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    history = History(
        online_probe={f: [] for f in labels},
        parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        estimated_memory_mb=None if estimate is None else estimate["total"] / 2**20,
    )

    callback_s = 0.0

    def call_back(epoch: int) -> None:
        nonlocal callback_s
        if callback is not None:
            began = time.perf_counter()
            model.eval()
            history.curves.append({"epoch": epoch, **callback(model)})
            model.train()
            callback_s += time.perf_counter() - began

    first_epoch = 0
    if stopped is not None:  # go on where the stopped run was, in the state it was in
        first_epoch, earlier_s = _restore(stopped, model, optimiser, schedule, probes, probe_optimiser, history,
                                          order_generator)
        callback_s -= earlier_s  # the time trained before the stop counts in wall_s
    start = time.perf_counter()
    if stopped is None:
        call_back(0)
    model.train()
    bar = tqdm(range(first_epoch, config.epochs), desc=f"{config.method}/{config.variant}",
               disable=not progress or rank != 0, initial=first_epoch, total=config.epochs)
    for epoch in bar:
        epoch_start = time.perf_counter()
        if order_generator is None:
            order = torch.randperm(n, device=device)
        else:
            order = torch.randperm(n, generator=order_generator).to(device)
        epoch_losses, correct = [], {f: 0 for f in labels}
        for step in range(steps_per_epoch):
            index = order[step * batch_size : (step + 1) * batch_size]
            x = data[index].float() / 255
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss, features = train_step(x, None if masks is None else masks[index])
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss.item()} at epoch {len(history.epoch_loss)}, step {step}; "
                    "lower lr or raise temperature."
                )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            history.loss.append(loss.item())
            epoch_losses.append(history.loss[-1])
            if probes:
                probe_loss = 0.0
                for key, head in probes.items():
                    factor = key.removeprefix("factor:")
                    logits = head(features.detach().float())
                    probe_loss = probe_loss + nn.functional.cross_entropy(logits, labels[factor][index])
                    correct[factor] += (logits.argmax(1) == labels[factor][index]).sum().item()
                probe_optimiser.zero_grad(set_to_none=True)
                probe_loss.backward()
                probe_optimiser.step()
        history.epoch_loss.append(float(np.mean(epoch_losses)))
        for factor in labels:
            history.online_probe[factor].append(correct[factor] / (steps_per_epoch * batch_size))
        bar.set_postfix(loss=f"{history.epoch_loss[-1]:.3f}")
        history.epoch_s.append(time.perf_counter() - epoch_start)
        if (epoch + 1) % callback_every == 0 or epoch + 1 == config.epochs:
            call_back(epoch + 1)
        if checkpoint_every and (epoch + 1) % checkpoint_every == 0 and epoch + 1 < config.epochs:
            history.wall_s = time.perf_counter() - start - callback_s
            random_state = _random_state(order_generator)  # every process's, in a distributed run
            if rank == 0:
                save_checkpoint(checkpoint, model, config, history, training={
                    "epoch": epoch + 1, "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
                    "probes": probes.state_dict(),
                    "probe_optimiser": probe_optimiser.state_dict() if probe_optimiser else None,
                    "random": random_state})
    history.wall_s = time.perf_counter() - start - callback_s
    history.images_per_s = config.epochs * steps_per_epoch * batch_size * world / history.wall_s
    if device.type == "cuda":
        history.peak_memory_mb = torch.cuda.max_memory_allocated(device) / 2**20
    model.eval()
    if checkpoint is not None and rank == 0:
        save_checkpoint(checkpoint, model, config, history)
    return model, history


class _Step(nn.Module):
    """One training step as a module (:func:`training_step`), so that
    ``DistributedDataParallel`` can wrap it: its forward returns (loss, features)."""

    def __init__(self, model: SSLModel, loss_fn: nn.Module, augment: SSLAugment, config: TrainConfig) -> None:
        super().__init__()
        self.model, self.loss_fn, self.augment, self.config = model, loss_fn, augment, config

    def forward(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return training_step(self.model, self.loss_fn, self.augment, x, self.config, masks)


def _online_probes(dim: int, classes: dict[str, int], device: torch.device) -> nn.ModuleDict:
    """A linear head per factor (``classes``: its number of classes) on detached features."""
    heads = nn.ModuleDict()
    for factor, count in classes.items():
        heads[f"factor:{factor}"] = nn.Linear(dim, count)  # any factor name, "type" and "train" too
    return heads.to(device)


def save_checkpoint(path: str | Path, model: SSLModel, config: TrainConfig, history: History,
                    training: dict | None = None) -> None:
    """Save the weights, the config and the history to ``path``, atomically
    (:func:`splicer_tutorial.files.write_atomically`); ``training``: the state of a run
    stopped midway (epoch, optimiser, schedule, online probes, random state), for
    ``pretrain(resume=True)``; ``None`` for a finished run."""
    state = {
        "config": config.to_dict(),
        "in_channels": _in_channels(model),
        "model": model.state_dict(),
        "history": history.to_dict(),
        "training": training,
    }
    write_atomically(path, lambda temporary: torch.save(state, temporary))


def _random_state(order_generator: torch.Generator | None = None) -> dict | list[dict]:
    """The random state to save: this process's generators, or, in a distributed run (with
    its shared ``order_generator``), a list of every process's, in rank order."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    if order_generator is None:
        return state
    every: list = [None] * distributed.rank_and_world()[1]
    torch.distributed.all_gather_object(every, {**state, "order": order_generator.get_state()})
    return every


def _check_saved_config(path, saved: dict, config: TrainConfig) -> None:
    """A one-line error when a checkpoint holds another run than ``config``."""
    before, now = TrainConfig(**saved["config"]).to_dict(), config.to_dict()  # fields added since: defaults
    if before != now:
        differ = {k: (v, now[k]) for k, v in before.items() if v != now[k]}
        raise ValueError(f"checkpoint {path} holds a different run (saved vs asked: {json.dumps(differ, default=str)}); "
                         "delete it or pass another checkpoint path.")


def _restore(saved: dict, model, optimiser, schedule, probes, probe_optimiser, history: History,
             order_generator: torch.Generator | None = None) -> tuple[int, float]:
    """Put a stopped run's state back; returns the epoch to go on from and the seconds trained."""
    training = saved["training"]
    model.load_state_dict(saved["model"])
    optimiser.load_state_dict(training["optimiser"])
    schedule.load_state_dict(training["schedule"])
    probes.load_state_dict(training["probes"])
    if probe_optimiser is not None:
        probe_optimiser.load_state_dict(training["probe_optimiser"])
    for name, value in saved["history"].items():
        setattr(history, name, value)
    state = training["random"]
    if isinstance(state, list):  # a distributed run's: this process's, and the shared order
        if order_generator is None or len(state) != distributed.rank_and_world()[1]:
            raise ValueError(f"this checkpoint was saved by a run on {len(state)} processes; resume it on as many "
                             "(torchrun --nproc_per_node N).")
        state = state[distributed.rank_and_world()[0]]
        order_generator.set_state(state["order"])
    elif order_generator is not None:
        raise ValueError("this checkpoint was saved by a run on one process; resume it on one process.")
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    return training["epoch"], float(saved["history"]["wall_s"])


def _in_channels(model: SSLModel) -> int:
    first_conv = next(m for m in model.encoder.modules() if isinstance(m, nn.Conv2d))
    return first_conv.in_channels


def load_checkpoint(
    path: str | Path, expected: TrainConfig | None = None, in_channels: int = 3
) -> tuple[SSLModel, History]:
    """Load a run saved by :func:`save_checkpoint`; with ``expected``, insist on the same config."""
    state = torch.load(Path(path), map_location="cpu", weights_only=False)
    config = TrainConfig(**state["config"])
    if expected is not None:
        _check_saved_config(path, state, expected)
    saved_channels = state.get("in_channels", in_channels)
    if saved_channels != in_channels:
        raise ValueError(
            f"checkpoint {path} was trained on {saved_channels}-channel images, but these have "
            f"{in_channels}; pass another checkpoint path."
        )
    model, _ = build(config, in_channels)
    model.load_state_dict(state["model"])
    model.eval()
    return model, History(**state["history"])
