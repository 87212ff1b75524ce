r"""Learning to rank: losses on the scores a model gives to the items of a list (documents for a query, products
for a user), trained against graded relevance labels.

Every loss here takes

* ``input``: scores ``(N, L)``, ``N`` lists of ``L`` items, floating dtype; a higher score ranks an item higher;
* ``target``: graded relevance ``(N, L)`` (0 = not relevant, 1, 2, ... more relevant), non-negative and finite,
  any real dtype (cast to ``input``'s);
* ``mask``: optional ``(N, L)`` boolean tensor, ``True`` for a real item and ``False`` for padding (default: every
  item is real). Padded items never contribute: their scores and relevance are not read (they may hold anything,
  NaN included), their gradient is exactly 0, and a padded list gives the numbers of the same list without its
  padding. allRank marks padding with a relevance of ``-1``; its convention maps to ``mask=target != -1``.

**Which lists count.** A list is *rankable* when it has two real items of different relevance. A list that is not
(a single real item, no real item, no relevant item, every item equally relevant) has nothing to rank: its loss is
0 with a zero gradient, and ``reduction="mean"`` averages over the rankable lists only (a batch without one gives
0). ``"none"`` returns one loss per list ``(N,)``, 0 for the lists that do not count, and ``"sum"`` their sum.
optax (``ranking_softmax_loss``, 0.2.8) leaves out of its mean the lists whose items are all masked, as losskit
does; a list without a relevant item contributes 0 there too, but optax still counts it in the mean's
denominator, where losskit (like allRank's NeuralNDCG, whose mean skips lists with an ideal DCG of 0) does not.

**NDCG.** The NDCG-based losses and the metric :func:`ndcg` use the gain :math:`G(y) = 2^y - 1` (``"exp2"``,
Burges et al., 2005; Järvelin & Kekäläinen, 2002 use :math:`G(y) = y`, ``"linear"``) and the discount
:math:`1 / \log_2(1 + r)` of rank :math:`r = 1, 2, \dots`;
:math:`\mathrm{NDCG@k} = \mathrm{DCG@k} / \mathrm{IDCG@k}`, the ideal DCG that of the items sorted by relevance.
Their losses are ``1 - `` the smooth NDCG (allRank and TF-Ranking return its negative: the same gradient).

The pairwise and the NDCG-based losses build ``(N, L, L)`` tensors: memory grows with the square of the list length.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = [  # ndcg is a metric helper, not a loss
    "approx_ndcg_loss",
    "lambda_loss",
    "listmle_loss",
    "listnet_loss",
    "neural_ndcg_loss",
    "ranknet_loss",
]

_GAINS = ("exp2", "linear")
_LN2 = math.log(2.0)


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _check(name: str, input: Tensor, target: Tensor, mask: Tensor | None, reduction: str | None) -> None:
    """The checks of every loss here (and of :func:`ndcg`, ``reduction=None``): 2-D floating scores, relevance and
    mask of their shape, one device; the value checks read the real items only: finite scores, finite and
    non-negative relevance."""
    if reduction is not None:
        V.check_reduction(name, reduction)
    if (key := V.checks_due(name, input, target, mask)) is None:  # passed before (or guard off)
        return
    V.check_tensor(name, "input", input)
    V.check_tensor(name, "target", target)
    V.check_floating(name, "input", input, role="scores, one per item")
    if input.dim() != 2:
        fix = "use input.unsqueeze(0) for a single list" if input.dim() == 1 else "reshape it to (lists, items)"
        raise V.LossShapeError(
            f"{name}: input must have shape (N, L), N lists of L item scores, but got {V.shape_str(input)}; {fix}"
        )
    if target.is_complex():
        raise V.LossTypeError(
            f"{name}: target must hold real relevance labels, but got dtype {target.dtype}; pass target.real"
        )
    V.check_same_shape(name, input, target, "input", "target",
                       fix="pass one relevance label per item, padded like the scores (and a mask for the padding)")
    if mask is not None:
        V.check_tensor(name, "mask", mask)
        if mask.dtype != torch.bool:
            raise V.LossTypeError(
                f"{name}: mask must be a boolean tensor (True = real item, False = padding), but got dtype "
                f"{mask.dtype}; use mask.bool(), or mask=target != -1 for allRank's -1 padding"
            )
        V.check_same_shape(name, input, mask, "input", "mask", fix="pass one True/False per item")
    V.check_same_device(name, input=input, target=target, mask=mask)
    if V.values_due(name, input, target, mask):
        real = mask if mask is not None else torch.ones_like(input, dtype=torch.bool)
        V.check_finite(name, "input", torch.where(real, input.detach(), 0))
        y = torch.where(real, target.detach(), 0)
        if y.is_floating_point():
            V.check_finite(name, "target", y)
        if y.numel() and float(y.min()) < 0:
            raise V.LossValueError(
                f"{name}: target must hold non-negative relevance labels (0 = not relevant), but got a minimum of "
                f"{float(y.min()):g}; mark padded items with mask=False (mask=target != -1 for allRank's -1 "
                "padding) or shift the labels"
            )
    V.record_passed(key, input, target, mask)


def _check_k(name: str, k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise V.LossOptionError(
            f"{name}: k must be a positive int (the rank cut-off of NDCG@k) or None for the whole list, but got "
            f"{k!r}; pass e.g. k=10"
        )


def _check_iters(name: str, arg: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise V.LossOptionError(f"{name}: {arg} must be a positive int, but got {value!r}; pass e.g. {arg}=50")


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------
def _prepare(input: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Scores and relevance with padding replaced by 0 (never read again: gradient exactly 0 there), the mask, and
    which lists are rankable (two real items of different relevance)."""
    m = torch.ones_like(input, dtype=torch.bool) if mask is None else mask
    s = torch.where(m, input, torch.zeros((), dtype=input.dtype, device=input.device))
    y = torch.where(m, target.to(input.dtype), torch.zeros((), dtype=input.dtype, device=input.device))
    if input.shape[-1] == 0:
        return s, y, m, torch.zeros(input.shape[:-1], dtype=torch.bool, device=input.device)
    hi = torch.where(m, y, -math.inf).amax(-1)
    lo = torch.where(m, y, math.inf).amin(-1)
    return s, y, m, hi > lo


