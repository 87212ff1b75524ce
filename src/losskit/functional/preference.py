r"""Preference optimisation for language models: DPO (with cDPO and robust DPO), IPO, ORPO, SimPO, CPO, KTO.

Every loss here takes **per-sequence log-probabilities**, shape :math:`(B,)`: for a response :math:`y` to a
prompt :math:`x`, :math:`\log \pi(y \mid x) = \sum_t \log \pi(y_t \mid x, y_{<t})` summed over the response's
tokens (or its per-token average, where a loss says so), under the policy being trained and, for the methods
that use one, under the frozen reference model. :func:`losskit.preference.sequence_log_probs` computes them from
``(B, T, V)`` logits and labels; :func:`losskit.fused.fused_linear_preference_loss` computes them and the loss
from hidden states and the output weight without building the logits.

Each loss returns the loss alone (a tensor, like every losskit loss): ``"none"`` gives one term per pair (per
response for KTO), ``"mean"`` (the default) their average, ``"sum"`` their total. The implicit rewards that TRL
logs (``rewards/chosen``, ``rewards/rejected``, their margin and accuracy) come from one dedicated function,
:func:`losskit.preference.preference_rewards`. The supervised term that ORPO and CPO add (and SFT) is the
negative log-likelihood of the chosen response; the token-level cross-entropy with a mean over every token of the
batch is :func:`losskit.functional.cross_entropy` with ``ignore_index`` (:mod:`losskit.preference`).

With :math:`\sigma` the logistic function, :math:`\pi_c, \pi_r` the policy's log-probabilities of the chosen and
rejected responses and :math:`\rho_c, \rho_r` the reference model's, the losses per pair are (TRL 1.16's
definitions; where they differ from the paper's, the docstring says so):

=========  =====================================================================================================
DPO        :math:`-\log\sigma(\beta h)`, :math:`h = (\pi_c - \pi_r) - (\rho_c - \rho_r)`
cDPO       :math:`-(1-\varepsilon)\log\sigma(\beta h) - \varepsilon\log\sigma(-\beta h)`
robust     :math:`[-(1-\varepsilon)\log\sigma(\beta h) + \varepsilon\log\sigma(-\beta h)] / (1 - 2\varepsilon)`
IPO        :math:`(h - 1/(2\beta))^2` on per-token averages
ORPO       :math:`-\pi_c - \beta \log\sigma(\log\frac{p_c}{1-p_c} - \log\frac{p_r}{1-p_r})` on averages
SimPO      :math:`-\log\sigma(\beta(\pi_c - \pi_r) - \gamma)` on averages
CPO        :math:`-\log\sigma(\beta(\pi_c - \pi_r)) - \alpha\, \pi_c / n_c`
KTO        :math:`\lambda_D(1 - \sigma(\beta(\pi_c - \rho_c - z_0)))` per desirable response,
           :math:`\lambda_U(1 - \sigma(\beta(z_0 - \pi_r + \rho_r)))` per undesirable one
=========  =====================================================================================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = ["cpo_loss", "dpo_loss", "ipo_loss", "kto_loss", "orpo_loss", "simpo_loss"]

DPO_LOSS_TYPES = ("sigmoid", "robust")

_FIX = "pass the per-sequence log-probabilities (losskit.preference.sequence_log_probs gives them)"
_LOG_HALF = -math.log(2.0)


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _check_logps(name: str, **tensors: Tensor | None) -> None:
    """Metadata checks: every given tensor is a floating ``(B,)`` tensor of the first one's shape and device."""
    first_arg, first = next(iter(tensors.items()))
    for arg, t in tensors.items():
        if t is None:
            continue
        V.check_tensor(name, arg, t)
        V.check_floating(name, arg, t, role="log-probabilities")
        if t.dim() != 1:
            raise V.LossShapeError(
                f"{name}: {arg} must have shape (B,), one log-probability per sequence, but got shape "
                f"{V.shape_str(t)}; sum the token log-probabilities of each sequence first ({_FIX})"
            )
        if first is not None and t is not first:
            V.check_same_shape(name, first, t, first_arg, arg, fix="pass one value per pair for each")
    V.check_same_device(name, **tensors)


