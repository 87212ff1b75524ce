"""Test-database entries of the classification family (torch's cross-entropy, NLL, BCE and linear cross-entropy).

References are torch 2.13's own functions; they are wrapped only where losskit documents a difference:
the weighted mean and ``label_smoothing`` of the binary losses, and ``ignore_index``'s default of
``linear_cross_entropy``. Means over nothing (where torch gives NaN) are the ``empty=`` cases, not samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample
from tests.references import weighted_average

IGN = -100


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _smoothed(target: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    # losskit's documented binary label smoothing: hard labels 0/1 become s/2 and 1 - s/2
    return target * (1 - label_smoothing) + label_smoothing / 2


def ref_binary_cross_entropy(input, target, weight=None, *, reduction="mean", label_smoothing=0.0):
    """torch's per-element BCE on the smoothed target, reduced by the documented weighted mean."""
    target = _smoothed(target, label_smoothing)
    if weight is None:
        return F.binary_cross_entropy(input, target, reduction=reduction)
    return weighted_average(F.binary_cross_entropy(input, target, reduction="none"), weight, reduction)


def ref_binary_cross_entropy_with_logits(
    input, target, weight=None, *, pos_weight=None, reduction="mean", label_smoothing=0.0, ignore_index=None
):
    if ignore_index is not None:  # an ignored element is one of weight 0 (its target value is irrelevant)
        keep = (target != ignore_index).to(input.dtype)
        weight = keep if weight is None else keep * weight
        target = target * keep
    target = _smoothed(target, label_smoothing)
    if weight is None:
        return F.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight, reduction=reduction)
    terms = F.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight, reduction="none")
    return weighted_average(terms, weight, reduction)


def ref_linear_cross_entropy(input, linear_weight, target, *, ignore_index=IGN, **options):
    """torch's linear_cross_entropy; torch refuses any ignore_index with probability targets (ours skips it)."""
    probabilities = target.is_floating_point()
    return F.linear_cross_entropy(
        input, linear_weight, target, ignore_index=None if probabilities else ignore_index, **options
    )


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _indices(dtype: torch.dtype) -> dict:
    """Logits and targets shared by cross_entropy and nll_loss (6 samples, 5 classes, K-dim (2, 5, 3, 2))."""
    t = torch.tensor([0, 4, 2, 1, 3, 2])
    t_ign = t.clone()
    t_ign[[1, 4]] = IGN
    tk = torch.randint(0, 5, (2, 3, 2))
    tk_ign = tk.clone()
    tk_ign[0, 1, 0] = IGN
    tk_ign[1, 2, 1] = IGN
    return {
        "x": torch.randn(6, 5, dtype=dtype) * 2,
        "x_t": (torch.randn(5, 6, dtype=dtype) * 2).t(),  # non-contiguous (6, 5)
        "xk": torch.randn(2, 5, 3, 2, dtype=dtype) * 2,
        "t": t,
        "t_ign": t_ign,
        "tk": tk,
        "tk_ign": tk_ign,
        "w": torch.rand(5, dtype=dtype) + 0.1,
        "p": torch.randn(6, 5, dtype=dtype).softmax(1),
        "pk": torch.randn(2, 5, 3, 2, dtype=dtype).softmax(1),
    }


def _ce_samples(dtype: torch.dtype) -> list[Sample]:
    d = _indices(dtype)
    x, w = d["x"], d["w"]
    u8 = d["t"].to(torch.uint8)
    u8[2] = 255
    return [
        Sample((x, d["t"]), {}, "2d"),
        Sample((x, d["t"], w), {}, "class weights"),
        Sample((x, d["t_ign"]), {}, "some targets ignored"),
        Sample((x, d["t"], w), {"ignore_index": 2}, "ignore_index=2, class weights"),
        Sample((x, d["t"]), {"label_smoothing": 0.1}, "label smoothing"),
        Sample((x, d["t_ign"], w), {"label_smoothing": 0.2}, "label smoothing, class weights, some ignored"),
        Sample((x, d["p"]), {}, "class probabilities", grad=(0, 1)),
        Sample((x, d["p"], w), {"label_smoothing": 0.1}, "probabilities, class weights, smoothing", grad=(0, 1)),
        Sample((d["xk"], d["pk"]), {}, "K-dim probabilities", grad=(0, 1)),
        Sample((d["xk"], d["tk"]), {}, "K-dim (2, 5, 3, 2)"),
        Sample((x[0], d["t"][0]), {}, "unbatched (C,)"),
        Sample((x[1], d["p"][1]), {"label_smoothing": 0.1}, "unbatched probabilities", grad=(0, 1)),
        Sample((d["x_t"], d["t"]), {}, "non-contiguous"),
        Sample((x, u8), {"ignore_index": 255}, "uint8 target, ignore_index=255"),
        Sample((d["xk"], d["tk_ign"], w), {"label_smoothing": 0.1}, "K-dim, weights, smoothing, some ignored"),
    ]


