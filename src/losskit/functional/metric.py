"""Metric-learning and self-supervised losses on embeddings: contrastive, batch-hard triplet, InfoNCE, SupCon,
ArcFace, CosFace.

Conventions shared by the family:

* **Inputs.** Embeddings are ``(N, D)`` floating tensors (``supcon_loss`` also takes ``(N, V, D)`` views) and
  labels ``(N,)`` integer class ids; two rows with the same label form a positive pair, two rows with different
  labels a negative pair, a row is never paired with itself.
* **Distances.** ``"euclidean"`` is the plain (not squared) Euclidean distance on the embeddings as given;
  ``"cosine"`` is ``d = 1 - cos``. The softmax losses (InfoNCE, SupCon, ArcFace, CosFace) use the cosine
  similarity, i.e. they L2-normalise their inputs themselves.
* **Nothing to average.** A batch without a valid pair, triplet or positive (one sample, every label distinct)
  gives ``0.`` with a zero gradient for ``reduction="mean"``, never NaN; every such case is handled with masks,
  without a data-dependent Python branch, so the losses compile with ``torch.compile(fullgraph=True)``.
* **Global batch.** With ``global_batch=True`` the candidates (positives and negatives) are the rows of every
  process, gathered with :func:`losskit.distributed.all_gather` (gradients flow back to each process's own
  rows); the local rows stay the anchors. ``"none"`` returns the local anchors' terms, while ``"mean"`` and
  ``"sum"`` are taken over the anchors of every process (:func:`losskit.distributed.global_reduce_loss`), so
  every process gets the single-process value of the whole batch and, after DDP's gradient averaging, its
  gradients (the convention of :mod:`losskit.distributed`). Without a process group it equals
  ``global_batch=False``.
"""

from __future__ import annotations

import math
from typing import overload

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .. import distributed
from .._precision import mixed_precision
from .._reduction import reduce_loss as _local_reduce

__all__ = [
    "arcface_loss",
    "batch_hard_triplet_loss",
    "contrastive_loss",
    "cosface_loss",
    "info_nce_loss",
    "supcon_loss",
]

_DISTANCES = ("euclidean", "cosine")


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _check_embeddings(name: str, arg: str, x: Tensor, *, dims: tuple[int, ...] = (2,)) -> None:
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


def _check_labels(name: str, labels: Tensor, embeddings: Tensor, arg_embeddings: str = "embeddings") -> None:
    V.check_tensor(name, "labels", labels)
    if labels.is_floating_point() or labels.is_complex():
        raise V.LossTypeError(
            f"{name}: labels must be an integer tensor of class ids, but got dtype {labels.dtype}; use labels.long()"
        )
    n = embeddings.shape[0]
    if tuple(labels.shape) == (n,):
        return
    if tuple(labels.shape) == (n, 1):
        fix = "use labels.squeeze(1)"
    elif labels.dim() == 2 and labels.shape[0] == n:
        fix = "labels look one-hot: use labels.argmax(1)"
    else:
        fix = f"pass one class id per row of {arg_embeddings}"
    raise V.LossShapeError(
        f"{name}: labels must have shape ({n},), one class id per row of {arg_embeddings} "
        f"{V.shape_str(embeddings)}, but got {V.shape_str(labels)}; {fix}"
    )


def _check_angle(name: str, margin: object) -> float:
    """ArcFace's margin: an angle in radians in ``[0, pi)``."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0.0 <= margin < math.pi:
        raise V.LossOptionError(
            f"{name}: margin must be an angle in radians in [0, pi), but got {margin!r}; "
            "pass e.g. margin=0.5 (about 28.6 degrees; math.radians(degrees) converts)"
        )
    return float(margin)


def _check_label_range(name: str, labels: Tensor, num_classes: int) -> None:
    """Value check: class indices in ``[0, num_classes)`` (one per centre)."""
    if labels.numel() == 0:
        return
    lo, hi = int(labels.min()), int(labels.max())
    if lo >= 0 and hi < num_classes:
        return
    fix = (
        "labels look 1-based: use labels - 1"
        if lo >= 1 and hi == num_classes
        else "check the labels, or give the loss one centre per class (num_classes)"
    )
    raise V.LossValueError(
        f"{name}: labels must be class indices in [0, {num_classes}) ({num_classes} centres), but got "
        f"{lo if lo < 0 else hi} (labels range [{lo}, {hi}]); {fix}"
    )


def _check_labelled(name: str, embeddings: Tensor, labels: Tensor, dims: tuple[int, ...] = (2,)) -> None:
    """Metadata checks of ``(embeddings, labels)`` and, when due, the value checks."""
    if V.enabled():
        _check_embeddings(name, "embeddings", embeddings, dims=dims)
        _check_labels(name, labels, embeddings)
        V.check_same_device(name, embeddings=embeddings, labels=labels)
    if V.values_due(name, embeddings, labels):
        V.check_finite(name, "embeddings", embeddings)


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------
@overload
def _candidates(x: Tensor, labels: Tensor, global_batch: bool) -> tuple[Tensor, Tensor, Tensor]: ...
@overload
def _candidates(x: Tensor, labels: None, global_batch: bool) -> tuple[Tensor, None, Tensor]: ...
def _candidates(x: Tensor, labels: Tensor | None, global_batch: bool) -> tuple[Tensor, Tensor | None, Tensor]:
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


def _reduce(terms: Tensor, reduction: str, global_batch: bool, denominator: Tensor | None = None) -> Tensor:
    """:func:`reduce_loss`, over every process's terms with ``global_batch`` (module docstring)."""
    if global_batch:
        return distributed.global_reduce_loss(terms, reduction, denominator=denominator)
    return _local_reduce(terms, reduction, denominator=denominator)


def _euclidean(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise plain Euclidean distances ``(N, M)``, exact (no ``|a|^2 + |b|^2 - 2ab`` cancellation).

    The gradient at a distance of exactly 0 (identical rows) is 0, not NaN.
    """
    if a.dtype in (torch.float16, torch.bfloat16):
        a, b = a.float(), b.float()
    return torch.cdist(a, b, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")


def _cosine_similarity(a: Tensor, b: Tensor) -> Tensor:
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).transpose(0, 1)


def _distance(a: Tensor, b: Tensor, distance: str) -> Tensor:
    return _euclidean(a, b) if distance == "euclidean" else 1.0 - _cosine_similarity(a, b)


# --------------------------------------------------------------------------------------------
# pair and triplet losses
# --------------------------------------------------------------------------------------------
@mixed_precision
def contrastive_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    distance: str = "euclidean",
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Contrastive loss over every pair of the batch: pull positives within ``pos_margin``, push negatives
    beyond ``neg_margin``.

    For the ordered pairs :math:`(i, j)`, :math:`i \ne j`, with distance :math:`d_{ij}`:

    .. math::
        \ell_{ij} = \begin{cases} [d_{ij} - m_{pos}]_+ & y_i = y_j \\
                    [m_{neg} - d_{ij}]_+ & y_i \ne y_j \end{cases}

    ``"mean"`` averages over the :math:`N (N - 1)` pairs (0 for a single sample), ``"sum"`` adds them and
    ``"none"`` returns the ``(N, M)`` matrix of pair losses with 0 on the diagonal (a row is not paired with
    itself). The distance is the plain Euclidean one, or ``1 - cos`` for ``distance="cosine"``; margins apply
    to that distance.

    pytorch-metric-learning's ``ContrastiveLoss`` has the same pair losses (with
    ``LpDistance(normalize_embeddings=False)``; its default distance normalises the embeddings first) but
    reduces with ``AvgNonZeroReducer``: the positive and the negative pair losses are each averaged over their
    non-zero terms and the two averages added. losskit's ``"sum"`` equals its ``SumReducer`` result.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids.
        pos_margin: distance below which a positive pair costs nothing, >= 0 (default 0.0).
        neg_margin: distance beyond which a negative pair costs nothing, >= 0 (default 1.0).
        distance: ``"euclidean"`` (default) or ``"cosine"`` (``d = 1 - cos``).
        global_batch: pair the local rows with the rows of every process (default False; module docstring).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`. Output: scalar, or :math:`(N, M)` for ``"none"``
        (:math:`M = N`, or the global batch size with ``global_batch``).

    Raises:
        LossShapeError: ``embeddings`` not 2-D; ``labels`` not ``(N,)``.
        LossTypeError: integer ``embeddings``, floating ``labels``.
        LossOptionError: negative margin, unknown ``distance`` or ``reduction``.
        NonFiniteError: NaN or Inf in ``embeddings`` (value check).

    References:
        Hadsell, R., Chopra, S., LeCun, Y. "Dimensionality Reduction by Learning an Invariant Mapping", 2006.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]])
        >>> print(round(float(LF.contrastive_loss(x, torch.tensor([0, 0, 1]))), 4))
        0.5613
    """
    name = "contrastive_loss"
    V.check_reduction(name, reduction)
    pos_margin = V.check_positive(name, "pos_margin", pos_margin, allow_zero=True)
    neg_margin = V.check_positive(name, "neg_margin", neg_margin, allow_zero=True)
    V.check_choice(name, "distance", distance, _DISTANCES)
    _check_labelled(name, embeddings, labels)
    rows, row_labels, self_mask = _candidates(embeddings, labels, global_batch)
    d = _distance(embeddings, rows, distance)
    same = labels[:, None] == row_labels[None, :]
    positive = same & ~self_mask
    negative = ~same
    terms = torch.where(positive, F.relu(d - pos_margin), torch.where(negative, F.relu(neg_margin - d), 0.0))
    return _reduce(terms, reduction, global_batch, (positive | negative).sum())


@mixed_precision
def batch_hard_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    margin: float = 0.2,
    soft_margin: bool = False,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Batch-hard triplet loss: each anchor against its farthest positive and its closest negative.

    With the plain Euclidean distance :math:`d` (not squared; embeddings used as given, not normalised):

    .. math::
        \ell_a = [\max_{p: y_p = y_a, p \ne a} d_{ap} - \min_{n: y_n \ne y_a} d_{an} + m]_+

    or, with ``soft_margin=True``, :math:`\ell_a = \log(1 + \exp(\max_p d_{ap} - \min_n d_{an}))` (the margin
    is then not used). Anchors without a positive or without a negative have no triplet: their term is 0 and
    ``"mean"`` averages over the anchors that have one (0 when none has).

    The default ``margin=0.2`` is FaceNet's (Schroff et al., 2015); Hermans et al. recommend the soft margin.
    pytorch-metric-learning's ``TripletMarginLoss`` (default margin 0.05, on L2-normalised embeddings) with
    a ``BatchHardMiner``, ``LpDistance(normalize_embeddings=False)`` and a ``MeanReducer`` gives the same
    numbers; its default ``AvgNonZeroReducer`` averages over the non-zero terms instead.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids.
        margin: the hinge margin, >= 0 (default 0.2).
        soft_margin: use ``softplus(d_ap - d_an)`` instead of the hinge (default False).
        global_batch: mine positives and negatives among the rows of every process (default False).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`. Output: scalar, or :math:`(N)` for ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError: as :func:`contrastive_loss`.
        LossOptionError: negative ``margin``, unknown ``reduction``.

    References:
        Hermans, A., Beyer, L., Leibe, B. "In Defense of the Triplet Loss for Person Re-Identification", 2017.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]])
        >>> print(round(float(LF.batch_hard_triplet_loss(x, torch.tensor([0, 0, 1]))), 4))
        0.2919
    """
    name = "batch_hard_triplet_loss"
    V.check_reduction(name, reduction)
    margin = V.check_positive(name, "margin", margin, allow_zero=True)
    _check_labelled(name, embeddings, labels)
    rows, row_labels, self_mask = _candidates(embeddings, labels, global_batch)
    d = _euclidean(embeddings, rows)
    same = labels[:, None] == row_labels[None, :]
    positive = same & ~self_mask
    negative = ~same
    # one padding column keeps the reductions defined for an empty batch
    pad = d.new_zeros(d.shape[0], 1)
    hardest_pos = torch.cat([torch.where(positive, d, 0.0), pad], dim=1).amax(dim=1)
    hardest_neg = torch.cat([torch.where(negative, d, math.inf), pad + math.inf], dim=1).amin(dim=1)
    valid = positive.any(dim=1) & negative.any(dim=1)
    gap = torch.where(valid, hardest_pos - hardest_neg, 0.0)
    terms = F.softplus(gap) if soft_margin else F.relu(gap + margin)
    terms = torch.where(valid, terms, 0.0)
    return _reduce(terms, reduction, global_batch, valid.sum())


# --------------------------------------------------------------------------------------------
# softmax (InfoNCE-type) losses
# --------------------------------------------------------------------------------------------
def _info_nce_direction(anchors: Tensor, others: Tensor, temperature: float, global_batch: bool) -> Tensor:
    rows, _, self_mask = _candidates(others, None, global_batch)
    logits = anchors @ rows.transpose(0, 1) / temperature
    positive = torch.where(self_mask, logits, 0.0).sum(dim=1)
    return torch.logsumexp(logits, dim=1) - positive


@mixed_precision
def info_nce_loss(
    query: Tensor,
    key: Tensor,
    *,
    temperature: float = 0.07,
    symmetric: bool = True,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""InfoNCE on two views: row ``i`` of ``query`` must pick row ``i`` of ``key`` among all the keys.

    Both inputs are L2-normalised (cosine similarity :math:`s_{ij} = \hat q_i \cdot \hat k_j`), then

    .. math::
        \ell_i^{q \to k} = -\log \frac{\exp(s_{ii} / \tau)}{\sum_j \exp(s_{ij} / \tau)},
        \qquad \ell_i = \tfrac12 (\ell_i^{q \to k} + \ell_i^{k \to q}) \text{ if symmetric}

    the symmetric form being CLIP's (cross-entropy over the rows and over the columns of the similarity
    matrix, averaged). ``symmetric=False`` keeps :math:`\ell_i^{q \to k}` (MoCo / CPC form, keys as negatives).
    One direction equals pytorch-metric-learning's ``NTXentLoss`` called with ``ref_emb=key`` and labels
    ``arange(N)`` for both (its ``NTXentLoss`` on the concatenated views is SimCLR's variant, which also uses
    the other queries as negatives).

    Args:
        query: ``(N, D)`` first view, floating dtype.
        key: ``(N, D)`` second view; row ``i`` is the positive of ``query`` row ``i``.
        temperature: softmax temperature :math:`\tau` > 0 (default 0.07).
        symmetric: average both directions, as CLIP (default True).
        global_batch: use the keys (and queries) of every process as negatives (default False).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``query``, ``key``: :math:`(N, D)`. Output: scalar, or :math:`(N)` for ``"none"``.

    Raises:
        LossShapeError: ``query`` not 2-D, or ``key`` of another shape.
        LossTypeError: integer inputs.
        LossOptionError: ``temperature <= 0``, unknown ``reduction``.
        NonFiniteError: NaN or Inf in ``query`` or ``key`` (value check).

    References:
        van den Oord, A., Li, Y., Vinyals, O. "Representation Learning with Contrastive Predictive Coding", 2018.
        Radford, A. et al. "Learning Transferable Visual Models From Natural Language Supervision", 2021.

    Example:
        >>> import torch, losskit.functional as LF
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(LF.info_nce_loss(q, q, temperature=1.0)), 4))
        0.3133
    """
    name = "info_nce_loss"
    V.check_reduction(name, reduction)
    temperature = V.check_positive(name, "temperature", temperature)
    if V.enabled():
        _check_embeddings(name, "query", query)
        V.check_tensor(name, "key", key)
        V.check_floating(name, "key", key, role="embeddings")
        V.check_same_shape(
            name, query, key, "query", "key", fix="pass one key per query, row i of key being the positive of row i"
        )
        V.check_same_device(name, query=query, key=key)
    if V.values_due(name, query, key):
        V.check_finite(name, "query", query)
        V.check_finite(name, "key", key)
    q, k = F.normalize(query, dim=1), F.normalize(key, dim=1)
    terms = _info_nce_direction(q, k, temperature, global_batch)
    if symmetric:
        terms = 0.5 * (terms + _info_nce_direction(k, q, temperature, global_batch))
    return _reduce(terms, reduction, global_batch)


@mixed_precision
def supcon_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    temperature: float = 0.07,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Supervised contrastive loss (SupCon, the :math:`\mathcal{L}^{sup}_{out}` form): every row with the
    anchor's label is a positive, every other row in the denominator.

    The rows (all views of all samples) are L2-normalised, :math:`s_{ia} = \hat z_i \cdot \hat z_a`; with
    :math:`P(i)` the other rows of the same label and :math:`A(i)` all the other rows:

    .. math::
        \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
                 \log \frac{\exp(s_{ip} / \tau)}{\sum_{a \in A(i)} \exp(s_{ia} / \tau)}

    Anchors without a positive have :math:`\ell_i = 0` and do not count in ``"mean"`` (0 when no anchor has
    one). Embeddings ``(N, V, D)`` hold ``V`` views of each sample (the views of a sample share its label and are
    positives of each other); ``(N, D)`` is one view. With ``labels = arange(N)`` and two views this is SimCLR's
    NT-Xent loss.

    Differences from the peers: the authors' code multiplies the loss by ``temperature / base_temperature``
    (0.07), a factor of 1 at the default temperature, which losskit leaves out; pytorch-metric-learning's
    ``SupConLoss`` (default temperature 0.1) has the same per-anchor terms, and its default
    ``AvgNonZeroReducer`` averages over the non-zero terms.

    Args:
        embeddings: ``(N, D)`` or ``(N, V, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids (one per sample, shared by its views).
        temperature: softmax temperature :math:`\tau` > 0 (default 0.07).
        global_batch: use the rows of every process as positives and negatives (default False).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``embeddings`` :math:`(N, D)` or :math:`(N, V, D)`, ``labels`` :math:`(N)`. Output: scalar, or
        :math:`(N)` / :math:`(N, V)` for ``"none"``.

    Raises:
        LossShapeError: ``embeddings`` not 2-D or 3-D; ``labels`` not ``(N,)``.
        LossTypeError, NonFiniteError: as :func:`contrastive_loss`.
        LossOptionError: ``temperature <= 0``, unknown ``reduction``.

    References:
        Khosla, P. et al. "Supervised Contrastive Learning", 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(LF.supcon_loss(x, torch.tensor([0, 0, 1]), temperature=1.0)), 4))
        0.3133
    """
    name = "supcon_loss"
    V.check_reduction(name, reduction)
    temperature = V.check_positive(name, "temperature", temperature)
    _check_labelled(name, embeddings, labels, dims=(2, 3))
    shape = embeddings.shape[:-1]
    if embeddings.dim() == 3:
        z = embeddings.reshape(-1, embeddings.shape[-1])
        row_labels_local = labels.repeat_interleave(embeddings.shape[1])
    else:
        z, row_labels_local = embeddings, labels
    z = F.normalize(z, dim=-1)
    rows, row_labels, self_mask = _candidates(z, row_labels_local, global_batch)
    logits = z @ rows.transpose(0, 1) / temperature
    positive = (row_labels_local[:, None] == row_labels[None, :]) & ~self_mask
    others = logits.masked_fill(self_mask, torch.finfo(logits.dtype).min)
    log_prob = torch.where(positive, logits - torch.logsumexp(others, dim=1, keepdim=True), 0.0)
    count = positive.sum(dim=1)
    terms = -log_prob.sum(dim=1) / count.clamp_min(1).to(log_prob.dtype)
    return _reduce(terms.reshape(shape), reduction, global_batch, (count > 0).sum())


# --------------------------------------------------------------------------------------------
# additive-margin softmax losses with class centres
# --------------------------------------------------------------------------------------------
def _margin_softmax(
    name: str, embeddings: Tensor, labels: Tensor, centres: Tensor, scale: float, reduction: str, target_fn
) -> Tensor:
    V.check_reduction(name, reduction)
    scale = V.check_positive(name, "scale", scale)
    if V.enabled():
        _check_embeddings(name, "embeddings", embeddings)
        _check_labels(name, labels, embeddings)
        _check_embeddings(name, "centres", centres)
        if centres.shape[1] != embeddings.shape[1] or centres.shape[0] == 0:
            raise V.LossShapeError(
                f"{name}: centres must have shape (C, {embeddings.shape[1]}), one centre of the embedding size per "
                f"class, but got {V.shape_str(centres)} for embeddings {V.shape_str(embeddings)}; "
                f"pass centres of shape (num_classes, {embeddings.shape[1]})"
            )
        V.check_same_device(name, embeddings=embeddings, labels=labels, centres=centres)
    if V.values_due(name, embeddings, labels, centres):
        V.check_finite(name, "embeddings", embeddings)
        V.check_finite(name, "centres", centres)
        _check_label_range(name, labels, centres.shape[0])
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
