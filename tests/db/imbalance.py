"""Test-database entries of the imbalance family: focal, sigmoid focal, poly, asymmetric, generalized CE.

The references are written from each paper's definition, independently of the code under test: the softmax
losses sum over an explicit (smoothed) one-hot target distribution where the implementation gathers ``log p_y``;
the sigmoid focal loss is torchvision's formula (``p_t = p t + (1 - p)(1 - t)`` around torch's own
``binary_cross_entropy_with_logits``); the asymmetric loss is the authors' formula (``Alibaba-MIIL/ASL``,
``AsymmetricLoss.forward``: clamped probabilities, one-sided ``gamma`` tensor; ``ASLSingleLabel`` for the
single-label variant). Means over nothing (where these
references divide 0 by 0) are the ``empty=`` cases, not samples.
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
def _rows(input: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits as rows ``(M, C)`` with classes last, targets ``(M,)``."""
    if input.dim() == 1:
        return input.unsqueeze(0), target.reshape(1)
    return input.movedim(1, -1).reshape(-1, input.shape[1]), target.reshape(-1)


def _soft_targets(target: torch.Tensor, num_classes: int, label_smoothing: float, dtype) -> torch.Tensor:
    """The target distribution q = (1 - s) onehot(y) + s / C (all zeros for ignored rows)."""
    valid = target != IGN
    onehot = F.one_hot(torch.where(valid, target, 0), num_classes).to(dtype) * valid[:, None]
    return (1 - label_smoothing) * onehot + label_smoothing / num_classes * valid[:, None].to(dtype)


