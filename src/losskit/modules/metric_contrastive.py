"""Modules of the contrastive metric losses (InfoNCE, SupCon, NT-Xent, N-pair);
each ``forward`` is one call to :mod:`losskit.functional.metric_contrastive`."""

from __future__ import annotations

from torch import Tensor

from .. import _validation as V
from ..functional import _distances as D
from ..functional import _metric_common as C
from ..functional import metric_contrastive as MCF
from ._base import Loss

__all__ = [
    "InfoNCELoss",
    "NPairLoss",
    "NTXentLoss",
    "SupConLoss",
]


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
        return self._call(embeddings, labels, indices=indices, ref_emb=ref_emb, ref_labels=ref_labels)


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
        global_batch: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        self.l2_reg = V.check_positive(name, "l2_reg", l2_reg, allow_zero=True)
        self.distance = D.check_distance(name, distance)
        self.normalize_embeddings = normalize_embeddings
        self.global_batch = global_batch

    def forward(self, embeddings: Tensor, labels: Tensor, indices: C.Indices | None = None) -> Tensor:
        return MCF.n_pair_loss(
            embeddings,
            labels,
            l2_reg=self.l2_reg,
            distance=self.distance,
            normalize_embeddings=self.normalize_embeddings,
            indices=indices,
            global_batch=self.global_batch,
            reduction=self.reduction,
        )