def _reduce_lists(per_list: Tensor, rankable: Tensor, reduction: str) -> Tensor:
    """Per-list losses reduced over the rankable lists (the module docstring's rule)."""
    terms = torch.where(rankable, per_list, torch.zeros((), dtype=per_list.dtype, device=per_list.device))
    return reduce_loss(terms, reduction, denominator=rankable.sum())


def _gain(y: Tensor, gain: str) -> Tensor:
    return torch.expm1(y * _LN2) if gain == "exp2" else y


def _discounts(length: int, like: Tensor) -> Tensor:
    """``1 / log2(1 + r)`` for the ranks ``r = 1 .. length``."""
    ranks = torch.arange(1, length + 1, dtype=like.dtype, device=like.device)
    return 1.0 / torch.log2(1.0 + ranks)


def _ideal_dcg(gains: Tensor, k: int | None) -> Tensor:
    """DCG@k of the items sorted by gain (padded items hold gain 0): the normaliser of NDCG, ``(N,)``."""
    best = gains.sort(dim=-1, descending=True).values
    disc = _discounts(gains.shape[-1], gains)
    if k is not None:
        best, disc = best[..., :k], disc[:k]
    return (best * disc).sum(-1)


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    """``num / den``, 0 where ``den`` is 0 (lists without a relevant item), with finite gradients."""
    ok = den > 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def _ranks(s: Tensor, m: Tensor) -> Tensor:
    """The rank (1 = top) of each item under the scores, ties broken by position; padded items rank last."""
    order = torch.where(m, s, -math.inf).argsort(dim=-1, descending=True, stable=True)
    return order.argsort(dim=-1).to(s.dtype) + 1.0


# --------------------------------------------------------------------------------------------
# the metric
# --------------------------------------------------------------------------------------------
def ndcg(
    scores: Tensor, relevance: Tensor, *, k: int | None = None, mask: Tensor | None = None, gain: str = "exp2"
) -> Tensor:
    r"""NDCG@k of each list: the metric the NDCG-based losses smooth (not a loss, no gradient).

    .. math::
        \mathrm{NDCG@k} = \frac{1}{\mathrm{IDCG@k}} \sum_{r=1}^{k} \frac{G(y_{\pi(r)})}{\log_2(1 + r)},

    :math:`\pi(r)` the item at rank :math:`r` when sorted by score (ties broken by position: the earlier item ranks
    higher), :math:`G(y) = 2^y - 1` (``gain="exp2"``) or :math:`y` (``"linear"``), :math:`\mathrm{IDCG@k}` the
    same sum over the items sorted by relevance. A list without a relevant item (ideal DCG 0) gets 0, as in rax's
    ``ndcg_metric`` (allRank's ``ndcg`` gives 1 there).

    Args:
        scores: ``(N, L)``.
        relevance: ``(N, L)`` graded relevance, non-negative.
        k: the rank cut-off (default ``None``: the whole list).
        mask: optional ``(N, L)`` boolean, ``False`` for padded items (which rank last and gain nothing).
        gain: ``"exp2"`` (default) or ``"linear"``.

    Returns:
        ``(N,)`` NDCG@k per list, in ``scores``' dtype.

    Example:
        >>> import torch
        >>> from losskit.functional.ranking import ndcg
        >>> # ranks 1, 2, 3 hold relevance 0, 2, 1: DCG = 3/log2(3) + 1/2, IDCG = 3 + 1/log2(3)
        >>> print(round(float(ndcg(torch.tensor([[3.0, 2.0, 1.0]]), torch.tensor([[0.0, 2.0, 1.0]]))[0]), 4))
        0.659
    """
    name = "ndcg"
    gain = V.check_choice(name, "gain", gain, _GAINS)
    _check_k(name, k)
    _check(name, scores, relevance, mask, None)
    with torch.no_grad():
        s, y, m, _ = _prepare(scores, relevance, mask)
        gains = _gain(y, gain)
        order = torch.where(m, s, -math.inf).argsort(dim=-1, descending=True, stable=True)
        ranked = gains.gather(-1, order)
        disc = _discounts(s.shape[-1], s)
        if k is not None:
            ranked, disc = ranked[..., :k], disc[:k]
        return _safe_ratio((ranked * disc).sum(-1), _ideal_dcg(gains, k))


# --------------------------------------------------------------------------------------------
# pairwise
# --------------------------------------------------------------------------------------------
_RANKNET_WEIGHTS = ("none", "difference", "squared_difference")


@mixed_precision
def ranknet_loss(
    input: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    *,
    sigma: float = 1.0,
    weighting: str = "none",
    reduction: str = "mean",
) -> Tensor:
    r"""RankNet: the logistic loss of the score difference of every pair of items with different relevance.

    For each list, over the pairs :math:`(i, j)` of real items with :math:`y_i > y_j`,

    .. math::
        \ell = \frac{\sum_{y_i > y_j} w_{ij} \log\big(1 + e^{-\sigma (s_i - s_j)}\big)}{\sum_{y_i > y_j} w_{ij}},

    the cross-entropy between the model's :math:`P(i \succ j) = \mathrm{sigmoid}(\sigma (s_i - s_j))` and the
    target probability 1 (Burges et al., 2005), averaged over the list's pairs with the weights
    :math:`w_{ij}`: 1 (``weighting="none"``), :math:`|y_i - y_j|` (``"difference"``) or :math:`|y_i^2 - y_j^2|`
    (``"squared_difference"``), allRank's ``rankNet_weightByGTDiff`` and ``..._pow`` (which divide by the number of
    pairs of the whole batch rather than the list's total weight). ``"mean"`` averages over the rankable lists
    (module docstring); unweighted, one list's loss is rax's ``pairwise_logistic_loss`` (the mean over its pairs).

    Args:
        input: scores ``(N, L)``, floating dtype.
        target: relevance ``(N, L)``, non-negative.
        mask: optional ``(N, L)`` boolean, ``False`` for padding (default ``None``: no padding).
        sigma: the slope of the sigmoid, > 0 (default 1.0).
        weighting: ``"none"`` (default), ``"difference"`` or ``"squared_difference"``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``, over the lists.

    Shape:
        ``input``, ``target``, ``mask``: ``(N, L)``. Output: ``(N,)`` for ``"none"``, else ``()``.

    Raises:
        LossShapeError: ``input`` not 2-D; ``target`` or ``mask`` of another shape.
        LossTypeError: an integer ``input``, a non-boolean ``mask``.
        LossOptionError: ``sigma <= 0``, an unknown ``weighting`` or ``reduction``.
        LossValueError: a negative relevance (value check).
        NonFiniteError: NaN or infinite scores or relevance of real items (value check).

    References:
        Burges, C., Shaked, T., Renshaw, E., Lazier, A., Deeds, M., Hamilton, N., Hullender, G. "Learning to Rank
        using Gradient Descent", ICML 2005.

    Example:
        >>> import torch, losskit.functional as LF
        >>> # one pair (item 0 above item 1): log(1 + e^-(1 - 0)) = 0.3133
        >>> print(round(float(LF.ranknet_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))), 4))
        0.3133
    """
    name = "ranknet_loss"
    sigma = V.check_positive(name, "sigma", sigma)
    weighting = V.check_choice(name, "weighting", weighting, _RANKNET_WEIGHTS)
    _check(name, input, target, mask, reduction)
    s, y, m, rankable = _prepare(input, target, mask)
    pairs = (y.unsqueeze(-1) > y.unsqueeze(-2)) & m.unsqueeze(-1) & m.unsqueeze(-2)
    terms = F.softplus(-sigma * (s.unsqueeze(-1) - s.unsqueeze(-2)))
    if weighting == "none":
        w = pairs.to(s.dtype)
    else:
        power = 1.0 if weighting == "difference" else 2.0
        w = torch.where(pairs, y.unsqueeze(-1) ** power - y.unsqueeze(-2) ** power, 0.0)
    per_list = _safe_ratio((w * terms).sum((-1, -2)), w.sum((-1, -2)))
    return _reduce_lists(per_list, rankable, reduction)