def _check_values(name: str, **tensors: Tensor | None) -> None:
    """Value checks (once per kind of call in the default guard mode): finite log-probabilities, and a warning
    for positive ones (probabilities or logits passed by mistake)."""
    if not V.values_due(name, *tensors.values()):
        return
    for arg, t in tensors.items():
        if t is None:
            continue
        V.check_finite(name, arg, t)
        V.warn_if_logprob_positive(name, arg, t, fix=_FIX)


def _check_beta(name: str, beta: float) -> float:
    return V.check_positive(name, "beta", beta)


def _check_smoothing(name: str, label_smoothing: float, *, robust: bool = False) -> float:
    eps = V.check_unit_interval(name, "label_smoothing", label_smoothing)
    if eps >= 0.5 if robust else eps > 0.5:
        bound = "[0, 0.5)" if robust else "[0, 0.5]"
        raise V.LossOptionError(
            f"{name}: label_smoothing is the probability that a preference label is flipped and must lie in "
            f"{bound}{' for loss_type=' + repr('robust') if robust else ''}, but got {label_smoothing!r}; "
            "pass e.g. label_smoothing=0.1"
        )
    return eps


def _check_references(name: str, chosen: Tensor | None, rejected: Tensor | None, reference_free: bool) -> None:
    if not isinstance(reference_free, bool):
        raise V.LossOptionError(f"{name}: reference_free must be True or False, but got {reference_free!r}")
    given = (chosen is not None) + (rejected is not None)
    if reference_free and given:
        raise V.LossOptionError(
            f"{name}: reference_free=True takes no reference log-probabilities, but got {given}; drop them, or pass "
            "reference_free=False to use them"
        )
    if not reference_free and given != 2:
        raise V.LossOptionError(
            f"{name}: needs reference_chosen_logps and reference_rejected_logps (the frozen reference model's "
            f"log-probabilities), but got {given} of 2; pass both, or reference_free=True for reference-free DPO"
        )


def _sigmoid_terms(z: Tensor, eps: float) -> Tensor:
    r""":math:`-(1-\varepsilon)\log\sigma(z) - \varepsilon\log\sigma(-z)` (the binary cross-entropy of the logit
    ``z`` against the smoothed label :math:`1 - \varepsilon`)."""
    terms = -F.logsigmoid(z)
    if eps:
        terms = (1.0 - eps) * terms - eps * F.logsigmoid(-z)
    return terms


def _log1mexp(x: Tensor) -> Tensor:
    r""":math:`\log(1 - e^x)` for :math:`x < 0`, accurate on both sides of :math:`-\log 2` (Mächler, 2012)."""
    near = torch.log(-torch.expm1(x.clamp_min(_LOG_HALF)))
    far = torch.log1p(-torch.exp(x.clamp_max(_LOG_HALF)))
    return torch.where(x > _LOG_HALF, near, far)