def _nll_samples(dtype: torch.dtype) -> list[Sample]:
    d = _indices(dtype)
    logp, w = d["x"].log_softmax(1), d["w"]
    logpk = d["xk"].log_softmax(1)
    return [
        Sample((logp, d["t"]), {}, "2d"),
        Sample((logp, d["t"], w), {}, "class weights"),
        Sample((logp, d["t_ign"]), {}, "some targets ignored"),
        Sample((logp, d["t"], w), {"ignore_index": 2}, "ignore_index=2, class weights"),
        Sample((logpk, d["tk"]), {}, "K-dim (2, 5, 3, 2)"),
        Sample((logp[0], d["t"][0]), {}, "unbatched (C,)"),
        Sample(((torch.randn(5, 6, dtype=dtype) * 2).log_softmax(0).t(), d["t"]), {}, "non-contiguous"),
        Sample((logpk, d["tk_ign"], w), {}, "K-dim, weights, some ignored"),
    ]


def _binary(dtype: torch.dtype) -> dict:
    return {
        "y": (torch.rand(6, 5) > 0.5).to(dtype),
        "soft": torch.rand(6, 5, dtype=dtype),
        "w": torch.rand(6, 5, dtype=dtype),
        "wc": torch.rand(5, dtype=dtype) + 0.1,
        "y3": (torch.rand(2, 3, 4) > 0.5).to(dtype),
        "w3": torch.rand(4, dtype=dtype) + 0.1,
    }


def _bce_samples(dtype: torch.dtype) -> list[Sample]:
    d = _binary(dtype)

    def probs(*shape):
        return torch.rand(*shape, dtype=dtype) * 0.9 + 0.05

    p, p3 = probs(6, 5), probs(2, 3, 4)
    return [
        Sample((p, d["y"]), {}, "2d, hard labels"),
        Sample((p, d["soft"]), {}, "soft targets", grad=(0, 1)),
        Sample((p, d["y"], d["w"]), {}, "per-element weight", grad=(0, 2)),
        Sample((p, d["y"], d["wc"]), {}, "weight (C,) broadcast to (N, C)"),
        Sample((p, d["y"]), {"label_smoothing": 0.1}, "label smoothing"),
        Sample((torch.tensor(0.3, dtype=dtype), torch.tensor(1.0, dtype=dtype)), {}, "scalar"),
        Sample((probs(5, 6).t(), d["soft"]), {}, "non-contiguous"),
        Sample((p3, d["y3"], d["w3"]), {"label_smoothing": 0.2}, "3d, weight (C,), smoothing", grad=(0, 1, 2)),
    ]


def _bcel_samples(dtype: torch.dtype) -> list[Sample]:
    d = _binary(dtype)
    x, x3 = torch.randn(6, 5, dtype=dtype) * 2, torch.randn(2, 3, 4, dtype=dtype) * 2
    pw, pw3 = torch.rand(5, dtype=dtype) * 3, torch.rand(4, dtype=dtype) * 3
    return [
        Sample((x, d["y"]), {}, "2d, hard labels"),
        Sample((x, d["soft"]), {}, "soft targets", grad=(0, 1)),
        Sample((x, d["y"], d["w"]), {}, "per-element weight", grad=(0, 2)),
        Sample((x, d["y"]), {"pos_weight": pw}, "pos_weight (C,)"),
        Sample((x, d["y"], d["wc"]), {"pos_weight": pw}, "pos_weight and weight (C,)"),
        Sample((x, d["y"]), {"label_smoothing": 0.1}, "label smoothing"),
        Sample((torch.tensor(-0.4, dtype=dtype), torch.tensor(1.0, dtype=dtype)), {}, "scalar"),
        Sample(((torch.randn(5, 6, dtype=dtype) * 2).t(), d["soft"]), {}, "non-contiguous"),
        Sample((x3, d["y3"], d["w3"]), {"pos_weight": pw3, "label_smoothing": 0.2},
               "3d, weight, pos_weight, smoothing", grad=(0, 1, 2)),
        Sample((x, torch.where(d["y"].bool() & (x > 1), 255.0, d["y"])), {"ignore_index": 255},
               "ignore_index 255 (smp's soft BCE)"),
        Sample((x3, torch.where(x3 < -1, -1.0, d["y3"]), d["w3"]), {"ignore_index": -1, "pos_weight": pw3},
               "ignore_index -1, weight, pos_weight", grad=(0, 2)),
    ]