_LAMBDA_WEIGHTS = ("ndcg_loss2pp", "ndcg_loss2", "lambdarank")


@mixed_precision
def lambda_loss(
    input: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    *,
    weighting: str = "ndcg_loss2pp",
    mu: float = 10.0,
    sigma: float = 1.0,
    gain: str = "exp2",
    reduction: str = "mean",
) -> Tensor:
    r"""LambdaLoss: RankNet's pairwise logistic loss weighted by how much each pair matters to NDCG.

    With :math:`r_i` the rank of item :math:`i` under the current scores (ties broken by position),
    :math:`D_r = \log_2(1 + r)`, :math:`G_i = G(y_i) / \mathrm{IDCG}` and the pairs of real items with
    :math:`y_i > y_j`, each list's loss is

    .. math::
        \ell = -\sum_{y_i > y_j} w_{ij} \log_2 \mathrm{sigmoid}\big(\sigma (s_i - s_j)\big),

    the bound of Wang et al. (2018) on an NDCG cost, summed over the pairs. The weights (``weighting=``; constants:
    no gradient flows through the ranks) are

    * ``"lambdarank"``: :math:`|G_i - G_j| \, |1/D_{r_i} - 1/D_{r_j}|`, LambdaRank's :math:`|\Delta \mathrm{NDCG}|`
      (Burges, 2010);
    * ``"ndcg_loss2"``: :math:`|G_i - G_j| \, \delta_{ij}`, :math:`\delta_{ij} = 1/D_{|r_i - r_j|} -
      1/D_{|r_i - r_j| + 1}` (NDCG-Loss2, a tight bound of the NDCG cost);
    * ``"ndcg_loss2pp"`` (default): ``mu`` times NDCG-Loss2's weight plus LambdaRank's (NDCG-Loss2++, the paper's
      best metric-driven loss).

    These are the weights of allRank's ``lambdaLoss`` (``weighing_scheme="ndcgLoss2PP_scheme"`` ...,
    ``reduction="sum"``, ``reduction_log="binary"``; its ``mu`` defaults to 10 too), which divides its sum over
    the pairs of the whole batch by nothing; losskit averages the per-list sums over the rankable lists.

    Args:
        input: scores ``(N, L)``, floating dtype.
        target: relevance ``(N, L)``, non-negative.
        mask: optional ``(N, L)`` boolean, ``False`` for padding.
        weighting: ``"ndcg_loss2pp"`` (default), ``"ndcg_loss2"`` or ``"lambdarank"``.
        mu: the weight of NDCG-Loss2 in NDCG-Loss2++, >= 0 (default 10.0).
        sigma: the slope of the sigmoid, > 0 (default 1.0).
        gain: ``"exp2"`` (default, :math:`2^y - 1`) or ``"linear"``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``, over the lists.

    Shape:
        As :func:`ranknet_loss`.

    Raises:
        LossOptionError: ``sigma <= 0``, ``mu < 0``, an unknown ``weighting``, ``gain`` or ``reduction``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`ranknet_loss`.

    References:
        Wang, X., Li, C., Golbandi, N., Bendersky, M., Najork, M. "The LambdaLoss Framework for Ranking Metric
        Optimization", CIKM 2018.
        Burges, C. "From RankNet to LambdaRank to LambdaMART: An Overview", Microsoft Research TR-2010-82, 2010.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])  # the relevant item ranked second
        >>> # w = |1 - 0| |1/log2(3) - 1/log2(2)| = 0.3691 times -log2 sigmoid(0 - 1) = log2(1 + e) = 1.8946
        >>> print(round(float(LF.lambda_loss(x, y, weighting="lambdarank")), 4))
        0.6993
    """
    name = "lambda_loss"
    weighting = V.check_choice(name, "weighting", weighting, _LAMBDA_WEIGHTS)
    gain = V.check_choice(name, "gain", gain, _GAINS)
    sigma = V.check_positive(name, "sigma", sigma)
    mu = V.check_positive(name, "mu", mu, allow_zero=True)
    _check(name, input, target, mask, reduction)
    s, y, m, rankable = _prepare(input, target, mask)
    with torch.no_grad():
        gains = _gain(y, gain)
        g = _safe_ratio(gains, _ideal_dcg(gains, None).unsqueeze(-1))
        dg = (g.unsqueeze(-1) - g.unsqueeze(-2)).abs()
        r = _ranks(s, m)
        w = torch.zeros_like(dg)
        if weighting != "ndcg_loss2":
            inv = 1.0 / torch.log2(1.0 + r)
            w = w + dg * (inv.unsqueeze(-1) - inv.unsqueeze(-2)).abs()
        if weighting != "lambdarank":
            gap = (r.unsqueeze(-1) - r.unsqueeze(-2)).abs().clamp_min(1.0)
            delta = 1.0 / torch.log2(1.0 + gap) - 1.0 / torch.log2(2.0 + gap)
            w = w + (mu if weighting == "ndcg_loss2pp" else 1.0) * dg * delta
        pairs = (y.unsqueeze(-1) > y.unsqueeze(-2)) & m.unsqueeze(-1) & m.unsqueeze(-2)
        w = torch.where(pairs, w, torch.zeros_like(w))
    terms = F.softplus(-sigma * (s.unsqueeze(-1) - s.unsqueeze(-2))) / _LN2  # -log2 sigmoid
    return _reduce_lists((w * terms).sum((-1, -2)), rankable, reduction)