def _reduce_rows(terms: torch.Tensor, target: torch.Tensor, count: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return terms.reshape(target.shape)
    return terms.sum() if reduction == "sum" else terms.sum() / count


def ref_focal_loss(input, target, weight=None, *, gamma=2.0, alpha=None, ignore_index=IGN, label_smoothing=0.0,
                   reduction="mean"):
    """Lin et al. (2017), eq. 5 per class, summed against the smoothed one-hot target."""
    assert ignore_index == IGN
    x, t = _rows(input, target)
    num_classes = x.shape[1]
    p = torch.softmax(x, dim=1)
    q = _soft_targets(t, num_classes, label_smoothing, x.dtype)
    w = torch.ones(num_classes, dtype=x.dtype) if weight is None else weight
    a = torch.ones(num_classes, dtype=x.dtype) * (1.0 if alpha is None else alpha)
    terms = -(q * a * w * (1 - p) ** gamma * torch.log(p)).sum(1)
    count = sum(w[int(c)] for c in t if int(c) != IGN)
    return _reduce_rows(terms, target, count, reduction)


def ref_poly_loss(input, target, weight=None, *, epsilon=1.0, ignore_index=IGN, label_smoothing=0.0,
                  reduction="mean"):
    """Leng et al. (2022), the paper's Poly-1 code: CE(labels, logits) + epsilon (1 - sum(labels * softmax))."""
    assert ignore_index == IGN
    ce = F.cross_entropy(input, target, weight, ignore_index=IGN, label_smoothing=label_smoothing, reduction="none")
    x, t = _rows(input, target)
    num_classes = x.shape[1]
    q = _soft_targets(t, num_classes, label_smoothing, x.dtype)
    pt = (q * torch.softmax(x, dim=1)).sum(1)
    w = torch.ones(num_classes, dtype=x.dtype) if weight is None else weight
    valid = t != IGN
    w_y = torch.where(valid, w[torch.where(valid, t, 0)], 0)
    terms = ce.reshape(-1) + epsilon * w_y * (1 - pt)
    return _reduce_rows(terms, target, w_y.sum(), reduction)


def ref_generalized_cross_entropy(input, target, *, q=0.7, ignore_index=IGN, reduction="mean"):
    """Zhang & Sabuncu (2018), eq. 6: L_q = (1 - f_y(x)^q) / q."""
    assert ignore_index == IGN
    x, t = _rows(input, target)
    p = torch.softmax(x, dim=1)
    valid = t != IGN
    p_y = p[torch.arange(len(t)), torch.where(valid, t, 0)]
    terms = torch.where(valid, (1 - p_y**q) / q, 0)
    return _reduce_rows(terms, target, valid.sum(), reduction)


def ref_sigmoid_focal_loss(input, target, weight=None, *, alpha=0.25, gamma=2.0, pos_weight=None,
                           label_smoothing=0.0, reduction="mean"):
    """torchvision.ops.sigmoid_focal_loss's formula (with torch's BCE and its pos_weight), on the target smoothed
    as t (1 - s) + s / 2 (Keras' binary focal smoothing), reduced by the documented weighted mean."""
    t = target * (1 - label_smoothing) + label_smoothing / 2
    p = torch.sigmoid(input)
    ce = F.binary_cross_entropy_with_logits(input, t, pos_weight=pos_weight, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    if weight is None:
        return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]
    return weighted_average(loss, weight, reduction)


def _asl_authors(input, target, *, gamma_pos, gamma_neg, clip, eps, pos_weight, detach):
    """The authors' AsymmetricLoss.forward (Alibaba-MIIL/ASL), per element, with timm's pos_weight on the positive
    log-term; for soft targets this is the "shared" focusing weight."""
    xs_pos = torch.sigmoid(input)
    xs_neg = 1 - xs_pos
    if clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    los_pos = target * torch.log(xs_pos.clamp(min=eps))
    if pos_weight is not None:
        los_pos = los_pos * pos_weight
    los_neg = (1 - target) * torch.log(xs_neg.clamp(min=eps))
    pt = xs_pos * target + xs_neg * (1 - target)
    one_sided_gamma = gamma_pos * target + gamma_neg * (1 - target)
    focus = torch.pow(1 - pt, one_sided_gamma)
    return -(los_pos + los_neg) * (focus.detach() if detach else focus)


def ref_asymmetric_loss(input, target, weight=None, *, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, eps=1e-8,
                        pos_weight=None, label_smoothing=0.0, soft_focusing="mix",
                        disable_torch_grad_focal_loss=False, reduction="mean"):
    """Ridnik et al. (2021), the authors' formula (gradient through the focusing weights unless
    disable_torch_grad_focal_loss); "mix" is the authors' loss at t = 1 and t = 0 mixed linearly by the target;
    reduced per ``reduction`` (the weighted average for "mean", sum / N for "batchmean")."""
    t = target * (1 - label_smoothing) + label_smoothing / 2
    opts = {"gamma_pos": gamma_pos, "gamma_neg": gamma_neg, "clip": clip, "eps": eps, "pos_weight": pos_weight,
            "detach": disable_torch_grad_focal_loss}
    if soft_focusing == "shared":
        loss = _asl_authors(input, t, **opts)
    else:
        ones = torch.ones_like(input)
        loss = t * _asl_authors(input, ones, **opts) + (1 - t) * _asl_authors(input, 0 * ones, **opts)
    if reduction == "batchmean":
        w = torch.ones(()) if weight is None else weight
        return (loss * w).sum() / input.shape[0]
    if weight is None:
        return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]
    return weighted_average(loss, weight, reduction)


