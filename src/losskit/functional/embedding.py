"""Triplet losses of torch.nn on anchor, positive and negative embeddings.

Both losses compute torch 2.13's numbers; anchor, positive and negative must have the same shape
(torch broadcasts, e.g. a single negative ``(1, D)`` against ``N`` anchors, without a word), and a mean
over an empty batch is 0 with a zero gradient. ``margin=0`` is allowed (torch 2.13 requires ``margin > 0``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = ["triplet_margin_loss", "triplet_margin_with_distance_loss"]


def _check_triplet(name: str, anchor: Tensor, positive: Tensor, negative: Tensor, *, dims: tuple[int, ...]) -> None:
    """Three floating tensors of one shape on one device (no broadcasting)."""
    for arg, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        V.check_tensor(name, arg, t)
        V.check_floating(name, arg, t, role="embeddings")
    if dims and anchor.dim() not in dims:
        raise V.LossShapeError(
            f"{name}: anchor must be embeddings of shape (N, D) or (D,), but got shape {V.shape_str(anchor)} "
            f"({anchor.dim()}-D); flatten the features with anchor.flatten(1)"
        )
    fix = "pass one positive and one negative per anchor (expand a shared one with .expand_as(anchor))"
    V.check_same_shape(name, anchor, positive, "anchor", "positive", fix=fix)
    V.check_same_shape(name, anchor, negative, "anchor", "negative", fix=fix)
    V.check_same_device(name, anchor=anchor, positive=positive, negative=negative)


def _check_values(name: str, anchor: Tensor, positive: Tensor, negative: Tensor) -> None:
    if V.values_due(name, anchor, positive, negative):
        V.check_finite(name, "anchor", anchor)
        V.check_finite(name, "positive", positive)
        V.check_finite(name, "negative", negative)


def _check_margin(name: str, margin: float) -> float:
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
        raise V.LossOptionError(
            f"{name}: margin must be a number >= 0, but got {margin!r}; a negative margin makes the loss "
            "reward triplets that are already wrong: pass e.g. margin=1.0"
        )
    return float(margin)


def _check_swap(name: str, swap: bool) -> bool:
    if not isinstance(swap, bool):
        raise V.LossOptionError(f"{name}: swap must be True or False, but got {swap!r}; pass swap=True or swap=False")
    return swap


@mixed_precision
def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Triplet margin loss with the :math:`p`-norm distance: the positive nearer than the negative by ``margin``.

    .. math::
        \ell_i = \max\bigl(0, \; d(a_i, p_i) - d(a_i, n_i) + \Delta\bigr), \qquad
        d(x, y) = \lVert x - y + \epsilon \rVert_p

    (torch's ``pairwise_distance``, with :math:`\epsilon` added to the difference). With ``swap=True``
    :math:`d(a_i, n_i)` becomes :math:`\min\bigl(d(a_i, n_i), d(p_i, n_i)\bigr)`: the harder of the two
    negatives distances (Balntas et al.).

    Args:
        anchor: embeddings :math:`(N, D)` or :math:`(D,)`, floating dtype.
        positive: embeddings of the same class, same shape.
        negative: embeddings of another class, same shape.
        margin: :math:`\Delta`, >= 0 (default 1.0; torch 2.13 rejects 0).
        p: the norm degree, > 0 (default 2.0).
        eps: :math:`\epsilon`, >= 0 (default 1e-6).
        swap: use the distance swap (default ``False``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``anchor``, ``positive``, ``negative``: :math:`(N, D)` or :math:`(D,)`, all the same. Output: scalar,
        or :math:`(N,)` (``()`` for :math:`(D,)` inputs) for ``"none"``.

    Raises:
        LossOptionError: ``margin < 0``, ``p <= 0``, ``eps < 0``.
        LossShapeError: shapes differ (e.g. one negative ``(1, D)`` for ``N`` anchors), inputs not 1-D/2-D.
        LossTypeError: integer embeddings.
        NonFiniteError: NaN or Inf in any input (value check).

    References:
        Schroff, F., Kalenichenko, D., Philbin, J. "FaceNet: A Unified Embedding for Face Recognition and
        Clustering", 2015. Balntas, V., Riba, E., Ponsa, D., Mikolajczyk, K. "Learning local feature
        descriptors with triplets and shallow convolutional neural networks", 2016 (the swap).

    Example:
        >>> import torch, losskit.functional as LF
        >>> a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 5.5]])
        >>> print(round(float(LF.triplet_margin_loss(a, p, n, eps=0.0)), 4))
        0.5
    """
    name = "triplet_margin_loss"
    options = (reduction, margin, p, eps, swap, type(margin), type(p), type(eps), type(swap))
    if (key := V.signature_due(name, options, anchor, positive, negative)) is not None:  # None: passed before
        V.check_reduction(name, reduction)
        margin = _check_margin(name, margin)
        p = V.check_positive(name, "p", p)
        eps = V.check_positive(name, "eps", eps, allow_zero=True)
        swap = _check_swap(name, swap)
        if V.enabled():
            _check_triplet(name, anchor, positive, negative, dims=(1, 2))
            _check_values(name, anchor, positive, negative)
            V.record_passed(key, anchor, positive, negative)
    if reduction != "none" and anchor.numel():  # torch's kernel, its mean and sum are losskit's (margin 0 too)
        return torch.triplet_margin_loss(
            anchor, positive, negative, margin, p, eps, swap, 1 if reduction == "mean" else 2
        )
    d_pos = F.pairwise_distance(anchor, positive, p=p, eps=eps)
    d_neg = F.pairwise_distance(anchor, negative, p=p, eps=eps)
    if swap:
        d_neg = torch.minimum(d_neg, F.pairwise_distance(positive, negative, p=p, eps=eps))
    return reduce_loss((margin + d_pos - d_neg).clamp_min(0), reduction)


def _distance(name: str, fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor, anchor: Tensor) -> Tensor:
    """Call the distance function and check it returns one distance per triplet."""
    d = fn(x, y)
    if V.enabled():
        if not isinstance(d, Tensor):
            raise V.LossTypeError(
                f"{name}: distance_function must return a tensor, but got {type(d).__name__}; "
                "return one distance per row, e.g. torch.pairwise_distance(x, y)"
            )
        batch = (anchor.shape[0],) if anchor.dim() >= 1 else ()
        allowed = [batch] if anchor.dim() >= 2 else [(), batch]
        if tuple(d.shape) not in allowed:
            want = " or ".join(V.shape_str(s) for s in allowed)
            raise V.LossShapeError(
                f"{name}: distance_function must return one distance per triplet, shape {want} for anchor "
                f"{V.shape_str(anchor)}, but got {V.shape_str(d)}; reduce over the feature dimensions inside it, "
                "e.g. (x - y).pow(2).sum(-1)"
            )
    return d


@mixed_precision
def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Triplet margin loss with any distance function.

    .. math::
        \ell_i = \max\bigl(0, \; d(a_i, p_i) - d(a_i, n_i) + \Delta\bigr)

    With ``swap=True`` :math:`d(a_i, n_i)` becomes :math:`\min\bigl(d(a_i, n_i), d(p_i, n_i)\bigr)`.

    Args:
        anchor: embeddings :math:`(N, *)` (or :math:`(D,)`), floating dtype.
        positive: same shape as ``anchor``.
        negative: same shape as ``anchor``.
        distance_function: ``d(x, y)`` returning one non-negative distance per row, shape :math:`(N,)`
            (default ``torch.pairwise_distance``, the Euclidean distance). Called twice (three times with
            ``swap``).
        margin: :math:`\Delta`, >= 0 (default 1.0; torch 2.13 rejects 0).
        swap: use the distance swap (default ``False``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``anchor``, ``positive``, ``negative``: :math:`(N, *)`, all the same; for 1-D inputs the distance may
        be a scalar (one vector) or :math:`(N,)` (a batch of scalars). The distance: :math:`(N,)`.
        Output: scalar, or the distance's shape for ``"none"``.

    Raises:
        LossOptionError: ``margin < 0``.
        LossShapeError: shapes differ; ``distance_function`` returns a shape other than one distance per
            triplet (e.g. :math:`(N, D)`: forgot to sum over features; ``()``: already averaged).
        LossTypeError: integer embeddings, a distance that is not a tensor.
        NonFiniteError: NaN or Inf in any input (value check).

    References:
        Schroff, F., Kalenichenko, D., Philbin, J. "FaceNet: A Unified Embedding for Face Recognition and
        Clustering", 2015.

    Example:
        >>> import torch, losskit.functional as LF
        >>> a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 5.5]])
        >>> l1 = lambda x, y: (x - y).abs().sum(-1)
        >>> print(round(float(LF.triplet_margin_with_distance_loss(a, p, n, distance_function=l1)), 4))
        2.5
    """
    name = "triplet_margin_with_distance_loss"
    V.check_reduction(name, reduction)
    margin = _check_margin(name, margin)
    swap = _check_swap(name, swap)
    if distance_function is not None and not callable(distance_function):
        raise V.LossOptionError(
            f"{name}: distance_function must be a callable d(x, y) or None, but got "
            f"{type(distance_function).__name__}; pass e.g. distance_function=torch.pairwise_distance"
        )
    fn = F.pairwise_distance if distance_function is None else distance_function
    if V.enabled():
        _check_triplet(name, anchor, positive, negative, dims=())
        if anchor.dim() == 0:
            raise V.LossShapeError(
                f"{name}: anchor must have a batch or feature dimension, but got shape (); pass embeddings (N, D)"
            )
    _check_values(name, anchor, positive, negative)
    d_pos = _distance(name, fn, anchor, positive, anchor)
    d_neg = _distance(name, fn, anchor, negative, anchor)
    if swap:
        d_neg = torch.minimum(d_neg, _distance(name, fn, positive, negative, anchor))
    if V.enabled() and d_pos.shape != d_neg.shape:
        raise V.LossShapeError(
            f"{name}: distance_function must return the same shape for every pair, but got "
            f"{V.shape_str(d_pos)} and {V.shape_str(d_neg)}; return one distance per row"
        )
    return reduce_loss((margin + d_pos - d_neg).clamp_min(0), reduction)
