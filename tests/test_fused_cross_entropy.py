"""fused_cross_entropy against the reference path: torch's F.cross_entropy (losskit's numbers but for the mean
over nothing, which losskit defines as 0), values and gradients, and the autograd contract of the fused Function.

Small tensors; chunks are shrunk to a few rows (fixture ``small_chunks``) so every test crosses chunk borders.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.fused._common as common
from losskit.fused import fused_cross_entropy, supports_cross_entropy

REDUCTIONS = ("mean", "sum", "none")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of 64 bytes: a few rows (or positions) each, so chunk borders fall inside every sample."""
    monkeypatch.setattr(common, "CHUNK_BYTES", 64)


def _case(name: str, dtype: torch.dtype, ignore: int = -100):
    """(input, target, kwargs) of one named case; some targets equal ``ignore``."""
    g = torch.Generator().manual_seed(7)
    if name == "unbatched":
        x = torch.randn(9, generator=g, dtype=dtype) * 3
        return x, torch.tensor(4), {}
    if name == "kdim":
        x = torch.randn(3, 5, 4, 3, generator=g, dtype=dtype) * 3
        t = torch.randint(0, 5, (3, 4, 3), generator=g)
        t[1, 2, 0] = ignore
        return x, t, {}
    x = torch.randn(11, 6, generator=g, dtype=dtype) * 3
    t = torch.randint(0, 6, (11,), generator=g)
    t[[2, 7]] = ignore
    return x, t, {}


OPTIONS = {
    "plain": {},
    "weight": {"weight": "w"},
    "ignore_other": {"ignore_index": 3},
    "smoothing": {"label_smoothing": 0.15},
    "weight_smoothing": {"weight": "w", "label_smoothing": 0.3},
}


def _options(opts: dict, classes: int, dtype: torch.dtype) -> dict:
    out = dict(opts)
    if out.get("weight") == "w":
        out["weight"] = torch.linspace(0.2, 2.0, classes, dtype=dtype)
    return out


def _compare(x, t, kwargs, reduction, *, tol=None):
    a = x.detach().clone().requires_grad_()
    b = x.detach().clone().requires_grad_()
    out = fused_cross_entropy(a, t, reduction=reduction, **kwargs)
    ref = F.cross_entropy(b, t, reduction=reduction, **kwargs)
    tol = tol or ({"rtol": 1e-12, "atol": 1e-12} if x.dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6})
    torch.testing.assert_close(out, ref, **tol)
    g = torch.randn(ref.shape, dtype=ref.dtype) + 2.0  # never 1
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(a.grad, b.grad, **tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("shape", ["2d", "unbatched", "kdim"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_fused_cross_entropy_matches_torch(dtype, shape, opts, reduction):
    x, t, _ = _case(shape, dtype, OPTIONS[opts].get("ignore_index", -100))
    classes = x.shape[0] if x.dim() == 1 else x.shape[1]
    _compare(x, t, _options(OPTIONS[opts], classes, dtype), reduction)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_fused_cross_entropy_half_accumulates_in_float32(dtype):
    """Half logits: the numbers of the float32 computation, within two roundings to the half dtype (the saved
    gradient is rounded, then scaled by grad_output in the half dtype)."""
    x, t, _ = _case("2d", torch.float32)
    w = torch.linspace(0.2, 2.0, 6)
    xh = x.to(dtype).requires_grad_()
    out = fused_cross_entropy(xh, t, w.to(dtype), label_smoothing=0.1)
    assert out.dtype == dtype
    out.backward(torch.tensor(3.0, dtype=dtype))
    x32 = xh.detach().float().requires_grad_()
    ref = F.cross_entropy(x32, t, w.to(dtype).float(), label_smoothing=0.1)
    ref.backward(torch.tensor(3.0))
    torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=0)
    assert xh.grad.dtype == dtype
    ulp = torch.finfo(dtype).eps
    torch.testing.assert_close(xh.grad.float(), x32.grad, rtol=2 * ulp, atol=ulp * float(x32.grad.abs().max()))


def test_fused_cross_entropy_large_logits_stay_finite():
    """Logits of ±1e4: the log-sum-exp comes from the largest probability, so nothing underflows to inf."""
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=torch.float64)
    t = torch.tensor([1, 0])
    _compare(x, t, {}, "none")
    out = fused_cross_entropy(x, t, reduction="none")
    torch.testing.assert_close(out, torch.tensor([2e4, 2e4], dtype=torch.float64))  # by hand: lse - x_y


def test_fused_cross_entropy_many_rows_and_chunks():
    x = torch.randn(257, 33, dtype=torch.float64)
    t = torch.randint(0, 33, (257,))
    t[::5] = -100
    for reduction in REDUCTIONS:
        _compare(x, t, {"label_smoothing": 0.05, "weight": torch.rand(33, dtype=torch.float64)}, reduction)


@pytest.mark.parametrize("case", ["all_ignored", "empty", "zero_weight"])
def test_fused_cross_entropy_mean_over_nothing_is_zero(case):
    if case == "empty":
        x, t, kw = torch.randn(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.long), {}
    elif case == "all_ignored":
        x, t, kw = torch.randn(5, 4, dtype=torch.float64), torch.full((5,), -100), {"label_smoothing": 0.2}
    else:
        x, t = torch.randn(5, 4, dtype=torch.float64), torch.tensor([1, 1, 1, 1, 1])
        kw = {"weight": torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)}
    x.requires_grad_()
    out = fused_cross_entropy(x, t, **kw)
    assert out.dim() == 0 and float(out.detach()) == 0.0
    out.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_fused_cross_entropy_retain_graph_keeps_the_saved_gradient():
    """Two backward passes through one graph: the second sees the same gradient (nothing scaled in place)."""
    x, t, _ = _case("2d", torch.float64)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    for reduction in REDUCTIONS:
        a.grad = b.grad = None
        out = fused_cross_entropy(a, t, reduction=reduction)
        ref = F.cross_entropy(b, t, reduction=reduction)
        g1 = torch.full(ref.shape, 3.0, dtype=ref.dtype)
        g2 = torch.full(ref.shape, -0.5, dtype=ref.dtype)
        out.backward(g1, retain_graph=True)
        out.backward(g2, retain_graph=True)
        out.backward(g1)  # last one frees the graph: may scale in place
        ref.backward(g1, retain_graph=True)
        ref.backward(g2, retain_graph=True)
        ref.backward(g1)
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-12)
        with pytest.raises(RuntimeError):
            out.backward(g1)  # the graph is freed, as for any torch op


