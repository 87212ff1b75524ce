"""Test-database entries of the long-tail family: logit adjustment, balanced softmax, LDAM, class-balanced focal,
equalization loss v2.

The references are written from each paper's definition or its authors' code, independently of the code under
test: logit adjustment as torch's cross-entropy of ``x + tau log(pi)`` with normalised priors (google-research
logit_adjustment); balanced softmax as the explicit ratio ``n_y e^{x_y} / sum_c n_c e^{x_c}``; LDAM as the authors'
``LDAMLoss.forward`` (kaidic/LDAM-DRW: ``m_list = 1 / sqrt(sqrt(n))`` scaled to ``max_m``, ``torch.where`` on the
one-hot mask, torch's weighted cross-entropy); class-balanced focal as the authors' TensorFlow code
(richardaecn/class-balanced-loss: weights ``(1 - beta) / (1 - beta^n)`` normalised to sum to C, the sigmoid
modulator ``exp(-gamma y x - gamma log1p(exp(-x)))``); EQL v2 as the authors' ``EQLv2.forward``/``get_weight``
(tztztztztz/eqlv2). Means over nothing are the ``empty=`` cases.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.db.imbalance import IGN, _class_errors, _classes, _reduce_rows, _rows
from tests.loss_db import ErrorCase, LossEntry, Sample

COUNTS = torch.tensor([500, 120, 30, 8, 2])
"""Training counts of the 5 classes of the samples (a long tail)."""


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _ce_rows(logits_rows, t, input, target, weight, reduction):
    """torch's cross-entropy on rows, reshaped like ``target`` for "none"."""
    out = F.cross_entropy(logits_rows, t, weight, ignore_index=IGN, reduction=reduction)
    return out.reshape(target.shape) if reduction == "none" else out


def ref_logit_adjustment_loss(input, target, class_priors, *, tau=1.0, ignore_index=IGN, reduction="mean"):
    """Menon et al. (2021), eq. 10: CE(x + tau log pi), pi the normalised priors."""
    x, t = _rows(input, target)
    pi = class_priors.double() / class_priors.double().sum()
    return _ce_rows(x + tau * torch.log(pi).to(x.dtype), t, input, target, None, reduction)


def ref_balanced_softmax_loss(input, target, class_counts, *, ignore_index=IGN, reduction="mean"):
    """Ren et al. (2020), eq. 4: -log(n_y exp(x_y) / sum_c n_c exp(x_c))."""
    x, t = _rows(input, target)
    n = class_counts.to(x.dtype)
    valid = t != IGN
    num = n[torch.where(valid, t, 0)] * torch.exp(x[torch.arange(len(t)), torch.where(valid, t, 0)])
    den = (n * torch.exp(x)).sum(1)
    terms = torch.where(valid, -torch.log(num / den), 0)
    return _reduce_rows(terms, target, valid.sum(), reduction)


def ref_ldam_loss(input, target, class_counts, weight=None, *, max_m=0.5, s=30.0, ignore_index=IGN,
                  reduction="mean"):
    """Cao et al. (2019), the authors' LDAMLoss.forward."""
    x, t = _rows(input, target)
    m_list = 1.0 / torch.sqrt(torch.sqrt(class_counts.double()))
    m_list = (m_list * (max_m / m_list.max())).to(x.dtype)
    valid = t != IGN
    index = F.one_hot(torch.where(valid, t, 0), x.shape[1]).bool() & valid[:, None]
    batch_m = m_list[torch.where(valid, t, 0)][:, None]
    output = torch.where(index, x - batch_m, x)
    return _ce_rows(s * output, t, input, target, weight, reduction)


def ref_class_balanced_focal_loss(input, target, class_counts, *, beta=0.9999, gamma=2.0, head="softmax",
                                  ignore_index=IGN, reduction="mean"):
    """Cui et al. (2019), the authors' CB_loss: effective-number weights summing to C, focal per head."""
    x, t = _rows(input, target)
    num_classes = x.shape[1]
    effective = 1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), class_counts.double())
    w = (1.0 - beta) / effective
    w = (w / w.sum() * num_classes).to(x.dtype)
    valid = t != IGN
    y = F.one_hot(torch.where(valid, t, 0), num_classes).to(x.dtype)
    if head == "softmax":
        p = torch.softmax(x, 1)
        terms = -(y * (1 - p) ** gamma * torch.log(p)).sum(1)
    else:
        bce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        modulator = torch.exp(-gamma * y * x - gamma * torch.log1p(torch.exp(-x)))
        terms = (modulator * bce).sum(1)
    w_y = torch.where(valid, w[torch.where(valid, t, 0)], 0)
    return _reduce_rows(w_y * terms, target, w_y.sum(), reduction)