def _lce_samples(dtype: torch.dtype) -> list[Sample]:
    h, lw, lwk = torch.randn(6, 4, dtype=dtype), torch.randn(5, 4, dtype=dtype), torch.randn(5, 3, 4, dtype=dtype)
    t = torch.tensor([0, 4, 2, 1, 3, 2])
    t_ign = t.clone()
    t_ign[[0, 3]] = IGN
    tk = torch.randint(0, 5, (6, 3))
    tk[2, 1] = IGN
    w = torch.rand(5, dtype=dtype) + 0.1
    chunked = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=2)
    return [
        Sample((h, lw, t), {}, "2d", grad=(0, 1)),
        Sample((h, lw, t), {"linear_bias": torch.randn(5, dtype=dtype), "weight": w}, "bias, class weights"),
        Sample((h, lw, t_ign), {"label_smoothing": 0.1}, "some ignored, smoothing", grad=(0, 1)),
        Sample((h, lw, torch.randn(6, 5, dtype=dtype).softmax(1)), {}, "probabilities", grad=(0, 1, 2)),
        Sample((h[0], lw, t[0]), {}, "unbatched", grad=(0, 1)),
        Sample((h, lw, t_ign), {"weight": w, "options": chunked}, "torch's chunked path", grad=(0, 1)),
        Sample((h, lwk, tk), {"linear_bias": torch.randn(5, 3, dtype=dtype), "weight": w, "label_smoothing": 0.1},
               "K-dim weight (5, 3, 4), bias, weights, smoothing, some ignored", grad=(0, 1)),
    ]


# --------------------------------------------------------------------------------------------
# Module splits
# --------------------------------------------------------------------------------------------
def _weight_to_ctor(sample: Sample) -> tuple[dict, tuple]:
    """The Modules take ``weight`` (and every option) in the constructor, ``(input, target)`` in forward."""
    ctor = dict(sample.kwargs)
    if len(sample.args) > 2:
        ctor["weight"] = sample.args[2]
    return ctor, sample.args[:2]


class LinearCrossEntropyLoss(lk.LinearCrossEntropyLoss):
    """Test double: ``lk.LinearCrossEntropyLoss`` whose head starts at the sample's ``linear_weight``.

    The real Module initialises its head randomly (as ``nn.Linear``), so the generic tests could not compare it
    with the functional. The start values travel in ``init``, a tuple rather than a tensor, because every tensor
    given to a constructor must be a buffer of the Module.
    """

    def __init__(self, in_features: int, num_classes: int, *, init: tuple, reduction: str = "mean", **options):
        super().__init__(in_features, num_classes, reduction=reduction, **options)
        linear_weight, linear_bias = init
        with torch.no_grad():
            self.linear.weight.copy_(linear_weight.reshape(self.linear.weight.shape))
            if linear_bias is not None:
                self.linear.bias.copy_(linear_bias.reshape(-1))


