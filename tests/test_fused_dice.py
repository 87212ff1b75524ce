"""fused_dice_loss against the reference paths: losskit's public dice_loss and the usual soft Dice of the
benchmarks (losskit.bench.baselines.soft_dice_loss). Values and gradients, float64/float32, every reduction,
grad_output != 1, per_image, log_loss, smooth, probabilities, empty masks, retain_graph, in-place, compile.
"""

from __future__ import annotations

import pytest
import torch

import losskit as lk
import losskit.functional as LF
import losskit.fused.dice as D
from losskit.bench.baselines import soft_dice_loss
from losskit.fused import fused_dice_loss, supports_dice_loss

REDUCTIONS = ("mean", "sum", "none")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(D, "CHUNK_BYTES", 40)  # 5 float64 elements: chunks split every image


def _data(mode, dtype):
    g = torch.Generator().manual_seed(4)
    shape = (3, 1, 4, 5) if mode == "binary" else (2, 3, 7)
    x = torch.randn(*shape, generator=g, dtype=dtype) * 2
    y = (torch.rand(*shape, generator=g, dtype=dtype) > 0.6).to(dtype)
    if mode == "multilabel":
        y[:, 1] = 0  # a class absent from every image: loss 0, gradient 0
        y[0, 2] = 0  # and from one image only
    return x, y


OPTIONS = {
    "plain": {},
    "smooth": {"smooth": 1.0},
    "log": {"log_loss": True},
    "per_image": {"per_image": True},
    "per_image_log_smooth": {"per_image": True, "log_loss": True, "smooth": 0.5},
    "probabilities": {"from_logits": False},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("mode", ["binary", "multilabel"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_fused_dice_matches_losskit(dtype, mode, opts, reduction):
    x, y = _data(mode, dtype)
    kw = OPTIONS[opts]
    if not kw.get("from_logits", True):
        x = torch.sigmoid(x)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = fused_dice_loss(a, y, mode=mode, reduction=reduction, **kw)
    ref = LF.dice_loss(b, y, mode=mode, reduction=reduction, **kw)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(out, ref, **tol)
    g = torch.randn(ref.shape, dtype=dtype) + 2.0
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(a.grad, b.grad, **tol)


def test_fused_dice_matches_the_usual_soft_dice():
    x, y = _data("binary", torch.float64)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = fused_dice_loss(a, y, mode="binary", smooth=1.0)
    ref = soft_dice_loss(b, y, smooth=1.0)
    torch.testing.assert_close(out, ref)
    out.backward()
    ref.backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_fused_dice_by_hand_and_empty_masks():
    probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]], dtype=torch.float64)
    mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]], dtype=torch.float64)
    # by hand: 1 - 2 * 1.7 / (1.9 + 3) = 0.306122
    torch.testing.assert_close(
        fused_dice_loss(probs, mask, mode="binary", from_logits=False), torch.tensor(1 - 3.4 / 4.9, dtype=torch.float64)
    )
    x = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    out = fused_dice_loss(x, torch.zeros(2, 1, 3, 3, dtype=torch.float64), mode="binary")
    assert float(out.detach()) == 0.0
    out.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_fused_dice_retain_graph_inplace_no_grad():
    x, y = _data("multilabel", torch.float64)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = fused_dice_loss(a, y, mode="multilabel", per_image=True, reduction="none")
    ref = LF.dice_loss(b, y, mode="multilabel", per_image=True, reduction="none")
    for g, last in ((torch.rand_like(ref), False), (torch.rand_like(ref) - 2.0, True)):
        out.backward(g, retain_graph=not last)
        ref.backward(g, retain_graph=not last)
    torch.testing.assert_close(a.grad, b.grad)
    base = x.clone().requires_grad_()
    logits = base * 1.0
    fused_dice_loss(logits, y, mode="multilabel", inplace=True).backward()
    ref_x = x.clone().requires_grad_()
    LF.dice_loss(ref_x, y, mode="multilabel").backward()
    torch.testing.assert_close(base.grad, ref_x.grad)
    with torch.no_grad():
        out = fused_dice_loss(x, y, mode="multilabel", log_loss=True)
        torch.testing.assert_close(out, LF.dice_loss(x, y, mode="multilabel", log_loss=True))


def test_fused_dice_gradcheck_and_compile():
    x, y = _data("multilabel", torch.float64)
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda z, r=reduction: fused_dice_loss(z, y, mode="multilabel", smooth=0.3, per_image=True, reduction=r),
            (x.clone().requires_grad_(),),
        )
    torch._dynamo.reset()
    xs, ys = _data("binary", torch.float32)
    compiled = torch.compile(
        lambda z: fused_dice_loss(z * 2.0, ys, mode="binary", smooth=1.0), backend="aot_eager", fullgraph=True
    )
    a, b = xs.clone().requires_grad_(), xs.clone().requires_grad_()
    out, ref = compiled(a), LF.dice_loss(b * 2.0, ys, mode="binary", smooth=1.0)
    torch.testing.assert_close(out, ref)
    out.backward()
    ref.backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_supports_dice_loss_and_refusals():
    x, y = torch.randn(8, 1, 512, 512), (torch.rand(8, 1, 512, 512) > 0.5).float()
    assert supports_dice_loss(x, y, mode="binary")
    assert not supports_dice_loss(x, y, mode="binary", ignore_index=255)
    assert not supports_dice_loss(x, y[:, 0].long(), mode="multiclass")
    assert not supports_dice_loss(x[:, :, :8, :8], y[:, :, :8, :8], mode="binary"), "too small to be worth it"
    with pytest.raises(lk.LossOptionError, match=r"^fused_dice_loss: mode must be 'binary' or 'multilabel' .*"
                       r"'multiclass'; call losskit.functional.dice_loss"):
        fused_dice_loss(x, y, mode="multiclass")
