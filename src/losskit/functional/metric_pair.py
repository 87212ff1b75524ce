"""Metric-learning losses on all the pairs of each anchor: Circle loss, Multi-Similarity, lifted structure.

Conventions (inputs, ``distance=``, reductions with ``"mean_nonzero"``, mined ``indices``, ``ref_emb``, global
batch, nothing to average) are the family's: :mod:`losskit.functional.metric`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .. import distributed
from .._precision import mixed_precision
from . import _distances as D
from . import _metric_common as C
from ._metric_common import REDUCTIONS, Indices
from .miners import multi_similarity_mining_masks

__all__ = ["circle_loss", "lifted_structure_loss", "multi_similarity_loss"]


def _pairs(
    name: str,
    embeddings: Tensor,
    labels: Tensor,
    ref_emb: Tensor | None,
    ref_labels: Tensor | None,
    indices: object,
    distance: str,
    normalize_embeddings: bool,
    global_batch: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Checks, then ``(matrix (N, M), positive mask, negative mask)``."""
    D.check_distance(name, distance)
    checked = C.check_indices(name, indices, global_batch)
    C.check_labelled(name, embeddings, labels)
    C.check_reference(name, embeddings, ref_emb, ref_labels)
    rows, row_labels, self_mask = C.references(embeddings, labels, ref_emb, ref_labels, global_batch)
    mat = D.pairwise(embeddings, rows, distance, normalize_embeddings=normalize_embeddings)
    positive, negative = C.pair_masks(labels, row_labels, self_mask, checked)
    return mat, positive, negative