def _lce_split(sample: Sample) -> tuple[dict, tuple]:
    input, linear_weight, target = sample.args
    ctor = {k: v for k, v in sample.kwargs.items() if k != "linear_bias"}
    bias = sample.kwargs.get("linear_bias")
    ctor.update(
        in_features=linear_weight.shape[-1],
        num_classes=linear_weight.shape[0],
        out_features=tuple(linear_weight.shape[1:-1]),
        bias=bias is not None,
        dtype=linear_weight.dtype,
        init=(linear_weight, bias),
    )
    return ctor, (input, target)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def _class_errors(logprobs: bool) -> list[ErrorCase]:
    """Mistakes shared by cross_entropy and nll_loss; ``logprobs`` makes the input log_softmax output."""

    def inp(*shape):
        x = torch.randn(*shape) * 2
        return x.log_softmax(1) if logprobs else x

    return [
        ErrorCase("(N, 1) target", lambda: ((inp(4, 3), torch.tensor([[0], [1], [2], [1]])), {}),
                  lk.LossShapeError, match=r"\(4, 1\).*squeeze"),
        ErrorCase("float class indices", lambda: ((inp(4, 3), torch.tensor([0.0, 1.0, 2.0, 1.0])), {}),
                  lk.LossTypeError, match=r"torch\.float32.*target\.long\(\)"),
        ErrorCase("one-hot integer target", lambda: ((inp(4, 3), torch.eye(3, dtype=torch.long)[[0, 1, 2, 1]]), {}),
                  lk.LossShapeError, match=r"\(4, 3\).*one-hot.*argmax"),
        ErrorCase("bool target", lambda: ((inp(4, 3), torch.tensor([True, False, True, True])), {}),
                  lk.LossTypeError, match=r"torch\.bool"),
        ErrorCase("index out of range", lambda: ((inp(4, 3), torch.tensor([0, 3, 1, 2])), {}),
                  lk.LossValueError, match=r"\[0, 3\).*but got 3"),
        ErrorCase("1-based labels", lambda: ((inp(4, 3), torch.tensor([1, 3, 2, 2])), {}),
                  lk.LossValueError, match=r"but got 3.*1-based.*target - 1"),
        ErrorCase("negative index other than ignore_index", lambda: ((inp(4, 3), torch.tensor([0, -1, 1, 2])), {}),
                  lk.LossValueError, match=r"but got -1.*ignore_index=-100"),
        ErrorCase("weight of wrong length", lambda: ((inp(4, 3), torch.tensor([0, 1, 2, 1]), torch.ones(2)), {}),
                  lk.LossShapeError, match=r"weight.*3 elements.*\(2,\)"),
        ErrorCase("negative weight",
                  lambda: ((inp(4, 3), torch.tensor([0, 1, 2, 1]), torch.tensor([1.0, -0.5, 1.0])), {}),
                  lk.LossValueError, match=r"weight.*-0\.5"),
        ErrorCase("integer weight",  # a floating weight of another dtype is cast (losskit._precision)
                  lambda: ((inp(4, 3), torch.tensor([0, 1, 2, 1]), torch.ones(3, dtype=torch.int64)), {}),
                  lk.LossTypeError, match=r"weight.*torch\.int64.*weight\.float\(\)"),
        ErrorCase("weight that requires grad",  # torch: "nll_loss_forward is not differentiable w.r.t. weight"
                  lambda: ((inp(4, 3), torch.tensor([0, 1, 2, 1]), torch.ones(3, requires_grad=True)), {}),
                  lk.LossTypeError, match=r"weight must be a constant.*requires_grad=True; pass weight\.detach\(\)"),
        ErrorCase("NaN input", lambda: ((torch.tensor([[0.0, float("nan"), -1.0]]), torch.tensor([0])), {}),
                  lk.NonFiniteError, match="input.*1 NaN"),
        ErrorCase("+inf input", lambda: ((torch.tensor([[-1.0, float("inf"), -2.0]]), torch.tensor([0])), {}),
                  lk.NonFiniteError, match="input.*1 infinite"),
        ErrorCase("integer input", lambda: ((torch.tensor([[1, 2, 3]]), torch.tensor([0])), {}),
                  lk.LossTypeError, match=r"input.*torch\.int64"),
        ErrorCase("0-dim input", lambda: ((torch.tensor(0.5), torch.tensor(0)), {}),
                  lk.LossShapeError, match=r"class dimension.*shape \(\)"),
        ErrorCase("K-dim target of the wrong size", lambda: ((inp(2, 3, 5), torch.zeros(2, 4, dtype=torch.long)), {}),
                  lk.LossShapeError, match=r"\(2, 5\).*\(2, 4\)"),
        ErrorCase("devices differ", lambda: ((inp(4, 3), torch.tensor([0, 1, 2, 1], device="meta")), {}),
                  lk.LossDeviceError, match="meta"),
        ErrorCase("ignore_index not an int", lambda: ((inp(4, 3), torch.tensor([0, 1, 2, 1])), {"ignore_index": 1.0}),
                  lk.LossTypeError, match="1.0"),
        ErrorCase("bad reduction", lambda: ((inp(4, 3), torch.tensor([0, 1, 2, 1])), {"reduction": "avg"}),
                  lk.LossOptionError, match="'avg'"),
    ]


