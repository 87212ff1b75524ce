"""Pieces shared by the metric-family files (:mod:`.metric`, :mod:`.metric_pair`, :mod:`.metric_contrastive`,
:mod:`.metric_proxy`, :mod:`.miners`): input checks, the candidate rows (global batch, reference embeddings), the
pair and triplet masks (from labels or from mined ``indices``), masked log-sum-exps and the reductions,
``"mean_nonzero"`` included.

**Reductions.** Every metric loss takes ``reduction`` in ``"none"``, ``"mean"`` (default), ``"sum"`` and
``"mean_nonzero"``. ``"mean_nonzero"`` is pytorch-metric-learning's ``AvgNonZeroReducer`` (the default reducer of
its ``ContrastiveLoss``, ``TripletMarginLoss``, ``CircleLoss`` ...): the sum of the terms over the number of terms
> 0, and 0 when no term is > 0. A loss made of two sub-losses (contrastive: positive and negative pairs;
Proxy-Anchor: positive and negative proxy terms) applies it to each sub-loss and adds the two, as PML's reducers
do.

**Mined indices.** ``indices=`` is PML's ``indices_tuple``: ``(anchor, positive, negative)`` triplet indices or
``(anchor1, positive, anchor2, negative)`` pair indices (what :func:`losskit.functional.miners.mine_triplets` and
:func:`~losskit.functional.miners.mine_pairs` return). A pair loss given triplets uses the pairs ``(a, p)`` and
``(a, n)``; a triplet loss given pairs uses every ``(a, p, n)`` whose two pairs share the anchor (as PML's
``convert_to_pairs`` / ``convert_to_triplets``). The indices select pairs of the batch: they are a set (a pair
listed twice counts once), and the labels are then not consulted for which pairs are positive.
"""

from __future__ import annotations

import math
from typing import overload

import torch
from torch import Tensor

from .. import _validation as V
from .. import distributed
from .._reduction import reduce_loss as _local_reduce

REDUCTIONS = ("none", "mean", "sum", "mean_nonzero")

Indices = tuple[Tensor, ...]


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def check_embeddings(name: str, arg: str, x: Tensor, *, dims: tuple[int, ...] = (2,)) -> None:
    V.check_tensor(name, arg, x)
    V.check_floating(name, arg, x, role="embeddings")
    if x.dim() in dims:
        return
    want = " or ".join({2: "(N, D)", 3: "(N, V, D)"}[d] for d in dims)
    if x.dim() == 1:
        fix = f"for a single embedding use {arg}.unsqueeze(0)"
    elif x.dim() == 0:
        fix = f"pass one row of features per sample as {arg}"
    else:
        fix = f"flatten the features of each sample with {arg}.flatten(1)"
    raise V.LossShapeError(
        f"{name}: {arg} must be a {want} tensor of embeddings, but got shape {V.shape_str(x)}; {fix}"
    )


def check_labels(
    name: str, labels: Tensor, embeddings: Tensor, arg_embeddings: str = "embeddings", arg: str = "labels"
) -> None:
    V.check_tensor(name, arg, labels)
    if labels.is_floating_point() or labels.is_complex():
        raise V.LossTypeError(
            f"{name}: {arg} must be an integer tensor of class ids, but got dtype {labels.dtype}; use {arg}.long()"
        )
    n = embeddings.shape[0]
    if tuple(labels.shape) == (n,):
        return
    if tuple(labels.shape) == (n, 1):
        fix = f"use {arg}.squeeze(1)"
    elif labels.dim() == 2 and labels.shape[0] == n:
        fix = f"{arg} look one-hot: use {arg}.argmax(1)"
    else:
        fix = f"pass one class id per row of {arg_embeddings}"
    raise V.LossShapeError(
        f"{name}: {arg} must have shape ({n},), one class id per row of {arg_embeddings} "
        f"{V.shape_str(embeddings)}, but got {V.shape_str(labels)}; {fix}"
    )


def check_labelled(name: str, embeddings: Tensor, labels: Tensor, dims: tuple[int, ...] = (2,)) -> None:
    """Metadata checks of ``(embeddings, labels)`` and, when due, the value checks."""
    if V.enabled():
        check_embeddings(name, "embeddings", embeddings, dims=dims)
        check_labels(name, labels, embeddings)
        V.check_same_device(name, embeddings=embeddings, labels=labels)
    if V.values_due(name, embeddings, labels):
        V.check_finite(name, "embeddings", embeddings)


