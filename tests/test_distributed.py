"""Tests of splicer_tutorial.distributed: two CPU processes (gloo) against one.

The gradient tests give each rank *different* inputs: with the same inputs on every rank, a
gather that drops the gradient through the other ranks' embeddings gives the right answer by
accident, and the bug goes unseen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from splicer_tutorial import distributed
from splicer_tutorial.losses import make_loss
from splicer_tutorial.training import TrainConfig, pretrain

WORLD = 2
BATCH = 8  # the global batch: 4 per rank


def _losses() -> dict[str, tuple[nn.Module, bool]]:
    """The losses to check, and whether they take components."""
    return {"nt_xent": (make_loss("simclr", "baseline", 2, 0.2), False),
            "vicreg": (make_loss("vicreg", "baseline", 2, 0.2), False),
            "splicer": (make_loss("simclr", "splicer", 2, 0.2), True)}


class Toy(nn.Module):
    """Two views' embeddings (B, 8) and two components' (B, 2, 4) from inputs (B, 6)."""

    def __init__(self) -> None:
        super().__init__()
        self.project, self.components = nn.Linear(6, 8), nn.Linear(6, 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.project(x), self.project(x.flip(1)), self.components(x).unflatten(1, (2, 4))


def _inputs() -> torch.Tensor:
    return torch.randn(BATCH, 6, generator=torch.Generator().manual_seed(1))


def _grads(model: nn.Module) -> list[torch.Tensor]:
    """Every parameter's gradient; zeros for one the loss does not use (a baseline's component layer)."""
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]


def _step(model: nn.Module, loss_fn: nn.Module, with_components: bool, x: torch.Tensor) -> torch.Tensor:
    z1, z2, parts = model(x)
    z1, z2 = distributed.gather(z1), distributed.gather(z2)
    return loss_fn([z1, z2], distributed.gather(parts)) if with_components else loss_fn(z1, z2)


def _gradient_worker(rank: int, rendezvous: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    x = _inputs()[rank * BATCH // WORLD:(rank + 1) * BATCH // WORLD]  # a different slice on each rank
    found = {}
    for name, (loss_fn, with_components) in _losses().items():
        torch.manual_seed(0)
        # the baselines leave the component layer unused: DDP must be told, or it averages nothing
        model = nn.parallel.DistributedDataParallel(Toy(), find_unused_parameters=not with_components)
        loss = _step(model, loss_fn, with_components, x)
        loss.backward()
        found[name] = {"loss": loss.item(), "grads": _grads(model)}
    # the known bug, for contrast: negatives gathered without their gradient
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(Toy(), find_unused_parameters=True)
    z1, z2, _ = model(x)

    def gather_without_gradient(z: torch.Tensor) -> torch.Tensor:
        copies = [torch.empty_like(z) for _ in range(WORLD)]
        dist.all_gather(copies, z.detach())
        copies[rank] = z
        return torch.cat(copies)

    make_loss("simclr", "baseline", 2, 0.2)(gather_without_gradient(z1), gather_without_gradient(z2)).backward()
    found["dropped"] = {"grads": _grads(model)}
    torch.save(found, f"{out}.{rank}")
    dist.destroy_process_group()


def test_two_processes_give_one_process_loss_and_gradients(tmp_path: Path) -> None:
    mp.spawn(_gradient_worker, args=(str(tmp_path / "rendezvous"), str(tmp_path / "out")), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"out.{r}") for r in range(WORLD)]
    for name, (loss_fn, with_components) in _losses().items():
        torch.manual_seed(0)
        model = Toy()
        loss = _step(model, loss_fn, with_components, _inputs())  # one process, the whole global batch
        loss.backward()
        for rank in ranks:
            assert rank[name]["loss"] == pytest.approx(loss.item(), abs=1e-5), name
            for got, expected in zip(rank[name]["grads"], _grads(model)):
                torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5, msg=name)
        if name == "nt_xent":  # and the test would see a gather that drops the gradient of the negatives
            assert not all(torch.allclose(got, expected, atol=1e-5)
                           for got, expected in zip(ranks[0]["dropped"]["grads"], _grads(model)))


def test_outside_torchrun_nothing_changes() -> None:
    z = torch.randn(3, 2)
    assert distributed.rank_and_world() == (0, 1) and distributed.is_main() and distributed.gather(z) is z
    assert distributed.init_from_env("cpu") == "cpu"
    with pytest.raises(ValueError, match="sync_batchnorm needs GPUs"):
        pretrain(_images()[0], TrainConfig(**CONFIG), device="cpu", progress=False, sync_batchnorm=True)


def _images(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (n, 3, 8, 8) whose brightness encodes a 4-class label: a task every run solves."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 4
    images = labels[:, None, None, None] * 50 + torch.randint(0, 40, (n, 3, 8, 8), generator=g)
    return images.to(torch.uint8), labels


CONFIG = dict(width=4, proj_dim=16, hidden_dim=32, batch_size=16, epochs=2, lr=1e-2, temperature=0.5,
              variant="splicer", sections=(1, 2))


def _pretrain_worker(rank: int, rendezvous: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    images, labels = _images()
    model, history = pretrain(images, TrainConfig(**CONFIG), probe_labels={"label": labels}, device="cpu",
                              progress=False)
    if rank == 0:
        torch.save({"state": model.state_dict(), "loss": history.epoch_loss}, out)
    dist.destroy_process_group()


def test_a_two_process_pretrain_ends_like_a_one_process_one(tmp_path: Path) -> None:
    """Both train on the same images with the same global batch and seed, but each process draws
    its own augmentations, so the runs are two draws of one training, not one computation:
    their losses and probes agree within what two seeds of it differ by (0.1 here, on a task
    where every probe reads the label almost perfectly), not to 1e-5."""
    from splicer_tutorial import probes
    from splicer_tutorial.training import build

    mp.spawn(_pretrain_worker, args=(str(tmp_path / "rendezvous"), str(tmp_path / "two.pt")), nprocs=WORLD, join=True)
    saved = torch.load(tmp_path / "two.pt")
    two, _ = build(TrainConfig(**CONFIG))
    two.load_state_dict(saved["state"])
    images, labels = _images()
    one, history = pretrain(images, TrainConfig(**CONFIG), device="cpu", progress=False)
    accuracy = {}
    for name, model in (("one", one), ("two", two.eval())):
        features = probes.extract_features(model.encoder, images)
        accuracy[name] = probes.linear_probe(features[:32], labels[:32].numpy(), features[32:], labels[32:].numpy())
    assert accuracy["one"] > 0.9 and abs(accuracy["two"] - accuracy["one"]) <= 0.1
    assert abs(saved["loss"][-1] - history.epoch_loss[-1]) <= 0.1 * history.epoch_loss[-1]


def test_torchrun_runs_the_command_line_on_two_processes_and_rank_0_writes(tmp_path: Path) -> None:
    images, labels = _images(48)
    np.savez(tmp_path / "own.npz", images=images.numpy(), labels=labels.numpy())
    out = tmp_path / "run.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         "-m", "splicer_tutorial", "run", "--dataset", f"npz:{tmp_path / 'own.npz'}", "--epochs", "1", "--width", "4",
         "--batch-size", "16", "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("wrote ") == 1, "only rank 0 writes"
    result = json.loads(out.read_text())
    assert 0 <= result["probes"]["all"]["label"] <= 1


def _resume_worker(rank: int, rendezvous: str, folder: str) -> None:
    from splicer_tutorial import training

    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    images, labels = _images()
    config = TrainConfig(**{**CONFIG, "epochs": 3})
    whole, _ = pretrain(images, config, probe_labels={"label": labels}, device="cpu", progress=False)
    path = Path(folder) / "run.pt"
    save, state = training.save_checkpoint, training._random_state
    calls = []

    def saved_then_killed(*args, training=None, **kwargs):  # rank 0 writes the second checkpoint, then stops
        save(*args, training=training, **kwargs)
        if training is not None and training["epoch"] == 2:
            raise KeyboardInterrupt

    def gathered_then_killed(*args):  # every rank stops at the same point: after the second gather
        calls.append(1)
        out = state(*args)
        if rank != 0 and len(calls) == 2:
            raise KeyboardInterrupt
        return out

    training.save_checkpoint, training._random_state = saved_then_killed, gathered_then_killed
    try:
        pretrain(images, config, probe_labels={"label": labels}, checkpoint=path, checkpoint_every=1, device="cpu",
                 progress=False)
    except KeyboardInterrupt:
        pass
    training.save_checkpoint, training._random_state = save, state
    dist.barrier()  # the checkpoint is written
    resumed, _ = pretrain(images, config, probe_labels={"label": labels}, checkpoint=path, checkpoint_every=1,
                          resume=True, device="cpu", progress=False)
    same = all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))
    torch.save(same, Path(folder) / f"same.{rank}")
    dist.destroy_process_group()


def test_a_two_process_run_stopped_and_resumed_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    """Every process's random state and the shared order are saved, so resuming on as many
    processes repeats the uninterrupted run bit for bit."""
    mp.spawn(_resume_worker, args=(str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=WORLD, join=True)
    assert [torch.load(tmp_path / f"same.{r}") for r in range(WORLD)] == [True, True]