def _ce_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3) * 2, torch.tensor([0, 1, 2, 1])
    return [
        *_class_errors(logprobs=False),
        ErrorCase("label_smoothing > 1", lambda: ((x, t), {"label_smoothing": 1.5}), lk.LossOptionError,
                  match=r"label_smoothing.*1\.5"),
        ErrorCase("label_smoothing < 0", lambda: ((x, t), {"label_smoothing": -0.1}), lk.LossOptionError,
                  match=r"-0\.1"),
        ErrorCase("-inf logits", lambda: ((torch.tensor([[0.0, -float("inf"), 1.0]]), torch.tensor([0])), {}),
                  lk.NonFiniteError, match="input.*1 infinite"),
        ErrorCase("probability targets outside [0, 1]",
                  lambda: ((x, torch.tensor([[1.5, -0.5, 0.0]]).expand(4, 3)), {}),
                  lk.LossValueError, match=r"target.*\[-0\.5, 1\.5\]"),
        ErrorCase("NaN probability target",
                  lambda: ((x, torch.tensor([[float("nan"), 0.5, 0.5]]).expand(4, 3)), {}),
                  lk.NonFiniteError, match="target.*4 NaN"),
        ErrorCase("ignore_index with probability targets", lambda: ((x, x.softmax(1)), {"ignore_index": 1}),
                  lk.LossOptionError, match="ignore_index=1"),
        ErrorCase("softmax output as input", lambda: ((x.softmax(1), t), {}),
                  warns=lk.SuspiciousInputWarning, match=r"\(4, 3\).*looks like probabilities.*before softmax"),
    ]


def _nll_errors() -> list[ErrorCase]:
    return [
        *_class_errors(logprobs=True),
        ErrorCase("float target of the input's shape", lambda: ((torch.randn(4, 3).log_softmax(1),
                                                                 torch.rand(4, 3)), {}),
                  lk.LossShapeError, match=r"\(4,\) of class indices.*but got \(4, 3\)"),
        ErrorCase("probabilities as input", lambda: ((torch.rand(4, 3).softmax(1), torch.tensor([0, 1, 2, 1])), {}),
                  warns=lk.SuspiciousInputWarning, match=r"log-probabilities.*up to 0\.\d+.*log_softmax"),
    ]


def _binary_errors(logits: bool) -> list[ErrorCase]:
    """Mistakes shared by the two binary losses."""

    def inp(*shape):
        return torch.randn(*shape) if logits else torch.rand(*shape) * 0.9 + 0.05

    y = (torch.rand(4, 3) > 0.5).float()
    return [
        ErrorCase("{0, 255} mask target", lambda: ((inp(4, 3), y * 255), {}), lk.LossValueError,
                  match=r"target.*\[0, 255\].*target / 255"),
        ErrorCase("{-1, 1} target", lambda: ((inp(4, 3), y * 2 - 1), {}), lk.LossValueError,
                  match=r"\[-1, 1\].*\(target \+ 1\) / 2"),
        ErrorCase("target outside [0, 1]", lambda: ((inp(4, 3), y + 0.5), {}), lk.LossValueError,
                  match=r"target.*1\.5"),
        ErrorCase("integer target", lambda: ((inp(4, 3), y.long()), {}), lk.LossTypeError,
                  match=r"target.*torch\.int64.*target\.float\(\)"),
        ErrorCase("integer input", lambda: ((torch.tensor([0, 1]), torch.tensor([0.0, 1.0])), {}), lk.LossTypeError,
                  match=r"input.*torch\.int64"),
        ErrorCase("shapes differ (N, 1) vs (N,)", lambda: ((inp(4, 1), torch.ones(4)), {}), lk.LossShapeError,
                  match=r"\(4, 1\).*\(4,\).*broadcast"),
        ErrorCase("weight does not broadcast", lambda: ((inp(4, 3), y, torch.ones(4)), {}), lk.LossShapeError,
                  match=r"weight.*\(4, 3\).*\(4,\)"),
        ErrorCase("weight enlarges input", lambda: ((inp(4, 3), y, torch.ones(2, 4, 3)), {}), lk.LossShapeError,
                  match=r"weight.*\(2, 4, 3\)"),
        ErrorCase("negative weight", lambda: ((inp(4, 3), y, torch.tensor([1.0, -2.0, 1.0])), {}),
                  lk.LossValueError, match=r"weight.*-2"),
        ErrorCase("NaN input", lambda: ((torch.tensor([0.5, float("nan")]), torch.tensor([0.0, 1.0])), {}),
                  lk.NonFiniteError, match="input.*1 NaN"),
        ErrorCase("label_smoothing > 1", lambda: ((inp(4, 3), y), {"label_smoothing": 2.0}), lk.LossOptionError,
                  match=r"label_smoothing.*2\.0"),
        ErrorCase("devices differ", lambda: ((inp(4, 3), y.to("meta")), {}), lk.LossDeviceError, match="meta"),
    ]


