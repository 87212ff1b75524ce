"""Golden values and special cases of the margin family, and the parity test against torch's own Module test
database (``torch.testing._internal.common_modules.module_db``) for every torch.nn loss of issue 2 that it lists
(margin, distribution and sequence families: the triplet losses have no entry there)."""

from __future__ import annotations

import functools
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# --------------------------------------------------------------------------------------------
# weighted means: losskit's sum(w * l) / sum(w) where torch divides by the count
# --------------------------------------------------------------------------------------------
X_MM = torch.tensor([[0.1, 0.2, 0.4, 0.8], [0.5, 0.1, 0.0, 0.3]], dtype=torch.float64)
Y_MM = torch.tensor([3, 0])
W_MM = torch.tensor([2.0, 1.0, 1.0, 0.5], dtype=torch.float64)


def test_multi_margin_weighted_mean_by_hand():
    # by hand: row 0 (y=3): (0.3 + 0.4 + 0.6) / 4 = 0.325, w = 0.5; row 1 (y=0): (0.6 + 0.5 + 0.8) / 4 = 0.475, w = 2
    terms = [0.5 * 0.325, 2.0 * 0.475]
    got_none = LF.multi_margin_loss(X_MM, Y_MM, W_MM, reduction="none")
    torch.testing.assert_close(got_none, torch.tensor(terms, dtype=torch.float64))
    assert float(LF.multi_margin_loss(X_MM, Y_MM, W_MM, reduction="sum")) == pytest.approx(sum(terms))
    assert float(LF.multi_margin_loss(X_MM, Y_MM, W_MM)) == pytest.approx(sum(terms) / 2.5)  # 0.445
    # torch 2.13 divides by N = 2 instead (0.55625): the documented difference
    assert float(F.multi_margin_loss(X_MM, Y_MM, weight=W_MM)) == pytest.approx(sum(terms) / 2)


def test_multi_margin_p2_by_hand():
    # by hand: row 0 with margin 0.5: only j=2 is active, 0.1^2 / 4 = 0.0025; row 1: (0.1^2 + 0 + 0.3^2) / 4 = 0.025
    got = LF.multi_margin_loss(X_MM, Y_MM, p=2, margin=0.5, reduction="none")
    torch.testing.assert_close(got, torch.tensor([0.0025, 0.025], dtype=torch.float64))


def test_multilabel_soft_margin_weighted_average_over_classes_by_hand():
    x = torch.tensor([[2.0, -1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1, 0, 1]])
    w = torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64)
    terms = [_softplus(-2.0), _softplus(-1.0), math.log(2.0)]  # by hand: -log sigmoid(2), -log sigmoid(1), -log 1/2
    expected = (3 * terms[0] + terms[1]) / 4  # weighted average over classes
    assert float(LF.multilabel_soft_margin_loss(x, y, w, reduction="none")[0]) == pytest.approx(expected)
    assert float(LF.multilabel_soft_margin_loss(x, y)) == pytest.approx(sum(terms) / 3)  # unweighted: torch's mean
    # torch divides the weighted sum by C = 3
    assert float(F.multilabel_soft_margin_loss(x, y.double(), weight=w)) == pytest.approx((3 * terms[0] + terms[1]) / 3)


@pytest.mark.parametrize("fn", [LF.multi_margin_loss, LF.multilabel_soft_margin_loss])
def test_all_zero_class_weights_give_zero_not_nan(fn):
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 2, 1]) if fn is LF.multi_margin_loss else torch.randint(0, 2, (3, 4))
    out = fn(x, target, torch.zeros(4, dtype=torch.float64))
    assert float(out.detach()) == 0.0
    out.backward()
    assert torch.isfinite(x.grad).all() and (x.grad == 0).all()