# --------------------------------------------------------------------------------------------
# the losses
# --------------------------------------------------------------------------------------------
@mixed_precision
def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor | None = None,
    reference_rejected_logps: Tensor | None = None,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    loss_type: str = "sigmoid",
    reference_free: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Direct Preference Optimization: a logistic loss on the policy's log-ratio margin over the reference.

    With :math:`h = (\pi_c - \pi_r) - (\rho_c - \rho_r)` (summed log-probabilities of the chosen and rejected
    responses under the policy :math:`\pi` and the reference :math:`\rho`; :math:`\rho = 0` with
    ``reference_free=True``), each pair contributes

    .. math::
        \ell = -(1-\varepsilon)\log\sigma(\beta h) - \varepsilon \log\sigma(-\beta h)
        \quad\text{(``loss_type="sigmoid"``)},\qquad
        \ell = \frac{-(1-\varepsilon)\log\sigma(\beta h) + \varepsilon \log\sigma(-\beta h)}{1 - 2\varepsilon}
        \quad\text{(``"robust"``)}.

    :math:`\varepsilon = 0` is DPO (Rafailov et al.); :math:`\varepsilon > 0` with ``"sigmoid"`` is conservative
    DPO (cDPO, Mitchell 2023: labels flipped with probability :math:`\varepsilon`), and ``"robust"`` is the
    unbiased loss of Chowdhury et al. for that noise (equal to DPO at :math:`\varepsilon = 0`).

    Agreement with TRL: ``"sigmoid"`` at :math:`\varepsilon = 0` and ``"robust"`` are TRL 1.16's
    ``DPOTrainer`` loss types of those names (``trl/trainer/dpo_trainer.py``, ``_compute_loss``); cDPO is the
    ``"sigmoid"`` loss with ``label_smoothing`` of TRL up to 0.x (``DPOTrainer.dpo_loss``), which TRL 1.16 no
    longer offers for ``"sigmoid"``. ``reference_free=True`` is TRL 0.x's option of that name (the reference
    log-ratio taken as 0).

    Args:
        policy_chosen_logps: :math:`\pi_c`, summed log-probabilities of the chosen responses, floating.
        policy_rejected_logps: :math:`\pi_r`, of the rejected responses.
        reference_chosen_logps: :math:`\rho_c`, the reference model's; required unless ``reference_free``.
        reference_rejected_logps: :math:`\rho_r`; required unless ``reference_free``.
        beta: :math:`\beta > 0`, the strength of the KL penalty to the reference: a larger one keeps the policy
            closer to it (default 0.1).
        label_smoothing: :math:`\varepsilon`, the assumed probability that a label is flipped: in
            :math:`[0, 0.5]` for ``"sigmoid"``, :math:`[0, 0.5)` for ``"robust"`` (default 0.0).
        loss_type: ``"sigmoid"`` (default) or ``"robust"``.
        reference_free: ignore the reference model, :math:`\rho = 0` (default False).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        Every input :math:`(B,)`. Output: scalar, or :math:`(B,)` for ``"none"``.

    Raises:
        LossShapeError: an input not 1-D, or shapes that differ.
        LossTypeError: a non-floating input.
        LossOptionError: ``beta <= 0``; ``label_smoothing`` outside its range; an unknown ``loss_type``; the
            reference log-probabilities missing (or given with ``reference_free=True``).
        NonFiniteError: NaN or infinite log-probabilities (value checks).
        SuspiciousInputWarning: positive log-probabilities.

    References:
        Rafailov, R. et al. "Direct Preference Optimization: Your Language Model is Secretly a Reward Model", 2023.
        Mitchell, E. "A note on DPO with noisy preferences & relationship to IPO", 2023 (cDPO).
        Chowdhury, S. R. et al. "Provably Robust DPO: Aligning Language Models with Noisy Feedback", 2024.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pc, pr = torch.tensor([-10.0]), torch.tensor([-14.0])
        >>> rc, rr = torch.tensor([-12.0]), torch.tensor([-12.0])
        >>> print(round(float(LF.dpo_loss(pc, pr, rc, rr, beta=0.5)), 4))  # -log sigmoid(0.5 * 4) by hand
        0.1269
    """
    name = "dpo_loss"
    V.check_reduction(name, reduction)
    beta = _check_beta(name, beta)
    loss_type = V.check_choice(name, "loss_type", loss_type, DPO_LOSS_TYPES)
    eps = _check_smoothing(name, label_smoothing, robust=loss_type == "robust")
    _check_references(name, reference_chosen_logps, reference_rejected_logps, reference_free)
    if V.enabled():
        _check_logps(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                     reference_chosen_logps=reference_chosen_logps,
                     reference_rejected_logps=reference_rejected_logps)
    _check_values(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                  reference_chosen_logps=reference_chosen_logps, reference_rejected_logps=reference_rejected_logps)
    h = policy_chosen_logps - policy_rejected_logps
    if reference_chosen_logps is not None and reference_rejected_logps is not None:
        h = h - (reference_chosen_logps - reference_rejected_logps)
    z = beta * h
    if loss_type == "sigmoid":
        terms = _sigmoid_terms(z, eps)
    else:
        terms = -F.logsigmoid(z)
        if eps:
            terms = ((1.0 - eps) * terms + eps * F.logsigmoid(-z)) / (1.0 - 2.0 * eps)
    return reduce_loss(terms, reduction)


@mixed_precision
def ipo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    reduction: str = "mean",
) -> Tensor:
    r"""Identity Preference Optimization: a squared loss pulling the log-ratio margin to :math:`1/(2\beta)`.

    .. math::
        \ell = \Big(h - \frac{1}{2\beta}\Big)^2, \qquad h = (\pi_c - \pi_r) - (\rho_c - \rho_r),

    Azar et al.'s eq. 17 (their :math:`\tau` is ``beta``). The margin does not saturate as DPO's does, so the
    policy cannot drift arbitrarily far from the reference on deterministic preferences.

    **Pass per-token averages** (``sequence_log_probs(..., average=True)``, both policy and reference) to get
    TRL's numbers: TRL 1.16 (``DPOTrainer``, ``loss_type="ipo"``) divides each response's log-ratio by its
    number of tokens, which the IPO authors confirmed is the form their results use; with summed
    log-probabilities the square grows with the response length.

    Args:
        policy_chosen_logps, policy_rejected_logps: the policy's log-probabilities (per-token averages), floating.
        reference_chosen_logps, reference_rejected_logps: the reference model's, likewise.
        beta: :math:`\beta > 0` (TRL's ``beta``, the paper's :math:`\tau`; default 0.1, target margin 5).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        Every input :math:`(B,)`. Output: scalar, or :math:`(B,)` for ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError, SuspiciousInputWarning: as :func:`dpo_loss`.
        LossOptionError: ``beta <= 0``.

    References:
        Azar, M. G. et al. "A General Theoretical Paradigm to Understand Learning from Human Preferences", 2023.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pc, pr, rc, rr = (torch.tensor([v]) for v in (-1.0, -1.5, -1.2, -1.2))
        >>> print(round(float(LF.ipo_loss(pc, pr, rc, rr, beta=0.5)), 4))  # (0.5 - 1)^2
        0.25
    """
    name = "ipo_loss"
    V.check_reduction(name, reduction)
    beta = _check_beta(name, beta)
    tensors = dict(policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                   reference_chosen_logps=reference_chosen_logps, reference_rejected_logps=reference_rejected_logps)
    if V.enabled():
        for arg in ("reference_chosen_logps", "reference_rejected_logps"):
            V.check_tensor(name, arg, tensors[arg])
        _check_logps(name, **tensors)
    _check_values(name, **tensors)
    h = (policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps - reference_rejected_logps)
    return reduce_loss((h - 1.0 / (2.0 * beta)) ** 2, reduction)


@mixed_precision
def orpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    reduction: str = "mean",
) -> Tensor:
    r"""Odds Ratio Preference Optimization: the chosen response's NLL plus a log-odds-ratio preference term.

    With :math:`\pi_c, \pi_r` the **per-token average** log-probabilities of the chosen and rejected responses
    (``sequence_log_probs(..., average=True)``) and the odds :math:`\mathrm{odds}(p) = p / (1 - p)` of
    :math:`p = e^{\pi}`,

    .. math::
        \ell = -\pi_c - \beta \log\sigma\Big(\log\frac{\mathrm{odds}(e^{\pi_c})}{\mathrm{odds}(e^{\pi_r})}\Big),
        \qquad \log \mathrm{odds}(e^{\pi}) = \pi - \log(1 - e^{\pi}).

    No reference model. ``beta`` is the paper's :math:`\lambda` (TRL's ``beta``).

    **The NLL term is per sequence.** ``-policy_chosen_logps`` is each chosen response's average token NLL, so
    ``"mean"`` averages it over sequences. TRL 1.16 (``trl/experimental/orpo``, ``ORPOTrainer``) adds the
    cross-entropy averaged over every chosen token of the batch instead: the same number when the chosen
    responses have equal lengths; otherwise TRL weighs long responses more. For TRL's exact batch loss, add
    ``LF.cross_entropy`` over the chosen tokens (:mod:`losskit.preference`) to ``orpo_loss(...) +
    policy_chosen_logps.mean()``. The odds-ratio term is minus the ``losses`` of TRL's ``odds_ratio_loss``.

    Args:
        policy_chosen_logps: :math:`\pi_c < 0`, per-token average log-probabilities of the chosen responses.
        policy_rejected_logps: :math:`\pi_r < 0`, of the rejected responses.
        beta: :math:`\lambda > 0`, the weight of the odds-ratio term (default 0.1).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        Both :math:`(B,)`. Output: scalar, or :math:`(B,)` for ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError: as :func:`dpo_loss`.
        LossValueError: a log-probability of 0 or more (a probability of 1 has infinite odds; value checks).
        LossOptionError: ``beta <= 0``.

    References:
        Hong, J., Lee, N. and Thorne, J. "ORPO: Monolithic Preference Optimization without Reference Model", 2024.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pc, pr = torch.tensor([-0.5]), torch.tensor([-1.0])
        >>> print(round(float(LF.orpo_loss(pc, pr, beta=1.0)), 4))  # 0.5 - log sigmoid(log-odds ratio 0.9741)
        0.8203
    """
    name = "orpo_loss"
    V.check_reduction(name, reduction)
    beta = _check_beta(name, beta)
    if V.enabled():
        _check_logps(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps)
    if V.values_due(name, policy_chosen_logps, policy_rejected_logps):
        for arg, t in (("policy_chosen_logps", policy_chosen_logps), ("policy_rejected_logps", policy_rejected_logps)):
            V.check_finite(name, arg, t)
            if t.numel() and float(t.detach().max()) >= 0:
                raise V.LossValueError(
                    f"{name}: {arg} must hold average log-probabilities < 0 (the odds of a probability of 1 are "
                    f"infinite), but got a maximum of {float(t.detach().max()):g}; {_FIX} with average=True"
                )
    pc, pr = policy_chosen_logps, policy_rejected_logps
    log_odds = (pc - pr) - (_log1mexp(pc) - _log1mexp(pr))
    return reduce_loss(-pc - beta * F.logsigmoid(log_odds), reduction)


@mixed_precision
def simpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    *,
    beta: float = 2.0,
    gamma: float = 1.0,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Simple Preference Optimization: a reference-free logistic loss on length-normalised log-probabilities
    with a target margin.

    With :math:`\pi_c, \pi_r` the **per-token average** log-probabilities (``sequence_log_probs(...,
    average=True)``: the length normalisation of the paper, :math:`\frac{1}{|y|}\log\pi(y|x)`),

    .. math::
        \ell = -(1-\varepsilon)\log\sigma(z) - \varepsilon\log\sigma(-z), \qquad z = \beta(\pi_c - \pi_r) - \gamma.

    Meng et al.'s eq. 6 at :math:`\varepsilon = 0`; :math:`\varepsilon > 0` is TRL's label smoothing. TRL 1.16
    (``trl/experimental/cpo``, ``CPOTrainer`` with ``loss_type="simpo"``) gives the same numbers: its
    ``simpo_gamma`` is :math:`\gamma`. Defaults are the SimPO authors' (:math:`\beta = 2`,
    :math:`\gamma/\beta = 0.5`); TRL's ``CPOConfig`` defaults to ``beta=0.1, simpo_gamma=0.5``.

    Args:
        policy_chosen_logps: :math:`\pi_c`, per-token average log-probabilities of the chosen responses.
        policy_rejected_logps: :math:`\pi_r`, of the rejected responses.
        beta: :math:`\beta > 0`, the reward scale (default 2.0).
        gamma: :math:`\gamma \ge 0`, the target reward margin (default 1.0).
        label_smoothing: :math:`\varepsilon \in [0, 0.5]` (default 0.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        Both :math:`(B,)`. Output: scalar, or :math:`(B,)` for ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError, SuspiciousInputWarning: as :func:`dpo_loss`.
        LossOptionError: ``beta <= 0``, ``gamma < 0``, ``label_smoothing`` outside :math:`[0, 0.5]`.

    References:
        Meng, Y., Xia, M. and Chen, D. "SimPO: Simple Preference Optimization with a Reference-Free Reward", 2024.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pc, pr = torch.tensor([-1.0]), torch.tensor([-2.0])
        >>> print(round(float(LF.simpo_loss(pc, pr)), 4))  # -log sigmoid(2 * 1 - 1)
        0.3133
    """
    name = "simpo_loss"
    V.check_reduction(name, reduction)
    beta = _check_beta(name, beta)
    gamma = V.check_positive(name, "gamma", gamma, allow_zero=True)
    eps = _check_smoothing(name, label_smoothing)
    if V.enabled():
        _check_logps(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps)
    _check_values(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps)
    z = beta * (policy_chosen_logps - policy_rejected_logps) - gamma
    return reduce_loss(_sigmoid_terms(z, eps), reduction)


