"""Metric losses with learnable class vectors: ArcFace and CosFace (class centres), Proxy-Anchor and Proxy-NCA
(proxies). The Modules hold the vectors as a Parameter; the functionals take them as a tensor.

Conventions (inputs, ``distance=``, reductions, nothing to average) are the family's:
:mod:`losskit.functional.metric`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .. import distributed
from .._precision import mixed_precision
from .._reduction import reduce_loss as _local_reduce
from . import _distances as D
from . import _metric_common as C
from ._metric_common import REDUCTIONS

__all__ = ["arcface_loss", "cosface_loss", "proxy_anchor_loss", "proxy_nca_loss"]


def _check_angle(name: str, margin: object) -> float:
    """ArcFace's margin: an angle in radians in ``[0, pi)``."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0.0 <= margin < math.pi:
        raise V.LossOptionError(
            f"{name}: margin must be an angle in radians in [0, pi), but got {margin!r}; "
            "pass e.g. margin=0.5 (about 28.6 degrees; math.radians(degrees) converts)"
        )
    return float(margin)


def _check_label_range(name: str, labels: Tensor, num_classes: int, what: str = "centre") -> None:
    """Value check: class indices in ``[0, num_classes)`` (one per centre or proxy)."""
    if labels.numel() == 0:
        return
    lo, hi = int(labels.min()), int(labels.max())
    if lo >= 0 and hi < num_classes:
        return
    plural = "proxies" if what == "proxy" else f"{what}s"
    fix = (
        "labels look 1-based: use labels - 1"
        if lo >= 1 and hi == num_classes
        else f"check the labels, or give the loss one {what} per class (num_classes)"
    )
    raise V.LossValueError(
        f"{name}: labels must be class indices in [0, {num_classes}) ({num_classes} {plural}), but got "
        f"{lo if lo < 0 else hi} (labels range [{lo}, {hi}]); {fix}"
    )


def _check_class_vectors(name: str, arg: str, embeddings: Tensor, labels: Tensor, vectors: Tensor) -> None:
    """Metadata and value checks of ``(embeddings, labels, vectors (C, D))``."""
    if V.enabled():
        C.check_embeddings(name, "embeddings", embeddings)
        C.check_labels(name, labels, embeddings)
        C.check_embeddings(name, arg, vectors)
        if vectors.shape[1] != embeddings.shape[1] or vectors.shape[0] == 0:
            raise V.LossShapeError(
                f"{name}: {arg} must have shape (C, {embeddings.shape[1]}), one vector of the embedding size per "
                f"class, but got {V.shape_str(vectors)} for embeddings {V.shape_str(embeddings)}; "
                f"pass {arg} of shape (num_classes, {embeddings.shape[1]})"
            )
        V.check_same_device(name, embeddings=embeddings, labels=labels, **{arg: vectors})
    if V.values_due(name, embeddings, labels, vectors):
        V.check_finite(name, "embeddings", embeddings)
        V.check_finite(name, arg, vectors)
        _check_label_range(name, labels, vectors.shape[0], "centre" if arg == "centres" else "proxy")


# --------------------------------------------------------------------------------------------
# additive-margin softmax losses with class centres
# --------------------------------------------------------------------------------------------
def _margin_softmax(
    name: str, embeddings: Tensor, labels: Tensor, centres: Tensor, scale: float, reduction: str, target_fn
) -> Tensor:
    V.check_reduction(name, reduction)
    scale = V.check_positive(name, "scale", scale)
    _check_class_vectors(name, "centres", embeddings, labels, centres)
    index = labels.long()
    cos = (F.normalize(embeddings, dim=1) @ F.normalize(centres, dim=1).transpose(0, 1)).clamp(-1.0, 1.0)
    target = target_fn(cos.gather(1, index[:, None]))
    logits = scale * cos.scatter(1, index[:, None], target)
    return _local_reduce(F.cross_entropy(logits, index, reduction="none"), reduction)