def test_fused_cross_entropy_autograd_grad_and_nonleaf_logits():
    """Gradient flows through the layer that made the logits; torch.autograd.grad works too."""
    h = torch.randn(13, 5, dtype=torch.float64, requires_grad=True)
    lin = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 7, (13,))
    (gh, gw) = torch.autograd.grad(fused_cross_entropy(h @ lin.T, t, label_smoothing=0.1) * 2.5, (h, lin))
    (rh, rw) = torch.autograd.grad(F.cross_entropy(h @ lin.T, t, label_smoothing=0.1) * 2.5, (h, lin))
    torch.testing.assert_close(gh, rh)
    torch.testing.assert_close(gw, rw)


def test_fused_cross_entropy_inplace_writes_the_gradient_into_the_logits():
    h = torch.randn(13, 5, dtype=torch.float64, requires_grad=True)
    lin = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 7, (13,))
    logits = h @ lin.T
    ptr = logits.data_ptr()
    before = logits.detach().clone()
    out = fused_cross_entropy(logits, t, reduction="sum", inplace=True)
    ref_h = h.detach().clone().requires_grad_()
    ref = F.cross_entropy(ref_h @ lin.detach().T, t, reduction="sum")
    torch.testing.assert_close(out, ref)
    assert not torch.equal(logits.detach(), before), "the logits buffer holds the gradient now"
    out.backward(torch.tensor(0.5, dtype=torch.float64))
    ref.backward(torch.tensor(0.5, dtype=torch.float64))
    torch.testing.assert_close(h.grad, ref_h.grad)
    torch.testing.assert_close(logits.detach(), torch.softmax(before, 1).mul(0.5) - 0.5 * F.one_hot(t, 7))
    assert logits.data_ptr() == ptr


def test_fused_cross_entropy_inplace_is_refused_where_it_would_corrupt():
    leaf = torch.randn(4, 3, requires_grad=True)
    with pytest.raises(lk.LossOptionError, match=r"^fused_cross_entropy: inplace=True .*leaf.*;"):
        fused_cross_entropy(leaf, torch.tensor([0, 1, 2, 0]), inplace=True)
    # logits saved by another op for its backward: autograd notices the overwrite
    base = torch.randn(4, 3, requires_grad=True)
    logits = base * 1.0
    side = (logits**2).sum()
    loss = fused_cross_entropy(logits, torch.tensor([0, 1, 2, 0]), inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (loss + side).backward()


def test_fused_cross_entropy_default_never_touches_the_logits():
    x = torch.randn(6, 5, requires_grad=True)
    before = x.detach().clone()
    fused_cross_entropy(x, torch.randint(0, 5, (6,)), label_smoothing=0.2).backward()
    assert torch.equal(x.detach(), before)


def test_fused_cross_entropy_without_grad():
    x, t, _ = _case("kdim", torch.float64)
    with torch.no_grad():
        out = fused_cross_entropy(x.requires_grad_(), t, reduction="none", label_smoothing=0.1)
    assert not out.requires_grad
    torch.testing.assert_close(out, F.cross_entropy(x.detach(), t, reduction="none", label_smoothing=0.1))


def test_fused_cross_entropy_gradcheck_float64():
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 3, -100, 1, 2])
    w = torch.rand(4, dtype=torch.float64) + 0.1
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda a, r=reduction: fused_cross_entropy(a, t, w, label_smoothing=0.2, reduction=r), (x,)
        )


def test_fused_cross_entropy_under_torch_compile():
    """A compiled caller (fullgraph) gets the same values and gradients as the eager reference."""
    torch._dynamo.reset()

    def step(logits, target, weight):
        return fused_cross_entropy(logits * 2.0, target, weight, label_smoothing=0.1) + logits.mean()

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    x, t, _ = _case("2d", torch.float32)
    w = torch.linspace(0.5, 1.5, 6)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = compiled(a, t, w)
    ref = F.cross_entropy(b * 2.0, t, w, label_smoothing=0.1) + b.mean()
    torch.testing.assert_close(out, ref)
    out.backward()
    ref.backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_fused_cross_entropy_matches_losskit_public_function():
    """Once losskit.functional.cross_entropy exists, the fused path gives its numbers (the dispatch contract)."""
    import losskit.functional as LF

    if not hasattr(LF, "cross_entropy"):
        pytest.skip("losskit.functional.cross_entropy not merged yet")
    x, t, _ = _case("2d", torch.float64)
    w = torch.linspace(0.2, 2.0, 6, dtype=torch.float64)
    for kw in ({}, {"weight": w, "label_smoothing": 0.2}):
        for reduction in REDUCTIONS:
            torch.testing.assert_close(
                fused_cross_entropy(x, t, reduction=reduction, **kw), LF.cross_entropy(x, t, reduction=reduction, **kw)
            )


def test_supports_cross_entropy_predicate():
    x = torch.randn(4096, 512)
    t = torch.randint(0, 512, (4096,))
    assert supports_cross_entropy(x, t)
    assert supports_cross_entropy(x, t, torch.rand(512), label_smoothing=0.1, reduction="none")
    assert not supports_cross_entropy(x[:4], t[:4]), "too small to be worth it"
    assert supports_cross_entropy(x[:4], t[:4], min_numel=0)
    assert not supports_cross_entropy(x, torch.softmax(x, 1)), "probability targets"
    assert not supports_cross_entropy(x.t(), t[:512]), "non-contiguous"
    assert not supports_cross_entropy(x.double(), t, torch.rand(256, requires_grad=True))
    assert not supports_cross_entropy(x.int(), t)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((torch.randn(4, 3), torch.rand(4, 3)), {}, r"target must hold class indices .*torch.float32"),
        ((torch.randn(4, 3).t(), torch.zeros(3, dtype=torch.long)), {}, r"input must be contiguous.*\(1, 3\)"),
        ((torch.randn(4, 3), torch.zeros(4, 1, dtype=torch.long)), {}, r"target must have shape \(4,\).*\(4, 1\)"),
        ((torch.randn(4, 3), torch.zeros(4, dtype=torch.long)), {"label_smoothing": 1.5}, r"label_smoothing.*1\.5"),
        ((torch.randn(4, 3), torch.zeros(4, dtype=torch.long), torch.ones(4)), {}, r"weight.*\(3,\).*\(4,\)"),
    ],
)
def test_fused_cross_entropy_refuses_calls_outside_its_path(args, kwargs, match):
    with pytest.raises(lk.LossOptionError, match=match) as info:
        fused_cross_entropy(*args, **kwargs)
    msg = str(info.value)
    assert msg.startswith("fused_cross_entropy:") and "; call losskit.functional.cross_entropy" in msg


def test_fused_cross_entropy_bad_reduction():
    with pytest.raises(lk.LossOptionError, match="'avg'"):
        fused_cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), reduction="avg")


def test_fused_cross_entropy_split_over_threads_matches(monkeypatch):
    """With two torch threads the chunks are shared between two Python threads: same numbers as one thread."""
    x, t, _ = _case("kdim", torch.float64)
    w = torch.linspace(0.2, 2.0, 5, dtype=torch.float64)
    results = []
    old = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            a = x.clone().requires_grad_()
            out = fused_cross_entropy(a, t, w, label_smoothing=0.1, reduction="none")
            out.backward(torch.ones_like(out) * 1.5)
        finally:
            torch.set_num_threads(old)
        results.append((out.detach(), a.grad))
    assert torch.get_num_threads() == old
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    ref = F.cross_entropy(x, t, w, label_smoothing=0.1, reduction="none")
    torch.testing.assert_close(results[1][0], ref)


@pytest.mark.parametrize("route", ["inplace", "kdim_scratch", "no_grad", "float32"])
def test_fused_cross_entropy_underflowing_target_probability(route):
    """p_y below the smallest normal number: the log-sum-exp falls back to the row maximum, on every route
    (logits overwritten in place, scratch buffers, no gradient)."""
    dtype = torch.float32 if route == "float32" else torch.float64
    big = 200.0 if dtype == torch.float32 else 1000.0
    x = torch.randn(6, 4, dtype=dtype)
    x[1, 0], x[4, 3] = big, -big  # row 1: target 2 gets p ~ e^-big; row 4: target 3 itself is tiny
    t = torch.tensor([0, 2, 1, 3, 3, -100])
    if route == "kdim_scratch":
        x, t = x.T.reshape(1, 4, 6).contiguous(), t.reshape(1, 6)
    ref = F.cross_entropy(x, t, reduction="none", label_smoothing=0.1)
    if route == "inplace":
        base = x.clone().requires_grad_()
        out = fused_cross_entropy(base * 1.0, t, reduction="none", label_smoothing=0.1, inplace=True)
    elif route == "no_grad":
        with torch.no_grad():
            out = fused_cross_entropy(x, t, reduction="none", label_smoothing=0.1)
    else:
        out = fused_cross_entropy(x.clone().requires_grad_(), t, reduction="none", label_smoothing=0.1)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref)


def test_fused_dispatch_switch_functorch_and_double_backward():
    """The predicates say no when the dispatch is switched off or a torch.func transform runs; a second
    derivative through the fused Function is a clear error, never a silent zero."""
    import losskit.fused as LFU

    x = torch.randn(4096, 512, dtype=torch.float64)
    t = torch.randint(0, 512, (4096,))
    assert supports_cross_entropy(x, t)
    with LFU.use_fused(False):
        assert not LFU.enabled() and not supports_cross_entropy(x, t)
    assert LFU.enabled() and supports_cross_entropy(x, t)

    seen = []

    def loss_fn(z):
        seen.append(supports_cross_entropy(z, t))
        return F.cross_entropy(z, t)

    torch.func.grad(loss_fn)(x)
    assert seen == [False]

    a = x[:4, :5].clone().requires_grad_()
    with pytest.raises(RuntimeError, match=r"^fused_cross_entropy: the fused path is differentiable once.*"
                       r"create_graph=True.*; turn the fused paths off.*set_enabled\(False\)"):
        torch.autograd.grad(fused_cross_entropy(a, t[:4] % 5), a, create_graph=True)
    with LFU.use_fused(False):  # what the error says to do: the reference path has second derivatives
        (g,) = torch.autograd.grad(F.cross_entropy(a, t[:4] % 5), a, create_graph=True)
        g.pow(2).sum().backward()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_fused_cross_entropy_in_a_forked_child_after_use_in_the_parent():
    """The helper threads do not survive fork(): a child that calls a fused loss gets a new pool (no hang)."""
    import multiprocessing

    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x, t, _ = _case("2d", torch.float64)
        fused_cross_entropy(x, t)  # the parent's pool exists now
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(1) as pool:
            got = pool.apply_async(_child_loss, (x, t)).get(timeout=60)
    finally:
        torch.set_num_threads(old)
    torch.testing.assert_close(got, F.cross_entropy(x, t))


def _child_loss(x, t):
    torch.set_num_threads(2)
    return fused_cross_entropy(x, t)