def _bce_errors() -> list[ErrorCase]:
    return [
        *_binary_errors(logits=False),
        ErrorCase("logits as input", lambda: ((torch.tensor([-1.5, 0.2, 3.0]), torch.tensor([0.0, 1.0, 1.0])), {}),
                  lk.LossValueError, match=r"\[-1\.5, 3\].*looks like logits.*binary_cross_entropy_with_logits"),
        ErrorCase("target of another dtype", lambda: ((torch.rand(3), torch.ones(3, dtype=torch.float64)), {}),
                  lk.LossTypeError, match=r"torch\.float64.*target\.to\(input\.dtype\)"),
    ]


def _bcel_errors() -> list[ErrorCase]:
    y = (torch.rand(4, 3) > 0.5).float()
    return [
        *_binary_errors(logits=True),
        ErrorCase("pos_weight of wrong length", lambda: ((torch.randn(4, 3), y), {"pos_weight": torch.ones(4)}),
                  lk.LossShapeError, match=r"pos_weight.*\(4,\).*\(3,\)"),
        ErrorCase("negative pos_weight",
                  lambda: ((torch.randn(4, 3), y), {"pos_weight": torch.tensor([1.0, -1.0, 2.0])}),
                  lk.LossValueError, match=r"pos_weight.*-1"),
        ErrorCase("ignore_index that is not a number", lambda: ((torch.randn(4, 3), y), {"ignore_index": "255"}),
                  lk.LossTypeError, match=r"ignore_index must be a number.*'255'"),
        ErrorCase("ignored value 255 without ignore_index",
                  lambda: ((torch.randn(4, 3), torch.where(y > 0, 255.0, 0.0)), {}),
                  lk.LossValueError, match=r"\{0, 255\} mask"),
        ErrorCase("pos_weight that requires grad",
                  lambda: ((torch.randn(4, 3), y), {"pos_weight": torch.ones(3, requires_grad=True)}),
                  lk.LossTypeError, match=r"pos_weight must be a constant.*requires_grad=True.*softplus"),
        ErrorCase("sigmoid output as input", lambda: ((torch.rand(16, 16), (torch.rand(16, 16) > 0.5).float()), {}),
                  warns=lk.SuspiciousInputWarning, match=r"256 values.*\(16, 16\).*looks like probabilities"),
    ]


