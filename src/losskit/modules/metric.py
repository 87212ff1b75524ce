"""Modules of the metric family; each ``forward`` is one call to :mod:`losskit.functional.metric`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _validation as V
from ..functional import _distances as D
from ..functional import _metric_common as C
from ..functional import metric as MF
from ..functional import metric_contrastive as MCF
from ..functional import metric_pair as MPF
from ..functional import metric_proxy as MXF
from ._base import Loss

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

    def forward(self, embeddings: Tensor, labels: Tensor, indices: C.Indices | None = None) -> Tensor:
        return MF.contrastive_loss(
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


class InfoNCELoss(Loss):
    """InfoNCE on two paired views, symmetric as in CLIP by default; see :func:`losskit.functional.info_nce_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> print(round(float(lk.InfoNCELoss(temperature=0.5)(q, q)), 4))
        0.1269
    """

    family = "metric"
    functional = staticmethod(MCF.info_nce_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self, *, temperature: float = 0.07, symmetric: bool = True, global_batch: bool = False, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        self.temperature = V.check_positive(type(self).__name__, "temperature", temperature)
        self.symmetric = symmetric
        self.global_batch = global_batch

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        return MCF.info_nce_loss(
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
    functional = staticmethod(MCF.supcon_loss)
    reductions = C.REDUCTIONS

    def __init__(self, *, temperature: float = 0.07, global_batch: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.temperature = V.check_positive(type(self).__name__, "temperature", temperature)
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MCF.supcon_loss(
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
    functional = staticmethod(MXF.arcface_loss)

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
        MXF._check_angle(type(self).__name__, margin)
        super().__init__(
            num_classes, embedding_dim, margin=margin, scale=scale, centres=centres, reduction=reduction
        )

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MXF.arcface_loss(
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
    functional = staticmethod(MXF.cosface_loss)

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
        return MXF.cosface_loss(
            embeddings, labels, self.centres, margin=self.margin, scale=self.scale, reduction=self.reduction
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
        return MF.mined_triplet_loss(
            embeddings,
            labels,
            margin=self.margin,
            mining=self.mining,
            mining_margin=self.mining_margin,
            swap=self.swap,
            smooth_loss=self.smooth_loss,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            indices=indices,
            ref_emb=ref_emb,
            ref_labels=ref_labels,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )


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
        return MPF.circle_loss(
            embeddings,
            labels,
            m=self.m,
            gamma=self.gamma,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            indices=indices,
            ref_emb=ref_emb,
            ref_labels=ref_labels,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )


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
        return MPF.multi_similarity_loss(
            embeddings,
            labels,
            alpha=self.alpha,
            beta=self.beta,
            base=self.base,
            mining=self.mining,
            epsilon=self.epsilon,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            indices=indices,
            ref_emb=ref_emb,
            ref_labels=ref_labels,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )


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
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.pos_margin = C.check_margin_like(name, "pos_margin", pos_margin)
        self.neg_margin = C.check_margin_like(name, "neg_margin", neg_margin)
        self.distance = D.check_distance(name, distance)
        self.normalize_embeddings = normalize_embeddings

    def forward(self, embeddings: Tensor, labels: Tensor, indices: C.Indices | None = None) -> Tensor:
        return MPF.lifted_structure_loss(
            embeddings,
            labels,
            pos_margin=self.pos_margin,
            neg_margin=self.neg_margin,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            indices=indices,
            reduction=self.reduction,
        )


class NTXentLoss(Loss):
    """NT-Xent over the positive pairs of a labelled batch, with optional reference embeddings; see
    :func:`losskit.functional.nt_xent_loss`.

    ``forward(embeddings, labels, indices=None, ref_emb=None, ref_labels=None)``; negatives from past batches (a
    memory bank) are passed as ``ref_emb``/``ref_labels``.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> print(round(float(lk.NTXentLoss(temperature=0.5)(x, torch.tensor([0, 0, 1]))), 4))
        0.3485
    """

    family = "metric"
    functional = staticmethod(MCF.nt_xent_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self,
        *,
        temperature: float = 0.07,
        distance: str = "cosine",
        normalize_embeddings: bool = True,
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.temperature = V.check_positive(name, "temperature", temperature)
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
        return MCF.nt_xent_loss(
            embeddings,
            labels,
            temperature=self.temperature,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            indices=indices,
            ref_emb=ref_emb,
            ref_labels=ref_labels,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )


class NPairLoss(Loss):
    """Multi-class N-pair loss with Sohn's L2 regulariser; see :func:`losskit.functional.n_pair_loss`.

    ``forward(embeddings, labels, indices=None)``.

    Example:
        >>> import torch, losskit as lk
        >>> x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.2, 0.9]])
        >>> print(round(float(lk.NPairLoss()(x, torch.tensor([0, 0, 1, 1]))), 4))
        0.4959
    """

    family = "metric"
    functional = staticmethod(MCF.n_pair_loss)
    reductions = C.REDUCTIONS

    def __init__(
        self,
        *,
        l2_reg: float = 0.0,
        distance: str = "dot",
        normalize_embeddings: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.l2_reg = V.check_positive(name, "l2_reg", l2_reg, allow_zero=True)
        self.distance = D.check_distance(name, distance)
        self.normalize_embeddings = normalize_embeddings

    def forward(self, embeddings: Tensor, labels: Tensor, indices: C.Indices | None = None) -> Tensor:
        return MCF.n_pair_loss(
            embeddings,
            labels,
            l2_reg=self.l2_reg,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            indices=indices,
            reduction=self.reduction,
        )


class _ProxyLoss(Loss):
    """Shared constructor of the proxy losses: the learnable ``(num_classes, embedding_dim)`` ``proxies``."""

    _repr_skip = frozenset({"proxies"})  # an initial value of the Parameter, not an option
    reductions = C.REDUCTIONS

    def __init__(
        self, num_classes: int, embedding_dim: int, *, proxies: Tensor | None, init: str, distance: str,
        normalize_embeddings: bool, reduction: str,
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        for arg, value in (("num_classes", num_classes), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise V.LossOptionError(f"{name}: {arg} must be a positive int, but got {value!r}; pass e.g. {arg}=10")
        self.num_classes, self.embedding_dim = num_classes, embedding_dim
        self.distance = D.check_distance(name, distance)
        self.normalize_embeddings = normalize_embeddings
        if proxies is None:
            start = torch.empty(num_classes, embedding_dim)
            if init == "kaiming":
                nn.init.kaiming_normal_(start, mode="fan_out")
            else:
                nn.init.normal_(start)
        else:
            V.check_tensor(name, "proxies", proxies)
            V.check_floating(name, "proxies", proxies, role="class proxies")
            if tuple(proxies.shape) != (num_classes, embedding_dim):
                raise V.LossShapeError(
                    f"{name}: proxies must have shape ({num_classes}, {embedding_dim}) (num_classes, embedding_dim), "
                    f"but got {V.shape_str(proxies)}; pass initial proxies of that shape or leave proxies=None"
                )
            start = proxies.detach().clone()
        self.proxies = nn.Parameter(start)


class ProxyAnchorLoss(_ProxyLoss):
    """Proxy-Anchor loss with learnable class proxies; see :func:`losskit.functional.proxy_anchor_loss`.

    The proxies are the Parameter ``proxies`` ``(num_classes, embedding_dim)``, Kaiming-normal (fan-out) at the
    start as in PML, or a copy of ``proxies``; give them to the optimizer (the paper uses a 100x learning rate).

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.ProxyAnchorLoss(2, 2, alpha=4.0, proxies=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
        >>> print(round(float(loss(x, torch.tensor([0, 1])).detach()), 4))
        1.929
    """

    family = "metric"
    functional = staticmethod(MXF.proxy_anchor_loss)

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        *,
        margin: float = 0.1,
        alpha: float = 32.0,
        distance: str = "cosine",
        normalize_embeddings: bool = True,
        proxies: Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(num_classes, embedding_dim, proxies=proxies, init="kaiming", distance=distance,
                         normalize_embeddings=normalize_embeddings, reduction=reduction)
        self.margin = C.check_margin_like(type(self).__name__, "margin", margin)
        self.alpha = V.check_positive(type(self).__name__, "alpha", alpha)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MXF.proxy_anchor_loss(
            embeddings,
            labels,
            self.proxies,
            margin=self.margin,
            alpha=self.alpha,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            reduction=self.reduction,
        )


class ProxyNCALoss(_ProxyLoss):
    """Proxy-NCA loss with learnable class proxies; see :func:`losskit.functional.proxy_nca_loss`.

    The proxies are the Parameter ``proxies`` ``(num_classes, embedding_dim)`` (standard normal start, as PML, or
    a copy of ``proxies``).

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.ProxyNCALoss(2, 2, proxies=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
        >>> print(round(float(loss(x, torch.tensor([0, 1])).detach()), 4))
        0.32
    """

    family = "metric"
    functional = staticmethod(MXF.proxy_nca_loss)

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        *,
        softmax_scale: float = 1.0,
        distance: str = "squared_euclidean",
        normalize_embeddings: bool = True,
        proxies: Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(num_classes, embedding_dim, proxies=proxies, init="normal", distance=distance,
                         normalize_embeddings=normalize_embeddings, reduction=reduction)
        self.softmax_scale = V.check_positive(type(self).__name__, "softmax_scale", softmax_scale)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MXF.proxy_nca_loss(
            embeddings,
            labels,
            self.proxies,
            softmax_scale=self.softmax_scale,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            reduction=self.reduction,
        )