@mixed_precision
def circle_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    m: float = 0.4,
    gamma: float = 80.0,
    distance: str = "cosine",
    normalize_embeddings: bool = True,
    indices: Indices | None = None,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Circle loss (pair-label form): every positive and negative similarity of an anchor, each weighted by how
    far it is from its optimum.

    With similarities :math:`s` (cosine by default), positives :math:`s_p` and negatives :math:`s_n` of anchor
    :math:`i`, :math:`\alpha_p = [1 + m - s_p]_+`, :math:`\alpha_n = [s_n + m]_+` (treated as constants, as in
    the paper) and :math:`\Delta_p = 1 - m`, :math:`\Delta_n = m`:

    .. math::
        \ell_i = \operatorname{softplus}\Big(\log \sum_p e^{-\gamma \alpha_p (s_p - \Delta_p)}
                 + \log \sum_n e^{\gamma \alpha_n (s_n - \Delta_n)}\Big)

    Anchors without a positive or without a negative have :math:`\ell_i = 0` and do not count in ``"mean"``.
    pytorch-metric-learning's ``CircleLoss(m, gamma)`` (``CosineSimilarity`` only, ``AvgNonZeroReducer``) is
    ``reduction="mean_nonzero"``; the defaults ``m=0.4, gamma=80`` are its (the paper's fine-grained retrieval
    setting; 0.25 and 256 for faces, 0.25 and 128 for re-identification). With a distance, :math:`s = -d`.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids.
        m: the relaxation margin (default 0.4).
        gamma: the scale :math:`\gamma` > 0 (default 80).
        distance: ``"cosine"`` (default) or another of :mod:`losskit.functional._distances`.
        normalize_embeddings: L2-normalise the rows first (default True).
        indices: mined pairs or triplets instead of every pair.
        ref_emb, ref_labels: pair the anchors with these ``(M, D)`` rows and ``(M,)`` labels.
        global_batch: pair with the rows of every process (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`. Output: scalar, or :math:`(N)` for ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError: as :func:`losskit.functional.contrastive_loss`.
        LossOptionError: ``gamma <= 0``, unknown ``distance`` or ``reduction``, malformed ``indices``.

    References:
        Sun, Y. et al. "Circle Loss: A Unified Perspective of Pair Similarity Optimization", 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> print(round(float(LF.circle_loss(x, torch.tensor([0, 0, 1]), gamma=4.0)), 4))
        0.5741
    """
    name = "circle_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    m = C.check_margin_like(name, "m", m)
    gamma = V.check_positive(name, "gamma", gamma)
    mat, positive, negative = _pairs(
        name, embeddings, labels, ref_emb, ref_labels, indices, distance, normalize_embeddings, global_batch
    )
    s = D.as_similarity(mat, distance)
    alpha_p = F.relu(1.0 + m - s.detach())
    alpha_n = F.relu(s.detach() + m)
    pos = C.masked_logsumexp(-gamma * alpha_p * (s - (1.0 - m)), positive)
    neg = C.masked_logsumexp(gamma * alpha_n * (s - m), negative)
    valid = positive.any(dim=1) & negative.any(dim=1)
    # logaddexp(z, 0): softplus without F.softplus's linear cut-off above 20 (PML's Softplus has it; < 2e-9)
    terms = torch.where(valid, torch.logaddexp(torch.where(valid, pos + neg, 0.0), torch.zeros_like(pos)), 0.0)
    return C.reduce(terms, reduction, global_batch, valid.sum())


@mixed_precision
def multi_similarity_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    alpha: float = 2.0,
    beta: float = 50.0,
    base: float = 0.5,
    mining: bool = False,
    epsilon: float = 0.1,
    distance: str = "cosine",
    normalize_embeddings: bool = True,
    indices: Indices | None = None,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Multi-Similarity loss: soft weighting of every positive and negative pair of an anchor by its own, the
    other pairs' and the anchor's similarities, optionally after the paper's pair mining.

    With similarities :math:`s` (cosine by default), the positives :math:`P_i` and negatives :math:`N_i` of
    anchor :math:`i` and the threshold :math:`\lambda` = ``base``:

    .. math::
        \ell_i = \frac{1}{\alpha} \log\Big(1 + \sum_{p \in P_i} e^{-\alpha (s_{ip} - \lambda)}\Big)
               + \frac{1}{\beta} \log\Big(1 + \sum_{n \in N_i} e^{\beta (s_{in} - \lambda)}\Big)

    ``mining=True`` first keeps the positives with :math:`s_{ip} - \epsilon < \max_n s_{in}` and the negatives
    with :math:`s_{in} + \epsilon > \min_p s_{ip}` (eq. 6-7; :func:`losskit.functional.miners.mine_pairs` with
    ``strategy="multi_similarity"`` returns the same pairs as indices). ``"mean"`` averages over the anchors with
    at least one pair.

    pytorch-metric-learning's ``MultiSimilarityLoss(alpha, beta, base)`` (``CosineSimilarity``, ``MeanReducer``
    over all N anchors) gives the same numbers when every anchor has a pair (always without mining); with a
    ``MultiSimilarityMiner(epsilon)`` it is ``mining=True`` and its mean is losskit's ``"sum"`` divided by N. With
    PML's ``LpDistance`` (no similarity) its number is ``distance="euclidean", base=-base`` here (losskit uses
    :math:`s = -d`).

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids.
        alpha: the positive scale :math:`\alpha` > 0 (default 2).
        beta: the negative scale :math:`\beta` > 0 (default 50).
        base: the similarity threshold :math:`\lambda` (default 0.5).
        mining: apply the paper's pair mining first (default False).
        epsilon: the mining margin :math:`\epsilon` (default 0.1).
        distance: ``"cosine"`` (default) or another of :mod:`losskit.functional._distances`.
        normalize_embeddings: L2-normalise the rows first (default True).
        indices: mined pairs or triplets instead of every pair.
        ref_emb, ref_labels: pair the anchors with these rows and labels.
        global_batch: pair with the rows of every process (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`. Output: scalar, or :math:`(N)` for ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError: as :func:`losskit.functional.contrastive_loss`.
        LossOptionError: ``alpha`` or ``beta`` <= 0, unknown ``distance`` or ``reduction``, malformed ``indices``.

    References:
        Wang, X., Han, X., Huang, W., Dong, D., Scott, M. R. "Multi-Similarity Loss with General Pair Weighting
        for Deep Metric Learning", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> print(round(float(LF.multi_similarity_loss(x, torch.tensor([0, 0, 1]), beta=4.0)), 4))
        0.313
    """
    name = "multi_similarity_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    alpha = V.check_positive(name, "alpha", alpha)
    beta = V.check_positive(name, "beta", beta)
    base = C.check_margin_like(name, "base", base)
    epsilon = C.check_margin_like(name, "epsilon", epsilon)
    mat, positive, negative = _pairs(
        name, embeddings, labels, ref_emb, ref_labels, indices, distance, normalize_embeddings, global_batch
    )
    s = D.as_similarity(mat, distance)
    if mining:
        positive, negative = multi_similarity_mining_masks(s, positive, negative, epsilon)
    pos = C.masked_logsumexp(-alpha * (s - base), positive, add_one=True) / alpha
    neg = C.masked_logsumexp(beta * (s - base), negative, add_one=True) / beta
    counted = positive.any(dim=1) | negative.any(dim=1)
    return C.reduce(pos + neg, reduction, global_batch, counted.sum())


@mixed_precision
def lifted_structure_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    distance: str = "euclidean",
    normalize_embeddings: bool = True,
    indices: Indices | None = None,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Lifted structured loss: each positive pair against every negative pair of either of its two rows, through
    a smooth maximum.

    For a positive pair :math:`(i, j)` with distance :math:`d`, the negatives :math:`N_i` of :math:`i` and
    :math:`N_j` of :math:`j`:

    .. math::
        J_{ij} = \log\Big(\sum_{k \in N_i} e^{m_{neg} - d_{ik}} + \sum_{l \in N_j} e^{m_{neg} - d_{jl}}\Big)
                 + d_{ij} - m_{pos}, \qquad \ell_{ij} = \tfrac12 [J_{ij}]_+^2

    The paper (Oh Song et al., 2016, eq. 4) has :math:`m_{pos} = 0` and sums over unordered pairs with weight
    :math:`1/(2|P|)`; here, as in pytorch-metric-learning's ``LiftedStructureLoss(neg_margin, pos_margin)`` (the
    generalisation with a positive margin), every ordered pair has its term, halved because each pair appears
    twice, and ``"mean"`` averages over the ordered positive pairs (PML's default ``MeanReducer``; its default
    ``LpDistance()`` is the default here). A pair whose rows have no negative at all takes 0 for the log-sum
    (PML's convention). ``"none"`` returns the ``(N, N)`` array of pair terms, 0 off the positive pairs. (PML's
    ``GeneralizedLiftedStructureLoss``, Hermans et al. 2017, is a different per-anchor loss, not this one.)

    With ``global_batch=True`` the local rows are the first rows :math:`i` of the pairs and the rows of every
    process (gathered) the second rows :math:`j` and the negatives; the log-sums of the second rows, computed by
    the process that holds them, are gathered too. Every ordered pair is then counted once over the processes,
    and ``"mean"``/``"sum"`` are those of the whole batch; ``"none"`` is this process's ``(N, M)`` rows of the
    pair terms (``M`` rows over every process).

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids.
        pos_margin: :math:`m_{pos}` (default 0).
        neg_margin: :math:`m_{neg}` (default 1).
        distance: ``"euclidean"`` (default) or another of :mod:`losskit.functional._distances` (a similarity as
            ``d = 1 - s``).
        normalize_embeddings: L2-normalise the rows first (default True, as PML).
        indices: mined pairs or triplets instead of every pair.
        global_batch: pair with the rows of every process (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`. Output: scalar, or :math:`(N, N)` for ``"none"``
        (:math:`(N, M)` with ``global_batch``).

    Raises:
        LossShapeError, LossTypeError, NonFiniteError: as :func:`losskit.functional.contrastive_loss`.
        LossOptionError: unknown ``distance`` or ``reduction``, malformed ``indices``.

    References:
        Oh Song, H., Xiang, Y., Jegelka, S., Savarese, S. "Deep Metric Learning via Lifted Structured Feature
        Embedding", 2016.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]])
        >>> print(round(float(LF.lifted_structure_loss(x, torch.tensor([0, 0, 1]), normalize_embeddings=False)), 4))
        1.6007
    """
    name = "lifted_structure_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    pos_margin = C.check_margin_like(name, "pos_margin", pos_margin)
    neg_margin = C.check_margin_like(name, "neg_margin", neg_margin)
    mat, positive, negative = _pairs(
        name, embeddings, labels, None, None, indices, distance, normalize_embeddings, global_batch
    )
    d = D.as_distance(mat, distance)
    lse = C.masked_logsumexp(neg_margin - d, negative)  # (N,): log-sum over the negatives of each row
    has_neg = negative.any(dim=1)
    # the same of the second rows (M,): every process's, in the order of the gathered rows
    lse_rows, has_neg_rows = (
        (distributed.all_gather(lse), distributed.all_gather(has_neg)) if global_batch else (lse, has_neg)
    )
    either = has_neg[:, None] | has_neg_rows[None, :]
    a, b = lse[:, None].expand_as(d), lse_rows[None, :].expand_as(d)
    low = torch.finfo(d.dtype).min
    both = torch.logaddexp(torch.where(has_neg[:, None], a, low), torch.where(has_neg_rows[None, :], b, low))
    j = torch.where(either, both, 0.0) + d - pos_margin
    terms = torch.where(positive, 0.5 * F.relu(j) ** 2, 0.0)
    return C.reduce(terms, reduction, global_batch, positive.sum())