# --------------------------------------------------------------------------------------------
# listwise
# --------------------------------------------------------------------------------------------
_LISTNET_TARGETS = ("softmax", "linear")


@mixed_precision
def listnet_loss(
    input: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    *,
    target_transform: str = "softmax",
    reduction: str = "mean",
) -> Tensor:
    r"""ListNet: the cross-entropy between the top-one probabilities of the relevance and of the scores.

    .. math::
        \ell = -\sum_i P_y(i) \log \frac{e^{s_i}}{\sum_j e^{s_j}}

    over the real items of a list, with the target top-one distribution :math:`P_y(i) = e^{y_i} / \sum_j e^{y_j}`
    (``target_transform="softmax"``, Cao et al. (2007) with their :math:`\varphi = \exp`, as allRank's
    ``listNet``) or :math:`y_i / \sum_j y_j` (``"linear"``, TF-Ranking's softmax loss). optax's
    ``ranking_softmax_loss`` uses the relevance unnormalised: it is :math:`\sum_j y_j` times the ``"linear"``
    loss of each list.

    Args:
        input: scores ``(N, L)``, floating dtype.
        target: relevance ``(N, L)``, non-negative.
        mask: optional ``(N, L)`` boolean, ``False`` for padding.
        target_transform: ``"softmax"`` (default) or ``"linear"``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``, over the lists.

    Shape:
        As :func:`ranknet_loss`.

    Raises:
        LossOptionError: an unknown ``target_transform`` or ``reduction``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`ranknet_loss`.

    References:
        Cao, Z., Qin, T., Liu, T.-Y., Tsai, M.-F., Li, H. "Learning to Rank: From Pairwise Approach to Listwise
        Approach", ICML 2007.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([[2.0, 1.0, 3.0]]), torch.tensor([[1.0, 0.0, 0.0]])
        >>> # -log softmax(x)[0] = log(e^2 + e + e^3) - 2 = 1.4076 (optax's docstring value, 1.408)
        >>> print(round(float(LF.listnet_loss(x, y, target_transform="linear")), 4))
        1.4076
    """
    name = "listnet_loss"
    target_transform = V.check_choice(name, "target_transform", target_transform, _LISTNET_TARGETS)
    _check(name, input, target, mask, reduction)
    s, y, m, rankable = _prepare(input, target, mask)
    live = m | ~m.any(-1, keepdim=True)  # a list without a real item: computed on its zeros, then dropped
    logp = torch.where(m, torch.where(live, s, -math.inf).log_softmax(-1), 0.0)
    if target_transform == "softmax":
        p = torch.where(live, y, -math.inf).softmax(-1)
    else:
        p = _safe_ratio(y, y.sum(-1, keepdim=True))
    return _reduce_lists(-(p * logp).sum(-1), rankable, reduction)


