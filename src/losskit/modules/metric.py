"""Modules of the metric family; each ``forward`` is one call to :mod:`losskit.functional.metric`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _validation as V
from ..functional import metric as MF
from ._base import Loss

__all__ = ["ArcFaceLoss", "BatchHardTripletLoss", "ContrastiveLoss", "CosFaceLoss", "InfoNCELoss", "SupConLoss"]


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

    def __init__(
        self,
        *,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
        distance: str = "euclidean",
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.pos_margin = V.check_positive(name, "pos_margin", pos_margin, allow_zero=True)
        self.neg_margin = V.check_positive(name, "neg_margin", neg_margin, allow_zero=True)
        self.distance = V.check_choice(name, "distance", distance, MF._DISTANCES)
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MF.contrastive_loss(
            embeddings,
            labels,
            pos_margin=self.pos_margin,
            neg_margin=self.neg_margin,
            distance=self.distance,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )


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

    def __init__(
        self, *, margin: float = 0.2, soft_margin: bool = False, global_batch: bool = False, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        self.margin = V.check_positive(type(self).__name__, "margin", margin, allow_zero=True)
        self.soft_margin = soft_margin
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MF.batch_hard_triplet_loss(
            embeddings,
            labels,
            margin=self.margin,
            soft_margin=self.soft_margin,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )


class InfoNCELoss(Loss):
    """InfoNCE on two paired views, symmetric as in CLIP by default; see :func:`losskit.functional.info_nce_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(lk.InfoNCELoss(temperature=0.5)(q, q)), 4))
        0.1269
    """

    family = "metric"
    functional = staticmethod(MF.info_nce_loss)

    def __init__(
        self, *, temperature: float = 0.07, symmetric: bool = True, global_batch: bool = False, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        self.temperature = V.check_positive(type(self).__name__, "temperature", temperature)
        self.symmetric = symmetric
        self.global_batch = global_batch

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        return MF.info_nce_loss(
            query,
            key,
            temperature=self.temperature,
            symmetric=self.symmetric,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )


class SupConLoss(Loss):
    """Supervised contrastive loss (SupCon, L_out) on one or several views; see :func:`losskit.functional.supcon_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(lk.SupConLoss(temperature=0.5)(x, torch.tensor([0, 0, 1]))), 4))
        0.1269
    """

    family = "metric"
    functional = staticmethod(MF.supcon_loss)

    def __init__(self, *, temperature: float = 0.07, global_batch: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.temperature = V.check_positive(type(self).__name__, "temperature", temperature)
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MF.supcon_loss(
            embeddings, labels, temperature=self.temperature, global_batch=self.global_batch, reduction=self.reduction
        )


class _MarginSoftmaxLoss(Loss):
    """Shared constructor of ArcFace and CosFace: the learnable ``(num_classes, embedding_dim)`` centres."""

    _repr_skip = frozenset({"centres"})  # an initial value of the Parameter, not an option

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        *,
        margin: float,
        scale: float,
        centres: Tensor | None,
        reduction: str,
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        for arg, value in (("num_classes", num_classes), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise V.LossOptionError(
                    f"{name}: {arg} must be a positive int, but got {value!r}; pass e.g. {arg}=10"
                )
        self.scale = V.check_positive(name, "scale", scale)
        self.margin = float(margin)
        self.num_classes, self.embedding_dim = num_classes, embedding_dim
        if centres is None:
            init = torch.empty(num_classes, embedding_dim)
            nn.init.normal_(init)
        else:
            V.check_tensor(name, "centres", centres)
            V.check_floating(name, "centres", centres, role="class centres")
            if tuple(centres.shape) != (num_classes, embedding_dim):
                raise V.LossShapeError(
                    f"{name}: centres must have shape ({num_classes}, {embedding_dim}) (num_classes, embedding_dim), "
                    f"but got {V.shape_str(centres)}; pass initial centres of that shape or leave centres=None"
                )
            init = centres.detach().clone()
        self.centres = nn.Parameter(init)


class ArcFaceLoss(_MarginSoftmaxLoss):
    """ArcFace additive angular margin loss with learnable class centres; see :func:`losskit.functional.arcface_loss`.

    The centres are the Parameter ``centres`` of shape ``(num_classes, embedding_dim)``: give them to the
    optimizer with the model's parameters. They start from a standard normal draw, or from ``centres`` if given
    (copied).

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.ArcFaceLoss(2, 2, scale=4.0, centres=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        >>> print(round(float(loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0])).detach()), 4))
        0.0294
    """

    family = "metric"
    functional = staticmethod(MF.arcface_loss)

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        *,
        margin: float = 0.5,
        scale: float = 64.0,
        centres: Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        MF._check_angle(type(self).__name__, margin)
        super().__init__(
            num_classes, embedding_dim, margin=margin, scale=scale, centres=centres, reduction=reduction
        )

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MF.arcface_loss(
            embeddings, labels, self.centres, margin=self.margin, scale=self.scale, reduction=self.reduction
        )


class CosFaceLoss(_MarginSoftmaxLoss):
    """CosFace large margin cosine loss with learnable class centres; see :func:`losskit.functional.cosface_loss`.

    The centres are the Parameter ``centres`` of shape ``(num_classes, embedding_dim)`` (standard normal
    start, or a copy of ``centres``).

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.CosFaceLoss(2, 2, scale=4.0, centres=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        >>> print(round(float(loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0])).detach()), 4))
        0.0716
    """

    family = "metric"
    functional = staticmethod(MF.cosface_loss)

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        *,
        margin: float = 0.35,
        scale: float = 64.0,
        centres: Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        V.check_positive(type(self).__name__, "margin", margin, allow_zero=True)
        super().__init__(
            num_classes, embedding_dim, margin=margin, scale=scale, centres=centres, reduction=reduction
        )

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MF.cosface_loss(
            embeddings, labels, self.centres, margin=self.margin, scale=self.scale, reduction=self.reduction
        )