# --------------------------------------------------------------------------------------------
# per-loss golden values (by hand) and special cases
# --------------------------------------------------------------------------------------------
def test_margin_losses_by_hand():
    x = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)
    y = torch.tensor([1, -1, -1])
    # soft margin: log(1 + exp(-y x))
    expected = [_softplus(-0.5), _softplus(-2.0), _softplus(3.0)]
    torch.testing.assert_close(LF.soft_margin_loss(x, y, reduction="none"), torch.tensor(expected, dtype=torch.float64))
    # hinge embedding, margin 1: x for y=1, max(0, 1 - x) for y=-1
    torch.testing.assert_close(LF.hinge_embedding_loss(x, y, reduction="none"),
                               torch.tensor([0.5, 3.0, 0.0], dtype=torch.float64))
    # margin ranking, margin 0.5: max(0, -y (x1 - x2) + 0.5)
    x2 = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(LF.margin_ranking_loss(x, x2, y, margin=0.5, reduction="none"),
                               torch.tensor([1.0, 0.0, 1.5], dtype=torch.float64))
    # cosine embedding, margin 0.5: cos = (3, 4) . (4, 3) / 25 = 0.96; cos = -1 for the opposite pair
    a = torch.tensor([[3.0, 4.0], [1.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    b = torch.tensor([[4.0, 3.0], [-2.0, 0.0], [4.0, 3.0]], dtype=torch.float64)
    got = LF.cosine_embedding_loss(a, b, torch.tensor([1, -1, -1]), margin=0.5, reduction="none")
    torch.testing.assert_close(got, torch.tensor([0.04, 0.0, 0.46], dtype=torch.float64))


def test_multilabel_margin_by_hand_and_padding():
    x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], dtype=torch.float64)
    # by hand: positives {3, 0}, negatives {1, 2}: (0.4 + 0.6 + 1.1 + 1.3) / 4 = 0.85; the 1 after -1 is ignored
    assert float(LF.multilabel_margin_loss(x, torch.tensor([[3, 0, -1, 1]]))) == pytest.approx(0.85)
    # no -1: every class positive, nothing to compare with
    assert float(LF.multilabel_margin_loss(x, torch.tensor([[3, 0, 1, 2]]))) == 0.0


def test_soft_margin_warns_on_soft_targets_but_keeps_torchs_number():
    x, y = torch.randn(4, dtype=torch.float64), torch.tensor([0.5, -1.0, 1.0, 2.0], dtype=torch.float64)
    with pytest.warns(lk.SuspiciousInputWarning, match="0.5"):
        out = LF.soft_margin_loss(x, y)
    torch.testing.assert_close(out, F.soft_margin_loss(x, y))


def test_guard_off_skips_checks_and_gives_torchs_number():
    x, y = torch.randn(5, dtype=torch.float64), torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    with pytest.raises(lk.LossValueError):
        LF.hinge_embedding_loss(x, y)
    with lk.guard("off"):
        torch.testing.assert_close(LF.hinge_embedding_loss(x, y), F.hinge_embedding_loss(x, y))


def test_value_checks_run_once_per_input_kind_by_default():
    x = torch.randn(4, dtype=torch.float64)
    good, bad = torch.tensor([1, -1, 1, 1]), torch.tensor([1, 0, -1, 1])
    LF.margin_ranking_loss(x, x.flip(0), good)  # first call of this kind: checked
    LF.margin_ranking_loss(x, x.flip(0), bad)  # same kind: not checked again under "first"
    with lk.guard("always"), pytest.raises(lk.LossValueError, match="-1, 0, 1"):
        LF.margin_ranking_loss(x, x.flip(0), bad)


def test_module_options_are_validated_at_construction():
    with pytest.raises(lk.LossOptionError, match=r"MultiMarginLoss: p .*got 3"):
        lk.MultiMarginLoss(p=3)
    with pytest.raises(lk.LossOptionError, match=r"HingeEmbeddingLoss: margin .*'1'"):
        lk.HingeEmbeddingLoss(margin="1")
    with pytest.raises(lk.LossOptionError, match="'avg'"):
        lk.SoftMarginLoss(reduction="avg")
    module = lk.MultiLabelSoftMarginLoss(torch.ones(3))
    assert "weight" in dict(module.named_buffers())


def test_multilabel_margin_compiled_matches_eager_with_padding():
    """torch 2.13's compiled multilabel_margin_loss counts the slots after -1 (pytorch#141017); losskit's doesn't."""
    torch._dynamo.reset()
    x = torch.randn(4, 5, dtype=torch.float64)
    y = torch.tensor([[3, 0, -1, 1, 1], [4, -1, 0, 0, 0], [0, 1, 2, 3, 4], [-1, 2, 2, 2, 2]])
    compiled = torch.compile(LF.multilabel_margin_loss, backend="aot_eager", fullgraph=True)
    for args in ((x, y), (x[1], y[1])):
        for reduction in ("none", "sum", "mean"):
            a, b = args[0].clone().requires_grad_(), args[0].clone().requires_grad_()
            out, ref = compiled(a, args[1], reduction=reduction), F.multilabel_margin_loss(b, args[1],
                                                                                          reduction=reduction)
            torch.testing.assert_close(out, ref)
            g = torch.rand_like(ref) + 0.5
            out.backward(g)
            ref.backward(g)
            torch.testing.assert_close(a.grad, b.grad)


# --------------------------------------------------------------------------------------------
# parity with torch's own Module test database
# --------------------------------------------------------------------------------------------
def _nonfinite(t: torch.Tensor, *, allow_neg_inf: bool = False) -> bool:
    bad = torch.isnan(t) | (t == float("inf"))
    return bool((bad if allow_neg_inf else bad | (t == float("-inf"))).any())


def _not_pm1(t: torch.Tensor) -> bool:
    return not bool(((t == 1) | (t == -1)).all())


def _repeats_before_end(target: torch.Tensor) -> bool:
    for row in target.reshape(-1, target.shape[-1]).tolist():
        prefix = row[: row.index(-1)] if -1 in row else row
        if len(set(prefix)) != len(prefix):
            return True
    return False


def _kl_policy(ctor: dict, args: tuple) -> tuple[type | None, bool]:
    i, t = args
    log_target = ctor.get("log_target", False)
    if _nonfinite(i, allow_neg_inf=True) or _nonfinite(t, allow_neg_inf=log_target):
        return lk.NonFiniteError, False
    if not log_target and bool((t < 0).any()):
        return lk.LossValueError, False
    warns = ctor.get("reduction", "mean") == "mean" and i.numel() != (i.shape[0] if i.dim() else 1)
    warns = warns or bool((i > 0).any()) or (log_target and bool((t > 0).any()))
    return None, warns


# What losskit rejects on purpose, and when it warns (its documented policy), per torch Module:
# a function (ctor kwargs, forward args) -> (error class or None, whether a SuspiciousInputWarning is due).
POLICY = {
    "CosineEmbeddingLoss": lambda c, a: (lk.LossValueError if _not_pm1(a[2]) else None, False),
    "HingeEmbeddingLoss": lambda c, a: (lk.LossValueError if _not_pm1(a[1]) else None, False),
    "MarginRankingLoss": lambda c, a: (lk.LossValueError if _not_pm1(a[2]) else None, False),
    "SoftMarginLoss": lambda c, a: (lk.LossValueError if bool(((a[1] == 0) | (a[1] == 1)).all()) else None,
                                    _not_pm1(a[1])),
    "MultiMarginLoss": lambda c, a: (lk.LossValueError if "weight" in c and bool((c["weight"] < 0).any()) else None,
                                     False),
    "MultiLabelSoftMarginLoss": lambda c, a: (
        lk.LossValueError if "weight" in c and bool((c["weight"] < 0).any()) else None, False),
    "MultiLabelMarginLoss": lambda c, a: (None, _repeats_before_end(a[1])),
    "KLDivLoss": _kl_policy,
    "GaussianNLLLoss": lambda c, a: (lk.LossValueError if bool((a[2] < 0).any()) else None, False),
    "PoissonNLLLoss": lambda c, a: (None, False),
    "CTCLoss": lambda c, a: (None, False),
}


def _torch_expected(name: str, module: torch.nn.Module, ctor: dict, args: tuple) -> torch.Tensor:
    """torch's output, with losskit's documented weighted mean applied where the two differ."""
    reduction = ctor.get("reduction", "mean")
    weight = ctor.get("weight")
    if name == "MultiMarginLoss" and weight is not None and reduction == "mean":
        terms = type(module)(**{**ctor, "reduction": "none"})(*args)
        return terms.sum() / weight[args[1]].sum()
    if name == "MultiLabelSoftMarginLoss" and weight is not None:
        per_sample = type(module)(**{**ctor, "reduction": "none"})(*args) * args[0].shape[-1] / weight.sum()
        return {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}[reduction]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's own kl_div "mean" warning
        return module(*args)


@functools.cache
def _module_db_inputs(name: str) -> tuple:
    from torch.testing._internal.common_modules import module_db

    (info,) = [m for m in module_db if m.module_cls.__name__ == name]
    torch.manual_seed(0)
    return tuple(info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=True, training=False))


