"""Benchmark: where the time of a pretraining step goes, on the current device.

:func:`run_bench` measures, in one run and on one device, source images per second of

* augmentation alone, two views: kornia's generic ``AugmentationSequential`` (the
  baseline), and this package's batched pipeline (:class:`~splicer_tutorial.augment.SSLAugment`);
* augmentation and deconstruction for a SpliCER step (two views plus two zero-filled halves);
* whole training steps (forward, backward, optimiser): SimCLR without augmentation (the
  network-bound limit), SimCLR with each pipeline, and SpliCER with two sections
  (zero-filled and cropped) and with one component per channel;
* the settings that may make a step faster, each a change to the SimCLR step: the network
  in ``channels_last`` memory format, a fused AdamW step, and on a GPU the encoder
  compiled with ``torch.compile`` (whose compile time is paid once per run: the result
  says after how many steps it pays back);

with peak GPU memory and the first call's seconds per measurement, and the ratios the
performance chapter discusses.
``python -m splicer_tutorial bench --out results/bench-<device>.json`` writes it as JSON.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import kornia.augmentation as K
import torch
from torch import nn

from . import config as config_module
from . import results as results_module
from .augment import SSLAugment
from .training import TrainConfig, build, training_step

#: The settings of each mode. ``full`` is the setting of the project's reference GPU measurement.
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"batch_size": 128, "image_size": (32, 16), "backbone": "convnet", "width": 16, "steps": 3, "warmup": 1},
    "full": {"batch_size": 512, "image_size": (64, 32), "backbone": "resnet18", "width": None, "steps": 20,
             "warmup": 5},
}


class KorniaAugment(nn.Module):
    """The baseline: the same SimCLR augmentations through kornia's ``AugmentationSequential``.

    x: (B, 3, H, W) -> (B, 3, H, W), a pipeline built per image size; ``with_components``
    augments components independently.
    """

    def __init__(self, crop_scale: tuple[float, float] = (0.25, 1.0)) -> None:
        super().__init__()
        self.crop_scale = crop_scale
        self.pipelines: dict[tuple[int, int], K.AugmentationSequential] = {}

    def pipeline(self, size: tuple[int, int]) -> K.AugmentationSequential:
        if size not in self.pipelines:
            aspect = size[1] / size[0]
            self.pipelines[size] = K.AugmentationSequential(
                K.RandomResizedCrop(size, scale=self.crop_scale, ratio=(aspect * 3 / 4, aspect * 4 / 3)),
                K.RandomHorizontalFlip(),
                K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
                K.RandomGrayscale(p=0.2),
            )
        return self.pipelines[size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pipeline(tuple(x.shape[-2:]))(x)

    def with_components(self, x: torch.Tensor, components: torch.Tensor, same_geometry: bool = False):
        return self(x), self(components.flatten(0, 1)).reshape(components.shape)


class NoAugment(nn.Module):
    """No augmentation at all: the views are the images (the network-bound limit)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def with_components(self, x: torch.Tensor, components: torch.Tensor, same_geometry: bool = False):
        return x, components


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_it(work: Callable[[], Any], device: torch.device, steps: int, warmup: int) -> dict[str, float | None]:
    """Seconds per call of ``work`` (after ``warmup`` calls), its peak GPU memory, and the
    seconds of the first warm-up call (``first_call_s``: compilation and other one-off costs
    included; None without warm-up)."""
    first = None
    for i in range(warmup):
        start = time.perf_counter()
        work()
        if i == 0:
            _synchronize(device)
            first = time.perf_counter() - start
    _synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        work()
    _synchronize(device)
    seconds = (time.perf_counter() - start) / steps
    memory = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"seconds_per_batch": seconds, "peak_memory_mb": memory, "first_call_s": first}


def _step(config: TrainConfig, augment: nn.Module, x: torch.Tensor, device: torch.device, amp: bool,
          channels_last: bool = False, fused: bool = False, compiled: bool = False) -> Callable:
    """One whole training step of ``config`` on the batch x, as a function of nothing: the
    network in ``channels_last`` memory format, with a ``fused`` AdamW step, or with its
    encoder ``compiled`` (``torch.compile``) when asked."""
    model, loss_fn = build(config, x.shape[1])
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if compiled:
        model.encoder.compile()
    augment.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True if fused else None)

    def step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss, _ = training_step(model, loss_fn, augment, x, config)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return loss.detach()

    return step


