"""Multi-process training helpers: ``torchrun`` environment, gradient averaging, a resumable sampler.

The official code trains with ``nn.DataParallel`` on two GPUs (``SPSR_REFERENCE.md`` §3, §5.7). Here one
process per device is started by ``torchrun`` (gloo on CPU, nccl on CUDA). Gradients are averaged with an
explicit bucketed ``all_reduce`` after each backward instead of a ``DistributedDataParallel`` wrapper:
the branch pre-train phase (§5.5) toggles ``requires_grad`` on parts of G mid-run, which DDP's reducer
does not support, and averaging the gradients of a per-rank mean loss over equal per-rank batches is
exactly the gradient of the global-batch mean. Batch statistics (the discriminators' BatchNorm, the
RaGAN batch means) stay per rank, as the official per-GPU DataParallel replicas had them, unless
``discriminator.sync_bn`` is set (CUDA only).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

BUCKET_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1), else a no-op."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank)


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if not info.enabled:
        return
    for t in itertools.chain(module.parameters(), module.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(params: Iterable[torch.nn.Parameter], info: DistInfo) -> None:
    """All-reduce the ``.grad`` of ``params`` (those that have one) and divide by the world size.

    Every rank must hold gradients for the same parameters, which holds because the ``requires_grad``
    pattern of each step is a function of the step number only.
    """
    if not info.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    bucket: list[torch.Tensor] = []
    size = 0
    for g in grads:
        bucket.append(g)
        size += g.numel() * g.element_size()
        if size >= BUCKET_BYTES:
            _reduce_bucket(bucket, info.world_size)
            bucket, size = [], 0
    if bucket:
        _reduce_bucket(bucket, info.world_size)


def _reduce_bucket(bucket: list[torch.Tensor], world: int) -> None:
    flat = torch.cat([g.reshape(-1) for g in bucket])
    dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for g in bucket:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can start mid-epoch: the data order of a resumed run is unchanged.

    The order of epoch ``e`` is ``torch.randperm`` seeded with ``seed + e`` (as DistributedSampler),
    strided over ranks; ``start`` skips the samples this rank already consumed in that epoch. It yields
    ``(epoch, index)`` pairs, which :class:`spsr_lib.data.paired.PairedImageDataset` accepts as indices.
    """

    def __init__(self, dataset, info: DistInfo, seed: int, shuffle: bool = True) -> None:
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed,
                         drop_last=False)
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        # (epoch, index): the dataset draws its crop/flip randomness from these, so persistent DataLoader
        # workers (which never see set_epoch) still produce the samples of the right epoch
        epoch = self.epoch
        return ((epoch, i) for i in itertools.islice(super().__iter__(), self.start, None))

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)