def ref_asymmetric_loss_single_label(input, target, *, gamma_pos=1.0, gamma_neg=4.0, label_smoothing=0.1,
                                     ignore_index=IGN, reduction="mean"):
    """The authors' ASLSingleLabel (Alibaba-MIIL/ASL losses.py): every class term -q_c w_c log p_c of the smoothed
    one-hot target q, with w = (1 - p_y)^gamma_pos at the target and p_c^gamma_neg elsewhere."""
    assert ignore_index == IGN
    x, t = _rows(input, target)
    num_classes = x.shape[1]
    p = torch.softmax(x, dim=1)
    valid = t != IGN
    onehot = F.one_hot(torch.where(valid, t, 0), num_classes).to(x.dtype)
    w = torch.where(onehot > 0, (1 - p) ** gamma_pos, p**gamma_neg)
    q = (1 - label_smoothing) * onehot + label_smoothing / num_classes
    terms = torch.where(valid, -(q * w * torch.log(p)).sum(1), 0)
    return _reduce_rows(terms, target, valid.sum(), reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _classes(dtype: torch.dtype) -> dict:
    """Logits (6 rows, 5 classes), K-dim (2, 5, 3, 2), targets with and without ignored entries."""
    t = torch.tensor([0, 4, 2, 1, 3, 2])
    t_ign = t.clone()
    t_ign[[1, 4]] = IGN
    tk = torch.randint(0, 5, (2, 3, 2))
    tk_ign = tk.clone()
    tk_ign[0, 1, 0] = IGN
    return {
        "x": torch.randn(6, 5, dtype=dtype) * 2,
        "x_t": (torch.randn(5, 6, dtype=dtype) * 2).t(),
        "xk": torch.randn(2, 5, 3, 2, dtype=dtype) * 2,
        "t": t,
        "t_ign": t_ign,
        "tk": tk,
        "tk_ign": tk_ign,
        "w": torch.rand(5, dtype=dtype) + 0.1,
        "a": torch.rand(5, dtype=dtype) + 0.2,
    }


def _focal_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    x, w = d["x"], d["w"]
    return [
        Sample((x, d["t"]), {}, "2d, gamma=2"),
        Sample((d["x_t"], d["t"]), {"gamma": 1.5, "alpha": 0.25}, "non-contiguous, float alpha"),
        Sample((x, d["t_ign"], w), {"alpha": d["a"]}, "class weights, alpha tensor, some ignored"),
        Sample((x, d["t"], w), {"gamma": 0.0, "label_smoothing": 0.2}, "gamma=0: cross-entropy"),
        Sample((x, d["t_ign"]), {"gamma": 3.0, "label_smoothing": 0.1}, "smoothing, some ignored"),
        Sample((d["xk"], d["tk"]), {"gamma": 0.5}, "K-dim (2, 5, 3, 2), gamma=0.5"),
        Sample((x[0], d["t"][0]), {"alpha": 0.5}, "unbatched (C,)"),
        Sample((d["xk"], d["tk_ign"], w), {"alpha": d["a"], "label_smoothing": 0.1},
               "K-dim, weights, alpha tensor, smoothing, some ignored"),
    ]


def _poly_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    x, w = d["x"], d["w"]
    return [
        Sample((x, d["t"]), {}, "2d, epsilon=1"),
        Sample((d["x_t"], d["t"]), {"epsilon": 2.0}, "non-contiguous, epsilon=2 (the paper's ImageNet value)"),
        Sample((x, d["t_ign"], w), {"epsilon": -1.0}, "class weights, epsilon=-1, some ignored"),
        Sample((x, d["t"]), {"epsilon": 0.0, "label_smoothing": 0.1}, "epsilon=0: cross-entropy"),
        Sample((d["xk"], d["tk"]), {"epsilon": 0.5}, "K-dim (2, 5, 3, 2)"),
        Sample((x[0], d["t"][0]), {}, "unbatched (C,)"),
        Sample((d["xk"], d["tk_ign"], w), {"epsilon": 1.5, "label_smoothing": 0.2},
               "K-dim, weights, smoothing, some ignored"),
    ]


def _gce_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    return [
        Sample((d["x"], d["t"]), {}, "2d, q=0.7"),
        Sample((d["x_t"], d["t"]), {"q": 1.0}, "non-contiguous, q=1 (1 - p_y)"),
        Sample((d["x"], d["t_ign"]), {"q": 0.3}, "some ignored"),
        Sample((d["xk"], d["tk"]), {"q": 0.5}, "K-dim (2, 5, 3, 2)"),
        Sample((d["x"][0], d["t"][0]), {}, "unbatched (C,)"),
        Sample((d["xk"], d["tk_ign"]), {"q": 0.9}, "K-dim, some ignored"),
    ]


def _binary(dtype: torch.dtype) -> dict:
    return {
        "x": torch.randn(6, 4, dtype=dtype) * 2,
        "x_t": (torch.randn(4, 6, dtype=dtype) * 2).t(),
        "x3": torch.randn(2, 3, 4, dtype=dtype) * 2,
        "y": (torch.rand(6, 4) > 0.6).to(dtype),
        "y3": (torch.rand(2, 3, 4) > 0.5).to(dtype),
        "soft": torch.rand(6, 4, dtype=dtype) * 0.8 + 0.1,
        "w": torch.rand(6, 4, dtype=dtype),
        "wc": torch.rand(4, dtype=dtype) + 0.1,
        "pw": torch.rand(4, dtype=dtype) * 3,
    }


def _sigmoid_focal_samples(dtype: torch.dtype) -> list[Sample]:
    d = _binary(dtype)
    x = d["x"]
    return [
        Sample((x, d["y"]), {}, "2d, alpha=0.25, gamma=2"),
        Sample((d["x_t"], d["y"]), {"alpha": -1.0, "gamma": 1.5}, "non-contiguous, alpha disabled"),
        Sample((x, d["y"], d["w"]), {"pos_weight": d["pw"]}, "per-element weight, pos_weight", grad=(0, 2)),
        Sample((x, d["y"], d["wc"]), {"label_smoothing": 0.1, "alpha": 0.6}, "weight (C,), smoothing"),
        Sample((x, d["soft"]), {"gamma": 0.5}, "soft targets, gamma=0.5", grad=(0, 1)),
        Sample((x, d["y"]), {"gamma": 0.0, "alpha": -1.0}, "gamma=0, no alpha: BCE with logits"),
        Sample((torch.tensor(-0.7, dtype=dtype), torch.tensor(1.0, dtype=dtype)), {}, "scalar"),
        Sample((d["x3"], d["y3"], d["wc"]), {"pos_weight": d["pw"], "label_smoothing": 0.2, "gamma": 3.0},
               "3d, weight (C,), pos_weight, smoothing", grad=(0, 1, 2)),
    ]


def _asymmetric_samples(dtype: torch.dtype) -> list[Sample]:
    d = _binary(dtype)
    x = d["x"]
    return [
        Sample((x, d["y"]), {}, "2d, defaults (gamma_pos=0, gamma_neg=4, clip=0.05)"),
        Sample((d["x_t"], d["y"]), {"gamma_pos": 1.0, "clip": 0.0}, "non-contiguous, no clip"),
        Sample((x, d["y"]), {"gamma_pos": 1.0, "gamma_neg": 2.0, "clip": 0.2}, "clip=0.2"),
        Sample((x, d["y"]), {"gamma_neg": 0.0, "clip": 0.0, "eps": 0.0}, "BCE (no focusing, no clip, no eps)"),
        Sample((x, d["soft"]), {}, "soft targets, mix", grad=(0, 1)),
        Sample((x, d["soft"]), {"gamma_pos": 1.0, "soft_focusing": "shared"}, "soft targets, shared (timm)"),
        Sample((x, d["y"], d["wc"]), {"gamma_pos": 1.0, "pos_weight": d["pw"], "label_smoothing": 0.1,
                                      "soft_focusing": "shared"},
               "timm: weight (C,), pos_weight, smoothing, shared", grad=(0, 2)),
        Sample((x, d["y"]), {"gamma_pos": 1.0, "disable_torch_grad_focal_loss": True, "label_smoothing": 0.2},
               "focusing weights detached, smoothing (mix)"),
        Sample((d["x3"], d["y3"], d["w"][:3, :1]), {"gamma_pos": 0.5, "gamma_neg": 3.0, "clip": 0.1,
                                                      "pos_weight": d["pw"]},
               "3d, weight (3, 1), pos_weight"),
    ]


def _asl_single_samples(dtype: torch.dtype) -> list[Sample]:
    d = _classes(dtype)
    return [
        Sample((d["x"], d["t"]), {}, "2d, defaults (timm's: gamma_pos=1, gamma_neg=4, smoothing 0.1)"),
        Sample((d["x_t"], d["t"]), {"gamma_pos": 0.0, "gamma_neg": 2.0, "label_smoothing": 0.3},
               "non-contiguous, gamma_pos=0"),
        Sample((d["x"], d["t_ign"]), {"label_smoothing": 0.0}, "no smoothing (focal), some ignored"),
        Sample((d["xk"], d["tk"]), {"gamma_neg": 0.5}, "K-dim (2, 5, 3, 2)"),
        Sample((d["x"][0], d["t"][0]), {"gamma_pos": 2.0}, "unbatched (C,)"),
        Sample((d["xk"], d["tk_ign"]), {"gamma_pos": 0.5, "gamma_neg": 1.0, "label_smoothing": 0.2},
               "K-dim, some ignored"),
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


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def _class_errors() -> list[ErrorCase]:
    """Mistakes every softmax loss here must catch (class-index targets as cross_entropy)."""

    def x():
        return torch.randn(4, 3) * 2

    t = torch.tensor([0, 1, 2, 1])
    return [
        ErrorCase("(N, 1) target", lambda: ((x(), t[:, None]), {}), lk.LossShapeError, match=r"\(4, 1\).*squeeze"),
        ErrorCase("float class indices", lambda: ((x(), t.float()), {}), lk.LossTypeError,
                  match=r"torch\.float32.*target\.long\(\)"),
        ErrorCase("one-hot integer target", lambda: ((x(), torch.eye(3, dtype=torch.long)[t]), {}),
                  lk.LossShapeError, match=r"\(4, 3\).*one-hot.*argmax"),
        ErrorCase("index out of range", lambda: ((x(), torch.tensor([0, 3, 1, 2])), {}), lk.LossValueError,
                  match=r"\[0, 3\).*but got 3"),
        ErrorCase("NaN input", lambda: ((torch.tensor([[0.0, float("nan"), -1.0]]), torch.tensor([0])), {}),
                  lk.NonFiniteError, match="input.*1 NaN"),
        ErrorCase("integer input", lambda: ((torch.tensor([[1, 2, 3]]), torch.tensor([0])), {}), lk.LossTypeError,
                  match=r"input.*torch\.int64"),
        ErrorCase("0-dim input", lambda: ((torch.tensor(0.5), torch.tensor(0)), {}), lk.LossShapeError,
                  match=r"class dimension.*shape \(\)"),
        ErrorCase("devices differ", lambda: ((x(), t.to("meta")), {}), lk.LossDeviceError, match="meta"),
        ErrorCase("ignore_index not an int", lambda: ((x(), t), {"ignore_index": 1.0}), lk.LossTypeError,
                  match="1.0"),
        ErrorCase("bad reduction", lambda: ((x(), t), {"reduction": "avg"}), lk.LossOptionError, match="'avg'"),
        ErrorCase("softmax output as input", lambda: ((x().softmax(1), t), {}), warns=lk.SuspiciousInputWarning,
                  match=r"\(4, 3\).*looks like probabilities"),
    ]


def _weighted_class_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [
        ErrorCase("weight of wrong length", lambda: ((x, t, torch.ones(2)), {}), lk.LossShapeError,
                  match=r"weight.*3 elements.*\(2,\)"),
        ErrorCase("negative weight", lambda: ((x, t, torch.tensor([1.0, -0.5, 1.0])), {}), lk.LossValueError,
                  match=r"weight.*-0\.5"),
        ErrorCase("label_smoothing > 1", lambda: ((x, t), {"label_smoothing": 1.5}), lk.LossOptionError,
                  match=r"label_smoothing.*1\.5"),
        ErrorCase("integer weight", lambda: ((x, t, torch.ones(3, dtype=torch.int64)), {}),
                  lk.LossTypeError, match=r"weight.*torch\.int64.*weight\.float\(\)"),
    ]


def _focal_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [
        *_class_errors(),
        *_weighted_class_errors(),
        ErrorCase("negative gamma", lambda: ((x, t), {"gamma": -1.0}), lk.LossOptionError, match=r"gamma.*-1\.0"),
        ErrorCase("negative float alpha", lambda: ((x, t), {"alpha": -0.25}), lk.LossOptionError,
                  match=r"alpha.*-0\.25"),
        ErrorCase("alpha of wrong length", lambda: ((x, t), {"alpha": torch.ones(4)}), lk.LossShapeError,
                  match=r"alpha.*3 elements.*\(4,\)"),
        ErrorCase("integer alpha", lambda: ((x, t), {"alpha": torch.ones(3, dtype=torch.int64)}),
                  lk.LossTypeError, match=r"alpha.*torch\.int64"),
        ErrorCase("negative alpha entry", lambda: ((x, t), {"alpha": torch.tensor([0.5, -1.0, 0.5])}),
                  lk.LossValueError, match=r"alpha.*-1"),
    ]


def _poly_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [
        *_class_errors(),
        *_weighted_class_errors(),
        ErrorCase("epsilon < -1", lambda: ((x, t), {"epsilon": -2.0}), lk.LossOptionError, match=r"epsilon.*-2\.0"),
    ]


def _gce_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [
        *_class_errors(),
        ErrorCase("q = 0", lambda: ((x, t), {"q": 0.0}), lk.LossOptionError, match=r"q.*\(0, 1\].*0\.0"),
        ErrorCase("q > 1", lambda: ((x, t), {"q": 1.5}), lk.LossOptionError, match=r"q.*1\.5"),
    ]


def _binary_errors() -> list[ErrorCase]:
    """Mistakes both sigmoid losses must catch."""
    y = (torch.rand(4, 3) > 0.5).float()
    return [
        ErrorCase("class-index target", lambda: ((torch.randn(4, 3), torch.tensor([0, 2, 1, 1])), {}),
                  lk.LossTypeError, match=r"torch\.int64.*F\.one_hot\(target, 3\)"),
        ErrorCase("integer 0/1 target", lambda: ((torch.randn(4, 3), y.long()), {}), lk.LossTypeError,
                  match=r"torch\.int64.*target\.float\(\)"),
        ErrorCase("integer input", lambda: ((torch.tensor([0, 1]), torch.tensor([0.0, 1.0])), {}), lk.LossTypeError,
                  match=r"input.*torch\.int64"),
        ErrorCase("shapes differ (N, 1) vs (N,)", lambda: ((torch.randn(4, 1), torch.ones(4)), {}),
                  lk.LossShapeError, match=r"\(4, 1\).*\(4,\).*broadcast"),
        ErrorCase("{0, 255} mask target", lambda: ((torch.randn(4, 3), y * 255), {}), lk.LossValueError,
                  match=r"target.*\[0, 255\].*/ 255"),
        ErrorCase("NaN target", lambda: ((torch.randn(2), torch.tensor([0.0, float("nan")])), {}),
                  lk.NonFiniteError, match="target.*1 NaN"),
        ErrorCase("+inf input", lambda: ((torch.tensor([0.5, float("inf")]), torch.tensor([0.0, 1.0])), {}),
                  lk.NonFiniteError, match="input.*1 infinite"),
        ErrorCase("devices differ", lambda: ((torch.randn(4, 3), y.to("meta")), {}), lk.LossDeviceError,
                  match="meta"),
        ErrorCase("bad reduction", lambda: ((torch.randn(3), torch.ones(3)), {"reduction": "avg"}),
                  lk.LossOptionError, match="'avg'"),
        ErrorCase("sigmoid output as input", lambda: ((torch.rand(16, 16), (torch.rand(16, 16) > 0.5).float()), {}),
                  warns=lk.SuspiciousInputWarning, match=r"256 values.*\(16, 16\).*looks like probabilities"),
    ]


def _sigmoid_focal_errors() -> list[ErrorCase]:
    x, y = torch.randn(4, 3), (torch.rand(4, 3) > 0.5).float()
    return [
        *_binary_errors(),
        ErrorCase("alpha > 1", lambda: ((x, y), {"alpha": 1.5}), lk.LossOptionError, match=r"alpha.*1\.5"),
        ErrorCase("negative gamma", lambda: ((x, y), {"gamma": -2.0}), lk.LossOptionError, match=r"gamma.*-2\.0"),
        ErrorCase("weight does not broadcast", lambda: ((x, y, torch.ones(4)), {}), lk.LossShapeError,
                  match=r"weight.*\(4, 3\).*\(4,\)"),
        ErrorCase("weight enlarges input", lambda: ((x, y, torch.ones(2, 4, 3)), {}), lk.LossShapeError,
                  match=r"weight.*\(2, 4, 3\)"),
        ErrorCase("pos_weight of wrong length", lambda: ((x, y), {"pos_weight": torch.ones(4)}), lk.LossShapeError,
                  match=r"pos_weight.*\(4,\)"),
        ErrorCase("negative pos_weight", lambda: ((x, y), {"pos_weight": torch.tensor([1.0, -1.0, 2.0])}),
                  lk.LossValueError, match=r"pos_weight.*-1"),
        ErrorCase("label_smoothing > 1", lambda: ((x, y), {"label_smoothing": 2.0}), lk.LossOptionError,
                  match=r"label_smoothing.*2\.0"),
    ]


def _asymmetric_errors() -> list[ErrorCase]:
    x, y = torch.randn(4, 3), (torch.rand(4, 3) > 0.5).float()
    return [
        *_binary_errors(),
        ErrorCase("negative gamma_neg", lambda: ((x, y), {"gamma_neg": -4.0}), lk.LossOptionError,
                  match=r"gamma_neg.*-4\.0"),
        ErrorCase("clip = 1", lambda: ((x, y), {"clip": 1.0}), lk.LossOptionError, match=r"clip.*\[0, 1\).*1\.0"),
        ErrorCase("negative eps", lambda: ((x, y), {"eps": -1e-8}), lk.LossOptionError, match=r"eps.*-1e-08"),
        ErrorCase("unknown soft_focusing", lambda: ((x, y), {"soft_focusing": "shard"}), lk.LossOptionError,
                  match=r"soft_focusing.*'shard'.*did you mean 'shared'"),
        ErrorCase("label_smoothing > 1", lambda: ((x, y), {"label_smoothing": 1.5}), lk.LossOptionError,
                  match=r"label_smoothing.*1\.5"),
        ErrorCase("pos_weight of wrong length", lambda: ((x, y), {"pos_weight": torch.ones(4)}), lk.LossShapeError,
                  match=r"pos_weight.*\(4,\)"),
        ErrorCase("negative weight", lambda: ((x, y, torch.tensor([1.0, -1.0, 2.0])), {}), lk.LossValueError,
                  match=r"weight.*-1"),
        ErrorCase("disable_torch_grad_focal_loss not a bool", lambda: ((x, y), {"disable_torch_grad_focal_loss": 1}),
                  lk.LossOptionError, match=r"disable_torch_grad_focal_loss.*bool.*1"),
        ErrorCase("batchmean misspelt", lambda: ((x, y), {"reduction": "batch_mean"}), lk.LossOptionError,
                  match=r"'batch_mean'.*did you mean 'batchmean'"),
    ]


def _asl_single_errors() -> list[ErrorCase]:
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    return [
        *_class_errors(),
        ErrorCase("negative gamma_neg", lambda: ((x, t), {"gamma_neg": -1.0}), lk.LossOptionError,
                  match=r"gamma_neg.*-1\.0"),
        ErrorCase("label_smoothing > 1", lambda: ((x, t), {"label_smoothing": 1.1}), lk.LossOptionError,
                  match=r"label_smoothing.*1\.1"),
    ]


# --------------------------------------------------------------------------------------------
# means over nothing
# --------------------------------------------------------------------------------------------
def _all_ignored():
    return (torch.randn(4, 3), torch.full((4,), IGN)), {}


def _all_ignored_smoothed_weighted():
    return (torch.randn(2, 3, 5), torch.full((2, 5), IGN), torch.rand(3) + 0.1), {"label_smoothing": 0.1}


def _empty_binary():
    return (torch.zeros(0, 3), torch.zeros(0, 3)), {}


def _zero_weight_binary():
    return (torch.randn(4, 3), (torch.rand(4, 3) > 0.5).float(), torch.zeros(4, 3)), {}


ENTRIES = [
    LossEntry(LF.focal_loss, lk.FocalLoss, _focal_samples, ref_focal_loss, module_call=_weight_to_ctor,
              errors=_focal_errors(), empty=_all_ignored_smoothed_weighted,
              precision_samples=("K-dim, weights, alpha tensor, smoothing, some ignored",)),
    LossEntry(LF.sigmoid_focal_loss, lk.SigmoidFocalLoss, _sigmoid_focal_samples, ref_sigmoid_focal_loss,
              module_call=_weight_to_ctor, errors=_sigmoid_focal_errors(), empty=_zero_weight_binary,
              precision_samples=("3d, weight (C,), pos_weight, smoothing",)),
    LossEntry(LF.poly_loss, lk.PolyLoss, _poly_samples, ref_poly_loss, module_call=_weight_to_ctor,
              errors=_poly_errors(), empty=_all_ignored_smoothed_weighted,
              precision_samples=("K-dim, weights, smoothing, some ignored",)),
    LossEntry(LF.asymmetric_loss, lk.AsymmetricLoss, _asymmetric_samples, ref_asymmetric_loss,
              module_call=_weight_to_ctor, errors=_asymmetric_errors(), empty=_empty_binary,
              reductions=("none", "mean", "sum", "batchmean"),
              precision_samples=("timm: weight (C,), pos_weight, smoothing, shared",)),
    LossEntry(LF.asymmetric_loss_single_label, lk.AsymmetricLossSingleLabel, _asl_single_samples,
              ref_asymmetric_loss_single_label, errors=_asl_single_errors(), empty=_all_ignored),
    LossEntry(LF.generalized_cross_entropy, lk.GeneralizedCrossEntropyLoss, _gce_samples,
              ref_generalized_cross_entropy, errors=_gce_errors(), empty=_all_ignored),
]