@mixed_precision
def listmle_loss(input: Tensor, target: Tensor, mask: Tensor | None = None, *, reduction: str = "mean") -> Tensor:
    r"""ListMLE: the negative Plackett-Luce log-likelihood of the ranking by relevance under the scores.

    With the real items in decreasing relevance :math:`\pi(1), \dots, \pi(n)`,

    .. math::
        \ell = -\sum_{r=1}^{n} \log \frac{e^{s_{\pi(r)}}}{\sum_{q \ge r} e^{s_{\pi(q)}}}
             = \sum_i \Big( \log \sum_{j : y_j \le y_i} e^{s_j} - s_i \Big)

    (Xia et al., 2008). **Ties**: the right-hand form is the one computed, so each item's denominator holds every
    item not more relevant than it, its tied items included (Breslow's (1974) rule for ties in a partial
    likelihood). The loss then does not depend on the order of tied items; without ties it is exactly the
    Plackett-Luce likelihood, and with ties it is at least that of any order of the ties. allRank breaks ties at
    random, rax by position (or at random with a ``key``); they agree with losskit on lists without ties.

    Args:
        input: scores ``(N, L)``, floating dtype.
        target: relevance ``(N, L)``, non-negative.
        mask: optional ``(N, L)`` boolean, ``False`` for padding.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``, over the lists.

    Shape:
        As :func:`ranknet_loss`.

    Raises:
        As :func:`ranknet_loss`.

    References:
        Xia, F., Liu, T.-Y., Wang, J., Zhang, W., Li, H. "Listwise Approach to Learning to Rank: Theory and
        Algorithm", ICML 2008.
        Breslow, N. "Covariance Analysis of Censored Survival Data", Biometrics, 1974.

    Example:
        >>> import torch, losskit.functional as LF
        >>> # order 0, 1: (log(e^1 + e^0) - 1) + (log(e^0) - 0) = 0.3133
        >>> print(round(float(LF.listmle_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 1.0]]))), 4))
        0.3133
    """
    name = "listmle_loss"
    _check(name, input, target, mask, reduction)
    s, y, m, rankable = _prepare(input, target, mask)
    eye = torch.eye(s.shape[-1], dtype=torch.bool, device=s.device)
    below = ((y.unsqueeze(-1) >= y.unsqueeze(-2)) & m.unsqueeze(-2)) | eye  # [i, j]: j in i's denominator
    lse = torch.where(below, s.unsqueeze(-2), -math.inf).logsumexp(-1)
    per_item = torch.where(m, lse - s, 0.0)
    return _reduce_lists(per_item.sum(-1), rankable, reduction)


