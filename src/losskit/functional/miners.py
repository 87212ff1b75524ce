"""Miners as plain functions: they pick the pairs or triplets of a labelled batch a metric loss should use and
return index tuples (pytorch-metric-learning's ``indices_tuple``), which every pair- or triplet-based loss of
losskit takes as ``indices=``.

Miners run without gradient on detached embeddings and return index tensors of data-dependent length, so they
belong outside a compiled loss; the losses with a ``mining=`` option (``mined_triplet_loss``,
``multi_similarity_loss``) mine with masks of fixed shape instead and stay ``torch.compile``-able. A miner and the
matching ``mining=`` option select the same pairs or triplets.

Indices come in row-major order (anchor, then positive, then negative), the order of PML's miners.

Example:
    >>> import torch
    >>> from losskit.functional.miners import mine_triplets
    >>> a, p, n = mine_triplets(torch.tensor([0, 0, 1]))
    >>> a.tolist(), p.tolist(), n.tolist()
    ([0, 1], [1, 0], [2, 2])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _validation as V
from . import _distances as D
from . import _metric_common as C

__all__ = ["mine_pairs", "mine_triplets"]

TRIPLET_STRATEGIES = ("all", "semihard", "hard", "easy")
PAIR_STRATEGIES = ("all", "multi_similarity", "margin")


def triplet_mining_mask(d: Tensor, triplets: Tensor, strategy: str, margin: float) -> Tensor:
    """The triplets of ``triplets`` ``(N, M, M)`` a strategy keeps, on the distance matrix ``d`` ``(N, M)``.

    With the triplet margin :math:`t = d_{an} - d_{ap}`: ``"all"`` keeps :math:`t \\le m` (the triplets that
    violate the margin), ``"hard"`` those with also :math:`t \\le 0`, ``"semihard"`` those with also
    :math:`t > 0`, ``"easy"`` :math:`t > m` (PML's ``TripletMarginMiner(type_of_triplets=...)``).
    """
    d = d.detach()
    t = d[:, None, :] - d[:, :, None]
    if strategy == "easy":
        keep = t > margin
    else:
        keep = t <= margin
        if strategy == "hard":
            keep = keep & (t <= 0)
        elif strategy == "semihard":
            keep = keep & (t > 0)
    return triplets & keep


def multi_similarity_mining_masks(
    s: Tensor, positive: Tensor, negative: Tensor, epsilon: float
) -> tuple[Tensor, Tensor]:
    """Multi-Similarity's pair mining (Wang et al., 2019, eq. 6-7) on the similarity ``s``: a positive is kept
    when :math:`s_{ip} - \\epsilon < \\max_n s_{in}`, a negative when :math:`s_{in} + \\epsilon > \\min_p s_{ip}`
    (PML's ``MultiSimilarityMiner``)."""
    s = s.detach()
    hardest_neg = torch.where(negative, s, -math.inf).amax(dim=1, keepdim=True) if s.shape[1] else s[:, :1]
    hardest_pos = torch.where(positive, s, math.inf).amin(dim=1, keepdim=True) if s.shape[1] else s[:, :1]
    return positive & (s - epsilon < hardest_neg), negative & (s + epsilon > hardest_pos)


def _setup(
    name: str,
    labels: Tensor,
    embeddings: Tensor | None,
    ref_emb: Tensor | None,
    ref_labels: Tensor | None,
    distance: str,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(labels of the references, self mask, placeholder rows)``, after the checks."""
    D.check_distance(name, distance)
    if embeddings is None:
        V.check_tensor(name, "labels", labels)
        rows = torch.zeros(labels.shape[0], 1, device=labels.device)
        C.check_labels(name, labels, rows)
        C.check_reference(name, rows, ref_emb, ref_labels)
        if ref_emb is not None:
            rows = ref_emb
    else:
        C.check_labelled(name, embeddings, labels)
        C.check_reference(name, embeddings, ref_emb, ref_labels)
        rows = embeddings
    base = embeddings if embeddings is not None else torch.zeros(labels.shape[0], 1, device=labels.device)
    _, row_labels, self_mask = C.references(base, labels, ref_emb, ref_labels, False)
    return row_labels, self_mask, rows


@torch.no_grad()
def mine_triplets(
    labels: Tensor,
    embeddings: Tensor | None = None,
    *,
    strategy: str = "all",
    margin: float = 0.2,
    distance: str = "euclidean",
    normalize_embeddings: bool = True,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Triplet indices ``(anchor, positive, negative)`` of a labelled batch.

    Without ``embeddings``: every triplet (anchor and positive of one label, distinct rows; negative of another
    label). With ``embeddings``, the triplets of ``strategy`` for the triplet margin
    :math:`t = d_{an} - d_{ap}` under ``distance`` (a similarity as :math:`d = 1 - s`): ``"all"`` the triplets with
    :math:`t \\le` ``margin`` (every triplet that still costs a hinge loss of that margin), ``"semihard"`` those
    with :math:`0 < t \\le` ``margin`` (negative farther than the positive, within the margin; Schroff et al.,
    2015), ``"hard"`` those with :math:`t \\le 0` (negative closer than the positive), ``"easy"`` those with
    :math:`t >` ``margin``. ``margin=math.inf`` with ``"all"`` keeps every triplet.

    This is PML's ``TripletMarginMiner(margin, type_of_triplets=strategy)`` with the matching distance (its
    default ``LpDistance()`` is ``distance="euclidean", normalize_embeddings=True``, the default here).

    Args:
        labels: ``(N,)`` integer class ids.
        embeddings: ``(N, D)`` embeddings (detached here), or None for every triplet.
        strategy: ``"all"`` (default), ``"semihard"``, ``"hard"`` or ``"easy"``.
        margin: the mining margin (default 0.2, PML's).
        distance: one of :data:`losskit.functional._distances.DISTANCES` (default ``"euclidean"``).
        normalize_embeddings: L2-normalise the rows first (default True, as PML).
        ref_emb, ref_labels: positives and negatives from these rows instead (then no row is excluded).

    Returns:
        Three ``(T,)`` int64 tensors; positives and negatives index ``ref_emb`` when given.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [0.5]])
        >>> a, p, n = mine_triplets(torch.tensor([0, 0, 1]), x, strategy="hard", normalize_embeddings=False)
        >>> a.tolist(), p.tolist(), n.tolist()
        ([0, 1], [1, 0], [2, 2])
    """
    name = "mine_triplets"
    V.check_choice(name, "strategy", strategy, TRIPLET_STRATEGIES)
    row_labels, self_mask, rows = _setup(name, labels, embeddings, ref_emb, ref_labels, distance)
    triplets = C.triplet_mask(labels, row_labels, self_mask, None)
    if embeddings is not None:
        mat = D.pairwise(embeddings.detach(), rows.detach(), distance, normalize_embeddings=normalize_embeddings)
        triplets = triplet_mining_mask(D.as_distance(mat, distance), triplets, strategy, float(margin))
    a, p, n = torch.nonzero(triplets, as_tuple=True)
    return a, p, n


@torch.no_grad()
def mine_pairs(
    labels: Tensor,
    embeddings: Tensor | None = None,
    *,
    strategy: str = "all",
    epsilon: float = 0.1,
    pos_margin: float = 0.2,
    neg_margin: float = 0.8,
    distance: str = "cosine",
    normalize_embeddings: bool = True,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pair indices ``(anchor1, positive, anchor2, negative)`` of a labelled batch.

    ``"all"``: every positive pair (same label, distinct rows) and every negative pair (PML's
    ``get_all_pairs_indices``; ``embeddings`` not needed). ``"multi_similarity"``: Multi-Similarity's pair mining
    with ``epsilon`` (Wang et al., 2019; PML's ``MultiSimilarityMiner(epsilon)``): positives less similar than the
    anchor's most similar negative plus ``epsilon``, negatives more similar than its least similar positive minus
    ``epsilon``. ``"margin"``: positives with distance > ``pos_margin`` and negatives with distance <
    ``neg_margin`` (PML's ``PairMarginMiner``, on the distance :math:`d = 1 - s` for a similarity).

    Args:
        labels: ``(N,)`` integer class ids.
        embeddings: ``(N, D)`` embeddings (detached here); required except for ``"all"``.
        strategy: ``"all"`` (default), ``"multi_similarity"`` or ``"margin"``.
        epsilon: Multi-Similarity's mining margin (default 0.1).
        pos_margin, neg_margin: the thresholds of ``"margin"`` (defaults 0.2 and 0.8).
        distance: as :func:`mine_triplets` (default ``"cosine"``, Multi-Similarity's).
        normalize_embeddings: L2-normalise the rows first (default True).
        ref_emb, ref_labels: pair with these rows instead.

    Returns:
        Four int64 tensors: ``(P,)`` anchors and positives, ``(Q,)`` anchors and negatives.

    Example:
        >>> import torch
        >>> a1, p, a2, n = mine_pairs(torch.tensor([0, 0, 1]))
        >>> a1.tolist(), p.tolist(), a2.tolist(), n.tolist()
        ([0, 1], [1, 0], [0, 1, 2, 2], [2, 2, 0, 1])
    """
    name = "mine_pairs"
    V.check_choice(name, "strategy", strategy, PAIR_STRATEGIES)
    if embeddings is None and strategy != "all":
        raise V.LossOptionError(
            f"{name}: strategy={strategy!r} mines on distances and needs embeddings, but got embeddings=None; "
            "pass the embeddings, or strategy='all'"
        )
    row_labels, self_mask, rows = _setup(name, labels, embeddings, ref_emb, ref_labels, distance)
    positive, negative = C.pair_masks(labels, row_labels, self_mask, None)
    if embeddings is not None and strategy != "all":
        mat = D.pairwise(embeddings.detach(), rows.detach(), distance, normalize_embeddings=normalize_embeddings)
        if strategy == "multi_similarity":
            positive, negative = multi_similarity_mining_masks(
                D.as_similarity(mat, distance), positive, negative, float(epsilon)
            )
        else:
            d = D.as_distance(mat, distance)
            positive, negative = positive & (d > pos_margin), negative & (d < neg_margin)
    a1, p = torch.nonzero(positive, as_tuple=True)
    a2, n = torch.nonzero(negative, as_tuple=True)
    return a1, p, a2, n