def ref_equalization_loss_v2(input, target, pos_grad=None, neg_grad=None, *, gamma=12.0, mu=0.8, alpha=4.0,
                             background_channel=False, ignore_index=IGN, reduction="mean"):
    """Tan et al. (2021), the authors' EQLv2.forward with get_weight's map 1 / (1 + exp(-gamma (x - mu)))."""
    x, t = _rows(input, target)
    n_c = x.shape[1]
    valid = t != IGN
    target_oh = F.one_hot(torch.where(valid, t, 0), n_c).to(x.dtype) * valid[:, None]
    if pos_grad is None:
        pos_w = neg_w = torch.ones(n_c, dtype=x.dtype)
    else:
        pos_neg = pos_grad.to(x.dtype) / (neg_grad.to(x.dtype) + 1e-10)
        neg_w = 1 / (1 + torch.exp(-gamma * (pos_neg - mu)))
        pos_w = 1 + alpha * (1 - neg_w)
        if background_channel:
            neg_w = torch.cat([neg_w, torch.ones(1, dtype=x.dtype)])
            pos_w = torch.cat([pos_w, torch.ones(1, dtype=x.dtype)])
    weight = pos_w * target_oh + neg_w * (1 - target_oh)
    cls_loss = F.binary_cross_entropy_with_logits(x, target_oh, reduction="none")
    terms = torch.where(valid, (cls_loss * weight).sum(1), 0)
    return _reduce_rows(terms, target, valid.sum(), reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _la_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    priors = COUNTS.to(dtype) / COUNTS.sum()
    return [
        Sample((d["x"], d["t"], COUNTS), {}, "counts, tau=1"),
        Sample((d["x_t"], d["t"], priors), {"tau": 1.5}, "non-contiguous, priors, tau=1.5"),
        Sample((d["x"], d["t_ign"], COUNTS), {"tau": 0.0}, "tau=0: cross-entropy, some ignored"),
        Sample((d["xk"], d["tk"], COUNTS), {"tau": -0.5}, "K-dim (2, 5, 3, 2), tau=-0.5"),
        Sample((d["x"][0], d["t"][0], COUNTS), {}, "unbatched (C,)"),
        Sample((d["xk"], d["tk_ign"], priors), {"tau": 2.0}, "K-dim, priors, some ignored"),
    ]


def _bs_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    return [
        Sample((d["x"], d["t"], COUNTS), {}, "counts"),
        Sample((d["x_t"], d["t"], COUNTS.to(dtype) / 7), {}, "non-contiguous, float counts"),
        Sample((d["x"], d["t_ign"], COUNTS), {}, "some ignored"),
        Sample((d["x"][0], d["t"][0], COUNTS), {}, "unbatched (C,)"),
        Sample((d["xk"], d["tk_ign"], COUNTS), {}, "K-dim, some ignored"),
    ]


def _ldam_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    cos = torch.tanh(d["x"] / 2)  # cosine-like logits in (-1, 1)
    return [
        Sample((cos, d["t"], COUNTS), {}, "cosines, authors' defaults (max_m=0.5, s=30)"),
        Sample((d["x_t"], d["t"], COUNTS, d["w"]), {"s": 1.0, "max_m": 1.0}, "non-contiguous, logits, s=1, weight"),
        Sample((cos, d["t_ign"], COUNTS, d["w"]), {"s": 16.0}, "class weights (DRW), some ignored"),
        Sample((torch.tanh(d["xk"]), d["tk"], COUNTS), {"s": 10.0, "max_m": 0.3}, "K-dim (2, 5, 3, 2)"),
        Sample((cos[0], d["t"][0], COUNTS), {}, "unbatched (C,)"),
        Sample((torch.tanh(d["xk"]), d["tk_ign"], COUNTS, d["w"]), {"s": 5.0}, "K-dim, weight, some ignored"),
    ]


def _cb_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    return [
        Sample((d["x"], d["t"], COUNTS), {}, "softmax, beta=0.9999, gamma=2"),
        Sample((d["x_t"], d["t"], COUNTS), {"beta": 0.99, "gamma": 0.5, "head": "sigmoid"},
               "non-contiguous, sigmoid head"),
        Sample((d["x"], d["t_ign"], COUNTS), {"beta": 0.999, "gamma": 0.0}, "gamma=0: class-balanced CE, ignored"),
        Sample((d["x"], d["t"], COUNTS), {"beta": 0.9, "gamma": 1.0, "head": "sigmoid"}, "sigmoid, beta=0.9"),
        Sample((d["xk"], d["tk"], COUNTS), {"beta": 0.99, "gamma": 1.5}, "K-dim (2, 5, 3, 2)"),
        Sample((d["x"][0], d["t"][0], COUNTS), {"head": "sigmoid"}, "unbatched (C,), sigmoid"),
        Sample((d["xk"], d["tk_ign"], COUNTS), {"beta": 0.999, "head": "sigmoid"}, "K-dim, sigmoid, some ignored"),
    ]


def _eql_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    pos = torch.tensor([40.0, 12.0, 3.0, 0.5, 0.05], dtype=dtype)
    neg = torch.tensor([45.0, 30.0, 20.0, 12.0, 10.0], dtype=dtype)
    return [
        Sample((d["x"], d["t"], pos, neg), {}, "statistics, authors' defaults"),
        Sample((d["x_t"], d["t"]), {}, "non-contiguous, no statistics yet (weights 1)"),
        Sample((d["x"], d["t_ign"], pos, neg), {"gamma": 6.0, "mu": 0.5, "alpha": 2.0}, "some ignored"),
        Sample((d["x"], d["t"], pos[:4], neg[:4]), {"background_channel": True}, "background channel (mmdet layout)"),
        Sample((d["x"], d["t"], pos * torch.tensor([1, 1, 0, 1, 1], dtype=dtype),
                neg * torch.tensor([1, 1, 0, 1, 1], dtype=dtype)), {},
               "a class without statistics (weights 1; the authors switch all classes at once)", reference_ok=False),
        Sample((d["x"][0], d["t"][0], pos, neg), {}, "unbatched (C,)"),
        Sample((d["xk"], d["tk_ign"], pos, neg), {"alpha": 1.0}, "K-dim, some ignored"),
    ]


# --------------------------------------------------------------------------------------------
# Module splits
# --------------------------------------------------------------------------------------------
def _counts_to_ctor(arg: str):
    def split(sample: Sample) -> tuple[dict, tuple]:
        ctor = {arg: sample.args[2], **sample.kwargs}
        if len(sample.args) > 3:
            ctor["weight"] = sample.args[3]
        return ctor, sample.args[:2]

    return split


def _eql_to_ctor(sample: Sample) -> tuple[dict, tuple]:
    x = sample.args[0]
    num = x.shape[1 if x.dim() > 1 else 0] - (1 if sample.kwargs.get("background_channel") else 0)
    ctor = {"num_classes": num, **sample.kwargs}
    if len(sample.args) > 2:
        ctor["pos_grad"], ctor["neg_grad"] = sample.args[2], sample.args[3]
    return ctor, sample.args[:2]


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
C3 = torch.tensor([5, 3, 1])


def _with_counts(cases: list[ErrorCase], counts: torch.Tensor = C3) -> list[ErrorCase]:
    """The softmax losses' class-index mistakes, with ``class_counts`` appended to the call."""
    out = []
    for c in cases:
        def make(_make=c.make):
            args, kwargs = _make()
            return (*args, counts), kwargs

        out.append(ErrorCase(c.desc, make, c.raises, c.warns, c.match))
    return out


def _counts_errors(*, positive: bool) -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    cases = [
        *_with_counts(_class_errors()),
        ErrorCase("counts of wrong length", lambda: ((x, t, torch.tensor([5, 3])), {}), lk.LossShapeError,
                  match=r"3 elements.*\(2,\).*bincount"),
        ErrorCase("bool counts", lambda: ((x, t, torch.ones(3, dtype=torch.bool)), {}), lk.LossTypeError,
                  match=r"torch\.bool"),
        ErrorCase("counts on another device", lambda: ((x, t, C3.to("meta")), {}), lk.LossDeviceError, match="meta"),
        ErrorCase("negative count", lambda: ((x, t, torch.tensor([5, -1, 2])), {}), lk.LossValueError, match=r"-1"),
        ErrorCase("NaN prior", lambda: ((x, t, torch.tensor([0.5, float("nan"), 0.2])), {}), lk.NonFiniteError,
                  match="NaN"),
    ]
    if positive:
        cases.append(ErrorCase("a zero count", lambda: ((x, t, torch.tensor([5, 0, 2])), {}), lk.LossValueError,
                               match=r"> 0.*minimum of 0.*clamp_min\(1\)"))
    else:
        cases.append(ErrorCase("all counts zero", lambda: ((x, t, torch.zeros(3)), {}), lk.LossValueError,
                               match=r"at least one sample.*all zeros"))
    return cases


def _la_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [*_counts_errors(positive=True),
            ErrorCase("tau NaN", lambda: ((x, t, C3), {"tau": float("nan")}), lk.LossOptionError, match=r"tau.*nan")]


def _ldam_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [
        *_counts_errors(positive=True),
        ErrorCase("max_m = 0", lambda: ((x, t, C3), {"max_m": 0.0}), lk.LossOptionError, match=r"max_m.*> 0.*0\.0"),
        ErrorCase("negative s", lambda: ((x, t, C3), {"s": -1.0}), lk.LossOptionError, match=r"s must.*-1\.0"),
        ErrorCase("weight of wrong length", lambda: ((x, t, C3, torch.ones(2)), {}), lk.LossShapeError,
                  match=r"weight.*3 elements"),
    ]


def _cb_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [
        *_counts_errors(positive=False),
        ErrorCase("beta = 1", lambda: ((x, t, C3), {"beta": 1.0}), lk.LossOptionError, match=r"beta.*\[0, 1\).*1\.0"),
        ErrorCase("unknown head", lambda: ((x, t, C3), {"head": "softmx"}), lk.LossOptionError,
                  match=r"head.*'softmx'.*did you mean 'softmax'"),
        ErrorCase("negative gamma", lambda: ((x, t, C3), {"gamma": -1.0}), lk.LossOptionError, match=r"gamma.*-1\.0"),
    ]


def _eql_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    g = torch.ones(3)
    return [
        *[c for c in _class_errors() if c.warns is None],
        ErrorCase("only pos_grad", lambda: ((x, t, g), {}), lk.LossShapeError, match=r"only pos_grad"),
        ErrorCase("statistics of wrong length", lambda: ((x, t, torch.ones(2), torch.ones(2)), {}),
                  lk.LossShapeError, match=r"pos_grad.*3 elements.*\(2,\)"),
        ErrorCase("background: statistics of C", lambda: ((x, t, g, g), {"background_channel": True}),
                  lk.LossShapeError, match=r"2 elements.*without the background channel"),
        ErrorCase("negative neg_grad", lambda: ((x, t, g, torch.tensor([1.0, -2.0, 1.0])), {}), lk.LossValueError,
                  match=r"neg_grad.*-2"),
        ErrorCase("integer statistics", lambda: ((x, t, g.long(), g.long()), {}), lk.LossTypeError,
                  match=r"pos_grad.*torch\.int64"),
        ErrorCase("gamma = 0", lambda: ((x, t), {"gamma": 0.0}), lk.LossOptionError, match=r"gamma.*> 0"),
        ErrorCase("background_channel not a bool", lambda: ((x, t), {"background_channel": "yes"}),
                  lk.LossOptionError, match=r"background_channel.*bool.*'yes'"),
        ErrorCase("sigmoid output as input", lambda: ((torch.rand(64, 8), torch.randint(0, 8, (64,))), {}),
                  warns=lk.SuspiciousInputWarning, match=r"512 values.*looks like probabilities"),
    ]


def _all_ignored_counts():
    return (torch.randn(4, 5), torch.full((4,), IGN), COUNTS), {}


def _all_ignored_weighted():
    return (torch.randn(2, 5, 3), torch.full((2, 3), IGN), COUNTS, torch.rand(5) + 0.1), {}


ENTRIES = [
    LossEntry(LF.logit_adjustment_loss, lk.LogitAdjustmentLoss, _la_samples, ref_logit_adjustment_loss,
              module_call=_counts_to_ctor("class_priors"), errors=_la_errors(), empty=_all_ignored_counts,
              precision_samples=("non-contiguous, priors, tau=1.5",)),
    LossEntry(LF.balanced_softmax_loss, lk.BalancedSoftmaxLoss, _bs_samples, ref_balanced_softmax_loss,
              module_call=_counts_to_ctor("class_counts"), errors=_counts_errors(positive=True),
              empty=_all_ignored_counts),
    LossEntry(LF.ldam_loss, lk.LDAMLoss, _ldam_samples, ref_ldam_loss, module_call=_counts_to_ctor("class_counts"),
              errors=_ldam_errors(), empty=_all_ignored_weighted,
              precision_samples=("class weights (DRW), some ignored",)),
    LossEntry(LF.class_balanced_focal_loss, lk.ClassBalancedFocalLoss, _cb_samples, ref_class_balanced_focal_loss,
              module_call=_counts_to_ctor("class_counts"), errors=_cb_errors(), empty=_all_ignored_counts,
              precision_samples=("non-contiguous, sigmoid head",)),
    LossEntry(LF.equalization_loss_v2, lk.EqualizationLossV2, _eql_samples, ref_equalization_loss_v2,
              module_call=_eql_to_ctor, errors=_eql_errors(),
              empty=lambda: ((torch.randn(4, 5), torch.full((4,), IGN)), {})),
]
