"""Ordinal classification: K classes with an order (ratings 1 to 5, severity grades, age bands), where predicting
class 3 for a 4 is a smaller mistake than predicting 0.

:func:`coral_loss` decomposes the K ordered classes into K - 1 binary questions "is the class above k?"
(Li and Lin, 2007; CORAL, Cao et al., 2020): the model outputs one logit per threshold, and the predicted class is
the number of thresholds passed. Cross-entropy instead treats the classes as unordered.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = ["coral_loss"]  # ordinal_probabilities is a helper, not a loss


def _check(name: str, input: Tensor, target: Tensor, weight: Tensor | None, reduction: str) -> None:
    V.check_reduction(name, reduction)
    if (key := V.checks_due(name, input, target, weight)) is None:  # passed before (or guard off)
        return
    V.check_tensor(name, "input", input)
    V.check_tensor(name, "target", target)
    V.check_floating(name, "input", input, role="logits, one per threshold")
    if input.dim() != 2:
        raise V.LossShapeError(
            f"{name}: input must have shape (N, K-1), one logit per threshold between K ordered classes, but got "
            f"{V.shape_str(input)}; reshape the model's output to (N, K-1)"
        )
    if target.is_floating_point() or target.dtype == torch.bool:
        raise V.LossTypeError(
            f"{name}: target must hold class indices of an integer dtype, but got dtype {target.dtype}; "
            "use target.long()"
        )
    n, thresholds = input.shape
    if tuple(target.shape) != (n,):
        fix = "use target.squeeze(-1)" if tuple(target.shape) == (n, 1) else "pass one class index per row"
        raise V.LossShapeError(
            f"{name}: target must have shape ({n},) of class indices for input {V.shape_str(input)}, but got "
            f"{V.shape_str(target)}; {fix}"
        )
    V.check_vector(name, "weight", weight, thresholds, what="one importance per threshold")
    V.check_same_device(name, input=input, target=target, weight=weight)
    if V.values_due(name, input, target, weight):
        V.check_finite(name, "input", input)
        V.check_nonnegative(name, "weight", weight)
        if target.numel():
            lo, hi = int(target.min()), int(target.max())
            if lo < 0 or hi > thresholds:
                raise V.LossValueError(
                    f"{name}: target classes must lie in [0, {thresholds}] for input with {thresholds} thresholds "
                    f"({thresholds + 1} ordered classes), but got the range [{lo}, {hi}]; "
                    + ("labels look 1-based: use target - 1" if lo >= 1 and hi == thresholds + 1 else
                       "give the model K - 1 outputs for K classes")
                )
    V.record_passed(key, input, target, weight)


@mixed_precision
def coral_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean") -> Tensor:
    r"""Ordinal loss by extended binary classification (CORAL): one binary cross-entropy per threshold.

    With :math:`K` ordered classes the model outputs :math:`K - 1` logits :math:`x_{ik}`, where
    :math:`\sigma(x_{ik})` estimates :math:`P(y_i > k)`, and

    .. math::
        \ell_i = \sum_{k=0}^{K-2} \lambda_k \big[ \mathrm{softplus}(-x_{ik})\, t_{ik}
                 + \mathrm{softplus}(x_{ik})\, (1 - t_{ik}) \big], \qquad t_{ik} = [\,y_i > k\,],

    the binary cross-entropy with logits of each threshold, weighted by its importance :math:`\lambda_k`
    (``weight``, default 1). ``"mean"`` averages :math:`\ell_i` over the :math:`N` rows (the importances do not
    change the denominator, as in the paper); a mean over no rows is 0 with a zero gradient. The predicted class is
    the number of thresholds passed, :math:`\sum_k [\sigma(x_{ik}) > 1/2]`; :func:`ordinal_probabilities` gives
    class probabilities. CORAL's rank consistency (probabilities that fall with :math:`k`) comes from its output
    layer, one weight vector with :math:`K - 1` biases; with a free linear head the loss is Li and Lin's extended
    binary classification, and :func:`ordinal_probabilities` enforces the order.

    Args:
        input: logits ``(N, K-1)``, floating dtype.
        target: class indices ``(N,)`` in ``[0, K-1]``, integer dtype.
        weight: optional importance of each threshold, ``(K-1,)``, non-negative (default ``None``: all 1).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input`` ``(N, K-1)``, ``target`` ``(N,)``; the output is ``(N,)`` for ``"none"``, else ``()``.

    Raises:
        LossShapeError: ``input`` not 2-D, ``target`` not ``(N,)``, ``weight`` not ``(K-1,)``.
        LossTypeError: an integer ``input``, a floating or bool ``target``.
        LossValueError: a class outside ``[0, K-1]``, a negative ``weight``.
        NonFiniteError: NaN or infinite ``input``.

    References:
        Li, L., Lin, H.-T. "Ordinal Regression by Extended Binary Classification", NeurIPS 2007.
        Cao, W., Mirjalili, V., Raschka, S. "Rank consistent ordinal regression for neural networks with
        application to age estimation", Pattern Recognition Letters, 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, -1.0], [0.5, 0.5]])  # 3 ordered classes: 2 thresholds
        >>> print(round(float(LF.coral_loss(x, torch.tensor([1, 2]))), 4))
        0.6942
    """
    name = "coral_loss"
    _check(name, input, target, weight, reduction)
    levels = torch.arange(input.shape[1], device=input.device)
    above = (target.unsqueeze(1) > levels).to(input.dtype)
    terms = F.binary_cross_entropy_with_logits(input, above, reduction="none")
    if weight is not None:
        terms = terms * weight.to(terms.dtype)
    return reduce_loss(terms.sum(1), reduction)


def ordinal_probabilities(input: Tensor) -> Tensor:
    r"""Class probabilities ``(N, K)`` from the threshold logits ``(N, K-1)`` of :func:`coral_loss`.

    :math:`P(y > k) = \sigma(x_k)`, made non-increasing in :math:`k` by a running minimum, and
    :math:`P(y = k) = P(y > k - 1) - P(y > k)` with :math:`P(y > -1) = 1` and :math:`P(y > K - 1) = 0`.

    Example:
        >>> import torch
        >>> from losskit.functional.ordinal import ordinal_probabilities
        >>> print(ordinal_probabilities(torch.tensor([[0.0, -20.0]])).round(decimals=4))
        tensor([[0.5000, 0.5000, 0.0000]])
    """
    above = torch.sigmoid(input.float())
    above = torch.cummin(above, dim=1).values
    ones = torch.ones_like(above[:, :1])
    upper = torch.cat([ones, above], 1)
    lower = torch.cat([above, torch.zeros_like(ones)], 1)
    return upper - lower
