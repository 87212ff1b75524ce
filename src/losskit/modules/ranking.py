"""Modules of the ranking family; each ``forward`` is one call to :mod:`losskit.functional.ranking`.

``forward(input, target, mask=None)``: scores ``(N, L)``, relevance ``(N, L)`` and the optional padding mask
(``True`` = real item) of each call.
"""

from __future__ import annotations

from torch import Tensor

from ..functional import ranking as RF
from ._base import Loss

__all__ = ["ApproxNDCGLoss", "LambdaLoss", "ListMLELoss", "ListNetLoss", "NeuralNDCGLoss", "RankNetLoss"]


class RankNetLoss(Loss):
    """RankNet pairwise logistic loss over the pairs of different relevance; see
    :func:`losskit.functional.ranknet_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.RankNetLoss()(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))), 4))
        0.3133
    """

    family = "ranking"
    functional = staticmethod(RF.ranknet_loss)

    def __init__(self, *, sigma: float = 1.0, weighting: str = "none", reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.sigma, self.weighting = sigma, weighting

    def forward(self, input: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return RF.ranknet_loss(input, target, mask, sigma=self.sigma, weighting=self.weighting,
                               reduction=self.reduction)


class LambdaLoss(Loss):
    """LambdaLoss, pairwise logistic loss weighted by NDCG (NDCG-Loss2++, NDCG-Loss2 or LambdaRank); see
    :func:`losskit.functional.lambda_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.LambdaLoss(weighting="lambdarank")
        >>> print(round(float(loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]))), 4))
        0.6993
    """

    family = "ranking"
    functional = staticmethod(RF.lambda_loss)

    def __init__(
        self,
        *,
        weighting: str = "ndcg_loss2pp",
        mu: float = 10.0,
        sigma: float = 1.0,
        gain: str = "exp2",
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.weighting, self.mu, self.sigma, self.gain = weighting, mu, sigma, gain

    def forward(self, input: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return RF.lambda_loss(input, target, mask, weighting=self.weighting, mu=self.mu, sigma=self.sigma,
                              gain=self.gain, reduction=self.reduction)


class ListNetLoss(Loss):
    """ListNet top-one cross-entropy between the relevance and the scores; see
    :func:`losskit.functional.listnet_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.ListNetLoss(target_transform="linear")
        >>> print(round(float(loss(torch.tensor([[2.0, 1.0, 3.0]]), torch.tensor([[1.0, 0.0, 0.0]]))), 4))
        1.4076
    """

    family = "ranking"
    functional = staticmethod(RF.listnet_loss)

    def __init__(self, *, target_transform: str = "softmax", reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.target_transform = target_transform

    def forward(self, input: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return RF.listnet_loss(input, target, mask, target_transform=self.target_transform, reduction=self.reduction)


class ListMLELoss(Loss):
    """ListMLE, the Plackett-Luce likelihood of the ranking by relevance; see
    :func:`losskit.functional.listmle_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.ListMLELoss()(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 1.0]]))), 4))
        0.3133
    """

    family = "ranking"
    functional = staticmethod(RF.listmle_loss)

    def forward(self, input: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return RF.listmle_loss(input, target, mask, reduction=self.reduction)


class ApproxNDCGLoss(Loss):
    """ApproxNDCG, 1 - NDCG with sigmoid-smoothed ranks; see :func:`losskit.functional.approx_ndcg_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.ApproxNDCGLoss()(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))), 4))
        0.154
    """

    family = "ranking"
    functional = staticmethod(RF.approx_ndcg_loss)

    def __init__(self, *, temperature: float = 1.0, gain: str = "exp2", reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.temperature, self.gain = temperature, gain

    def forward(self, input: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return RF.approx_ndcg_loss(input, target, mask, temperature=self.temperature, gain=self.gain,
                                   reduction=self.reduction)


class NeuralNDCGLoss(Loss):
    """NeuralNDCG, 1 - NDCG@k under a NeuralSort permutation with Sinkhorn scaling; see
    :func:`losskit.functional.neural_ndcg_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.NeuralNDCGLoss()(torch.tensor([[4.0, 0.0]]), torch.tensor([[1.0, 0.0]]))), 4))
        0.0066
    """

    family = "ranking"
    functional = staticmethod(RF.neural_ndcg_loss)

    def __init__(
        self,
        *,
        temperature: float = 1.0,
        powered_relevancies: bool = True,
        k: int | None = None,
        sinkhorn_iters: int = 50,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.temperature, self.powered_relevancies, self.k = temperature, powered_relevancies, k
        self.sinkhorn_iters = sinkhorn_iters

    def forward(self, input: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return RF.neural_ndcg_loss(input, target, mask, temperature=self.temperature,
                                   powered_relevancies=self.powered_relevancies, k=self.k,
                                   sinkhorn_iters=self.sinkhorn_iters, reduction=self.reduction)
