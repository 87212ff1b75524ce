"""Golden values, peer agreement and edge cases of the distillation family (js_div, distillation_loss).

Generic checks (reductions against the references in tests/db/distillation.py, gradcheck, Module ==
functional, compile, errors) run in test_generic.py.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF


# --------------------------------------------------------------------------------------------
# js_div
# --------------------------------------------------------------------------------------------
def test_js_div_golden_by_hand():
    # P = (1, 0), Q = (1/2, 1/2), M = (3/4, 1/4): JS = 1/2 ln(4/3) + 1/4 ln(2/3) + 1/4 ln(2)
    q = torch.tensor([0.5, 0.5], dtype=torch.float64).log()
    p = torch.tensor([1.0, 0.0], dtype=torch.float64)
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    assert LF.js_div(q, p).item() == pytest.approx(expected, rel=1e-12)


def test_js_div_matches_scipy():
    distance = pytest.importorskip("scipy.spatial.distance")
    p = torch.softmax(torch.randn(5, 6, dtype=torch.float64), 1)
    q = torch.softmax(torch.randn(5, 6, dtype=torch.float64) * 3, 1)
    # scipy's jensenshannon is the square root of the divergence (natural log by default)
    theirs = torch.tensor([distance.jensenshannon(p[i].numpy(), q[i].numpy()) ** 2 for i in range(5)])
    torch.testing.assert_close(LF.js_div(q.log(), p, reduction="none"), theirs.double())


def test_js_div_is_symmetric_and_bounded():
    p = torch.softmax(torch.randn(4, 3, dtype=torch.float64), 1)
    q = torch.softmax(torch.randn(4, 3, dtype=torch.float64), 1)
    torch.testing.assert_close(LF.js_div(q.log(), p), LF.js_div(p.log(), q))
    torch.testing.assert_close(LF.js_div(q.log(), p.log(), log_target=True), LF.js_div(q.log(), p))
    values = LF.js_div(q.log(), p, reduction="none")
    assert (values >= 0).all() and (values <= math.log(2)).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("log_target", [False, True], ids=["prob-target", "log-target"])
def test_js_div_exact_zeros_are_finite(dtype: torch.dtype, log_target: bool):
    # disjoint supports, and a class where both are 0: JS = ln 2 exactly (by hand)
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], dtype=dtype).log().requires_grad_(True)  # -inf inside
    p = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=dtype)
    p = (p.log() if log_target else p).requires_grad_(True)
    out = LF.js_div(q, p, log_target=log_target)
    out.backward()
    assert out.item() == pytest.approx(math.log(2), rel=1e-6)
    assert torch.isfinite(q.grad).all() and torch.isfinite(p.grad).all()
    # a zero probability of the log-probability input gets no gradient (its term is 0 whatever it is)
    assert q.grad[0, 1] == 0 and q.grad[0, 2] == 0


def test_js_div_batchmean_is_mean():
    q = F.log_softmax(torch.randn(3, 4), 1)
    p = F.softmax(torch.randn(3, 4), 1)
    assert LF.js_div(q, p, reduction="batchmean") == LF.js_div(q, p)
    assert lk.JSDivLoss(reduction="batchmean")(q, p) == LF.js_div(q, p)


def test_js_div_is_zero_for_identical_distributions():
    q = F.log_softmax(torch.randn(3, 4, dtype=torch.float64), 1)
    assert LF.js_div(q, q.exp()).abs().item() < 1e-15


# --------------------------------------------------------------------------------------------
# distillation_loss
# --------------------------------------------------------------------------------------------
def test_distillation_golden_by_hand():
    student = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    teacher = torch.tensor([[4.0, 0.0]], dtype=torch.float64)
    # by hand, T = 2: teacher p = softmax(2, 0) = (e^2, 1) / (e^2 + 1), student q = (1/2, 1/2)
    p1 = math.exp(2) / (math.exp(2) + 1)
    p2 = 1 - p1
    kl = p1 * math.log(p1 / 0.5) + p2 * math.log(p2 / 0.5)
    expected = 0.9 * 4 * kl + 0.1 * math.log(2)
    out = LF.distillation_loss(student, teacher, torch.tensor([0]), temperature=2.0)
    assert out.item() == pytest.approx(expected, rel=1e-12)
    # the other direction, KL(student || teacher), is another number: the teacher must be the target
    wrong = 0.9 * 4 * (0.5 * math.log(0.5 / p1) + 0.5 * math.log(0.5 / p2)) + 0.1 * math.log(2)
    assert abs(out.item() - wrong) > 0.1


def test_distillation_limits():
    s, t = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0])
    torch.testing.assert_close(LF.distillation_loss(s, t, y, alpha=0.0), F.cross_entropy(s, y))
    kl = F.kl_div(F.log_softmax(s, 1), F.softmax(t, 1), reduction="batchmean")  # torch, T = 1
    torch.testing.assert_close(LF.distillation_loss(s, t, y, alpha=1.0, temperature=1.0), kl)


def test_distillation_t_squared_keeps_soft_gradient_scale():
    # Hinton et al. 2015, section 2.1: at high T the soft term's gradient tends to
    # (1 / (N C)) ((z - mean z) - (v - mean v)), independent of T thanks to the T^2 factor
    s, t = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    y = torch.zeros(4, dtype=torch.long)
    limit = ((s - s.mean(1, keepdim=True)) - (t - t.mean(1, keepdim=True))) / (4 * 6)
    for temperature in (50.0, 200.0):
        x = s.clone().requires_grad_(True)
        LF.distillation_loss(x, t, y, alpha=1.0, temperature=temperature).backward()
        torch.testing.assert_close(x.grad, limit, rtol=0, atol=float(limit.abs().max()) * 10 / temperature)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_distillation_extreme_logits_are_finite(dtype: torch.dtype):
    s = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=dtype, requires_grad=True)
    t = torch.tensor([[-1e4, 1e4, 0.0], [1e4, -1e4, 0.0]], dtype=dtype, requires_grad=True)
    out = LF.distillation_loss(s, t, torch.tensor([1, 0]), temperature=1.0)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(s.grad).all() and torch.isfinite(t.grad).all()


def test_distillation_teacher_is_not_detached():
    s = torch.randn(3, 4, requires_grad=True)
    t = torch.randn(3, 4, requires_grad=True)
    LF.distillation_loss(s, t, torch.tensor([0, 1, 2])).backward()
    assert t.grad is not None and t.grad.abs().sum() > 0  # documented: detach the teacher yourself
    with torch.no_grad():
        fixed = t * 1.0
    s.grad = None
    LF.distillation_loss(s, fixed, torch.tensor([0, 1, 2])).backward()
    assert s.grad is not None


def test_module_options_are_checked_at_construction():
    with pytest.raises(lk.LossOptionError, match=r"^DistillationLoss: alpha .*1.5"):
        lk.DistillationLoss(alpha=1.5)
    with pytest.raises(lk.LossOptionError, match=r"^JSDivLoss: log_target .*'yes'"):
        lk.JSDivLoss(log_target="yes")
    with pytest.raises(lk.LossOptionError, match=r"^JSDivLoss: reduction .*'avg'"):
        lk.JSDivLoss(reduction="avg")


def test_catalog_lists_the_distillation_family():
    assert {row.name for row in lk.list_losses("distillation")} == {"DistillationLoss", "JSDivLoss"}