def check_reference(name: str, embeddings: Tensor, ref_emb: Tensor | None, ref_labels: Tensor | None) -> None:
    """``ref_emb`` ``(M, D)`` and ``ref_labels`` ``(M,)`` come together, with the embeddings' width."""
    if (ref_emb is None) != (ref_labels is None):
        given, missing = ("ref_emb", "ref_labels") if ref_labels is None else ("ref_labels", "ref_emb")
        raise V.LossOptionError(
            f"{name}: {given} was given without {missing}; pass both (the reference rows and their class ids) "
            "or neither"
        )
    if ref_emb is None or ref_labels is None or not V.enabled():
        return
    check_embeddings(name, "ref_emb", ref_emb)
    if ref_emb.shape[1] != embeddings.shape[1]:
        raise V.LossShapeError(
            f"{name}: ref_emb must have shape (M, {embeddings.shape[1]}), the width of embeddings "
            f"{V.shape_str(embeddings)}, but got {V.shape_str(ref_emb)}; embed the references with the same model"
        )
    check_labels(name, ref_labels, ref_emb, "ref_emb", "ref_labels")
    V.check_same_device(name, embeddings=embeddings, ref_emb=ref_emb, ref_labels=ref_labels)
    if V.values_due(name, ref_emb):
        V.check_finite(name, "ref_emb", ref_emb)


def check_indices(name: str, indices: object, global_batch: bool) -> Indices | None:
    """``indices`` is None or a tuple of 3 or 4 one-dimensional integer tensors of pairwise equal lengths."""
    if indices is None:
        return None
    ok = isinstance(indices, (tuple, list)) and len(indices) in (3, 4)
    ok = ok and all(
        isinstance(t, Tensor) and t.dim() == 1 and not t.is_floating_point()
        for t in indices  # type: ignore[attr-defined]
    )
    if not ok or not isinstance(indices, (tuple, list)):
        got = f"{type(indices).__name__} of length {len(indices)}" if isinstance(indices, (tuple, list)) else (
            type(indices).__name__
        )
        raise V.LossOptionError(
            f"{name}: indices must be a tuple (anchor, positive, negative) or (anchor1, positive, anchor2, "
            f"negative) of 1-D integer tensors, but got a {got}; pass what mine_triplets or mine_pairs returns"
        )
    lengths = [t.shape[0] for t in indices]
    pairs = [(0, 1, 2)] if len(indices) == 3 else [(0, 1), (2, 3)]
    for group in pairs:
        if len({lengths[i] for i in group}) != 1:
            raise V.LossShapeError(
                f"{name}: the index tensors of one tuple must have equal lengths, but got lengths {lengths}; "
                "pass the tuple a miner returns unchanged"
            )
    if global_batch:
        raise V.LossOptionError(
            f"{name}: indices and global_batch=True cannot be combined (mined indices address the local batch); "
            "mine inside the loss (its mining option) or pass global_batch=False"
        )
    return tuple(indices)


def check_margin_like(name: str, arg: str, value: object) -> float:
    """A finite real number (any sign)."""
    if not V.is_number(value) or not math.isfinite(float(value)):
        raise V.LossOptionError(f"{name}: {arg} must be a finite number, but got {value!r}; pass e.g. {arg}=0.5")
    return float(value)


# --------------------------------------------------------------------------------------------
# candidates, masks, reductions
# --------------------------------------------------------------------------------------------
@overload
def candidates(x: Tensor, labels: Tensor, global_batch: bool) -> tuple[Tensor, Tensor, Tensor]: ...
@overload
def candidates(x: Tensor, labels: None, global_batch: bool) -> tuple[Tensor, None, Tensor]: ...
def candidates(x: Tensor, labels: Tensor | None, global_batch: bool) -> tuple[Tensor, Tensor | None, Tensor]:
    """The rows the local anchors are compared with: ``(rows (M, D), their labels (M,), self mask (N, M))``.

    ``self_mask[i, j]`` is True where candidate ``j`` is anchor ``i`` itself. Locally the candidates are the
    anchors; with ``global_batch`` they are every process's rows, the local ones starting at this rank's offset.
    """
    n = x.shape[0]
    if not global_batch:
        return x, labels, torch.eye(n, dtype=torch.bool, device=x.device)
    rows, offset = distributed.all_gather_with_offset(x)
    row_labels = distributed.all_gather(labels) if labels is not None else None
    anchors = torch.arange(n, device=x.device) + offset
    self_mask = torch.arange(rows.shape[0], device=x.device)[None, :] == anchors[:, None]
    return rows, row_labels, self_mask