@mixed_precision
def cpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_lengths: Tensor | None = None,
    *,
    beta: float = 0.1,
    cpo_alpha: float = 1.0,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Contrastive Preference Optimization: DPO's logistic loss without the reference, plus the chosen NLL.

    With :math:`\pi_c, \pi_r` the **summed** log-probabilities of the chosen and rejected responses and
    :math:`n_c` the number of tokens of the chosen one,

    .. math::
        \ell = -(1-\varepsilon)\log\sigma(\beta(\pi_c - \pi_r)) - \varepsilon\log\sigma(-\beta(\pi_c - \pi_r))
               + \alpha \frac{-\pi_c}{n_c}.

    The preference term is Xu et al.'s eq. 3 (:math:`\varepsilon > 0`: TRL's label smoothing), the last one
    their NLL regulariser, per token. TRL 1.16 (``trl/experimental/cpo``, ``CPOTrainer``, ``loss_type="sigmoid"``)
    adds ``cpo_alpha`` times the cross-entropy averaged over every chosen token of the batch: the same number
    when the chosen responses have equal lengths (for unequal ones, see :func:`orpo_loss` for the exact form).
    Without ``chosen_lengths`` :math:`n_c = 1`: the NLL of the whole sequence, the paper's
    :math:`-\log\pi_\theta(y_w|x)`.

    Args:
        policy_chosen_logps: :math:`\pi_c`, summed log-probabilities of the chosen responses, floating.
        policy_rejected_logps: :math:`\pi_r`, of the rejected responses.
        chosen_lengths: :math:`n_c`, token counts of the chosen responses, e.g.
            ``(labels != -100).sum(1)``; lengths below 1 count as 1 (default ``None``: every :math:`n_c = 1`).
        beta: :math:`\beta > 0` (default 0.1).
        cpo_alpha: :math:`\alpha \ge 0`, the weight of the NLL term (default 1.0, TRL's; 0 drops it).
        label_smoothing: :math:`\varepsilon \in [0, 0.5]` (default 0.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        All :math:`(B,)`. Output: scalar, or :math:`(B,)` for ``"none"``.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError, SuspiciousInputWarning: as :func:`dpo_loss`;
            ``chosen_lengths`` of another shape.
        LossOptionError: ``beta <= 0``, ``cpo_alpha < 0``, ``label_smoothing`` outside :math:`[0, 0.5]`.

    References:
        Xu, H. et al. "Contrastive Preference Optimization: Pushing the Boundaries of LLM Performance in Machine
        Translation", 2024.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pc, pr, n = torch.tensor([-20.0]), torch.tensor([-30.0]), torch.tensor([10])
        >>> print(round(float(LF.cpo_loss(pc, pr, n)), 4))  # -log sigmoid(1) + 20 / 10
        2.3133
    """
    name = "cpo_loss"
    V.check_reduction(name, reduction)
    beta = _check_beta(name, beta)
    cpo_alpha = V.check_positive(name, "cpo_alpha", cpo_alpha, allow_zero=True)
    eps = _check_smoothing(name, label_smoothing)
    if V.enabled():
        _check_logps(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps)
        if chosen_lengths is not None:
            V.check_tensor(name, "chosen_lengths", chosen_lengths)
            V.check_same_shape(name, policy_chosen_logps, chosen_lengths, "policy_chosen_logps", "chosen_lengths",
                               fix="pass one token count per chosen response")
            V.check_same_device(name, policy_chosen_logps=policy_chosen_logps, chosen_lengths=chosen_lengths)
    _check_values(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps)
    pc = policy_chosen_logps
    terms = _sigmoid_terms(beta * (pc - policy_rejected_logps), eps)
    if cpo_alpha:
        nll = -pc if chosen_lengths is None else -pc / chosen_lengths.to(pc.dtype).clamp_min(1.0)
        terms = terms + cpo_alpha * nll
    return reduce_loss(terms, reduction)


@mixed_precision
def kto_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    kl: Tensor,
    *,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Kahneman-Tversky Optimization: unpaired desirable and undesirable responses, each against a reference point.

    With :math:`r = \pi - \rho` the policy's log-ratio to the reference for each response (summed
    log-probabilities) and :math:`z_0 = \max(0, \mathrm{kl})` the reference point,

    .. math::
        \ell_{\text{desirable}} = \lambda_D \big(1 - \sigma(\beta (r - z_0))\big), \qquad
        \ell_{\text{undesirable}} = \lambda_U \big(1 - \sigma(\beta (z_0 - r))\big),

    Ethayarajh et al.'s eq. 7. The responses need not be paired: there are :math:`B_D` desirable and
    :math:`B_U` undesirable ones. ``"none"`` returns the :math:`B_D + B_U` terms (desirable first), ``"mean"``
    their sum divided by :math:`B_D + B_U` (TRL's mean; :math:`\lambda_D, \lambda_U` scale the terms, they are not
    the weights of a weighted mean), 0 when both are empty.

    **The reference point is an input.** ``kl`` is an estimate of :math:`\mathrm{KL}(\pi \| \rho)`, used as a
    constant (detached, no gradient) and clamped at 0. TRL 1.16 (``trl/trainer/kto_trainer.py``,
    ``KTOTrainer._compute_loss``) estimates it on every batch from *mismatched* pairs: each prompt with the
    completion of another example of the batch (completions shifted by one), as the mean of
    :math:`\log\pi(y'|x) - \log\rho(y'|x)` over them, averaged over the processes, then clamped at 0. Compute
    it that way (``(policy_kl_logps - reference_kl_logps).mean()``) or pass ``torch.tensor(0.0)`` for the
    variant without a reference point. With that ``kl`` the numbers are TRL's ``loss_type="kto"``.

    Args:
        policy_chosen_logps: :math:`\pi` of the desirable responses, :math:`(B_D,)`, floating.
        policy_rejected_logps: :math:`\pi` of the undesirable responses, :math:`(B_U,)`.
        reference_chosen_logps: :math:`\rho` of the desirable responses, :math:`(B_D,)`.
        reference_rejected_logps: :math:`\rho` of the undesirable responses, :math:`(B_U,)`.
        kl: the KL estimate, one value (shape :math:`()` or :math:`(1,)`).
        beta: :math:`\beta > 0` (default 0.1).
        desirable_weight: :math:`\lambda_D \ge 0` (default 1.0).
        undesirable_weight: :math:`\lambda_U \ge 0` (default 1.0). The authors advise
            :math:`\lambda_D B_D / (\lambda_U B_U) \in [1, 4/3]`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As above. Output: scalar, or :math:`(B_D + B_U,)` for ``"none"``.

    Raises:
        LossShapeError: a 2-D input; a reference of another length than its policy tensor; ``kl`` with more
            than one value.
        LossTypeError, NonFiniteError, SuspiciousInputWarning: as :func:`dpo_loss`.
        LossOptionError: ``beta <= 0``, a negative weight.

    References:
        Ethayarajh, K. et al. "KTO: Model Alignment as Prospect Theoretic Optimization", 2024.

    Example:
        >>> import torch, losskit.functional as LF
        >>> pc, rc = torch.tensor([-10.0]), torch.tensor([-12.0])
        >>> pr, rr = torch.tensor([-15.0]), torch.tensor([-13.0])
        >>> print(round(float(LF.kto_loss(pc, pr, rc, rr, torch.tensor(0.0), beta=1.0)), 4))  # 1 - sigmoid(2)
        0.1192
    """
    name = "kto_loss"
    V.check_reduction(name, reduction)
    beta = _check_beta(name, beta)
    desirable_weight = V.check_positive(name, "desirable_weight", desirable_weight, allow_zero=True)
    undesirable_weight = V.check_positive(name, "undesirable_weight", undesirable_weight, allow_zero=True)
    if V.enabled():
        _check_logps(name, policy_chosen_logps=policy_chosen_logps, reference_chosen_logps=reference_chosen_logps)
        _check_logps(name, policy_rejected_logps=policy_rejected_logps,
                     reference_rejected_logps=reference_rejected_logps)
        V.check_tensor(name, "kl", kl)
        V.check_floating(name, "kl", kl, role="KL estimates")
        if kl.numel() != 1 or kl.dim() > 1:
            raise V.LossShapeError(
                f"{name}: kl must hold one value (shape () or (1,)), but got shape {V.shape_str(kl)}; pass the "
                "batch's KL estimate, e.g. (policy_kl_logps - reference_kl_logps).mean()"
            )
        V.check_same_device(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                            kl=kl)
    _check_values(name, policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                  reference_chosen_logps=reference_chosen_logps, reference_rejected_logps=reference_rejected_logps)
    if V.values_due(name + ".kl", kl):
        V.check_finite(name, "kl", kl)
    z0 = kl.detach().reshape(()).clamp_min(0.0)
    chosen = desirable_weight * (1.0 - torch.sigmoid(beta * ((policy_chosen_logps - reference_chosen_logps) - z0)))
    rejected = undesirable_weight * (
        1.0 - torch.sigmoid(beta * (z0 - (policy_rejected_logps - reference_rejected_logps)))
    )
    return reduce_loss(torch.cat([chosen, rejected]), reduction)