def _lce_errors() -> list[ErrorCase]:
    h, lw, t = torch.randn(4, 3), torch.randn(5, 3), torch.tensor([0, 4, 2, 1])
    return [
        ErrorCase("in_features differ", lambda: ((torch.randn(4, 6), lw, t), {}), lk.LossShapeError,
                  match=r"\(C, 6\).*\(5, 3\)"),
        ErrorCase("transposed linear_weight", lambda: ((h, lw.t(), t), {}), lk.LossShapeError,
                  match=r"\(3, 5\).*not transposed"),
        ErrorCase("1-D linear_weight", lambda: ((h, torch.randn(3), t), {}), lk.LossShapeError, match=r"\(3,\)"),
        ErrorCase("3-D input", lambda: ((torch.randn(2, 4, 3), lw, t), {}), lk.LossShapeError,
                  match=r"\(2, 4, 3\).*flatten"),
        ErrorCase("K-dim weight with unbatched input", lambda: ((h[0], torch.randn(5, 2, 3), t[0]), {}),
                  lk.LossShapeError, match=r"\(5, 2, 3\).*\(3,\).*unsqueeze"),
        ErrorCase("bias of wrong shape", lambda: ((h, lw, t), {"linear_bias": torch.zeros(4)}), lk.LossShapeError,
                  match=r"linear_bias.*\(5,\).*\(4,\)"),
        ErrorCase("(N, 1) target", lambda: ((h, lw, t[:, None]), {}), lk.LossShapeError,
                  match=r"\(4, 1\).*logits \(4, 5\)"),
        ErrorCase("float class indices", lambda: ((h, lw, t.float()), {}), lk.LossTypeError, match=r"torch\.float32"),
        ErrorCase("one-hot target", lambda: ((h, lw, torch.eye(5, dtype=torch.long)[t]), {}), lk.LossShapeError,
                  match=r"\(4, 5\).*one-hot"),
        ErrorCase("index out of range", lambda: ((h, lw, torch.tensor([0, 5, 2, 1])), {}), lk.LossValueError,
                  match=r"\[0, 5\).*but got 5"),
        ErrorCase("weight of wrong length", lambda: ((h, lw, t), {"weight": torch.ones(3)}), lk.LossShapeError,
                  match=r"weight.*\(3,\)"),
        ErrorCase("weight that requires grad", lambda: ((h, lw, t), {"weight": torch.ones(5, requires_grad=True)}),
                  lk.LossTypeError, match=r"weight must be a constant.*requires_grad=True; pass weight\.detach"),
        ErrorCase("linear_weight of another dtype", lambda: ((h, lw.double(), t), {}), lk.LossTypeError,
                  match=r"torch\.float64"),
        ErrorCase("NaN in linear_weight", lambda: ((h, lw.index_fill(0, torch.tensor([2]), float("nan")), t), {}),
                  lk.NonFiniteError, match="linear_weight.*3 NaN"),
        ErrorCase("label_smoothing > 1", lambda: ((h, lw, t), {"label_smoothing": 1.5}), lk.LossOptionError,
                  match=r"1\.5"),
    ]


# --------------------------------------------------------------------------------------------
# means over nothing
# --------------------------------------------------------------------------------------------
def _ce_all_ignored():
    return (torch.randn(4, 3), torch.full((4,), IGN), torch.rand(3) + 0.1), {"label_smoothing": 0.1}


def _nll_empty_batch():
    return (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)), {}


def _bce_empty():
    return (torch.zeros(0, 3), torch.zeros(0, 3)), {}


def _bcel_zero_weight():
    return (torch.randn(4, 3), torch.rand(4, 3), torch.zeros(3)), {"pos_weight": torch.ones(3)}


def _lce_all_ignored():
    return (torch.randn(3, 4), torch.randn(5, 4), torch.full((3,), IGN)), {"label_smoothing": 0.1}


ENTRIES = [
    LossEntry(LF.cross_entropy, lk.CrossEntropyLoss, _ce_samples, F.cross_entropy, module_call=_weight_to_ctor,
              errors=_ce_errors(), empty=_ce_all_ignored,
              precision_samples=("label smoothing, class weights, some ignored",)),
    LossEntry(LF.nll_loss, lk.NLLLoss, _nll_samples, F.nll_loss, module_call=_weight_to_ctor,
              errors=_nll_errors(), empty=_nll_empty_batch,
              precision_samples=("K-dim, weights, some ignored",)),
    LossEntry(LF.binary_cross_entropy, lk.BCELoss, _bce_samples, ref_binary_cross_entropy,
              module_call=_weight_to_ctor, errors=_bce_errors(), empty=_bce_empty,
              precision_samples=("weight (C,) broadcast to (N, C)",)),
    LossEntry(LF.binary_cross_entropy_with_logits, lk.BCEWithLogitsLoss, _bcel_samples,
              ref_binary_cross_entropy_with_logits, module_call=_weight_to_ctor, errors=_bcel_errors(),
              empty=_bcel_zero_weight,
              precision_samples=("3d, weight, pos_weight, smoothing",)),
    LossEntry(LF.linear_cross_entropy, LinearCrossEntropyLoss, _lce_samples, ref_linear_cross_entropy,
              module_call=_lce_split, errors=_lce_errors(), empty=_lce_all_ignored,
              precision_samples=("bias, class weights",)),
]