@mixed_precision
def arcface_loss(
    embeddings: Tensor,
    labels: Tensor,
    centres: Tensor,
    *,
    margin: float = 0.5,
    scale: float = 64.0,
    reduction: str = "mean",
) -> Tensor:
    r"""ArcFace (additive angular margin) loss: softmax cross-entropy on scaled cosines to class centres, the
    true class's angle enlarged by ``margin``.

    With :math:`\cos\theta_{ic}` the cosine between embedding :math:`i` and centre :math:`c`:

    .. math::
        \ell_i = -\log \frac{e^{s\,\psi(\theta_{iy_i})}}{e^{s\,\psi(\theta_{iy_i})} + \sum_{c \ne y_i}
                 e^{s \cos\theta_{ic}}},
        \qquad \psi(\theta) = \begin{cases} \cos(\theta + m) & \theta \le \pi - m \\
                              \cos\theta - m \sin m & \text{otherwise} \end{cases}

    The second branch keeps :math:`\psi` decreasing past :math:`\theta = \pi - m` (as insightface and
    pytorch-metric-learning do). :math:`\cos(\theta + m)` is computed as
    :math:`\cos\theta \cos m - \sqrt{1 - \cos^2\theta}\, \sin m` with the root's argument floored at the
    smallest normal number, so the gradient is finite when an embedding points exactly at (or away from) a
    centre (:math:`\cos\theta = \pm 1`). pytorch-metric-learning's ``ArcFaceLoss`` takes the margin in degrees
    (default 28.6, i.e. 0.5 rad) and stores the centres transposed, ``(D, C)``; with those it gives the same
    numbers.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype (normalised inside).
        labels: ``(N,)`` class indices in ``[0, C)``.
        centres: ``(C, D)`` class centres (normalised inside); usually the Parameter of :class:`ArcFaceLoss`.
        margin: the additive angular margin :math:`m` in radians, in ``[0, pi)`` (default 0.5).
        scale: the scale :math:`s` of the cosines, > 0 (default 64.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`, ``centres`` :math:`(C, D)`. Output: scalar, or
        :math:`(N)` for ``"none"``.

    Raises:
        LossShapeError: ``embeddings`` or ``centres`` not 2-D, or of different widths; ``labels`` not ``(N,)``.
        LossTypeError: integer ``embeddings`` or ``centres``, floating ``labels``.
        LossValueError: ``labels`` outside ``[0, C)`` (value check).
        LossOptionError: ``margin`` outside ``[0, pi)``, ``scale <= 0``, unknown ``reduction``.
        NonFiniteError: NaN or Inf in ``embeddings`` or ``centres`` (value check).

    References:
        Deng, J., Guo, J., Xue, N., Zafeiriou, S. "ArcFace: Additive Angular Margin Loss for Deep Face
        Recognition", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, centres = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(LF.arcface_loss(x, torch.tensor([0]), centres, scale=4.0)), 4))
        0.0294
    """
    name = "arcface_loss"
    margin = _check_angle(name, margin)
    cos_m, sin_m = math.cos(margin), math.sin(margin)

    def target_fn(cos: Tensor) -> Tensor:
        sin = (1.0 - cos * cos).clamp_min(torch.finfo(cos.dtype).tiny).sqrt()
        return torch.where(cos >= -cos_m, cos * cos_m - sin * sin_m, cos - margin * sin_m)

    return _margin_softmax(name, embeddings, labels, centres, scale, reduction, target_fn)


@mixed_precision
def cosface_loss(
    embeddings: Tensor,
    labels: Tensor,
    centres: Tensor,
    *,
    margin: float = 0.35,
    scale: float = 64.0,
    reduction: str = "mean",
) -> Tensor:
    r"""CosFace (large margin cosine) loss: softmax cross-entropy on scaled cosines to class centres, the true
    class's cosine lowered by ``margin``.

    .. math::
        \ell_i = -\log \frac{e^{s (\cos\theta_{iy_i} - m)}}{e^{s (\cos\theta_{iy_i} - m)} + \sum_{c \ne y_i}
                 e^{s \cos\theta_{ic}}}

    pytorch-metric-learning's ``CosFaceLoss`` (centres stored ``(D, C)``) gives the same numbers.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype (normalised inside).
        labels: ``(N,)`` class indices in ``[0, C)``.
        centres: ``(C, D)`` class centres (normalised inside); usually the Parameter of :class:`CosFaceLoss`.
        margin: the cosine margin :math:`m` >= 0 (default 0.35).
        scale: the scale :math:`s` > 0 (default 64.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`arcface_loss`.

    Raises:
        LossOptionError: ``margin < 0``, ``scale <= 0``, unknown ``reduction``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`arcface_loss`.

    References:
        Wang, H. et al. "CosFace: Large Margin Cosine Loss for Deep Face Recognition", 2018.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, centres = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(LF.cosface_loss(x, torch.tensor([0]), centres, scale=4.0)), 4))
        0.0716
    """
    name = "cosface_loss"
    margin = V.check_positive(name, "margin", margin, allow_zero=True)
    return _margin_softmax(name, embeddings, labels, centres, scale, reduction, lambda cos: cos - margin)


