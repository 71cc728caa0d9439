"""Training on several processes (GPUs) with PyTorch's own launcher, ``torchrun``.

``torchrun --nproc_per_node N -m splicer_tutorial run ...`` starts N processes; each finds
its rank in the environment (:func:`init_from_env`), holds its shard of the training images
and trains on its slice of every global batch (:func:`splicer_tutorial.training.pretrain`),
wrapped in ``DistributedDataParallel``. Only rank 0 writes results, checkpoints and logs.

**The trap of contrastive losses.** SimCLR's negatives are the *other* images of the batch;
on N processes the batch is the union of N slices, so each process must see the embeddings
of all of them. :func:`gather` collects them with an all-gather whose backward pass sums the
gradient of every process's copy back to the process that computed the slice. Every process then computes the loss of the **whole global batch**
(the same number everywhere): the gradient arriving at a process's slice is N times that
slice's share, and DDP's averaging over N processes divides it back, so the parameters get
exactly the gradient a single process would compute on the global batch. A gather without
that backward (``torch.distributed.all_gather``) silently drops the gradient through the
negatives: 1- and N-process training then diverge, and a test with the same inputs on every
rank cannot see it (the tests here use different inputs per rank). VICReg's variance and
covariance terms are then computed over the global batch too, as they should be.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, the number of processes): (0, 1) outside a distributed run."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes results, checkpoints and logs (rank 0, or the only one)."""
    return rank_and_world()[0] == 0


class _GatherWithGradient(torch.autograd.Function):
    """All-gather whose backward pass sums every process's gradient of each slice and hands
    each process the sum for its own slice (an all-reduce, which gloo and NCCL both offer)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        copies = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(copies, t.contiguous())
        return torch.cat(copies)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # the sum over processes of the gradient of every slice
        return grad.chunk(dist.get_world_size())[dist.get_rank()]


def gather(t: torch.Tensor) -> torch.Tensor:
    """Every process's ``t`` (B, ...) concatenated in rank order (N * B, ...), with the
    gradient of each copy summed back to the process that computed it (module docstring).
    Every process must give the same B. Outside a distributed run, ``t`` itself."""
    if rank_and_world()[1] == 1:
        return t
    return _GatherWithGradient.apply(t)


def init_from_env(device: str | None = None) -> str | None:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE``
    above 1), and return the device this process trains on: ``cuda:<LOCAL_RANK>`` on a GPU
    machine (backend NCCL), else the CPU (backend gloo) or the ``device`` asked for.
    Outside ``torchrun``, does nothing and returns ``device``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_gpu = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if on_gpu:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    return f"cuda:{local_rank}" if on_gpu else (device or "cpu")


def finish() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
