"""Losses between distributions and probabilistic regression: KL divergence, Poisson and Gaussian negative log-
likelihood.

Each computes torch 2.13's numbers, reduced with :mod:`losskit._reduction` (a mean over nothing is 0 with
a zero gradient). Shapes must match exactly; the only broadcast allowed is the one
:func:`gaussian_nll_loss` documents for ``var``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss, safe_divide

__all__ = ["gaussian_nll_loss", "kl_div", "poisson_nll_loss"]

KL_REDUCTIONS = ("none", "batchmean", "sum", "mean")


def _check_flag(name: str, arg: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise V.LossOptionError(
            f"{name}: {arg} must be True or False, but got {value!r}; pass {arg}=True or {arg}=False"
        )
    return value


def _check_min(name: str, arg: str, t: Tensor, *, fix: str) -> None:
    """Values of ``t`` are >= 0 (value check)."""
    if t.numel() == 0:
        return
    lo = float(t.detach().min())
    if lo < 0:
        raise V.LossValueError(f"{name}: {arg} must be non-negative, but got a minimum of {lo:g}; {fix}")


def _check_pair(name: str, input: Tensor, target: Tensor, *, target_role: str) -> None:
    V.check_tensor(name, "input", input)
    V.check_tensor(name, "target", target)
    V.check_floating(name, "input", input)
    V.check_floating(name, "target", target, role=target_role)
    V.check_same_shape(name, input, target)
    V.check_same_device(name, input=input, target=target)


# --------------------------------------------------------------------------------------------
# KL divergence
# --------------------------------------------------------------------------------------------
def _kl_batch(input: Tensor) -> int:
    """The divisor of ``"batchmean"``: the size of dim 0 (1 for a 0-dim input), as in torch."""
    return input.shape[0] if input.dim() else 1


@mixed_precision
def kl_div(input: Tensor, target: Tensor, *, reduction: str = "mean", log_target: bool = False) -> Tensor:
    r"""Kullback–Leibler divergence :math:`\mathrm{KL}(P \,\|\, Q)` from log-probabilities ``input`` (Q).

    .. math::
        \ell_i = p_i \bigl(\log p_i - x_i\bigr)

    where :math:`x_i = \log q_i` is ``input`` and :math:`p_i` is ``target`` (``log_target=True``: ``target``
    holds :math:`\log p_i`). A term with :math:`p_i = 0` is 0, also where :math:`x_i = -\infty` (torch gives
    ``nan`` there; losskit gives 0 with a zero gradient, the convention :math:`0 \log 0 = 0`).

    Reductions: ``"batchmean"`` is :math:`\sum_i \ell_i / N` with :math:`N` the size of dim 0, the KL
    divergence per sample: **use it**. ``"mean"`` (the default, as in torch) divides by the number of
    elements instead, which is the KL divided by the number of classes too; it warns whenever it differs
    from ``"batchmean"``. ``"sum"`` and ``"none"`` as usual.

    Args:
        input: log-probabilities :math:`\log q` (e.g. ``log_softmax`` output), any shape, floating dtype;
            ``-inf`` is allowed.
        target: probabilities :math:`p` (or :math:`\log p` with ``log_target=True``), same shape.
        reduction: ``"mean"`` (default), ``"batchmean"``, ``"sum"`` or ``"none"``.
        log_target: whether ``target`` holds log-probabilities (default ``False``).

    Shape:
        ``input``, ``target``: :math:`(N, *)` (or :math:`()`), the same (torch broadcasts). Output: scalar,
        or the input's shape for ``"none"``.

    Raises:
        LossShapeError: ``target`` shape differs from ``input``.
        LossTypeError: integer ``input`` or ``target``.
        LossValueError: with ``log_target=False``, a negative ``target``; if every value is <= 0 the message
            says it looks like log-probabilities and suggests ``log_target=True``.
        NonFiniteError: NaN or ``+inf`` in ``input``, NaN or Inf in a probability target (value check).
        SuspiciousInputWarning: ``reduction="mean"`` where it differs from ``"batchmean"``; positive values in
            ``input`` (not log-probabilities: use ``log_softmax``) or in a log-probability ``target``.

    References:
        Kullback, S., Leibler, R. A. "On Information and Sufficiency", 1951.

    Example:
        >>> import torch, losskit.functional as LF
        >>> q = torch.tensor([[0.5, 0.5]]).log()
        >>> p = torch.tensor([[0.9, 0.1]])
        >>> print(round(float(LF.kl_div(q, p, reduction="batchmean")), 4))
        0.3681
    """
    name = "kl_div"
    if (key := V.signature_due(name, (reduction, log_target, type(log_target)), input, target)) is not None:
        V.check_reduction(name, reduction, KL_REDUCTIONS)
        log_target = _check_flag(name, "log_target", log_target)
        if V.enabled():
            _check_kl_div(name, input, target, reduction=reduction, log_target=log_target)
            V.record_passed(key, input, target)
    elif reduction == "mean":  # the warning of "mean" is the one check of every call (documented)
        _warn_kl_mean(name, input)
    numel = input.numel()
    if reduction != "none" and numel and V.eager_readable(input, target):
        # torch's reduction is losskit's wherever its value is not NaN: a NaN comes from a term 0 * -inf (a target
        # probability of 0 where input is -inf, or a log-target of -inf), which the path below clears, or from
        # NaN in the input; both take the path below, which tells them apart. Read on the CPU: no sync.
        loss = torch.kl_div(input, target, 1 if reduction == "mean" else 2, log_target=log_target)
        if reduction == "batchmean":
            loss = loss / _kl_batch(input)
        value = loss.item()
        if value == value:
            return loss
    # terms with p = 0 are 0: clear the -inf input (and the -inf log-target) there so 0 * inf is not nan
    empty = target.isneginf() if log_target else target == 0
    safe_input = input.masked_fill(empty, 0)
    safe_target = target.masked_fill(empty, 0) if log_target else target
    terms = F.kl_div(safe_input, safe_target, reduction="none", log_target=log_target)
    if reduction == "batchmean":
        return safe_divide(terms.sum(), _kl_batch(input))
    return reduce_loss(terms, reduction)


def _warn_kl_mean(name: str, input: Tensor) -> None:
    """``reduction="mean"`` warns wherever it differs from ``"batchmean"`` (outside compiled code)."""
    if input.numel() != _kl_batch(input) and not torch.compiler.is_compiling():
        V.warn(
            f"{name}: reduction='mean' divides the summed KL by all {input.numel()} elements of input "
            f"{V.shape_str(input)}, not by the batch size {_kl_batch(input)}, so it is not the KL divergence "
            "(torch keeps this default for compatibility); pass reduction='batchmean' for the KL per sample"
        )


def _check_kl_div(name: str, input: Tensor, target: Tensor, *, reduction: str, log_target: bool) -> None:
    """The checks of :func:`kl_div`: metadata, the ``"mean"`` warning, values when
    :func:`losskit._validation.values_due`."""
    _check_pair(name, input, target, target_role="log-probabilities" if log_target else "probabilities")
    if reduction == "mean":
        _warn_kl_mean(name, input)
    if V.values_due(name, input, target):
        V.check_finite(name, "input", input, allow_neg_inf=True)
        V.warn_if_logprob_positive(
            name, "input", input, fix="apply log_softmax to the model's scores (not softmax) to get them"
        )
        if log_target:
            V.check_finite(name, "target", target, allow_neg_inf=True)
            V.warn_if_logprob_positive(
                name, "target", target, fix="pass log_softmax output, or probabilities with log_target=False"
            )
        else:
            V.check_finite(name, "target", target)
            if target.numel() and float(target.detach().min()) < 0:
                lo, hi = (float(v) for v in torch.aminmax(target.detach()))
                if hi <= 0:
                    raise V.LossValueError(
                        f"{name}: target must hold probabilities (>= 0) with log_target=False, but got values in "
                        f"[{lo:g}, {hi:g}], all <= 0, so it looks like log-probabilities; pass log_target=True"
                    )
                raise V.LossValueError(
                    f"{name}: target must hold probabilities (>= 0) with log_target=False, but got a minimum of "
                    f"{lo:g}; pass probabilities (e.g. softmax output), or log-probabilities with log_target=True"
                )


# --------------------------------------------------------------------------------------------
# Poisson and Gaussian negative log-likelihood
# --------------------------------------------------------------------------------------------
@mixed_precision
def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    r"""Negative log-likelihood of counts under a Poisson distribution with predicted rate.

    .. math::
        \ell_i = \begin{cases} e^{x_i} - y_i x_i & \texttt{log\_input} \\
                 x_i - y_i \log(x_i + \epsilon) & \text{otherwise} \end{cases}
                 \; \bigl[ + \; y_i \log y_i - y_i + \tfrac12 \log(2 \pi y_i) \text{ if } \texttt{full}
                 \text{ and } y_i > 1 \bigr]

    (the bracket is Stirling's approximation of :math:`\log y_i!`).

    Args:
        input: the log-rate (``log_input=True``, default) or the rate :math:`\lambda \ge 0`, floating dtype.
        target: observed counts :math:`y \ge 0`, same shape (integer counts are converted).
        log_input: whether ``input`` is :math:`\log \lambda` (default ``True``).
        full: add the Stirling term (default ``False``).
        eps: :math:`\epsilon` >= 0 added to the rate before the log when ``log_input=False`` (default 1e-8).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(*)`, the same (torch broadcasts). Output: scalar, or :math:`(*)` for
        ``"none"``.

    Raises:
        LossOptionError: ``eps < 0``, non-bool ``log_input``/``full``.
        LossShapeError: ``target`` shape differs from ``input``.
        LossTypeError: integer ``input``.
        LossValueError: negative ``target``; negative ``input`` with ``log_input=False``.
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.poisson_nll_loss(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0]))), 4))
        0.3591
    """
    name = "poisson_nll_loss"
    options = (reduction, log_input, full, eps, type(log_input), type(full), type(eps))
    if (key := V.signature_due(name, options, input, target)) is not None:  # None: passed before (steady state)
        V.check_reduction(name, reduction)
        log_input = _check_flag(name, "log_input", log_input)
        full = _check_flag(name, "full", full)
        eps = V.check_positive(name, "eps", eps, allow_zero=True)
        if V.enabled():
            V.check_tensor(name, "input", input)
            V.check_tensor(name, "target", target)
    if not target.is_floating_point():
        target = target.to(input.dtype)
    if key is not None and V.enabled():
        _check_pair(name, input, target, target_role="counts")
        if V.values_due(name, input, target):
            V.check_finite(name, "input", input)
            V.check_finite(name, "target", target)
            _check_min(name, "target", target, fix="target holds observed counts: check the labels")
            if not log_input:
                _check_min(
                    name, "input", input,
                    fix="with log_input=False input is the rate itself; pass log_input=True if it is a log-rate, "
                    "or make it positive (e.g. softplus)",
                )
        V.record_passed(key, input, target)
    if reduction != "none" and input.numel():  # torch's mean and sum are losskit's here
        return torch.poisson_nll_loss(input, target, log_input, full, eps, 1 if reduction == "mean" else 2)
    terms = F.poisson_nll_loss(input, target, log_input=log_input, full=full, eps=eps, reduction="none")
    return reduce_loss(terms, reduction)


def _gaussian_var(name: str, input: Tensor, var: Tensor | float) -> Tensor:
    """``var`` as a tensor that broadcasts to ``input`` by the documented rules (float, same shape, homoscedastic)."""
    if isinstance(var, bool) or not isinstance(var, (Tensor, int, float)):
        raise V.LossTypeError(
            f"{name}: var must be a tensor of variances or a float, but got {type(var).__name__}; "
            "pass e.g. var=torch.ones_like(input)"
        )
    if not isinstance(var, Tensor):
        if var < 0:
            raise V.LossValueError(
                f"{name}: var must be non-negative, but got {var!r}; pass a variance (a squared scale) >= 0"
            )
        return torch.full_like(input, float(var))
    if not V.enabled():
        return var.unsqueeze(-1) if var.shape != input.shape and var.shape == input.shape[:-1] else var
    V.check_floating(name, "var", var, role="variances")
    V.check_same_device(name, input=input, var=var)
    if var.shape == input.shape:
        return var
    if var.shape == input.shape[:-1]:
        return var.unsqueeze(-1)
    if var.dim() == input.dim():
        differ = [d for d in range(var.dim()) if var.shape[d] != input.shape[d]]
        if len(differ) == 1 and var.shape[differ[0]] == 1:
            return var
    shared = V.shape_str((*input.shape[:-1], 1)) if input.dim() else "()"
    raise V.LossShapeError(
        f"{name}: var must have the shape of input {V.shape_str(input)} (one variance per prediction), or that "
        f"shape with one dimension of size 1 (e.g. {shared}) or without the last dimension (a shared variance), "
        f"but got {V.shape_str(var)}; pass var of shape {V.shape_str(input)} or {shared}"
    )


@mixed_precision
def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor | float,
    *,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    r"""Negative log-likelihood of targets under a Gaussian with predicted mean and variance.

    .. math::
        \ell_i = \tfrac12 \Bigl(\log \max(\sigma^2_i, \epsilon) + \frac{(x_i - y_i)^2}{\max(\sigma^2_i, \epsilon)}
                 \Bigr) \; \bigl[ + \tfrac12 \log 2\pi \text{ if } \texttt{full} \bigr]

    As in torch the clamp to :math:`\epsilon` changes the value but not the gradient: the gradient with
    respect to ``var`` flows as if it were not clamped.

    Args:
        input: predicted means, floating dtype.
        target: observed values, same shape as ``input``.
        var: predicted variances :math:`\sigma^2 \ge 0`: a tensor (see Shape) or a float for all elements.
        full: add the constant :math:`\tfrac12 \log 2\pi` (default ``False``).
        eps: the clamp :math:`\epsilon` >= 0 for stability (default 1e-6).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(N, *)`, the same. ``var``: the same shape (heteroscedastic); or that
        shape with exactly one dimension of size 1, e.g. :math:`(N, 1)` for input :math:`(N, D)`; or that
        shape without its last dimension, e.g. :math:`(N,)` for input :math:`(N, D)` (both homoscedastic,
        broadcast over the missing dimension: torch's rules, the only broadcast losskit allows); or a float.
        Output: scalar, or the input's shape for ``"none"``.

    Raises:
        LossOptionError: ``eps < 0``.
        LossShapeError: ``target`` shape differs from ``input``; ``var`` of another shape.
        LossTypeError: integer ``input``, ``target`` or ``var``.
        LossValueError: negative ``var``.
        NonFiniteError: NaN or Inf in ``input``, ``target`` or ``var`` (value check).

    References:
        Nix, D. A., Weigend, A. S. "Estimating the mean and variance of the target probability distribution",
        1994.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])
        >>> print(round(float(LF.gaussian_nll_loss(x, y, torch.tensor([1.0, 4.0]))), 4))
        0.5966
    """
    name = "gaussian_nll_loss"
    V.check_reduction(name, reduction)
    full = _check_flag(name, "full", full)
    eps = V.check_positive(name, "eps", eps, allow_zero=True)
    if V.enabled():
        _check_pair(name, input, target, target_role="observations")
    var = _gaussian_var(name, input, var)
    if V.values_due(name, input, target, var):
        V.check_finite(name, "input", input)
        V.check_finite(name, "target", target)
        V.check_finite(name, "var", var)
        _check_min(name, "var", var, fix="predict a variance >= 0, e.g. with softplus or exp of the raw output")
    # the clamp changes the value only: the gradient passes through it unchanged (as torch does)
    clamped = var + (var.clamp_min(eps) - var).detach()
    terms = 0.5 * (torch.log(clamped) + (input - target) ** 2 / clamped)
    if full:
        terms = terms + 0.5 * math.log(2 * math.pi)
    return reduce_loss(terms, reduction)
