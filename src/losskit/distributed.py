"""Global-batch helpers over ``torch.distributed`` (no-ops when no process group is initialised).

API (used by the losses' ``global_batch=True`` option):

* :func:`all_gather` — concatenate every rank's tensor along dim 0 (local sizes may differ), with
  gradients flowing back to each rank's own slice;
* :func:`all_reduce_sum` — differentiable sum of a tensor over ranks.

The full implementation (and the tests that start processes) is issue 6; this module fixes the API.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["all_gather", "all_reduce_sum", "is_distributed", "rank", "world_size"]


def is_distributed() -> bool:
    """Whether a default process group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def all_gather(x: Tensor) -> Tensor:
    """Every rank's ``x`` concatenated along dim 0 (in rank order); differentiable."""
    if not is_distributed():
        return x
    raise NotImplementedError("losskit.distributed.all_gather across processes is issue 6")


def all_reduce_sum(x: Tensor) -> Tensor:
    """The sum of ``x`` over ranks; differentiable."""
    if not is_distributed():
        return x
    raise NotImplementedError("losskit.distributed.all_reduce_sum across processes is issue 6")


_ = torch  # keeps the import for the implementation
