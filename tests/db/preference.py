"""Test-database entries of the preference family (DPO, IPO, ORPO, SimPO, CPO, KTO).

References are written from the papers' formulas (cited at each), with ``log(sigmoid(.))`` and ``log(1 - p)``
spelled out instead of the functionals' stable forms; inputs stay in ranges where the plain forms are exact
(log-ratio margins of a few units, average log-probabilities in [-3, -0.3]). TRL's own code is compared in
``tests/test_preference.py``.
"""

from __future__ import annotations

import math

import torch

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


# --------------------------------------------------------------------------------------------
# references (paper formulas)
# --------------------------------------------------------------------------------------------
def _reduce(terms: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / max(terms.numel(), 1)


def _log_sig(x: torch.Tensor) -> torch.Tensor:
    return torch.log(1.0 / (1.0 + torch.exp(-x)))


def ref_dpo(pc, pr, rc=None, rr=None, *, beta=0.1, label_smoothing=0.0, loss_type="sigmoid", reference_free=False,
            reduction="mean"):
    """Rafailov et al. 2023 eq. 7; cDPO (Mitchell 2023); Chowdhury et al. 2024 eq. 7 (robust)."""
    h = pc - pr if reference_free else (pc - rc) - (pr - rr)
    eps = label_smoothing
    clean, flipped = -_log_sig(beta * h), -_log_sig(-beta * h)
    if loss_type == "robust":
        terms = ((1 - eps) * clean - eps * flipped) / (1 - 2 * eps)
    else:
        terms = (1 - eps) * clean + eps * flipped
    return _reduce(terms, reduction)


def ref_ipo(pc, pr, rc, rr, *, beta=0.1, reduction="mean"):
    """Azar et al. 2023 eq. 17 with tau = beta."""
    h = (pc - rc) - (pr - rr)
    return _reduce((h - 1 / (2 * beta)) ** 2, reduction)


def ref_orpo(pc, pr, *, beta=0.1, reduction="mean"):
    """Hong et al. 2024 eqs. 4-7: NLL plus lambda times -log sigmoid(log odds ratio), on average log-probs."""
    p_c, p_r = torch.exp(pc), torch.exp(pr)
    log_or = torch.log((p_c / (1 - p_c)) / (p_r / (1 - p_r)))
    return _reduce(-pc - beta * _log_sig(log_or), reduction)


def ref_simpo(pc, pr, *, beta=2.0, gamma=1.0, label_smoothing=0.0, reduction="mean"):
    """Meng et al. 2024 eq. 6 (plus TRL's label smoothing)."""
    z = beta * pc - beta * pr - gamma
    eps = label_smoothing
    return _reduce(-(1 - eps) * _log_sig(z) - eps * _log_sig(-z), reduction)


def ref_cpo(pc, pr, n=None, *, beta=0.1, cpo_alpha=1.0, label_smoothing=0.0, reduction="mean"):
    """Xu et al. 2024 eq. 3 plus alpha times the chosen NLL per token."""
    z = beta * (pc - pr)
    eps = label_smoothing
    nll = -pc if n is None else -pc / n.to(pc.dtype).clamp_min(1)
    return _reduce(-(1 - eps) * _log_sig(z) - eps * _log_sig(-z) + cpo_alpha * nll, reduction)


def ref_kto(pc, pr, rc, rr, kl, *, beta=0.1, desirable_weight=1.0, undesirable_weight=1.0, reduction="mean"):
    """Ethayarajh et al. 2024 eq. 7: lambda_y - v(x, y), z0 = max(0, kl) without gradient."""
    z0 = torch.clamp(kl.detach().reshape(()), min=0.0)
    good = desirable_weight - desirable_weight * torch.sigmoid(beta * ((pc - rc) - z0))
    bad = undesirable_weight - undesirable_weight * torch.sigmoid(beta * (z0 - (pr - rr)))
    return _reduce(torch.cat([good, bad]), reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _sums(dtype, n=6):
    """Summed log-probabilities of responses of ~10-40 tokens, and a reference close to the policy."""
    pc = -(torch.rand(n, dtype=dtype) * 30 + 10)
    pr = -(torch.rand(n, dtype=dtype) * 30 + 10)
    rc = pc + torch.randn(n, dtype=dtype) * 3 - 1.0
    rr = pr + torch.randn(n, dtype=dtype) * 3 + 1.0
    return pc.clamp_max(-0.5), pr.clamp_max(-0.5), rc.clamp_max(-0.5), rr.clamp_max(-0.5)


def _averages(dtype, n=6):
    return (-(torch.rand(n, dtype=dtype) * 2.7 + 0.3), -(torch.rand(n, dtype=dtype) * 2.7 + 0.3))


G = (0, 1)


def _dpo_samples(dtype):
    pc, pr, rc, rr = _sums(dtype)
    return [
        Sample((pc, pr, rc, rr), {}, "defaults", grad=G),
        Sample((pc, pr, rc, rr), {"beta": 0.5}, "beta=0.5", grad=G),
        Sample((pc, pr, rc, rr), {"label_smoothing": 0.2}, "cDPO label_smoothing=0.2", grad=G),
        Sample((pc, pr, rc, rr), {"loss_type": "robust", "label_smoothing": 0.1}, "robust", grad=G),
        Sample((pc, pr), {"reference_free": True, "beta": 0.2}, "reference-free", grad=G),
        Sample((pc[:1], pr[:1], rc[:1], rr[:1]), {"loss_type": "robust"}, "one pair, robust at eps 0", grad=G),
        Sample((pc, pr, rc, rr), {"loss_type": "robust", "label_smoothing": 0.3, "beta": 0.3},
               "robust, eps=0.3, references differentiable", grad=(0, 1, 2, 3)),
    ]


def _ipo_samples(dtype):
    pc, pr = _averages(dtype)
    rc, rr = _averages(dtype)
    return [
        Sample((pc, pr, rc, rr), {}, "defaults", grad=G),
        Sample((pc, pr, rc, rr), {"beta": 1.0}, "beta=1", grad=(0, 1, 2, 3)),
    ]


def _orpo_samples(dtype):
    pc, pr = _averages(dtype)
    near = torch.tensor([-0.01, -0.2, -0.69, -0.7, -5.0], dtype=dtype)  # both sides of log 1/2, close to 0
    return [
        Sample((pc, pr), {}, "defaults", grad=G),
        Sample((pc, pr), {"beta": 1.0}, "beta=1", grad=G),
        Sample((near, near.flip(0)), {"beta": 0.5}, "log-probs near 0 and around -log 2", grad=G),
    ]


def _simpo_samples(dtype):
    pc, pr = _averages(dtype)
    return [
        Sample((pc, pr), {}, "defaults", grad=G),
        Sample((pc, pr), {"beta": 2.5, "gamma": 0.0}, "gamma=0", grad=G),
        Sample((pc, pr), {"label_smoothing": 0.1, "gamma": 1.4}, "label smoothing", grad=G),
    ]


def _cpo_samples(dtype):
    pc, pr, _, _ = _sums(dtype)
    lengths = torch.tensor([12, 30, 7, 0, 25, 18])
    return [
        Sample((pc, pr, lengths), {}, "defaults, token counts (one of 0)", grad=G),
        Sample((pc, pr), {"beta": 0.5, "cpo_alpha": 0.1}, "no lengths: sequence NLL", grad=G),
        Sample((pc, pr, lengths.double()), {"cpo_alpha": 0.0, "label_smoothing": 0.2}, "alpha 0, smoothing",
               grad=G),
    ]


def _kto_samples(dtype):
    pc, _, rc, _ = _sums(dtype, 4)
    _, pr, _, rr = _sums(dtype, 3)
    kl = torch.rand((), dtype=dtype) * 2
    return [
        Sample((pc, pr, rc, rr, kl), {}, "4 desirable, 3 undesirable", grad=G),
        Sample((pc, pr, rc, rr, kl), {"beta": 0.5, "desirable_weight": 1.33, "undesirable_weight": 0.7},
               "weights", grad=G),
        Sample((pc, pr, rc, rr, -kl - 0.5), {"beta": 0.3}, "negative kl clamps to 0", grad=G),
        Sample((pc, pr[:0], rc, rr[:0], kl.reshape(1)), {}, "desirable only, kl (1,)", grad=G),
    ]


# --------------------------------------------------------------------------------------------
# errors and empties
# --------------------------------------------------------------------------------------------
_A, _B = torch.tensor([-3.0, -5.0, -4.0]), torch.tensor([-6.0, -2.0, -4.5])

_DPO_ERRORS = [
    ErrorCase("2-D log-probs", lambda: ((_A[:, None], _B[:, None], _A[:, None], _B[:, None]), {}),
              lk.LossShapeError, match=r"policy_chosen_logps must have shape \(B,\).*\(3, 1\)"),
    ErrorCase("rejected of another length", lambda: ((_A, _B[:2], _A, _B), {}), lk.LossShapeError,
              match=r"policy_rejected_logps.*\(3,\).*\(2,\)"),
    ErrorCase("references missing", lambda: ((_A, _B), {}), lk.LossOptionError,
              match="got 0 of 2.*reference_free=True"),
    ErrorCase("references with reference_free", lambda: ((_A, _B, _A, _B), {"reference_free": True}),
              lk.LossOptionError, match="reference_free=True takes no reference"),
    ErrorCase("unknown loss_type", lambda: ((_A, _B, _A, _B), {"loss_type": "robst"}), lk.LossOptionError,
              match="'robst'.*did you mean 'robust'"),
    ErrorCase("robust at label_smoothing 0.5", lambda: ((_A, _B, _A, _B), {"loss_type": "robust",
              "label_smoothing": 0.5}), lk.LossOptionError, match=r"\[0, 0.5\).*0.5"),
    ErrorCase("label_smoothing above 0.5", lambda: ((_A, _B, _A, _B), {"label_smoothing": 0.7}), lk.LossOptionError,
              match=r"\[0, 0.5\].*0.7"),
    ErrorCase("beta 0", lambda: ((_A, _B, _A, _B), {"beta": 0.0}), lk.LossOptionError, match="beta.*0.0"),
    ErrorCase("integer log-probs", lambda: ((_A.long(), _B, _A, _B), {}), lk.LossTypeError, match="torch.int64"),
    ErrorCase("nan", lambda: ((_A, _B.index_fill(0, torch.tensor([1]), math.nan), _A, _B), {}), lk.NonFiniteError,
              match="policy_rejected_logps.*1 NaN"),
    ErrorCase("probabilities", lambda: ((_A.exp(), _B, _A, _B), {}), warns=lk.SuspiciousInputWarning,
              match="policy_chosen_logps must hold log-probabilities.*0.0497"),
]
_IPO_ERRORS = [
    ErrorCase("reference None", lambda: ((_A, _B, None, _B), {}), lk.LossTypeError,
              match="reference_chosen_logps must be a torch.Tensor.*NoneType"),
    ErrorCase("reference of another length", lambda: ((_A, _B, _A[:1], _B), {}), lk.LossShapeError,
              match=r"reference_chosen_logps.*\(1,\)"),
]
_ORPO_ERRORS = [
    ErrorCase("log-prob 0", lambda: ((_A.index_fill(0, torch.tensor([2]), 0.0), _B), {}), lk.LossValueError,
              match="policy_chosen_logps must hold average log-probabilities < 0.*maximum of 0"),
    ErrorCase("beta negative", lambda: ((_A, _B), {"beta": -1.0}), lk.LossOptionError, match="beta.*-1.0"),
]
_SIMPO_ERRORS = [
    ErrorCase("gamma negative", lambda: ((_A, _B), {"gamma": -0.5}), lk.LossOptionError, match="gamma.*-0.5"),
    ErrorCase("2-D", lambda: ((_A[None], _B[None]), {}), lk.LossShapeError, match=r"\(1, 3\)"),
]
_CPO_ERRORS = [
    ErrorCase("lengths of another shape", lambda: ((_A, _B, torch.tensor([3, 4])), {}), lk.LossShapeError,
              match=r"chosen_lengths.*\(2,\)"),
    ErrorCase("cpo_alpha negative", lambda: ((_A, _B), {"cpo_alpha": -1.0}), lk.LossOptionError,
              match="cpo_alpha.*-1.0"),
]
_KTO_ERRORS = [
    ErrorCase("kl with two values", lambda: ((_A, _B, _A, _B, torch.zeros(2)), {}), lk.LossShapeError,
              match=r"kl must hold one value.*\(2,\)"),
    ErrorCase("reference of another length", lambda: ((_A, _B, _A[:2], _B, torch.tensor(0.0)), {}),
              lk.LossShapeError, match=r"reference_chosen_logps.*\(2,\)"),
    ErrorCase("negative weight", lambda: ((_A, _B, _A, _B, torch.tensor(0.0)), {"undesirable_weight": -1.0}),
              lk.LossOptionError, match="undesirable_weight.*-1.0"),
    ErrorCase("nan kl", lambda: ((_A, _B, _A, _B, torch.tensor(math.nan)), {}), lk.NonFiniteError, match="kl"),
]


def _empty(n_args: int, **kwargs):
    def make():
        e = torch.zeros(0)
        args = tuple(e.clone() for _ in range(n_args))
        if n_args == 5:
            args = (*args[:4], torch.tensor(0.3))
        return args, kwargs

    return make


ENTRIES = [
    LossEntry(LF.dpo_loss, lk.DPOLoss, _dpo_samples, ref_dpo, errors=_DPO_ERRORS, empty=_empty(4)),
    LossEntry(LF.ipo_loss, lk.IPOLoss, _ipo_samples, ref_ipo, errors=_IPO_ERRORS, empty=_empty(4)),
    LossEntry(LF.orpo_loss, lk.ORPOLoss, _orpo_samples, ref_orpo, errors=_ORPO_ERRORS, empty=_empty(2)),
    LossEntry(LF.simpo_loss, lk.SimPOLoss, _simpo_samples, ref_simpo, errors=_SIMPO_ERRORS, empty=_empty(2)),
    LossEntry(LF.cpo_loss, lk.CPOLoss, _cpo_samples, ref_cpo, errors=_CPO_ERRORS, empty=_empty(2)),
    LossEntry(LF.kto_loss, lk.KTOLoss, _kto_samples, ref_kto, errors=_KTO_ERRORS, empty=_empty(5)),
]
