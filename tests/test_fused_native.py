"""The native C kernels of the elementwise fused losses (losskit.fused._native) against the torch-op kernels they
replace: the same numbers (float32 rounding) for values and gradients, at ordinary and extreme inputs, NaN kept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import losskit.fused as fused
from losskit.fused import _native as N
from losskit.fused import pointwise as PW

pytestmark = pytest.mark.skipif(N.library() is None, reason=f"native kernels: {N.status()}")

def _spy(calls: list[str]):
    """A stand-in for the native library that records which C loops are called, then calls them."""
    lib = N.library()

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(lib, name)

    return Spy


LOSSES = {
    "mse": (fused.fused_mse_loss, {}, False),
    "l1": (fused.fused_l1_loss, {}, False),
    "huber": (fused.fused_huber_loss, {"delta": 0.7}, False),
    "smooth_l1": (fused.fused_smooth_l1_loss, {"beta": 0.5}, False),
    "bce": (fused.fused_binary_cross_entropy_with_logits, {}, True),
    "bce_smoothed": (fused.fused_binary_cross_entropy_with_logits, {"label_smoothing": 0.1}, True),
    "sfocal_g2": (fused.fused_sigmoid_focal_loss, {"alpha": 0.25, "gamma": 2.0}, True),
    "sfocal_g1_noalpha": (fused.fused_sigmoid_focal_loss, {"alpha": -1.0, "gamma": 1.0}, True),
    "sfocal_g2_smoothed": (fused.fused_sigmoid_focal_loss, {"alpha": 0.4, "gamma": 2.0, "label_smoothing": 0.2}, True),
}


def _inputs(binary: bool, scale: float, n: int = 50_003) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(n, generator=gen) * scale
    x[:6] = torch.tensor([0.0, -0.0, 87.0, -87.0, 100.0, -100.0])
    y = (torch.rand(n, generator=gen) < 0.3).float() if binary else torch.randn(n, generator=gen) * scale
    return x, y


def _run(fn, x, y, kw, reduction, native: bool, monkeypatch):
    if not native:
        monkeypatch.setattr(PW, "_native_library", lambda: None)
    a = x.clone().requires_grad_()
    out = fn(a, y, reduction=reduction, **kw)
    out.backward()
    monkeypatch.undo()
    return out.detach(), a.grad


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_native_matches_the_torch_op_kernel(name, scale, reduction, monkeypatch):
    fn, kw, binary = LOSSES[name]
    x, y = _inputs(binary, scale)
    got, got_grad = _run(fn, x, y, kw, reduction, True, monkeypatch)
    ref, ref_grad = _run(fn, x, y, kw, reduction, False, monkeypatch)
    # the reduced value against float64 (the torch-op kernels' float32 sums are themselves ~3e-6 off at scale 30)
    exact, exact_grad = _run(fn, x.double(), y.double(), kw, reduction, False, monkeypatch)
    torch.testing.assert_close(got.double(), exact, rtol=1e-6, atol=0)
    torch.testing.assert_close(ref.double(), exact, rtol=1e-5, atol=0)
    # elementwise gradients against float64, both kernels: float32 rounding (the native exp/log1p are within a
    # few ulp), absolute where a difference cancels (sigmoid(x) - t near a smoothed target)
    atol = 4e-7 * float(exact_grad.abs().max())
    torch.testing.assert_close(got_grad.double(), exact_grad, rtol=2e-5, atol=atol)
    torch.testing.assert_close(ref_grad.double(), exact_grad, rtol=2e-5, atol=atol)


@pytest.mark.parametrize("name", list(LOSSES))
def test_native_keeps_nan(name, monkeypatch):
    fn, kw, binary = LOSSES[name]
    x, y = _inputs(binary, 1.0, n=1000)
    x[10] = float("nan")
    got, grad = _run(fn, x, y, kw, "mean", True, monkeypatch)
    ref, ref_grad = _run(fn, x, y, kw, "mean", False, monkeypatch)
    assert torch.isnan(got) and torch.isnan(ref)
    torch.testing.assert_close(grad[:10], ref_grad[:10], rtol=2e-5, atol=1e-12)
    assert torch.isnan(grad[10]) == torch.isnan(ref_grad[10])


def test_native_inplace_gradient_in_the_logits_memory():
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(40_000, generator=gen)
    y = (torch.rand(40_000, generator=gen) < 0.5).float()
    leaf = x0.clone().requires_grad_()
    work = leaf * 1.0
    fused.fused_binary_cross_entropy_with_logits(work, y, inplace=True).backward()
    ref = x0.clone().requires_grad_()
    torch.nn.functional.binary_cross_entropy_with_logits(ref, y).backward()
    torch.testing.assert_close(leaf.grad, ref.grad, rtol=2e-5, atol=1e-12)


def test_switched_off_by_environment():
    code = "from losskit.fused import _native as N; print(N.library() is None, N.status())"
    env = {**os.environ, "LOSSKIT_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[:2] == ["True", "off:"]


def test_a_missing_compiler_means_the_torch_op_kernels(tmp_path):
    code = (
        "import torch; from losskit.fused import _native as N, fused_mse_loss as f; "
        "print(N.library() is None, float(f(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))))"
    )
    env = {**os.environ, "PATH": str(tmp_path), "CC": "", "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "2.5"]


def test_float32_calls_take_the_native_loop(monkeypatch):
    """The comparisons above compare two different kernels: the float32 calls do reach the C loops."""
    calls: list[str] = []
    Spy = _spy(calls)

    monkeypatch.setattr(PW, "_native_library", lambda: Spy())
    for fn, kw, binary in LOSSES.values():
        x, y = _inputs(binary, 1.0, n=1000)
        fn(x.clone().requires_grad_(), y, **kw).backward()
    assert set(calls) == {"lk_mse", "lk_l1", "lk_huber", "lk_bce", "lk_sigmoid_focal"}


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("log_loss", [False, True])
def test_native_dice_matches_the_torch_op_sweeps(per_image, log_loss, monkeypatch):
    from losskit.fused import dice as D

    calls: list[str] = []
    Spy = _spy(calls)

    gen = torch.Generator().manual_seed(5)
    x = torch.randn(3, 2, 64, 70, generator=gen) * 4
    y = (torch.rand(3, 2, 64, 70, generator=gen) < 0.3).float()
    kw = {"mode": "multilabel", "per_image": per_image, "log_loss": log_loss, "smooth": 1.0}

    def run(native: bool, dtype=torch.float32):
        monkeypatch.setattr(D, "_native_library", (lambda: Spy()) if native else (lambda: None))
        a = x.to(dtype).clone().requires_grad_()
        out = fused.fused_dice_loss(a, y.to(dtype), **kw)
        out.backward()
        return out.detach().double(), a.grad.double()

    got, got_grad = run(True)
    assert set(calls) == {"lk_dice_sums", "lk_dice_grad"}
    ref, ref_grad = run(False)
    exact, exact_grad = run(False, torch.float64)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ref, exact, rtol=1e-6, atol=1e-7)
    atol = 1e-6 * float(exact_grad.abs().max())
    torch.testing.assert_close(got_grad, exact_grad, rtol=1e-5, atol=atol)
    torch.testing.assert_close(ref_grad, exact_grad, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("loss", ["mse", "bce", "ce", "dice"])
def test_native_inplace_write_is_seen_by_autograd(loss):
    """The C loops write the logits' memory outside torch: the version bump makes autograd refuse a backward that
    saved those logits for another op, as it does for torch's own in-place writes."""
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(64, 40, generator=gen, requires_grad=True)
    logits = base * 1.0
    side = (logits**2).sum()
    if loss == "mse":
        out = fused.fused_mse_loss(logits, torch.randn(64, 40, generator=gen), inplace=True)
    elif loss == "bce":
        out = fused.fused_binary_cross_entropy_with_logits(logits, torch.ones(64, 40), inplace=True)
    elif loss == "ce":
        out = fused.fused_cross_entropy(logits, torch.randint(0, 40, (64,), generator=gen), inplace=True)
    else:
        mask = (torch.rand(64, 1, 40, generator=gen) < 0.5).float()
        out = fused.fused_dice_loss(logits.view(64, 1, 40), mask, mode="binary", inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (out + side).backward()


@pytest.mark.parametrize("kind", ["ce", "ce_weighted_ignore", "focal", "focal_alpha"])
def test_native_row_loops_match_the_torch_op_sweep(kind, monkeypatch):
    """lk_ce_rows / lk_focal_rows against the torch-op sweep and float64, with a spy that they ran; logits up to
    +-60 (p_y underflowing in float32) and ignored rows included."""
    from losskit.fused import cross_entropy as CE

    calls: list[str] = []
    Spy = _spy(calls)

    gen = torch.Generator().manual_seed(11)
    x = torch.randn(300, 257, generator=gen) * 3
    x[:5] *= 20
    t = torch.randint(0, 257, (300,), generator=gen)
    kw: dict = {}
    if kind == "ce_weighted_ignore":
        t[::7] = -100
        kw = {"weight": torch.rand(257, generator=gen) + 0.5}
    fn = fused.fused_cross_entropy
    if kind.startswith("focal"):
        fn = fused.fused_focal_loss
        kw = {"gamma": 2.0} if kind == "focal" else {"gamma": 1.5, "alpha": 0.3}

    def run(native: bool, dtype=torch.float32):
        monkeypatch.setattr(CE, "_native_library", (lambda: Spy()) if native else (lambda: None))
        a = x.to(dtype).clone().requires_grad_()
        w = {k: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
        out = fn(a, t, **w)
        out.backward()
        return out.detach().double(), a.grad.double()

    got, got_grad = run(True)
    assert set(calls) == {"lk_focal_rows" if kind.startswith("focal") else "lk_ce_rows"}
    ref, ref_grad = run(False)
    exact, exact_grad = run(False, torch.float64)
    torch.testing.assert_close(got, exact, rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(ref, exact, rtol=2e-6, atol=1e-7)
    atol = 1e-6 * float(exact_grad.abs().max())
    torch.testing.assert_close(got_grad, exact_grad, rtol=1e-4, atol=atol)
    torch.testing.assert_close(ref_grad, exact_grad, rtol=1e-4, atol=atol)