# --------------------------------------------------------------------------------------------
# smooth NDCG
# --------------------------------------------------------------------------------------------
@mixed_precision
def approx_ndcg_loss(
    input: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    *,
    temperature: float = 1.0,
    gain: str = "exp2",
    reduction: str = "mean",
) -> Tensor:
    r"""ApproxNDCG: ``1 -`` NDCG computed with smooth ranks.

    Each real item's rank is replaced by the smooth rank

    .. math::
        \hat r_i = 1 + \sum_{j \ne i} \mathrm{sigmoid}\Big(\frac{s_j - s_i}{T}\Big),

    which tends to the rank as the ``temperature`` :math:`T \to 0` (Qin et al., 2010, with their
    :math:`\alpha = 1/T`), and

    .. math::
        \ell = 1 - \frac{1}{\mathrm{IDCG}} \sum_i \frac{G(y_i)}{\log_2(1 + \hat r_i)}.

    allRank's ``approxNDCGLoss`` (``alpha=1/T``) and TF-Ranking's ``ApproxNDCGLoss`` return the negative smooth
    NDCG (the same gradient). No rank cut-off (as in allRank): a cut-off on smooth ranks is not smooth.

    Args:
        input: scores ``(N, L)``, floating dtype.
        target: relevance ``(N, L)``, non-negative.
        mask: optional ``(N, L)`` boolean, ``False`` for padding.
        temperature: the sigmoid's temperature, > 0 (default 1.0); smaller is closer to the true ranks.
        gain: ``"exp2"`` (default, :math:`2^y - 1`) or ``"linear"``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``, over the lists.

    Shape:
        As :func:`ranknet_loss`.

    Raises:
        LossOptionError: ``temperature <= 0``, an unknown ``gain`` or ``reduction``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`ranknet_loss`.

    References:
        Qin, T., Liu, T.-Y., Li, H. "A General Approximation Framework for Direct Optimization of Information
        Retrieval Measures", Information Retrieval 13, 2010.

    Example:
        >>> import torch, losskit.functional as LF
        >>> # smooth ranks 1 + sigmoid(-1) = 1.2689 (relevant) and 1.7311: 1 - 1/log2(2.2689)
        >>> print(round(float(LF.approx_ndcg_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))), 4))
        0.154
    """
    name = "approx_ndcg_loss"
    temperature = V.check_positive(name, "temperature", temperature)
    gain = V.check_choice(name, "gain", gain, _GAINS)
    _check(name, input, target, mask, reduction)
    s, y, m, rankable = _prepare(input, target, mask)
    gains = _gain(y, gain)
    others = m.unsqueeze(-2) & ~torch.eye(s.shape[-1], dtype=torch.bool, device=s.device)  # [i, j]: j != i, real
    above = torch.sigmoid((s.unsqueeze(-2) - s.unsqueeze(-1)) / temperature)  # [i, j]: sigmoid((s_j - s_i) / T)
    rank = 1.0 + torch.where(others, above, 0.0).sum(-1)
    dcg = (gains / torch.log2(1.0 + rank)).sum(-1)
    return _reduce_lists(1.0 - _safe_ratio(dcg, _ideal_dcg(gains, None)), rankable, reduction)


