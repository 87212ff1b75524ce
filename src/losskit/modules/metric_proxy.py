"""Modules of the proxy and margin-softmax metric losses (ArcFace, CosFace, Proxy-Anchor, Proxy-NCA);
each ``forward`` is one call to :mod:`losskit.functional.metric_proxy`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _validation as V
from ..functional import _distances as D
from ..functional import _metric_common as C
from ..functional import metric_proxy as MXF
from ._base import Loss

__all__ = [
    "ArcFaceLoss",
    "CosFaceLoss",
    "ProxyAnchorLoss",
    "ProxyNCALoss",
]


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
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(num_classes, embedding_dim, proxies=proxies, init="kaiming", distance=distance,
                         normalize_embeddings=normalize_embeddings, reduction=reduction)
        self.margin = C.check_margin_like(type(self).__name__, "margin", margin)
        self.alpha = V.check_positive(type(self).__name__, "alpha", alpha)
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MXF.proxy_anchor_loss(
            embeddings,
            labels,
            self.proxies,
            margin=self.margin,
            alpha=self.alpha,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            global_batch=self.global_batch,
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
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(num_classes, embedding_dim, proxies=proxies, init="normal", distance=distance,
                         normalize_embeddings=normalize_embeddings, reduction=reduction)
        self.softmax_scale = V.check_positive(type(self).__name__, "softmax_scale", softmax_scale)
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return MXF.proxy_nca_loss(
            embeddings,
            labels,
            self.proxies,
            softmax_scale=self.softmax_scale,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )
