"""The fused elementwise losses against the reference path: losskit's public functions (torch's kernels plus
losskit's weighted mean), in float64 and float32, every reduction, grad_output != 1, gradients w.r.t. input and
target, weights, pos_weight and label smoothing, retain_graph, in-place, torch.compile, half inputs.

Chunks are shrunk to a few elements (fixture ``small_chunks``) so that every sample crosses chunk borders.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
import losskit.fused.pointwise as P
from losskit.fused import (
    fused_binary_cross_entropy_with_logits,
    fused_huber_loss,
    fused_l1_loss,
    fused_mse_loss,
    fused_smooth_l1_loss,
    supports_binary_cross_entropy_with_logits,
    supports_mse_loss,
)

REDUCTIONS = ("mean", "sum", "none")

# (fused, reference, options, binary targets)
LOSSES = {
    "mse": (fused_mse_loss, LF.mse_loss, {}, False),
    "l1": (fused_l1_loss, LF.l1_loss, {}, False),
    "huber": (fused_huber_loss, LF.huber_loss, {"delta": 0.7}, False),
    "smooth_l1": (fused_smooth_l1_loss, LF.smooth_l1_loss, {"beta": 0.5}, False),
    "smooth_l1_beta0": (fused_smooth_l1_loss, LF.smooth_l1_loss, {"beta": 0.0}, False),
    "bce": (fused_binary_cross_entropy_with_logits, LF.binary_cross_entropy_with_logits, {}, True),
    "bce_smooth_pos": (
        fused_binary_cross_entropy_with_logits,
        LF.binary_cross_entropy_with_logits,
        {"label_smoothing": 0.2, "pos_weight": "pw"},
        True,
    ),
    "bce_scalar_pos": (
        fused_binary_cross_entropy_with_logits,
        LF.binary_cross_entropy_with_logits,
        {"pos_weight": "pw1"},
        True,
    ),
}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(P, "CHUNK_BYTES", 48)  # 6 float64 / 12 float32 elements (rows of 5 for pos_weight)


def _sample(name: str, dtype: torch.dtype):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 5, generator=g, dtype=dtype) * 2
    if LOSSES[name][3]:
        y = torch.rand(7, 5, generator=g, dtype=dtype)
        y[0] = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=dtype)
    else:
        y = torch.randn(7, 5, generator=g, dtype=dtype)
    w = torch.rand(7, 5, generator=g, dtype=dtype)
    opts = dict(LOSSES[name][2])
    if opts.get("pos_weight") == "pw":
        opts["pos_weight"] = torch.rand(5, generator=g, dtype=dtype) * 3
    elif opts.get("pos_weight") == "pw1":
        opts["pos_weight"] = torch.tensor([2.5], dtype=dtype)
    return x, y, w, opts


def _tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_fused_pointwise_matches_losskit(dtype, name, weighted, reduction):
    fused, ref_fn, _, _ = LOSSES[name]
    x, y, w, opts = _sample(name, dtype)
    w = w if weighted else None
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = y.clone().requires_grad_(), y.clone().requires_grad_()
    out = fused(a, ya, w, reduction=reduction, **opts)
    ref = ref_fn(b, yb, w, reduction=reduction, **opts)
    torch.testing.assert_close(out, ref, **_tol(dtype))
    g = torch.randn(ref.shape, dtype=dtype) + 2.0  # never 1
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(a.grad, b.grad, **_tol(dtype))
    torch.testing.assert_close(ya.grad, yb.grad, **_tol(dtype))


@pytest.mark.parametrize("name", ["mse", "huber", "bce_smooth_pos"])
def test_fused_pointwise_matches_torch_directly(name):
    """Unweighted, the numbers are torch's own (losskit adds nothing there)."""
    fused, _, opts, _ = LOSSES[name]
    x, y, _, opts = _sample(name, torch.float64)
    torch_fn = {"mse": F.mse_loss, "huber": F.huber_loss}.get(name)
    for reduction in REDUCTIONS:
        if torch_fn is None:
            t = y * 0.8 + 0.1  # by hand: label_smoothing 0.2 is t (1 - 0.2) + 0.2 / 2
            ref = F.binary_cross_entropy_with_logits(x, t, pos_weight=opts["pos_weight"], reduction=reduction)
        else:
            ref = torch_fn(x, y, reduction=reduction, **opts)
        torch.testing.assert_close(fused(x, y, reduction=reduction, **opts), ref)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize("name", ["mse", "smooth_l1", "bce"])
def test_fused_pointwise_half_accumulates_in_float32(dtype, name):
    fused, ref_fn, _, _ = LOSSES[name]
    x, y, _, opts = _sample(name, torch.float32)
    xh, yh = x.to(dtype).requires_grad_(), y.to(dtype)
    out = fused(xh, yh, **opts)
    assert out.dtype == dtype
    out.backward()
    x32 = xh.detach().float().requires_grad_()
    ref = ref_fn(x32, yh.float(), **opts)
    ref.backward()
    ulp = torch.finfo(dtype).eps
    torch.testing.assert_close(out.float(), ref, rtol=ulp, atol=0)
    assert xh.grad.dtype == dtype
    torch.testing.assert_close(xh.grad.float(), x32.grad, rtol=ulp, atol=ulp * float(x32.grad.abs().max()))