@mixed_precision
def neural_ndcg_loss(
    input: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    *,
    temperature: float = 1.0,
    powered_relevancies: bool = True,
    k: int | None = None,
    sinkhorn_iters: int = 50,
    reduction: str = "mean",
) -> Tensor:
    r"""NeuralNDCG: ``1 -`` NDCG@k of the relevance sorted by a smooth permutation matrix of the scores.

    NeuralSort (Grover et al., 2019) relaxes the sorting permutation of the :math:`n` real scores of a list to the
    row-stochastic matrix

    .. math::
        \hat P_{r,:} = \mathrm{softmax}\Big(\frac{(n + 1 - 2r)\, s - A_s \mathbf{1}}{T}\Big), \qquad
        (A_s)_{ij} = |s_i - s_j|,

    whose row :math:`r` weighs the items that may hold rank :math:`r`; ``sinkhorn_iters`` rounds of Sinkhorn
    scaling (columns, then rows, as allRank) make it nearly doubly stochastic. With the gains :math:`g`
    (:math:`2^y - 1` when ``powered_relevancies``, else :math:`y`),

    .. math::
        \ell = 1 - \frac{1}{\mathrm{IDCG@k}} \sum_{r=1}^{k} \frac{(\hat P g)_r}{\log_2(1 + r)}

    (Pobrotyn & Białobrzeski, 2021). allRank's ``neuralNDCG`` returns the negative NeuralNDCG and stops Sinkhorn
    early once rows and columns sum to 1 within 1e-6 (at most 50 rounds); losskit runs a fixed number of rounds
    (traceable by ``torch.compile`` and ``vmap``), so the two agree within that tolerance.

    Args:
        input: scores ``(N, L)``, floating dtype.
        target: relevance ``(N, L)``, non-negative.
        mask: optional ``(N, L)`` boolean, ``False`` for padding.
        temperature: NeuralSort's temperature, > 0 (default 1.0); smaller is closer to the hard sort.
        powered_relevancies: gains :math:`2^y - 1` (default ``True``, :func:`ndcg`'s ``gain="exp2"``) or :math:`y`.
        k: the rank cut-off (default ``None``: the whole list).
        sinkhorn_iters: rounds of Sinkhorn scaling, a positive int (default 50).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``, over the lists.

    Shape:
        As :func:`ranknet_loss`.

    Raises:
        LossOptionError: ``temperature <= 0``, ``k`` or ``sinkhorn_iters`` not a positive int, an unknown
            ``reduction``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`ranknet_loss`.

    References:
        Pobrotyn, P., Białobrzeski, R. "NeuralNDCG: Direct Optimisation of a Ranking Metric via Differentiable
        Relaxation of Sorting", arXiv:2102.07831, 2021.
        Grover, A., Wang, E., Zweig, A., Ermon, S. "Stochastic Optimization of Sorting Networks via Continuous
        Relaxations", ICLR 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([[4.0, 0.0]]), torch.tensor([[1.0, 0.0]])  # nearly a hard sort, right order
        >>> print(round(float(LF.neural_ndcg_loss(x, y)), 4))
        0.0066
    """
    name = "neural_ndcg_loss"
    temperature = V.check_positive(name, "temperature", temperature)
    _check_k(name, k)
    _check_iters(name, "sinkhorn_iters", sinkhorn_iters)
    _check(name, input, target, mask, reduction)
    s, y, m, rankable = _prepare(input, target, mask)
    length = s.shape[-1]
    n = m.sum(-1, keepdim=True).to(s.dtype)  # real items per list, (N, 1)
    rank = torch.arange(1, length + 1, dtype=s.dtype, device=s.device)
    scale = (n + 1.0 - 2.0 * rank).unsqueeze(-1)  # (N, L ranks, 1)
    pair = m.unsqueeze(-1) & m.unsqueeze(-2)
    spread = torch.where(pair, (s.unsqueeze(-1) - s.unsqueeze(-2)).abs(), 0.0).sum(-1)  # (A_s 1)_j, (N, L)
    logits = (scale * s.unsqueeze(-2) - spread.unsqueeze(-2)) / temperature  # [r, j]
    # real ranks 1..n hold the real items, the other ranks the padded ones (uniformly: constants, no gradient)
    real_rank = (rank.unsqueeze(-1) <= n.unsqueeze(-1)).expand_as(logits)
    same_block = real_rank == m.unsqueeze(-2)
    logits = torch.where(real_rank, logits, 0.0)
    p = torch.where(same_block, logits, -math.inf).softmax(-1)
    for _ in range(sinkhorn_iters):
        p = p / p.sum(-2, keepdim=True).clamp_min(1e-10)
        p = p / p.sum(-1, keepdim=True).clamp_min(1e-10)
    gains = _gain(y, "exp2" if powered_relevancies else "linear")
    sorted_gains = (p @ gains.unsqueeze(-1)).squeeze(-1)  # (N, L ranks)
    disc = _discounts(length, s)
    if k is not None:
        sorted_gains, disc = sorted_gains[..., :k], disc[:k]
    dcg = (sorted_gains * disc).sum(-1)
    return _reduce_lists(1.0 - _safe_ratio(dcg, _ideal_dcg(gains, k)), rankable, reduction)
