"""Modules of the metric family; each ``forward`` is one call to its functional. The pair/triplet losses on
embeddings live here (:mod:`losskit.functional.metric`); the pair-based, contrastive and proxy losses in
``metric_pair``, ``metric_contrastive`` and ``metric_proxy``, re-exported here."""

from __future__ import annotations

from torch import Tensor

from .. import _validation as V
from ..functional import _distances as D
from ..functional import _metric_common as C
from ..functional import metric as MF
from ._base import Loss
from .metric_contrastive import InfoNCELoss, NPairLoss, NTXentLoss, SupConLoss
from .metric_pair import CircleLoss, LiftedStructureLoss, MultiSimilarityLoss
from .metric_proxy import ArcFaceLoss, CosFaceLoss, ProxyAnchorLoss, ProxyNCALoss

__all__ = [
    "ArcFaceLoss",
    "BatchHardTripletLoss",
    "CircleLoss",
    "ContrastiveLoss",
    "CosFaceLoss",
    "InfoNCELoss",
    "LiftedStructureLoss",
    "MinedTripletLoss",
    "MultiSimilarityLoss",
    "NPairLoss",
    "NTXentLoss",
    "ProxyAnchorLoss",
    "ProxyNCALoss",
    "SupConLoss",
]


class ContrastiveLoss(Loss):
    """Contrastive loss over all pairs of a labelled batch; see :func:`losskit.functional.contrastive_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]])
        >>> print(round(float(lk.ContrastiveLoss(neg_margin=0.5)(x, torch.tensor([0, 0, 1]))), 4))
        0.2279
    """

    family = "metric"
    functional = staticmethod(MF.contrastive_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self,
        *,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
        distance: str = "euclidean",
        normalize_embeddings: bool = False,
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.pos_margin = V.check_positive(name, "pos_margin", pos_margin, allow_zero=True)
        self.neg_margin = V.check_positive(name, "neg_margin", neg_margin, allow_zero=True)
        self.distance = D.check_distance(name, distance)
        self.normalize_embeddings = normalize_embeddings
        self.global_batch = global_batch

    def forward(
        self,
        embeddings: Tensor,
        labels: Tensor,
        indices: C.Indices | None = None,
        ref_emb: Tensor | None = None,
        ref_labels: Tensor | None = None,
    ) -> Tensor:
        return self._call(embeddings, labels, indices=indices, ref_emb=ref_emb, ref_labels=ref_labels)


class BatchHardTripletLoss(Loss):
    """Batch-hard triplet loss, hardest pair per anchor; see :func:`losskit.functional.batch_hard_triplet_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]])
        >>> print(round(float(lk.BatchHardTripletLoss(soft_margin=True)(x, torch.tensor([0, 0, 1]))), 4))
        0.7412
    """

    family = "metric"
    functional = staticmethod(MF.batch_hard_triplet_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self,
        *,
        margin: float = 0.2,
        soft_margin: bool = False,
        distance: str = "euclidean",
        normalize_embeddings: bool = False,
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.margin = V.check_positive(type(self).__name__, "margin", margin, allow_zero=True)
        self.soft_margin = soft_margin
        self.distance = D.check_distance(type(self).__name__, distance)
        self.normalize_embeddings = normalize_embeddings
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MF.batch_hard_triplet_loss(
            embeddings,
            labels,
            margin=self.margin,
            soft_margin=self.soft_margin,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )


class MinedTripletLoss(Loss):
    """Triplet margin loss over all or mined (semi-hard, hard) triplets, with swap; see
    :func:`losskit.functional.mined_triplet_loss`.

    ``forward(embeddings, labels, indices=None, ref_emb=None, ref_labels=None)``: mined ``indices`` and reference
    rows are per-call inputs, as PML's ``indices_tuple``, ``ref_emb`` and ``ref_labels``.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]])
        >>> loss = lk.MinedTripletLoss(margin=0.5, mining="semihard", mining_margin=0.5)
        >>> print(round(float(loss(x, torch.tensor([0, 0, 1]))), 4))
        0.238
    """

    family = "metric"
    functional = staticmethod(MF.mined_triplet_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self,
        *,
        margin: float = 0.05,
        mining: str | None = None,
        mining_margin: float = 0.2,
        swap: bool = False,
        smooth_loss: bool = False,
        distance: str = "euclidean",
        normalize_embeddings: bool = True,
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.margin = C.check_margin_like(name, "margin", margin)
        if mining is not None:
            V.check_choice(name, "mining", mining, ("all", "semihard", "hard", "easy"))
        self.mining = mining
        self.mining_margin = C.check_margin_like(name, "mining_margin", mining_margin)
        self.swap, self.smooth_loss = swap, smooth_loss
        self.distance = D.check_distance(name, distance)
        self.normalize_embeddings = normalize_embeddings
        self.global_batch = global_batch

    def forward(
        self,
        embeddings: Tensor,
        labels: Tensor,
        indices: C.Indices | None = None,
        ref_emb: Tensor | None = None,
        ref_labels: Tensor | None = None,
    ) -> Tensor:
        return self._call(embeddings, labels, indices=indices, ref_emb=ref_emb, ref_labels=ref_labels)