@pytest.mark.parametrize("name", ["mse", "l1", "bce"])
def test_fused_pointwise_mean_over_nothing_is_zero(name):
    fused = LOSSES[name][0]
    for x, y, w in (
        (torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.float64), None),
        (torch.randn(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)),
    ):
        x.requires_grad_()
        out = fused(x, y, w)
        assert out.dim() == 0 and float(out.detach()) == 0.0
        out.backward()
        assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_pointwise_retain_graph(reduction):
    x, y, w, _ = _sample("huber", torch.float64)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = fused_huber_loss(a, y, w, reduction=reduction, delta=0.7)
    ref = LF.huber_loss(b, y, w, reduction=reduction, delta=0.7)
    for g in (3.0, -0.5, 2.0):
        last = g == 2.0
        out.backward(torch.full(ref.shape, g, dtype=ref.dtype), retain_graph=not last)
        ref.backward(torch.full(ref.shape, g, dtype=ref.dtype), retain_graph=not last)
    torch.testing.assert_close(a.grad, b.grad)


def test_fused_pointwise_inplace_writes_the_gradient_into_the_predictions():
    x, y, _, _ = _sample("mse", torch.float64)
    base = x.clone().requires_grad_()
    pred = base * 1.0
    ptr = pred.data_ptr()
    out = fused_mse_loss(pred, y, inplace=True)
    torch.testing.assert_close(out, F.mse_loss(x, y))
    out.backward()
    torch.testing.assert_close(pred.detach(), 2 * (x - y) / x.numel())  # by hand: d/dx mean((x - y)^2)
    assert pred.data_ptr() == ptr
    torch.testing.assert_close(base.grad, 2 * (x - y) / x.numel())
    with pytest.raises(lk.LossOptionError, match=r"^fused_mse_loss: inplace=True .*leaf"):
        fused_mse_loss(x.clone().requires_grad_(), y, inplace=True)


def test_fused_pointwise_without_grad_and_gradcheck():
    x, y, w, opts = _sample("bce_smooth_pos", torch.float64)
    with torch.no_grad():
        out = fused_binary_cross_entropy_with_logits(x.requires_grad_(), y, w, reduction="none", **opts)
    assert not out.requires_grad
    torch.testing.assert_close(out, LF.binary_cross_entropy_with_logits(x.detach(), y, w, reduction="none", **opts))
    x = x.detach().requires_grad_()
    y = y.clone().requires_grad_()
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda a, b, r=reduction: fused_binary_cross_entropy_with_logits(a, b, w, reduction=r, **opts), (x, y)
        )
        assert torch.autograd.gradcheck(
            lambda a, b, r=reduction: fused_smooth_l1_loss(a, b, w, reduction=r, beta=0.5), (x, y)
        )


def test_fused_pointwise_split_over_threads_matches():
    x, y, w, _ = _sample("smooth_l1", torch.float64)
    results = []
    old = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            a = x.clone().requires_grad_()
            out = fused_smooth_l1_loss(a, y, w, beta=0.5)
            out.backward()
        finally:
            torch.set_num_threads(old)
        results.append((out.detach(), a.grad))
    torch.testing.assert_close(results[0], results[1], rtol=1e-15, atol=1e-15)


def test_fused_pointwise_under_torch_compile():
    torch._dynamo.reset()

    def step(pred, target, weight):
        return fused_huber_loss(pred * 3.0, target, weight, delta=0.5) + pred.sum() * 0.01

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    x, y, w, _ = _sample("huber", torch.float32)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = compiled(a, y, w)
    ref = LF.huber_loss(b * 3.0, y, w, delta=0.5) + b.sum() * 0.01
    torch.testing.assert_close(out, ref)
    out.backward()
    ref.backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_fused_pointwise_predicates_and_refusals():
    x, y = torch.randn(4096, 512), torch.randn(4096, 512)
    assert supports_mse_loss(x, y)
    assert supports_mse_loss(x, y, torch.rand(4096, 512), reduction="none")
    assert not supports_mse_loss(x[:2], y[:2]), "too small to be worth it"
    assert not supports_mse_loss(x, y.double()), "dtypes differ"
    assert not supports_mse_loss(x.t(), y.t()), "non-contiguous"
    assert not supports_mse_loss(x, y, torch.rand(512)), "broadcast weight goes to the reference path"
    assert supports_binary_cross_entropy_with_logits(x, y.sigmoid(), pos_weight=torch.rand(512))
    assert not supports_binary_cross_entropy_with_logits(x, y.sigmoid(), pos_weight=torch.rand(4096, 1))
    with pytest.raises(lk.LossOptionError, match=r"^fused_l1_loss: target must have the shape of input \(4,\), "
                       r"but got \(4, 1\); call losskit.functional.l1_loss"):
        fused_l1_loss(torch.randn(4), torch.randn(4, 1))
    with pytest.raises(lk.LossOptionError, match=r"delta must be a number > 0, but got -1"):
        fused_huber_loss(torch.randn(4), torch.randn(4), delta=-1.0)


def test_fused_bce_inplace_with_a_target_that_needs_a_gradient():
    """The target's gradient reads the logits: the in-place request then gets a separate gradient buffer."""
    x, y, _, opts = _sample("bce_smooth_pos", torch.float64)
    base, ya = x.clone().requires_grad_(), y.clone().requires_grad_()
    out = fused_binary_cross_entropy_with_logits(base * 1.0, ya, inplace=True, **opts)
    out.backward()
    rb, yb = x.clone().requires_grad_(), y.clone().requires_grad_()
    LF.binary_cross_entropy_with_logits(rb, yb, **opts).backward()
    torch.testing.assert_close(base.grad, rb.grad)
    torch.testing.assert_close(ya.grad, yb.grad)
