"""Modules of the pair-based metric losses (Circle, Multi-Similarity, lifted structure);
each ``forward`` is one call to :mod:`losskit.functional.metric_pair`."""

from __future__ import annotations

from torch import Tensor

from .. import _validation as V
from ..functional import _distances as D
from ..functional import _metric_common as C
from ..functional import metric_pair as MPF
from ._base import Loss

__all__ = [
    "CircleLoss",
    "LiftedStructureLoss",
    "MultiSimilarityLoss",
]


class CircleLoss(Loss):
    """Circle loss on the pairs of a labelled batch; see :func:`losskit.functional.circle_loss`.

    ``forward(embeddings, labels, indices=None, ref_emb=None, ref_labels=None)``.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> print(round(float(lk.CircleLoss(gamma=4.0)(x, torch.tensor([0, 0, 1]))), 4))
        0.5741
    """

    family = "metric"
    functional = staticmethod(MPF.circle_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self,
        *,
        m: float = 0.4,
        gamma: float = 80.0,
        distance: str = "cosine",
        normalize_embeddings: bool = True,
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.m = C.check_margin_like(name, "m", m)
        self.gamma = V.check_positive(name, "gamma", gamma)
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


class MultiSimilarityLoss(Loss):
    """Multi-Similarity loss, with or without its pair mining; see :func:`losskit.functional.multi_similarity_loss`.

    ``forward(embeddings, labels, indices=None, ref_emb=None, ref_labels=None)``.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> print(round(float(lk.MultiSimilarityLoss(beta=4.0)(x, torch.tensor([0, 0, 1]))), 4))
        0.313
    """

    family = "metric"
    functional = staticmethod(MPF.multi_similarity_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self,
        *,
        alpha: float = 2.0,
        beta: float = 50.0,
        base: float = 0.5,
        mining: bool = False,
        epsilon: float = 0.1,
        distance: str = "cosine",
        normalize_embeddings: bool = True,
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.alpha = V.check_positive(name, "alpha", alpha)
        self.beta = V.check_positive(name, "beta", beta)
        self.base = C.check_margin_like(name, "base", base)
        self.mining = mining
        self.epsilon = C.check_margin_like(name, "epsilon", epsilon)
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


class LiftedStructureLoss(Loss):
    """Lifted structured loss (with PML's positive margin); see :func:`losskit.functional.lifted_structure_loss`.

    ``forward(embeddings, labels, indices=None)``.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]])
        >>> loss = lk.LiftedStructureLoss(normalize_embeddings=False)
        >>> print(round(float(loss(x, torch.tensor([0, 0, 1]))), 4))
        1.6007
    """

    family = "metric"
    functional = staticmethod(MPF.lifted_structure_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self,
        *,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
        distance: str = "euclidean",
        normalize_embeddings: bool = True,
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.pos_margin = C.check_margin_like(name, "pos_margin", pos_margin)
        self.neg_margin = C.check_margin_like(name, "neg_margin", neg_margin)
        self.distance = D.check_distance(name, distance)
        self.normalize_embeddings = normalize_embeddings
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor, indices: C.Indices | None = None) -> Tensor:
        return MPF.lifted_structure_loss(
            embeddings,
            labels,
            pos_margin=self.pos_margin,
            neg_margin=self.neg_margin,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            indices=indices,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )
