"""Metric-learning losses on pairs and triplets of a labelled batch: contrastive, batch-hard triplet, and the
triplet loss over all or mined triplets.

The family is split by concern: this file (pairs and triplets), :mod:`.metric_pair` (Circle, Multi-Similarity,
lifted structure), :mod:`.metric_contrastive` (InfoNCE, SupCon, NT-Xent, N-pair), :mod:`.metric_proxy` (ArcFace,
CosFace, Proxy-Anchor, Proxy-NCA), with the distances in :mod:`._distances`, the miners in :mod:`.miners` and the
shared pieces (reductions, ``"mean_nonzero"``, mined ``indices``) in :mod:`._metric_common`. Every name stays
importable from here and from :mod:`losskit.functional`.

Conventions shared by the family:

* **Inputs.** Embeddings are ``(N, D)`` floating tensors (``supcon_loss`` also takes ``(N, V, D)`` views) and
  labels ``(N,)`` integer class ids; two rows with the same label form a positive pair, two rows with different
  labels a negative pair, a row is never paired with itself.
* **Distances.** ``distance=`` chooses among ``"euclidean"``, ``"squared_euclidean"``, ``"cosine"`` and
  ``"dot"``, with ``normalize_embeddings=`` (:mod:`._distances`: a similarity enters a distance-based loss as
  ``d = 1 - s``, a distance enters a similarity-based loss as ``s = -d``). Each loss keeps its own defaults.
* **Reductions.** ``"none"``, ``"mean"`` (default), ``"sum"``, and ``"mean_nonzero"``, pytorch-metric-learning's
  ``AvgNonZeroReducer`` (:mod:`._metric_common`).
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

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from . import _distances as D
from . import _metric_common as C
from ._metric_common import REDUCTIONS, Indices
from .miners import TRIPLET_STRATEGIES, triplet_mining_mask

__all__ = ["batch_hard_triplet_loss", "contrastive_loss", "mined_triplet_loss"]

_DISTANCES = D.DISTANCES


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
    normalize_embeddings: bool = False,
    indices: Indices | None = None,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
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
    itself). With ``ref_emb``/``ref_labels`` the pairs are (embedding row, reference row) by label, no row
    excluded (a memory of past batches: :class:`losskit.CrossBatchMemory`). The distance is the plain Euclidean
    one by default; a similarity (``"cosine"``, ``"dot"``) enters as ``d = 1 - s`` and the margins apply to that
    distance. ``"mean_nonzero"`` averages the positive and the negative pair losses each over its non-zero terms
    and adds the two averages.

    pytorch-metric-learning's ``ContrastiveLoss`` has the same pair losses and its default reducer
    (``AvgNonZeroReducer``) is ``reduction="mean_nonzero"``; its default distance ``LpDistance()`` is
    ``normalize_embeddings=True`` here; its margins on ``CosineSimilarity()`` are ``1 - m`` here
    (``pos_margin=1 - m_pos, neg_margin=1 - m_neg``). losskit's ``"sum"`` equals its ``SumReducer`` result.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids.
        pos_margin: distance below which a positive pair costs nothing, >= 0 (default 0.0).
        neg_margin: distance beyond which a negative pair costs nothing, >= 0 (default 1.0).
        distance: ``"euclidean"`` (default), ``"squared_euclidean"``, ``"cosine"`` or ``"dot"`` (similarities
            as ``d = 1 - s``).
        normalize_embeddings: L2-normalise the rows first (default False).
        indices: mined pairs or triplets (:mod:`losskit.functional.miners`) instead of every pair.
        ref_emb, ref_labels: pair the anchors with these ``(M, D)`` rows and ``(M,)`` labels.
        global_batch: pair the local rows with the rows of every process (default False; module docstring).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`. Output: scalar, or :math:`(N, M)` for ``"none"``
        (:math:`M = N`, the global batch size with ``global_batch``, or the number of reference rows).

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
    V.check_reduction(name, reduction, REDUCTIONS)
    pos_margin = V.check_positive(name, "pos_margin", pos_margin, allow_zero=True)
    neg_margin = V.check_positive(name, "neg_margin", neg_margin, allow_zero=True)
    D.check_distance(name, distance)
    indices = C.check_indices(name, indices, global_batch)
    C.check_labelled(name, embeddings, labels)
    C.check_reference(name, embeddings, ref_emb, ref_labels)
    rows, row_labels, self_mask = C.references(embeddings, labels, ref_emb, ref_labels, global_batch)
    d = D.as_distance(D.pairwise(embeddings, rows, distance, normalize_embeddings=normalize_embeddings), distance)
    positive, negative = C.pair_masks(labels, row_labels, self_mask, indices)
    pos_terms = torch.where(positive, F.relu(d - pos_margin), 0.0)
    neg_terms = torch.where(negative, F.relu(neg_margin - d), 0.0)
    terms = pos_terms + neg_terms
    if reduction == "mean_nonzero":
        counts = (positive.sum(), negative.sum())
        return C.reduce_two(pos_terms, neg_terms, reduction, counts, global_batch, terms)
    return C.reduce(terms, reduction, global_batch, (positive | negative).sum())


@mixed_precision
def batch_hard_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    margin: float = 0.2,
    soft_margin: bool = False,
    distance: str = "euclidean",
    normalize_embeddings: bool = False,
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
        distance: ``"euclidean"`` (default), ``"squared_euclidean"``, ``"cosine"`` or ``"dot"`` (similarities
            as ``d = 1 - s``).
        normalize_embeddings: L2-normalise the rows first (default False).
        global_batch: mine positives and negatives among the rows of every process (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

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
    V.check_reduction(name, reduction, REDUCTIONS)
    margin = V.check_positive(name, "margin", margin, allow_zero=True)
    D.check_distance(name, distance)
    C.check_labelled(name, embeddings, labels)
    rows, row_labels, self_mask = C.candidates(embeddings, labels, global_batch)
    d = D.as_distance(D.pairwise(embeddings, rows, distance, normalize_embeddings=normalize_embeddings), distance)
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
    return C.reduce(terms, reduction, global_batch, valid.sum())



@mixed_precision
def mined_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    margin: float = 0.05,
    mining: str | None = None,
    mining_margin: float = 0.2,
    swap: bool = False,
    smooth_loss: bool = False,
    distance: str = "euclidean",
    normalize_embeddings: bool = True,
    indices: Indices | None = None,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Triplet margin loss over every triplet of a labelled batch, or the mined ones (semi-hard, hard, all
    margin-violating), with the distance swap and a smooth variant.

    For each triplet :math:`(a, p, n)` (:math:`y_p = y_a`, :math:`p \ne a`, :math:`y_n \ne y_a`) with distance
    :math:`d`:

    .. math::
        \ell_{apn} = [d_{ap} - \tilde d_{an} + m]_+, \qquad
        \tilde d_{an} = \min(d_{an}, d_{pn}) \text{ with swap, else } d_{an}

    or :math:`\operatorname{softplus}(d_{ap} - \tilde d_{an} + m)` with ``smooth_loss``. ``mining`` keeps the
    triplets of :func:`losskit.functional.miners.mine_triplets`'s strategy with margin ``mining_margin``
    (``"semihard"``: :math:`0 < d_{an} - d_{ap} \le` ``mining_margin``; ``"hard"``: :math:`d_{an} \le d_{ap}`;
    ``"all"``: every triplet with :math:`d_{an} - d_{ap} \le` ``mining_margin``), computed on detached distances
    with masks (compilable); ``indices`` gives the triplets (or pairs) directly. ``"mean"`` averages over the
    triplets kept, ``"mean_nonzero"`` over those with a loss > 0; ``"none"`` returns the ``(N, M, M)`` array of
    triplet terms, 0 where :math:`(a, p, n)` is not a triplet kept.

    pytorch-metric-learning's ``TripletMarginLoss(margin, swap, smooth_loss)`` (``triplets_per_anchor="all"``)
    at its defaults (``LpDistance()``, ``AvgNonZeroReducer``) is this loss with ``reduction="mean_nonzero"``; with
    a ``TripletMarginMiner(margin=mm, type_of_triplets=t)`` it is ``mining=t, mining_margin=mm``. A similarity
    enters as :math:`d = 1 - s`, which leaves :math:`d_{ap} - d_{an}` PML's. The defaults are PML's
    (``margin=0.05``, normalised Euclidean distance); FaceNet (Schroff et al., 2015) uses ``margin=0.2`` with
    semi-hard mining.

    Args:
        embeddings: ``(N, D)`` embeddings, floating dtype.
        labels: ``(N,)`` integer class ids.
        margin: the margin :math:`m` (default 0.05; any finite number).
        mining: None (every triplet, default), ``"all"``, ``"semihard"``, ``"hard"`` or ``"easy"``.
        mining_margin: the margin of the mining (default 0.2, PML's miner default).
        swap: use the positive-negative distance when it is smaller (Balntas et al., 2016; default False).
        smooth_loss: softplus instead of the hinge (default False).
        distance: ``"euclidean"`` (default), ``"squared_euclidean"``, ``"cosine"`` or ``"dot"``.
        normalize_embeddings: L2-normalise the rows first (default True, as PML).
        indices: mined triplets or pairs (:mod:`losskit.functional.miners`) instead of every triplet.
        ref_emb, ref_labels: take positives and negatives from these ``(M, D)`` rows and ``(M,)`` labels.
        global_batch: positives and negatives from the rows of every process (default False).
        reduction: ``"mean"`` (default), ``"sum"``, ``"none"`` or ``"mean_nonzero"``.

    Shape:
        ``embeddings`` :math:`(N, D)`, ``labels`` :math:`(N)`. Output: scalar, or :math:`(N, M, M)` for
        ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError: as :func:`contrastive_loss`.
        LossOptionError: unknown ``mining``, ``distance`` or ``reduction``; malformed ``indices``.

    References:
        Schroff, F., Kalenichenko, D., Philbin, J. "FaceNet: A Unified Embedding for Face Recognition and
        Clustering", 2015. Balntas, V. et al. "Learning local feature descriptors with triplets and shallow
        convolutional neural networks", 2016.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]])
        >>> print(round(float(LF.mined_triplet_loss(x, torch.tensor([0, 0, 1]), margin=0.5)), 4))
        0.119
    """
    name = "mined_triplet_loss"
    V.check_reduction(name, reduction, REDUCTIONS)
    margin = C.check_margin_like(name, "margin", margin)
    mining_margin = C.check_margin_like(name, "mining_margin", mining_margin)
    if mining is not None:
        V.check_choice(name, "mining", mining, TRIPLET_STRATEGIES)
    D.check_distance(name, distance)
    indices = C.check_indices(name, indices, global_batch)
    C.check_labelled(name, embeddings, labels)
    C.check_reference(name, embeddings, ref_emb, ref_labels)
    rows, row_labels, self_mask = C.references(embeddings, labels, ref_emb, ref_labels, global_batch)
    d = D.as_distance(D.pairwise(embeddings, rows, distance, normalize_embeddings=normalize_embeddings), distance)
    triplets = C.triplet_mask(labels, row_labels, self_mask, indices)
    if mining is not None:
        triplets = triplet_mining_mask(d, triplets, mining, mining_margin)
    d_ap, d_an = d[:, :, None], d[:, None, :]
    if swap:
        # d_pn for positive p and negative n; the positives of an anchor are rows of the candidates
        if ref_emb is None and not global_batch:
            d_pn = d
        else:
            d_pn = D.as_distance(D.pairwise(rows, rows, distance, normalize_embeddings=normalize_embeddings), distance)
        d_an = torch.minimum(d_an, d_pn[None, :, :])
    violation = d_ap - d_an + margin
    terms = torch.logaddexp(violation, torch.zeros_like(violation)) if smooth_loss else F.relu(violation)
    terms = torch.where(triplets, terms, 0.0)
    return C.reduce(terms, reduction, global_batch, triplets.sum())


# the family's other files, importable from here as before the split
from .metric_contrastive import info_nce_loss, n_pair_loss, nt_xent_loss, supcon_loss  # noqa: E402, F401
from .metric_pair import circle_loss, lifted_structure_loss, multi_similarity_loss  # noqa: E402, F401
from .metric_proxy import _check_angle, arcface_loss, cosface_loss, proxy_anchor_loss, proxy_nca_loss  # noqa: E402, F401
