r"""The lab on several processes: ``torchrun --nproc_per_node=K -m losskit compare ...`` (gloo on CPU).

Every rank holds the whole data set and draws the same batch order from the same seed. Each global mini-batch
is cut into ``K`` contiguous shards in rank order (:func:`shard_bounds`: uneven when ``K`` does not divide the
batch, empty when the batch has fewer rows than ranks); a rank runs its shard through the model wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, and :class:`GlobalBatchLoss` turns the shard's loss into
the loss of the **whole** mini-batch with :mod:`losskit.distributed`:

* ``"sum"`` (every loss of the lab's menu): the loss with ``reduction="sum"`` over the shard, divided by the
  global denominator of the loss's mean (:func:`mean_denominator`: the row count, or the sum of the targets'
  class weights for a class-weighted loss, summed over ranks) with :func:`losskit.distributed.global_mean`;
* ``"gather"`` (any other loss): the shard's outputs are gathered with the differentiable
  :func:`losskit.distributed.all_gather` and the loss runs on the whole mini-batch on every rank.

The strategy is picked once per run by a probe on the training targets that is the same on every rank, so the
ranks always agree. Either way the loss is the single-process one on every rank, backward sums the
gradients over ranks and DDP averages them: every rank holds the single-process gradient (the convention of
:mod:`losskit.distributed`), the optimizer steps agree, and so do the validation metrics, the early-stopping
epochs and the test metrics, up to float32 summation order.

Dropout: :class:`GlobalBatchDropout` replaces each ``nn.Dropout`` of the model; it draws the mask of the whole
mini-batch from the global generator, exactly as ``nn.Dropout`` does on one process, and keeps the shard's rows,
so the masks do not depend on the sharding. Other random layers and layers with batch statistics (BatchNorm)
see only the shard: with them the results agree only statistically.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import os
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from .. import _validation as V
from .. import distributed as lkd

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "DEFAULT_TIMEOUT",
    "TORCHRUN_VARIABLES",
    "DataParallelRun",
    "GlobalBatchDropout",
    "GlobalBatchLoss",
    "PeerLostError",
    "in_process_group",
    "is_main",
    "mean_denominator",
    "process_group",
    "shard_bounds",
]

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""What ``torchrun`` sets for every worker; with all of them present the lab joins the process group."""
DEFAULT_TIMEOUT = 300.0
"""Seconds a process waits for the others in a collective before the run ends (``compare --timeout``); torch's
own default is 30 minutes."""
PROBE_ROWS = 256
"""Rows of the probe that checks a loss's mean against ``sum / mean_denominator``."""