def _fresh(args: tuple) -> tuple:
    """Leaf copies; the tensors torch's sample differentiates (inputs, not targets) require grad."""
    return tuple(
        a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args
    )


@pytest.mark.parametrize("name", sorted(POLICY))
def test_torch_module_db_parity(name: str):
    """For every sample of torch's module_db: same values and gradients as torch's Module, or our documented error."""
    checked = rejected = 0
    for sample in _module_db_inputs(name):
        ctor = dict(sample.constructor_input.kwargs)
        assert not sample.constructor_input.args
        fwd = sample.forward_input.args
        error, warns = POLICY[name](ctor, fwd)
        ours_args, torch_args = _fresh(fwd), _fresh(fwd)
        lk.reset_guard()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if error is not None:
                with pytest.raises(error):
                    getattr(lk, name)(**ctor)(*ours_args)
                rejected += 1
                continue
            out = getattr(lk, name)(**ctor)(*ours_args)
        ours_warned = any(issubclass(w.category, lk.SuspiciousInputWarning) for w in caught)
        assert ours_warned == warns, f"{name} [{sample.desc}]: warning expected={warns}"
        ref = _torch_expected(name, getattr(torch.nn, name)(**ctor), ctor, torch_args)
        torch.testing.assert_close(out, ref, msg=f"{name} [{sample.desc}]")
        grad = torch.rand_like(ref) + 0.5
        out.backward(grad)
        ref.backward(grad)
        for a, b in zip(ours_args, torch_args):
            if isinstance(a, torch.Tensor) and a.requires_grad:
                torch.testing.assert_close(a.grad, b.grad, msg=f"grad of {name} [{sample.desc}]")
        checked += 1
    assert checked + rejected == len(_module_db_inputs(name)) and checked + rejected > 0