@mixed_precision
def proxy_anchor_loss(
    embeddings: Tensor,
    labels: Tensor,
    proxies: Tensor,
    *,
    margin: float = 0.1,
    alpha: float = 32.0,
    distance: str = "cosine",
    normalize_embeddings: bool = True,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Proxy-Anchor loss: each class proxy as an anchor against all the embeddings of the batch, pulling its
    class's embeddings and pushing the others'.

    With similarities :math:`s(x, p)` (cosine by default), the proxies :math:`P^+` that have an embedding of their
    class in the batch, all proxies :math:`P`, and :math:`X_p^+` / :math:`X_p^-` the embeddings of / not of class
    :math:`p`:

    .. math::
        \ell = \frac{1}{|P^+|} \sum_{p \in P^+} \log\Big(1 + \sum_{x \in X_p^+} e^{-\alpha (s(x, p) - \delta)}\Big)
              + \frac{1}{|P|} \sum_{p \in P} \log\Big(1 + \sum_{x \in X_p^-} e^{\alpha (s(x, p) + \delta)}\Big)

    ``"none"`` returns the ``(2, C)`` per-proxy terms (row 0 the positive terms, 0 for proxies without an
    embedding of their class; row 1 the negative terms); ``"mean"`` is :math:`\ell` (each row over its own count),
    ``"sum"`` the sum of both rows, ``"mean_nonzero"`` each row over its terms > 0, added.

    pytorch-metric-learning's ``ProxyAnchorLoss(num_classes, embedding_size, margin, alpha)`` (``CosineSimilarity``,
    ``DivisorReducer``) gives the same numbers with its ``proxies`` equal to ``proxies`` here; the Module
    :class:`losskit.ProxyAnchorLoss` holds them as a Parameter, initialised as PML does (Kaiming normal, fan-out).
    ``indices`` (PML's miner weights) are not supported. With a distance, :math:`s = -d`.

    With ``global_batch`` the embeddings and labels of every process are gathered (differentiably) and every
    process computes the loss of the global batch, ``"none"`` included; the proxies are a replicated parameter
    (each rank's gradient is the full-batch one, which DDP's average keeps). See :mod:`losskit.distributed`.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` class indices in ``[0, C)``.
        proxies: ``(C, D)`` one proxy per class.
        margin: :math:`\delta` (default 0.1).
        alpha: the scale :math:`\alpha` > 0 (default 32).
        distance: ``"cosine"`` (default) or another of :mod:`losskit.functional._distances`.
        normalize_embeddings: L2-normalise embeddings and proxies first (default True).
        global_batch: the embeddings of every process against the proxies (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`, ``proxies`` :math:`(C, D)`. Output: scalar, or
        :math:`(2, C)` for ``"none"``.

    Raises:
        LossShapeError: ``proxies`` not ``(C, D)``; ``labels`` not ``(N,)``.
        LossValueError: ``labels`` outside ``[0, C)`` (value check).
        LossOptionError: ``alpha <= 0``, unknown ``distance`` or ``reduction``.
        LossTypeError, NonFiniteError: as :func:`arcface_loss`.

    References:
        Kim, S., Kim, D., Cho, M., Kwak, S. "Proxy Anchor Loss for Deep Metric Learning", 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, proxies = torch.tensor([[1.0, 0.0], [0.6, 0.8]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(LF.proxy_anchor_loss(x, torch.tensor([0, 1]), proxies, alpha=4.0)), 4))
        1.929
    """
    name = "proxy_anchor_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    margin = C.check_margin_like(name, "margin", margin)
    alpha = V.check_positive(name, "alpha", alpha)
    D.check_distance(name, distance)
    _check_class_vectors(name, "proxies", embeddings, labels, proxies)
    if global_batch:
        embeddings, labels = distributed.all_gather(embeddings), distributed.all_gather(labels)
    s = D.as_similarity(D.pairwise(embeddings, proxies, distance, normalize_embeddings=normalize_embeddings), distance)
    own = labels.long()[:, None] == torch.arange(proxies.shape[0], device=labels.device)[None, :]
    pos = C.masked_logsumexp(-alpha * (s - margin), own, dim=0, add_one=True)
    neg = C.masked_logsumexp(alpha * (s + margin), ~own, dim=0, add_one=True)
    counts = (own.any(dim=0).sum(), torch.tensor(proxies.shape[0], device=s.device))
    if reduction == "none":
        return torch.stack([pos, neg])
    return C.reduce_two(pos, neg, reduction, counts, False, pos)


@mixed_precision
def proxy_nca_loss(
    embeddings: Tensor,
    labels: Tensor,
    proxies: Tensor,
    *,
    softmax_scale: float = 1.0,
    distance: str = "squared_euclidean",
    normalize_embeddings: bool = True,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Proxy-NCA loss: a softmax over the (negative, scaled) distances of each embedding to the class proxies,
    the embedding's own class being the target.

    With the squared Euclidean distance of the L2-normalised rows by default, :math:`s = -d` and the scale
    :math:`c` = ``softmax_scale``:

    .. math::
        \ell_i = -\log \frac{e^{c\, s(x_i, p_{y_i})}}{\sum_{k} e^{c\, s(x_i, p_k)}}

    The paper's denominator leaves out the own proxy; pytorch-metric-learning's ``ProxyNCALoss(num_classes,
    embedding_size, softmax_scale)`` (``LpDistance(power=2)``, ``MeanReducer``) keeps it, and so does losskit: the
    same numbers (PML also drops a term whose probability underflows to exactly 0, which losskit keeps finite).

    With ``global_batch`` the terms of every process are reduced together (the mean over the global batch on
    every process; ``"none"`` returns the local terms); the proxies are a replicated parameter. See
    :mod:`losskit.distributed`.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` class indices in ``[0, C)``.
        proxies: ``(C, D)`` one proxy per class.
        softmax_scale: :math:`c` > 0 (default 1; larger values sharpen the softmax).
        distance: ``"squared_euclidean"`` (default) or another of :mod:`losskit.functional._distances`.
        normalize_embeddings: L2-normalise embeddings and proxies first (default True).
        global_batch: reduce over the rows of every process (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        As :func:`arcface_loss` with ``proxies`` for ``centres``.

    Raises:
        LossOptionError: ``softmax_scale <= 0``, unknown ``distance`` or ``reduction``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`proxy_anchor_loss`.

    References:
        Movshovitz-Attias, Y. et al. "No Fuss Distance Metric Learning using Proxies", 2017.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, proxies = torch.tensor([[1.0, 0.0], [0.6, 0.8]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(LF.proxy_nca_loss(x, torch.tensor([0, 1]), proxies)), 4))
        0.32
    """
    name = "proxy_nca_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    softmax_scale = V.check_positive(name, "softmax_scale", softmax_scale)
    D.check_distance(name, distance)
    _check_class_vectors(name, "proxies", embeddings, labels, proxies)
    s = D.as_similarity(D.pairwise(embeddings, proxies, distance, normalize_embeddings=normalize_embeddings), distance)
    logits = softmax_scale * s
    terms = torch.logsumexp(logits, dim=1) - logits.gather(1, labels.long()[:, None]).squeeze(1)
    return C.reduce(terms, reduction, global_batch)