def references(
    embeddings: Tensor, labels: Tensor, ref_emb: Tensor | None, ref_labels: Tensor | None, global_batch: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`candidates`, or the reference rows (gathered with ``global_batch``) with no row excluded."""
    if ref_emb is None or ref_labels is None:
        return candidates(embeddings, labels, global_batch)
    if global_batch:
        ref_emb, ref_labels = distributed.all_gather(ref_emb), distributed.all_gather(ref_labels)
    none = torch.zeros(embeddings.shape[0], ref_emb.shape[0], dtype=torch.bool, device=embeddings.device)
    return ref_emb, ref_labels, none


def _scatter(shape: tuple[int, ...], index: tuple[Tensor, ...], device: torch.device) -> Tensor:
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    return mask.index_put(tuple(i.long() for i in index), torch.ones((), dtype=torch.bool, device=device))


def pair_masks(labels: Tensor, row_labels: Tensor, self_mask: Tensor, indices: Indices | None) -> tuple[Tensor, Tensor]:
    """``(positive, negative)`` ``(N, M)`` masks: from the labels (a row never paired with itself) or from
    ``indices`` (module docstring)."""
    if indices is None:
        same = labels[:, None] == row_labels[None, :]
        return same & ~self_mask, ~same
    a1, p, a2, n = indices if len(indices) == 4 else (indices[0], indices[1], indices[0], indices[2])
    shape, device = tuple(self_mask.shape), self_mask.device
    return _scatter(shape, (a1, p), device), _scatter(shape, (a2, n), device)


def triplet_mask(labels: Tensor, row_labels: Tensor, self_mask: Tensor, indices: Indices | None) -> Tensor:
    """``(N, M, M)`` mask of the triplets ``(a, p, n)``: from the labels, or from ``indices``."""
    if indices is not None and len(indices) == 3:
        n, m = self_mask.shape
        return _scatter((n, m, m), indices, self_mask.device)
    positive, negative = pair_masks(labels, row_labels, self_mask, indices)
    return positive[:, :, None] & negative[:, None, :]


def masked_logsumexp(x: Tensor, mask: Tensor, *, dim: int = 1, add_one: bool = False) -> Tensor:
    """:math:`\\log \\sum_{mask} e^{x}` along ``dim`` (:math:`\\log(1 + \\sum ...)` with ``add_one``); 0 for an
    empty mask without ``add_one``. Finite, with zero gradients for the masked entries."""
    filled = x.masked_fill(~mask, torch.finfo(x.dtype).min)
    if add_one:
        shape = list(filled.shape)
        shape[dim] = 1
        zero = filled.new_zeros(shape)
        return torch.logsumexp(torch.cat([filled, zero], dim=dim), dim=dim)
    return torch.where(mask.any(dim=dim), torch.logsumexp(filled, dim=dim), 0.0)


def reduce(terms: Tensor, reduction: str, global_batch: bool, denominator: Tensor | None = None) -> Tensor:
    """:func:`~losskit._reduction.reduce_loss` (over every process's terms with ``global_batch``), and
    ``"mean_nonzero"``: the sum over the number of terms > 0."""
    if reduction == "mean_nonzero":
        reduction, denominator = "mean", (terms > 0).sum()
    if global_batch:
        return distributed.global_reduce_loss(terms, reduction, denominator=denominator)
    return _local_reduce(terms, reduction, denominator=denominator)


def reduce_two(first: Tensor, second: Tensor, reduction: str, counts: tuple[Tensor, Tensor], global_batch: bool,
               none: Tensor) -> Tensor:
    """A loss of two sub-losses: ``"none"`` returns ``none``, ``"sum"`` the sum of both, ``"mean"`` each
    sub-loss's sum over its count, added, and ``"mean_nonzero"`` each over its number of terms > 0, added."""
    if reduction == "none":
        return none
    if reduction == "sum":
        return reduce(first, "sum", global_batch) + reduce(second, "sum", global_batch)
    if reduction == "mean_nonzero":
        return reduce(first, reduction, global_batch) + reduce(second, reduction, global_batch)
    return reduce(first, "mean", global_batch, counts[0]) + reduce(second, "mean", global_batch, counts[1])
