"""torch.distributed for one run over several processes (``torchrun``): the process group, gathering a
batch with gradients, BatchNorm over the global batch, and small collectives the run needs.

A process is part of a distributed run when torchrun's environment says so (``WORLD_SIZE`` > 1, with
``RANK`` and ``LOCAL_RANK``): :func:`dist_env` reads it, :func:`init_distributed` joins the group
(NCCL on CUDA, gloo on CPU). Outside such a run every helper here is a no-op for one process.
"""
from __future__ import annotations

import atexit
import datetime
import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistEnv", "dist_env", "init_distributed", "shutdown_distributed", "gather_batch", "gather_values",
           "broadcast_object", "gather_objects", "average_gradients", "barrier", "GlobalBatchNorm",
           "convert_sync_batchnorm", "broadcast_buffers", "split_sizes"]

#: Seconds a collective waits for the other processes (encoding a large database on rank 0 included).
TIMEOUT_ENV = "HASHBENCH_DIST_TIMEOUT"


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands: ``rank`` of ``world_size`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether this is a distributed run (more than one process)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes (run directory, checkpoints, logs, results rows)."""
        return self.rank == 0


def dist_env() -> DistEnv:
    """This process's place, from torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (1 process without)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistEnv()
    return DistEnv(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(env: DistEnv, device: torch.device) -> torch.device:
    """Join the process group of a distributed run; returns the device this process uses.

    CUDA: ``cuda:LOCAL_RANK`` and NCCL; otherwise the CPU and gloo. A no-op for one process.
    """
    if not env.enabled:
        return device
    if device.type == "cuda":
        if env.local_rank >= torch.cuda.device_count():
            from ..errors import ResourceError

            raise ResourceError(f"process {env.rank} (local rank {env.local_rank}) has no GPU: this node has"
                                f" {torch.cuda.device_count()}; start at most that many processes per node")
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "1800")))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
        atexit.register(shutdown_distributed)  # one group for every run of the process (sweep points)
    return device


def shutdown_distributed() -> None:
    """Leave the process group (if joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every process (no-op for one)."""
    if _active():
        dist.barrier()


def split_sizes(total: int, parts: int) -> list[int]:
    """Sizes of ``total`` items split into ``parts`` contiguous shares (as ``numpy.array_split``)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class _GatherBatch(torch.autograd.Function):
    """All-gather along dim 0 of shares of ``sizes`` rows; backward: the gradient of every process's copy
    summed (all-reduce), this process's rows returned (its own part of the global batch)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, sizes: tuple[int, ...], rank: int) -> torch.Tensor:
        ctx.sizes, ctx.rank = sizes, rank
        largest = max(sizes)
        padded = tensor.new_zeros((largest,) + tuple(tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None, None


def gather_batch(tensor: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """The global batch: every process's ``tensor`` (``sizes[r]`` rows on rank ``r``) concatenated in rank
    order. Gradients flow back to each process's own rows, summed over the processes' losses, so that
    DDP's gradient average gives the gradient of the (common) global loss. Integer tensors: no gradient."""
    if not _active():
        return tensor
    if not tensor.requires_grad:
        with torch.no_grad():
            return _GatherBatch.apply(tensor, tuple(int(s) for s in sizes), dist.get_rank())
    return _GatherBatch.apply(tensor, tuple(int(s) for s in sizes), dist.get_rank())


def gather_values(value: float, device: torch.device) -> list[float]:
    """One float from every process, in rank order (``[value]`` for one process)."""
    if not _active():
        return [float(value)]
    local = torch.tensor([float(value)], dtype=torch.float64, device=device)
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local)
    return [float(p.item()) for p in parts]


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every process (picklable objects)."""
    if not _active():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` in rank order (picklable; large numpy arrays are fine)."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def average_gradients(parameters: Sequence[torch.nn.Parameter]) -> None:
    """Average the gradients of ``parameters`` over the processes (those DDP does not own: a loss's own
    parameters). A parameter without a gradient counts as a zero gradient."""
    if not _active() or not parameters:
        return
    world = dist.get_world_size()
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad.div_(world)


def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process, e.g. before encoding."""
    if not _active():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


class _AllReduceSum(torch.autograd.Function):
    """Sum over the processes with gradients: the backward of a sum is the sum of the gradients."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.detach().clone().contiguous()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.detach().clone().contiguous()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch (every process's clips), on
    any device: sums and centred sums of squares are all-reduced with gradients. The same state dict as
    the BatchNorm it replaces; in eval mode (or one process) it is plain BatchNorm.

    Used for ``train.sync_bn`` where :class:`torch.nn.SyncBatchNorm` is unavailable (the CPU, gloo).
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (torch's name)
        if not (self.training and _active()):
            return super().forward(input)
        all_reduce = _AllReduceSum.apply
        self._check_input_dim(input)
        dims = [0] + list(range(2, input.dim()))
        shape = [1, -1] + [1] * (input.dim() - 2)
        count = torch.tensor([input.numel() / input.shape[1]], dtype=input.dtype, device=input.device)
        total_count = all_reduce(count.clone())
        mean = all_reduce(input.sum(dim=dims)) / total_count
        centred = input - mean.reshape(shape)
        var = all_reduce(centred.pow(2).sum(dim=dims)) / total_count
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr,operator]
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None  # type: ignore[arg-type]
                            else self.momentum)
                n = float(total_count.item())
                unbiased = var.detach() * (n / max(n - 1.0, 1.0))
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
        out = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of ``module`` made global-batch (``train.sync_bn``): :class:`torch.nn.SyncBatchNorm`
    on CUDA, :class:`GlobalBatchNorm` elsewhere. Parameters and buffers are kept (the same objects)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_global(module)


def _convert_global(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                out.bias = module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, _convert_global(child))
    return out
