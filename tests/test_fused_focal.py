"""fused_focal_loss and fused_sigmoid_focal_loss against the reference paths: losskit's public focal losses, and
the textbook formulas the benchmarks compare with (losskit.bench.baselines: the tutorial FocalLoss, torchvision's
sigmoid_focal_loss formula). Values and gradients, float64/float32, every reduction, grad_output != 1, weights,
alpha, ignored rows, retain_graph, in-place, torch.compile.
"""

from __future__ import annotations

import pytest
import torch

import losskit as lk
import losskit.functional as LF
import losskit.fused._common as common
import losskit.fused.pointwise as PW
from losskit.bench.baselines import torchvision_sigmoid_focal_loss, tutorial_focal_loss
from losskit.fused import (
    fused_focal_loss,
    fused_sigmoid_focal_loss,
    supports_focal_loss,
    supports_sigmoid_focal_loss,
)

REDUCTIONS = ("mean", "sum", "none")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(common, "CHUNK_BYTES", 64)
    monkeypatch.setattr(PW, "CHUNK_BYTES", 48)


def _tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}


def _compare(fused, ref, args, kwargs, reduction, dtype):
    x = args[0]
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = fused(a, *args[1:], reduction=reduction, **kwargs)
    want = ref(b, *args[1:], reduction=reduction, **kwargs)
    torch.testing.assert_close(out, want, **_tol(dtype))
    g = torch.randn(want.shape, dtype=dtype) + 2.0
    out.backward(g)
    want.backward(g)
    torch.testing.assert_close(a.grad, b.grad, **_tol(dtype))


def _class_data(dtype, kdim=False):
    g = torch.Generator().manual_seed(5)
    if kdim:
        x = torch.randn(3, 6, 2, 3, generator=g, dtype=dtype) * 3
        t = torch.randint(0, 6, (3, 2, 3), generator=g)
        t[0, 1, 2] = -100
    else:
        x = torch.randn(13, 6, generator=g, dtype=dtype) * 3
        t = torch.randint(0, 6, (13,), generator=g)
        t[[1, 8]] = -100
    return x, t


FOCAL_OPTIONS = {
    "gamma2": {"gamma": 2.0},
    "gamma0": {"gamma": 0.0},
    "gamma_half": {"gamma": 0.5},
    "alpha_float": {"gamma": 2.0, "alpha": 0.25},
    "alpha_tensor_weight": {"gamma": 1.5, "alpha": "vector", "weight": "vector"},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", list(FOCAL_OPTIONS), ids=list(FOCAL_OPTIONS))
@pytest.mark.parametrize("kdim", [False, True], ids=["2d", "kdim"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_fused_focal_matches_losskit(dtype, kdim, opts, reduction):
    x, t = _class_data(dtype, kdim)
    kw = dict(FOCAL_OPTIONS[opts])
    weight = None
    if kw.pop("weight", None):
        weight = torch.linspace(0.5, 2.0, 6, dtype=dtype)
    if kw.get("alpha") == "vector":
        kw["alpha"] = torch.linspace(0.1, 0.9, 6, dtype=dtype)
    _compare(fused_focal_loss, LF.focal_loss, (x, t, weight), kw, reduction, dtype)


def test_fused_focal_matches_the_tutorial_focal_loss():
    """The benchmark's baseline gives the same numbers (alpha=1, nothing ignored)."""
    x, t = _class_data(torch.float64)
    t = t.clamp_min(0)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = fused_focal_loss(a, t, gamma=2.0)
    ref = tutorial_focal_loss(b, t, gamma=2.0)
    torch.testing.assert_close(out, ref)
    out.backward()
    ref.backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_fused_focal_extreme_logits_stay_finite():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=torch.float64, requires_grad=True)
    out = fused_focal_loss(x, torch.tensor([0, 0]), gamma=0.5, reduction="none")
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    torch.testing.assert_close(out.detach()[1], torch.tensor(2e4, dtype=torch.float64))  # by hand: (1 - 0)^g * 2e4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_fused_focal_half(dtype):
    x, t = _class_data(torch.float32)
    xh = x.to(dtype).requires_grad_()
    out = fused_focal_loss(xh, t, gamma=2.0)
    out.backward()
    x32 = xh.detach().float().requires_grad_()
    ref = LF.focal_loss(x32, t, gamma=2.0)
    ref.backward()
    ulp = torch.finfo(dtype).eps
    torch.testing.assert_close(out.float(), ref, rtol=ulp, atol=0)
    torch.testing.assert_close(xh.grad.float(), x32.grad, rtol=ulp, atol=ulp * float(x32.grad.abs().max()))


def test_fused_focal_inplace_retain_graph_and_no_grad():
    x, t = _class_data(torch.float64)
    base = x.clone().requires_grad_()
    logits = base * 1.0
    out = fused_focal_loss(logits, t, gamma=2.0, alpha=0.5, inplace=True)
    out.backward(torch.tensor(2.0, dtype=torch.float64))
    ref_x = x.clone().requires_grad_()
    ref = LF.focal_loss(ref_x, t, gamma=2.0, alpha=0.5)
    ref.backward(torch.tensor(2.0, dtype=torch.float64))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(base.grad, ref_x.grad)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = fused_focal_loss(a, t, reduction="none"), LF.focal_loss(b, t, reduction="none")
    for g, last in ((1.5, False), (-2.0, True)):
        out.backward(torch.full_like(ref, g), retain_graph=not last)
        ref.backward(torch.full_like(ref, g), retain_graph=not last)
    torch.testing.assert_close(a.grad, b.grad)
    with torch.no_grad():
        torch.testing.assert_close(fused_focal_loss(x, t, gamma=3.0), LF.focal_loss(x, t, gamma=3.0))


def test_fused_focal_all_ignored_and_gradcheck():
    x, t = _class_data(torch.float64)
    a = x.clone().requires_grad_()
    out = fused_focal_loss(a, torch.full_like(t, -100))
    assert float(out.detach()) == 0.0
    out.backward()
    assert torch.equal(a.grad, torch.zeros_like(x))
    w = torch.rand(6, dtype=torch.float64) + 0.1
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda z, r=reduction: fused_focal_loss(z, t, w, gamma=1.5, alpha=0.3, reduction=r),
            (x.clone().requires_grad_(),),
        )


# --------------------------------------------------------------------------------------------
# sigmoid focal loss
# --------------------------------------------------------------------------------------------
def _binary_data(dtype):
    g = torch.Generator().manual_seed(9)
    x = torch.randn(7, 5, generator=g, dtype=dtype) * 3
    y = (torch.rand(7, 5, generator=g, dtype=dtype) > 0.6).to(dtype)
    y[0] = torch.rand(5, generator=g, dtype=dtype)  # soft targets too
    w = torch.rand(7, 5, generator=g, dtype=dtype)
    pw = torch.rand(5, generator=g, dtype=dtype) * 3
    return x, y, w, pw


SIGMOID_OPTIONS = {
    "default": {},
    "gamma0": {"gamma": 0.0},
    "no_alpha_gamma_half": {"alpha": -1.0, "gamma": 0.5},
    "smooth_pos": {"label_smoothing": 0.1, "pos_weight": "pw"},
    "weighted": {"weight": "w", "alpha": 0.4, "gamma": 3.0},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", list(SIGMOID_OPTIONS), ids=list(SIGMOID_OPTIONS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_fused_sigmoid_focal_matches_losskit(dtype, opts, reduction):
    x, y, w, pw = _binary_data(dtype)
    kw = dict(SIGMOID_OPTIONS[opts])
    weight = w if kw.pop("weight", None) else None
    if kw.get("pos_weight") == "pw":
        kw["pos_weight"] = pw
    _compare(fused_sigmoid_focal_loss, LF.sigmoid_focal_loss, (x, y, weight), kw, reduction, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_sigmoid_focal_matches_the_torchvision_formula(reduction):
    x, y, _, _ = _binary_data(torch.float64)
    _compare(
        lambda a, t, reduction: fused_sigmoid_focal_loss(a, t, alpha=0.25, gamma=2.0, reduction=reduction),
        lambda a, t, reduction: torchvision_sigmoid_focal_loss(a, t, alpha=0.25, gamma=2.0, reduction=reduction),
        (x, y), {}, reduction, torch.float64,
    )


def test_fused_sigmoid_focal_extremes_compile_and_refusals():
    x = torch.tensor([-1e4, 1e4, 0.0, 30.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    out = fused_sigmoid_focal_loss(x, y, gamma=0.5, reduction="none")
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    torch.testing.assert_close(out, LF.sigmoid_focal_loss(x.detach(), y, gamma=0.5, reduction="none"))

    torch._dynamo.reset()
    xs, ys, w, _ = _binary_data(torch.float32)
    compiled = torch.compile(lambda a: fused_sigmoid_focal_loss(a * 2.0, ys, w), backend="aot_eager", fullgraph=True)
    a, b = xs.clone().requires_grad_(), xs.clone().requires_grad_()
    out, ref = compiled(a), LF.sigmoid_focal_loss(b * 2.0, ys, w)
    torch.testing.assert_close(out, ref)
    out.backward()
    ref.backward()
    torch.testing.assert_close(a.grad, b.grad)

    assert not supports_sigmoid_focal_loss(xs, ys.clone().requires_grad_(), min_numel=0)
    assert supports_sigmoid_focal_loss(xs, ys, min_numel=0)
    assert not supports_focal_loss(torch.randn(512, 256), torch.zeros(512, dtype=torch.long), label_smoothing=0.1)
    assert supports_focal_loss(torch.randn(1024, 256), torch.zeros(1024, dtype=torch.long), alpha=0.25)
    with pytest.raises(lk.LossOptionError, match=r"^fused_focal_loss: label_smoothing must be 0 .* but got 0.1; "
                       r"call losskit.functional.focal_loss"):
        fused_focal_loss(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), label_smoothing=0.1)
    with pytest.raises(lk.LossOptionError, match=r"^fused_sigmoid_focal_loss: alpha must be .* but got 2"):
        fused_sigmoid_focal_loss(xs, ys, alpha=2)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_sigmoid_focal_lean_kernel_matches_the_reference(gamma, alpha, eps, reduction):
    """The lean kernel (no weight, no pos_weight, gamma >= 1) against the reference, logits up to +-60 included
    (where sigma(x) rounds to 1 and the exact sigma(-x) matters), float64 values and gradients."""
    from losskit.fused import focal as FF

    assert FF._sigmoid_focal_kernel_for(gamma, None, None) in (FF._sigmoid_focal_lean, FF._sigmoid_focal_native)
    gen = torch.Generator().manual_seed(3)
    extremes = torch.tensor([60.0, -60.0, 20.0, -20.0], dtype=torch.float64)
    x = torch.cat([torch.randn(4000, generator=gen, dtype=torch.float64) * 4, extremes])
    y = (torch.rand(x.shape, generator=gen, dtype=torch.float64) < 0.3).to(torch.float64)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    kw = {"alpha": alpha, "gamma": gamma, "label_smoothing": eps, "reduction": reduction}
    out = fused_sigmoid_focal_loss(a, y, **kw)
    ref = LF.sigmoid_focal_loss(b, y, **kw)
    # (1 - t) x - log sigmoid(x) cancels at very negative x in both forms: relative 1e-7 of a term ~1e-9 there
    torch.testing.assert_close(out, ref, rtol=1e-7, atol=1e-15)
    go = torch.rand(out.shape, generator=gen, dtype=torch.float64)
    out.backward(go)
    ref.backward(go)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-7, atol=1e-15)