def run_bench(
    mode: str | None = None,
    device: str | torch.device | None = None,
    command: list[str] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Measure every pipeline of the module docstring; returns a JSON-ready dict.

    Args:
        mode: ``fast`` (a small network and batch; seconds on a CPU) or ``full`` (batch 512,
            3x64x32, ResNet-18: the GPU setting).
        device: ``None`` or ``"auto"`` chooses a GPU when there is one.
        **overrides: any setting of :data:`PRESETS` (``batch_size``, ``image_size``,
            ``backbone``, ``width``, ``steps``, ``warmup``).

    Returns ``settings``, provenance (``command``, ``device``, ``versions``, ``date``),
    ``measurements`` (``{name: {images_per_s, seconds_per_batch, peak_memory_mb}}``) and
    ``ratios``.
    """
    mode = config_module.mode(mode)
    unknown = sorted(set(overrides) - set(PRESETS[mode]))
    if unknown:
        raise ValueError(f"unknown bench settings {unknown}; known: {sorted(PRESETS[mode])}.")
    settings = {**PRESETS[mode], **{k: v for k, v in overrides.items() if v is not None}}
    if settings["batch_size"] < 2 or settings["steps"] < 1 or settings["warmup"] < 0:
        raise ValueError(f"batch_size must be >= 2, steps >= 1 and warmup >= 0; got {settings}.")
    device = config_module.resolve_device(device)
    amp = device.type == "cuda"
    height, width = settings["image_size"]
    batch = settings["batch_size"]
    torch.manual_seed(0)
    x = torch.rand(batch, 3, height, width, device=device)
    ours, kornia_pipeline = SSLAugment("rgb").to(device), KorniaAugment().to(device)
    two = x.repeat(2, 1, 1, 1)
    network = {"backbone": settings["backbone"], "width": settings["width"], "batch_size": batch}
    splicer = TrainConfig(variant="splicer", **network)
    jobs: dict[str, Callable[[], Any]] = {
        "augment, kornia AugmentationSequential": lambda: kornia_pipeline(two),
        "augment, ours": lambda: ours(two),
        "augment + deconstruct, SpliCER 2 sections": lambda: (
            ours.with_components(x, splicer.split(x)), ours(x)),
    }
    steps = {
        "step, SimCLR without augmentation": (TrainConfig(**network), NoAugment()),
        "step, SimCLR, kornia augmentation": (TrainConfig(**network), kornia_pipeline),
        "step, SimCLR": (TrainConfig(**network), ours),
        "step, SpliCER 2 sections, zero-fill": (splicer, ours),
        "step, SpliCER 2 sections, crop": (TrainConfig(variant="splicer", fill="crop", **network), ours),
        "step, SpliCER 3 channel groups": (
            # proj_dim 129: the nearest to 128 that divides into 3 chunks
            TrainConfig(variant="splicer", groups=((0,), (1,), (2,)), proj_dim=129, augment="channels", **network),
            SSLAugment("channels").to(device)),
    }
    for name, (config, augment) in steps.items():
        jobs[name] = _step(config, augment, x, device, amp)
    jobs["step, SimCLR, channels_last"] = _step(TrainConfig(**network), ours, x, device, amp, channels_last=True)
    jobs["step, SimCLR, fused AdamW"] = _step(TrainConfig(**network), ours, x, device, amp, fused=True)
    if device.type == "cuda":  # on a CPU, torch.compile needs a C++ toolchain and is not what full runs use
        jobs["step, SimCLR, compiled encoder"] = _step(TrainConfig(**network), ours, x, device, amp, compiled=True)
    measurements = {}
    for name, work in jobs.items():
        timing = time_it(work, device, settings["steps"], settings["warmup"])
        measurements[name] = {"images_per_s": batch / timing["seconds_per_batch"], **timing}
        if progress:
            print(f"{name:45s} {measurements[name]['images_per_s']:>10,.0f} images/s")
    rate = {name: m["images_per_s"] for name, m in measurements.items()}
    ratios = {
        "augment: ours / kornia": rate["augment, ours"] / rate["augment, kornia AugmentationSequential"],
        "SimCLR step / limit": rate["step, SimCLR"] / rate["step, SimCLR without augmentation"],
        "SimCLR step with kornia / limit": (
            rate["step, SimCLR, kornia augmentation"] / rate["step, SimCLR without augmentation"]),
        "SpliCER crop step / SimCLR step": rate["step, SpliCER 2 sections, crop"] / rate["step, SimCLR"],
        "SpliCER zero-fill step / SimCLR step": rate["step, SpliCER 2 sections, zero-fill"] / rate["step, SimCLR"],
        "SimCLR channels_last / SimCLR": rate["step, SimCLR, channels_last"] / rate["step, SimCLR"],
        "SimCLR fused AdamW / SimCLR": rate["step, SimCLR, fused AdamW"] / rate["step, SimCLR"],
    }
    if "step, SimCLR, compiled encoder" in rate:
        ratios["SimCLR compiled / SimCLR"] = rate["step, SimCLR, compiled encoder"] / rate["step, SimCLR"]
        ratios["steps for torch.compile to pay back"] = compile_payback(
            measurements["step, SimCLR"], measurements["step, SimCLR, compiled encoder"])
    return {
        "mode": mode,
        "settings": {**settings, "image_size": list(settings["image_size"]), "amp": amp},
        **results_module.provenance(device, command),
        "measurements": measurements,
        "ratios": ratios,
    }


def compile_payback(plain: dict[str, Any], compiled: dict[str, Any]) -> float | None:
    """After how many steps a compiled step's one-off cost (its first call's extra seconds)
    is paid back by its faster steps; None when the compiled step is not faster (it never
    pays) or either first call is unknown. Compare with a run's steps (epochs x batches)."""
    saved = plain["seconds_per_batch"] - compiled["seconds_per_batch"]
    if saved <= 0 or plain["first_call_s"] is None or compiled["first_call_s"] is None:
        return None
    return max(compiled["first_call_s"] - plain["first_call_s"], 0.0) / saved


def markdown_table(result: dict[str, Any]) -> str:
    """A benchmark result as two Markdown tables: the measurements, then the ratios."""
    rows = ["| measurement | images / s | peak GPU memory |", "|---|---|---|"]
    for name, m in result["measurements"].items():
        memory = f"{m['peak_memory_mb']:.0f} MB" if m["peak_memory_mb"] else "–"
        rows.append(f"| {name} | {m['images_per_s']:,.0f} | {memory} |")
    rows += ["", "| ratio | value |", "|---|---|"]
    rows += [f"| {name} | {'– (never)' if value is None else f'{value:.2f}'} |" for name, value in result["ratios"].items()]
    return "\n".join(rows)