def in_process_group(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` inside :func:`process_group` (the decorator of :func:`losskit.lab.compare`)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with process_group():
            return fn(*args, **kwargs)

    return run


@contextlib.contextmanager
def process_group(timeout: float | None = None) -> Iterator[bool]:
    """Join the default process group (gloo) when started by ``torchrun`` with more than one process.

    Does nothing when a group is already initialised (the caller's is used, and kept) or when the torchrun
    variables are absent; a group created here is destroyed on exit. Yields whether several processes run.
    ``timeout`` (seconds, default :data:`DEFAULT_TIMEOUT`) bounds every collective of a group created here: a
    process that stops or dies ends the others' runs after it instead of torch's 30 minutes.
    """
    seconds = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    if not seconds > 0:
        raise V.LossValueError(f"process_group: timeout must be a positive number of seconds, but got {timeout!r}; "
                               f"pass e.g. --timeout {DEFAULT_TIMEOUT:g}")
    created = False
    if (dist.is_available() and not dist.is_initialized() and all(v in os.environ for v in TORCHRUN_VARIABLES)
            and int(os.environ["WORLD_SIZE"]) > 1):
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=seconds))
        created = True
    try:
        yield lkd.is_distributed()
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


class PeerLostError(RuntimeError):
    """Another process of the run stopped, died or did not answer within the timeout (``losskit compare``
    prints the message on one line and exits with code 1 on every rank that notices)."""

    user_facing = True
    exit_code = 1

    @classmethod
    @contextlib.contextmanager
    def translate(cls, timeout: float | None = None) -> Iterator[None]:
        """Turn a failed collective of a multi-process run into this error (other errors pass unchanged)."""
        try:
            yield
        except RuntimeError as err:
            if isinstance(err, cls) or not lkd.is_distributed() or not _is_comm_failure(err):
                raise
            seconds = DEFAULT_TIMEOUT if timeout is None else timeout
            detail = " ".join(str(err).split())
            detail = detail.rsplit("] ", 1)[-1][:160]  # gloo's message without its source location
            raise cls(f"compare: every process must answer within --timeout {seconds:g} s, but rank {lkd.rank()} of "
                      f"{lkd.world_size()} lost contact with another ({detail}); a process stopped or died: see its "
                      "own message, then rerun") from None


def _is_comm_failure(err: BaseException) -> bool:
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(err, dist_error):
        return True
    text = str(err).lower()
    return any(k in text for k in ("gloo", "timed out", "connection closed", "connection reset", "broken pipe"))


def is_main() -> bool:
    """Whether this process prints and writes: rank 0, or the only process."""
    return lkd.rank() == 0


def shard_bounds(rows: int, world: int, rank: int) -> tuple[int, int]:
    """``[start, stop)`` of ``rank``'s rows in a global batch of ``rows``: contiguous shards in rank order, the
    first ``rows % world`` ranks one row longer (``torch.tensor_split``'s rule); empty when ``rank >= rows``.

    Example:
        >>> from losskit.lab.ddp import shard_bounds
        >>> [shard_bounds(7, 3, r) for r in range(3)], shard_bounds(1, 2, 1)
        ([(0, 3), (3, 5), (5, 7)], (1, 1))
    """
    base, extra = divmod(rows, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class _Shard:
    """The current global mini-batch: its row count and this rank's ``[start, stop)``."""

    def __init__(self) -> None:
        self.rows, self.start, self.stop = 0, 0, 0

    def take(self, idx: Tensor) -> Tensor:
        """This rank's part of the global batch ``idx`` (and remember where it lies)."""
        self.rows = len(idx)
        self.start, self.stop = shard_bounds(self.rows, lkd.world_size(), lkd.rank())
        return idx[self.start : self.stop]


class GlobalBatchDropout(nn.Module):
    """``nn.Dropout`` whose mask does not depend on the sharding.

    In training it draws the mask of the whole global mini-batch, ``bernoulli(1 - p) / (1 - p)`` of shape
    ``(global rows, *x.shape[1:])`` from the global generator (the draw ``nn.Dropout`` makes on CPU on one
    process), and multiplies ``x`` by this rank's rows of it. Every rank draws the same masks in the same order,
    so the generator stays in step and the run equals the single-process one. An input whose first dimension is
    not this rank's batch falls back to ``F.dropout`` (statistically equal only).
    """

    def __init__(self, p: float, shard: _Shard) -> None:
        super().__init__()
        self.p = p
        self._shard = shard

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        shard = self._shard
        if x.dim() == 0 or x.shape[0] != shard.stop - shard.start:
            return F.dropout(x, self.p, True)
        if self.p == 1.0:
            return x * torch.zeros_like(x)
        mask = torch.empty((shard.rows, *x.shape[1:]), dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        mask.div_(1.0 - self.p)
        return x * mask[shard.start : shard.stop]

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _replace_dropout(model: nn.Module, shard: _Shard) -> int:
    """Swap every ``nn.Dropout`` (the class itself, not Dropout1d/2d/3d or AlphaDropout) in place; the count."""
    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Dropout:
                setattr(module, name, GlobalBatchDropout(child.p, shard))
                swapped += 1
    return swapped


def mean_denominator(loss_fn: nn.Module, head: str, target: Tensor) -> Tensor:
    """What a loss's ``"mean"`` divides its sum by on ``target`` (float64, no gradient).

    losskit's rule (:mod:`losskit._reduction`): with class indices (``head="logits"``) the sum of the targets'
    class weights ``weight[y]`` over the targets that are not ``ignore_index`` (their count without weights);
    with a per-element ``weight`` its sum broadcast to the target; else the element count.
    """
    if head == "ordinal":  # losskit.functional.coral_loss: a mean over the rows, threshold weights or not
        return torch.tensor(float(len(target)), dtype=torch.float64)
    if head == "quantiles":  # losskit.functional.quantile_loss: a mean over every target and quantile
        return torch.tensor(float(target.numel() * len(getattr(loss_fn, "quantiles", (0.5,)))), dtype=torch.float64)
    weight = getattr(loss_fn, "weight", None)
    weight = weight.detach().to(torch.float64) if isinstance(weight, Tensor) else None
    if head == "logits":
        ignore = getattr(loss_fn, "ignore_index", None)
        valid = target != ignore if isinstance(ignore, int) else torch.ones_like(target, dtype=torch.bool)
        if weight is None:
            return valid.sum(dtype=torch.float64)
        return (weight[torch.where(valid, target, 0)] * valid).sum()
    if weight is None:
        return torch.tensor(float(target.numel()), dtype=torch.float64)
    return torch.broadcast_to(weight, target.shape).sum()


def _summing_copy(loss_fn: nn.Module) -> nn.Module | None:
    """A shallow copy of ``loss_fn`` with ``reduction="sum"`` (``None`` if it has no ``"mean"`` reduction)."""
    if getattr(loss_fn, "reduction", None) != "mean":
        return None
    summing = copy.copy(loss_fn)
    try:
        setattr(summing, "reduction", "sum")  # noqa: B010 (nn.Module's __setattr__ is typed for tensors and modules)
    except (AttributeError, TypeError, ValueError):
        return None
    return summing


class GlobalBatchLoss:
    """The loss of the whole global mini-batch, computed from this rank's shard; the same value on every rank.

    Args:
        loss_fn: the loss Module of the run (any reduction).
        head: ``"logits"``, ``"sigmoid"`` or ``"value"`` (:data:`losskit.advisor.LOSS_MENU`).
        probe_output, probe_target: outputs and targets identical on every rank (training targets and seeded
            outputs) on which ``loss_fn``'s mean is checked against ``sum / mean_denominator``.

    :attr:`strategy` is ``"sum"`` when the check holds (rtol 1e-5), else ``"gather"`` (module docstring).
    """

    def __init__(self, loss_fn: nn.Module, head: str, probe_output: Tensor, probe_target: Tensor) -> None:
        self.loss_fn, self.head = loss_fn, head
        self._summing = _summing_copy(loss_fn)
        self.strategy = "gather"
        if self._summing is not None:
            with torch.no_grad(), V.guard("off"):  # the training data's first call keeps its value checks
                mean = loss_fn(probe_output, probe_target).double()
                total = self._summing(probe_output, probe_target).double()
            by_rule = total / mean_denominator(loss_fn, head, probe_target)
            if bool(torch.isfinite(mean)) and bool(torch.isclose(by_rule, mean, rtol=1e-5, atol=1e-8)):
                self.strategy = "sum"

    def __call__(self, output: Tensor, target: Tensor, global_target: Tensor) -> Tensor:
        """``output``/``target``: this rank's shard; ``global_target``: the whole mini-batch's targets."""
        if self.strategy == "sum" and self._summing is not None:
            local = self._summing(output, target)
            return lkd.global_mean(local, mean_denominator(self.loss_fn, self.head, target))
        return self.loss_fn(lkd.all_gather(output), global_target)


class DataParallelRun:
    """The DDP side of one training run: the wrapped model, the shard and the global-batch loss.

    Args:
        model: the freshly initialised model (its ``nn.Dropout`` layers are replaced in place).
        loss_fn, head: as in :class:`GlobalBatchLoss`.
        probe_output, probe_target: the probe of :class:`GlobalBatchLoss`.
    """

    def __init__(self, model: nn.Module, loss_fn: nn.Module, head: str, probe_output: Tensor,
                 probe_target: Tensor) -> None:
        self.shard = _Shard()
        self.dropouts = _replace_dropout(model, self.shard)
        self.net = DistributedDataParallel(model)
        self.loss = GlobalBatchLoss(loss_fn, head, probe_output, probe_target)

    def backward(self, predict: Callable[[nn.Module, Tensor], Tensor], X: Tensor, y: Tensor, idx: Tensor, *,
                 accumulate: int, sync: bool) -> Tensor:
        """Forward this rank's shard of the global batch ``idx``, backward the global loss over ``accumulate``
        (the gradients are averaged over ranks only when ``sync``) and return the global loss, detached."""
        local = self.shard.take(idx)
        with contextlib.nullcontext() if sync else self.net.no_sync():
            loss = self.loss(predict(self.net, X[local]), y[local], y[idx])
            (loss / accumulate).backward()
        return loss.detach()

    def agree(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (early stopping decides the same everywhere)."""
        t = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(t, src=0)
        return float(t[0])
