"""Test-database entries of the distribution family: kl_div, poisson_nll_loss, gaussian_nll_loss.

References are torch 2.13's functions. kl_div's reference applies losskit's one documented difference
(a term whose target probability is 0 is 0, where torch computes 0 * inf = nan).

kl_div's entry leaves ``"mean"`` out of the generic reductions: on (N, C) inputs it warns by design (pytest
turns losskit warnings into errors), so tests/test_distribution.py checks ``"mean"`` (values and the
warning), and the first and last samples are ones where ``"mean"`` equals ``"batchmean"`` and stays quiet.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample


def _reduce(terms: torch.Tensor, reduction: str, batch: int) -> torch.Tensor:
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / (batch if reduction == "batchmean" else terms.numel())


def ref_kl_div(input, target, *, reduction="mean", log_target=False):
    """torch's kl_div; where the target probability is 0, losskit's term is 0 (torch: nan if input is -inf)."""
    zero = target.isneginf() if log_target else target == 0
    if not bool(zero.any()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's own warning about "mean"
            return F.kl_div(input, target, reduction=reduction, log_target=log_target)
    terms = F.kl_div(input, target, reduction="none", log_target=log_target)
    terms = torch.where(zero, torch.zeros_like(terms), terms)
    return _reduce(terms, reduction, input.shape[0] if input.dim() else 1)


def _ref_poisson(input, target, *, log_input=True, full=False, eps=1e-8, reduction="mean"):
    return F.poisson_nll_loss(input, target.to(input.dtype), log_input=log_input, full=full, eps=eps,
                              reduction=reduction)


def _ref_gaussian(input, target, var, *, full=False, eps=1e-6, reduction="mean"):
    return F.gaussian_nll_loss(input, target, var, full=full, eps=eps, reduction=reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def kl_samples(dtype):
    x = torch.randn(4, 5, dtype=dtype).log_softmax(1)
    p = torch.randn(4, 5, dtype=dtype).softmax(1)
    masked_p = p.clone()
    masked_p[0, 1] = 0.0
    masked_p[2, 3] = 0.0
    masked_x = x.clone()
    masked_x[0, 1] = float("-inf")
    masked_x[2, 3] = float("-inf")
    big_x = torch.randn(2, 3, 4, dtype=dtype).log_softmax(1)
    big_p = torch.randn(2, 3, 4, dtype=dtype).softmax(1)
    # samples[0] and samples[-1] are where "mean" equals "batchmean" (no warning by design): the generic tests
    # that hard-code reduction="mean" (compile, autocast, Module defaults) use them
    return [
        Sample((x[0], p[0]), {}, "1-d", grad=(0, 1)),
        Sample((x, p), {}, "2d", grad=(0, 1)),
        Sample((x, p.log()), {"log_target": True}, "log_target", grad=(0, 1)),
        Sample((x.t(), p.t()), {}, "non-contiguous", grad=(0, 1)),
        Sample((big_x, big_p), {}, "3d (N, C, L)", grad=(0, 1)),
        Sample((masked_x, masked_p), {}, "p = 0 where input is -inf", grad=(0,)),
        Sample((masked_x, masked_p.log()), {"log_target": True}, "log p = -inf where input is -inf", grad=(0,)),
        Sample((torch.tensor(0.3, dtype=dtype).log(), torch.tensor(0.6, dtype=dtype)), {}, "scalar", grad=(0, 1)),
    ]


def _poisson_samples(dtype):
    x = torch.randn(3, 4, dtype=dtype)
    y = torch.randint(0, 5, (3, 4)).to(dtype)
    rate = torch.rand(3, 4, dtype=dtype) * 3 + 0.05
    return [
        Sample((x, y), {}, "log input"),
        Sample((x, y), {"full": True}, "full (targets 0, 1 and > 1)"),
        Sample((rate, y), {"log_input": False}, "rate input"),
        Sample((rate, y.long()), {"log_input": False, "full": True, "eps": 1e-3}, "rate, full, eps, integer counts"),
        Sample((x.t(), y.t()), {}, "non-contiguous"),
        Sample((torch.tensor(0.4, dtype=dtype), torch.tensor(2.0, dtype=dtype)), {"full": True}, "scalar"),
        Sample((rate, y), {"log_input": False, "eps": 0.0}, "rate, eps 0"),
    ]


def _gaussian_samples(dtype):
    x, y = torch.randn(4, 3, dtype=dtype), torch.randn(4, 3, dtype=dtype)
    var = torch.rand(4, 3, dtype=dtype) + 0.1
    tiny = var.clone()
    tiny[1, 2] = 1e-9
    g = (0, 2)
    return [
        Sample((x, y, var), {}, "heteroscedastic", grad=g),
        Sample((x, y, var[:, :1]), {}, "var (N, 1)", grad=g),
        Sample((x, y, var[:, 0]), {"full": True}, "var (N,) one dim fewer", grad=g),
        Sample((x, y, var[:1]), {}, "var (1, D)", grad=g),
        Sample((x, y, 0.7), {"eps": 1e-3}, "float var", grad=(0,)),
        Sample((x, y, tiny), {}, "var below eps (clamped, gradient passes)", grad=g),
        Sample((x.t(), y.t(), var.t()), {"full": True}, "non-contiguous", grad=g),
        Sample((x[0], y[0], var[0, 0]), {}, "1-d input, 0-d var", grad=g),
        Sample((torch.randn(2, 3, 4, dtype=dtype), torch.randn(2, 3, 4, dtype=dtype),
                torch.rand(2, 1, 4, dtype=dtype) + 0.2), {"full": True}, "3d, var (N, 1, L)", grad=g),
    ]


# --------------------------------------------------------------------------------------------
# errors and empty inputs
# --------------------------------------------------------------------------------------------
def _logp(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).log_softmax(-1)


def _p(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).softmax(-1)


def _nan(*shape: int) -> torch.Tensor:
    t = torch.randn(*shape)
    t.view(-1)[1] = float("nan")
    return t


_BM = {"reduction": "batchmean"}

KL_ERRORS = [
    ErrorCase("reduction mean", lambda: ((_logp(4, 5), _p(4, 5)), {}), warns=lk.SuspiciousInputWarning,
              match=r"all 20 elements of input \(4, 5\), not by the batch size 4.*reduction='batchmean'"),
    ErrorCase("probabilities as input", lambda: ((_p(4, 5), _p(4, 5)), _BM), warns=lk.SuspiciousInputWarning,
              match=r"input must hold log-probabilities \(<= 0\), but got values up to 0\.\d+.*log_softmax"),
    ErrorCase("log-probabilities as target", lambda: ((_logp(4, 5), _logp(4, 5)), _BM), lk.LossValueError,
              match=r"all <= 0, so it looks like log-probabilities; pass log_target=True"),
    ErrorCase("negative target", lambda: ((_logp(2, 3), torch.tensor([[0.5, 0.7, -0.2], [0.2, 0.3, 0.5]])), _BM),
              lk.LossValueError, match="minimum of -0.2"),
    ErrorCase("positive log-target", lambda: ((_logp(4, 5), _p(4, 5)), {**_BM, "log_target": True}),
              warns=lk.SuspiciousInputWarning, match=r"target must hold log-probabilities"),
    ErrorCase("broadcast target", lambda: ((_logp(4, 5), _p(1, 5)), _BM), lk.LossShapeError,
              match=r"\(4, 5\).*\(1, 5\).*broadcast"),
    ErrorCase("integer target", lambda: ((_logp(2, 3), torch.tensor([[0, 1, 0], [1, 0, 0]])), _BM),
              lk.LossTypeError, match="target.*torch.int64"),
    ErrorCase("nan input", lambda: ((_nan(4, 5), _p(4, 5)), _BM), lk.NonFiniteError, match="input.*1 NaN"),
    ErrorCase("+inf input", lambda: ((torch.tensor([[float("inf"), -1.0]]), torch.tensor([[0.5, 0.5]])), _BM),
              lk.NonFiniteError, match="input.*1 infinite"),
    ErrorCase("reduction typo", lambda: ((_logp(4, 5), _p(4, 5)), {"reduction": "batch_mean"}), lk.LossOptionError,
              match="'batch_mean'.*did you mean 'batchmean'"),
]

POISSON_ERRORS = [
    ErrorCase("negative counts", lambda: ((torch.randn(4), torch.tensor([1.0, -1.0, 0.0, 2.0])), {}),
              lk.LossValueError, match="target.*minimum of -1"),
    ErrorCase("negative rate", lambda: ((torch.tensor([0.5, -0.3]), torch.tensor([1.0, 0.0])), {"log_input": False}),
              lk.LossValueError, match=r"input.*minimum of -0\.3.*log_input=True"),
    ErrorCase("broadcast (N,1) vs (N,)", lambda: ((torch.randn(4, 1), torch.ones(4)), {}), lk.LossShapeError,
              match=r"\(4, 1\).*\(4,\).*broadcast"),
    ErrorCase("integer input", lambda: ((torch.tensor([1, 2]), torch.tensor([1.0, 2.0])), {}), lk.LossTypeError,
              match="input.*torch.int64"),
    ErrorCase("nan target", lambda: ((torch.randn(4), torch.tensor([1.0, float("nan"), 0.0, 2.0])), {}),
              lk.NonFiniteError, match="target.*1 NaN"),
    ErrorCase("negative eps", lambda: ((torch.randn(4), torch.ones(4)), {"eps": -1e-8}), lk.LossOptionError,
              match="eps.*-1e-08"),
    ErrorCase("log_input not bool", lambda: ((torch.randn(4), torch.ones(4)), {"log_input": "no"}),
              lk.LossOptionError, match="log_input.*'no'"),
]

GAUSSIAN_ERRORS = [
    ErrorCase("negative var", lambda: ((torch.randn(4), torch.randn(4), torch.tensor([1.0, -0.5, 1.0, 1.0])), {}),
              lk.LossValueError, match="var.*minimum of -0.5"),
    ErrorCase("negative float var", lambda: ((torch.randn(4), torch.randn(4), -1.0), {}), lk.LossValueError,
              match="var.*-1.0"),
    ErrorCase("var (N, 2) for (N, 3)", lambda: ((torch.randn(4, 3), torch.randn(4, 3), torch.rand(4, 2)), {}),
              lk.LossShapeError, match=r"var.*but got \(4, 2\)"),
    ErrorCase("var (D,) for (N, D)", lambda: ((torch.randn(4, 3), torch.randn(4, 3), torch.rand(3)), {}),
              lk.LossShapeError, match=r"but got \(3,\); pass var of shape \(4, 3\) or \(4, 1\)"),
    ErrorCase("var with two size-1 dims", lambda: ((torch.randn(4, 3), torch.randn(4, 3), torch.rand(1, 1)), {}),
              lk.LossShapeError, match=r"but got \(1, 1\)"),
    ErrorCase("target broadcasts", lambda: ((torch.randn(4, 3), torch.randn(4, 1), torch.rand(4, 3)), {}),
              lk.LossShapeError, match=r"target.*\(4, 1\).*broadcast"),
    ErrorCase("integer var", lambda: ((torch.randn(4), torch.randn(4), torch.ones(4, dtype=torch.int64)), {}),
              lk.LossTypeError, match="var.*torch.int64"),
    ErrorCase("var not a number", lambda: ((torch.randn(4), torch.randn(4), "1.0"), {}), lk.LossTypeError,
              match="got str"),
    ErrorCase("nan var", lambda: ((torch.randn(4), torch.randn(4), _nan(4).abs()), {}), lk.NonFiniteError,
              match="var.*1 NaN"),
    ErrorCase("integer input", lambda: ((torch.tensor([1, 2]), torch.randn(2), 1.0), {}), lk.LossTypeError,
              match="input.*torch.int64"),
]


def _split_gaussian(s: Sample) -> tuple[dict, tuple]:
    return dict(s.kwargs), s.args


ENTRIES = [
    LossEntry(LF.kl_div, lk.KLDivLoss, kl_samples, ref_kl_div, errors=KL_ERRORS,
              reductions=("none", "batchmean", "sum"),
              empty=lambda: ((torch.zeros(0, 5), torch.zeros(0, 5)), {})),
    LossEntry(LF.poisson_nll_loss, lk.PoissonNLLLoss, _poisson_samples, _ref_poisson, errors=POISSON_ERRORS,
              empty=lambda: ((torch.zeros(0, 3), torch.zeros(0, 3)), {})),
    LossEntry(LF.gaussian_nll_loss, lk.GaussianNLLLoss, _gaussian_samples, _ref_gaussian, errors=GAUSSIAN_ERRORS,
              module_call=_split_gaussian,
              empty=lambda: ((torch.zeros(0, 3), torch.zeros(0, 3), torch.ones(0, 3)), {})),
]
