"""Cross-batch memory (XBM): a metric loss computed against a FIFO queue of past embeddings.

:class:`CrossBatchMemory` wraps a pair or triplet loss that takes reference rows (``indices``, ``ref_emb``,
``ref_labels`` in its ``forward``: :class:`~losskit.NTXentLoss`, :class:`~losskit.ContrastiveLoss`,
:class:`~losskit.MinedTripletLoss`, :class:`~losskit.CircleLoss`, :class:`~losskit.MultiSimilarityLoss`). It is a
utility that holds state, not a loss of the catalog, so it is exported from ``losskit`` beside
:class:`~losskit.multitask.MultiTaskLoss` and not from ``losskit.modules``.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn

from .. import _validation as V
from ..functional import _metric_common as C

__all__ = ["CrossBatchMemory"]


class CrossBatchMemory(nn.Module):
    r"""Cross-batch memory (XBM): the wrapped loss of the current batch against a queue of past embeddings.

    The module keeps the last ``memory_size`` embeddings (detached) and their labels in a FIFO queue. At each
    call it first writes the batch into the queue (overwriting the oldest rows once the queue is full), then
    computes the wrapped loss with the batch as the anchors and the whole queue as the candidates
    (``ref_emb``/``ref_labels``), each anchor's own slot excluded from its positives; the pairs are passed as
    ``indices`` ``(anchor1, positive, anchor2, negative)``. Gradients flow through the anchors only. Before the
    queue first fills, the candidates are its filled part.

    These are pytorch-metric-learning's ``CrossBatchMemory(loss, embedding_size, memory_size)`` semantics (no
    miner, no ``enqueue_mask``), and the numbers agree with it (``tests/test_metric_memory.py``).

    **Training and evaluation.** As in PML, every call enqueues, in ``train()`` and ``eval()`` mode alike: the
    module does not look at ``self.training``. Do not call it on validation batches (or call :meth:`reset`
    afterwards) if the queue must hold training rows only.

    The queue, its position and whether it has filled are buffers: they follow ``.to()`` and are saved in the
    ``state_dict``. The queue takes the dtype and device of the embeddings at each call. Reading the position
    is a host read (a device sync on a GPU), as is the pair selection.

    Args:
        loss: the wrapped loss Module; its ``forward`` must take ``indices``, ``ref_emb`` and ``ref_labels``, and
            it must not use ``global_batch=True`` (the queue is local to the process).
        embedding_size: ``D``, the width of the embeddings.
        memory_size: number of past rows kept, ``>= 1`` (default 1024); a batch may not be larger.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)` with :math:`N \le` ``memory_size``. Output: what the
        wrapped loss returns for ``(N, M)`` pairs, :math:`M` the number of filled rows of the queue.

    Raises:
        LossOptionError: a loss without ``ref_emb``/``indices``, ``global_batch=True``, ``memory_size < 1``.
        LossShapeError: embeddings of another width, or a batch larger than the queue.

    References:
        Wang, X., Zhang, H., Huang, W., Scott, M. R. "Cross-Batch Memory for Embedding Learning", 2020.

    Example:
        >>> import torch, losskit as lk
        >>> xbm = lk.CrossBatchMemory(lk.NTXentLoss(temperature=0.5), embedding_size=2, memory_size=4)
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> print(round(float(xbm(x, torch.tensor([0, 0, 1]))), 4), int(xbm.queue_idx))
        0.3485 3
        >>> print(round(float(xbm(x.flip(0), torch.tensor([1, 0, 0]))), 4), bool(xbm.has_been_filled))
        0.55 True
    """

    embedding_memory: Tensor
    label_memory: Tensor
    queue_idx: Tensor
    has_been_filled: Tensor

    def __init__(self, loss: nn.Module, embedding_size: int, memory_size: int = 1024) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(loss, nn.Module):
            raise V.LossTypeError(
                f"{name}: loss must be a loss Module such as losskit.NTXentLoss(), but got {type(loss).__name__}; "
                "wrap a functional in its Module"
            )
        params = inspect.signature(loss.forward).parameters
        missing = [p for p in ("indices", "ref_emb", "ref_labels") if p not in params]
        if missing:
            raise V.LossOptionError(
                f"{name}: loss {type(loss).__name__} does not take {', '.join(missing)} in forward, which the memory "
                "passes; use NTXentLoss, ContrastiveLoss, MinedTripletLoss, CircleLoss or MultiSimilarityLoss"
            )
        if getattr(loss, "global_batch", False):
            raise V.LossOptionError(
                f"{name}: loss {type(loss).__name__} has global_batch=True, but the memory is local to the process "
                "and passes mined indices; construct the loss with global_batch=False"
            )
        for arg, value in (("embedding_size", embedding_size), ("memory_size", memory_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise V.LossOptionError(f"{name}: {arg} must be an int >= 1, but got {value!r}; pass e.g. {arg}=128")
        self.loss = loss
        self.embedding_size = embedding_size
        self.memory_size = memory_size
        self.register_buffer("embedding_memory", torch.zeros(memory_size, embedding_size))
        self.register_buffer("label_memory", torch.zeros(memory_size, dtype=torch.long))
        self.register_buffer("queue_idx", torch.zeros((), dtype=torch.long))
        self.register_buffer("has_been_filled", torch.zeros((), dtype=torch.bool))

    def extra_repr(self) -> str:
        return f"embedding_size={self.embedding_size}, memory_size={self.memory_size}"

    @torch.no_grad()
    def reset(self) -> None:
        """Empty the queue (the rows are zeroed, the position goes back to 0)."""
        self.embedding_memory.zero_()
        self.label_memory.zero_()
        self.queue_idx.zero_()
        self.has_been_filled.zero_()

    def _check(self, embeddings: Tensor, labels: Tensor) -> None:
        name = type(self).__name__
        C.check_labelled(name, embeddings, labels)
        if embeddings.shape[1] != self.embedding_size:
            raise V.LossShapeError(
                f"{name}: embeddings must have shape (N, {self.embedding_size}) (embedding_size), but got "
                f"{V.shape_str(embeddings)}; pass embedding_size={embeddings.shape[1]} or fix the model's output"
            )
        if embeddings.shape[0] > self.memory_size:
            raise V.LossShapeError(
                f"{name}: a batch of {embeddings.shape[0]} rows does not fit the memory of {self.memory_size} rows; "
                f"pass memory_size >= {embeddings.shape[0]}"
            )

    @torch.no_grad()
    def _enqueue(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Write the batch at the queue's position (wrapping around); return the slots written."""
        start = int(self.queue_idx)
        slots = (start + torch.arange(embeddings.shape[0], device=embeddings.device)) % self.memory_size
        self.embedding_memory[slots] = embeddings.detach()
        self.label_memory[slots] = labels.to(self.label_memory.dtype)
        end = (start + embeddings.shape[0]) % self.memory_size
        self.queue_idx.fill_(end)
        if embeddings.shape[0] > 0 and end <= start:
            self.has_been_filled.fill_(True)
        return slots

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        self._check(embeddings, labels)
        if self.embedding_memory.dtype != embeddings.dtype or self.embedding_memory.device != embeddings.device:
            self.embedding_memory = self.embedding_memory.to(embeddings)
        self.label_memory = self.label_memory.to(labels.device)
        self.queue_idx = self.queue_idx.to(labels.device)
        self.has_been_filled = self.has_been_filled.to(labels.device)
        slots = self._enqueue(embeddings, labels)
        filled = self.memory_size if bool(self.has_been_filled) else int(self.queue_idx)
        ref_emb, ref_labels = self.embedding_memory[:filled], self.label_memory[:filled]
        same = labels[:, None] == ref_labels[None, :]
        own = torch.zeros_like(same)
        own[torch.arange(labels.shape[0], device=labels.device), slots] = True
        a1, p = torch.where(same & ~own)
        a2, n = torch.where(~same)
        return self.loss(embeddings, labels, indices=(a1, p, a2, n), ref_emb=ref_emb, ref_labels=ref_labels)
