"""fused_linear_cross_entropy against the reference path: losskit's public linear_cross_entropy (torch's numbers)
for the shared options, and an independent whole-logits formula (written here from the definitions) for the
options only the fused path has (token weights, z-loss, soft-capping, the log-sum-exp output).

Chunks are shrunk to 16 rows (fixture ``small_chunks``): every sample spans several chunks.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
import losskit.fused.linear_cross_entropy as M
from losskit.fused import (
    fused_linear_cross_entropy,
    fused_linear_cross_entropy_with_lse,
    supports_linear_cross_entropy,
)

REDUCTIONS = ("mean", "sum", "none")
N, H, V = 37, 6, 11


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(M, "LOGITS_CHUNK_BYTES", 1)
    monkeypatch.setattr(M, "MIN_CHUNK_ROWS", 16)  # 16 rows per chunk


def _data(dtype=torch.float64):
    g = torch.Generator().manual_seed(11)
    h = torch.randn(N, H, generator=g, dtype=dtype)
    w = torch.randn(V, H, generator=g, dtype=dtype)
    b = torch.randn(V, generator=g, dtype=dtype)
    t = torch.randint(0, V, (N,), generator=g)
    t[::4] = -100
    cw = torch.rand(V, generator=g, dtype=dtype) + 0.1
    tw = torch.rand(N, generator=g, dtype=dtype)
    return h, w, b, t, cw, tw


def _reference(h, w, t, b=None, weight=None, eps=0.0, tw=None, zeta=0.0, cap=None, reduction="mean"):
    """The whole-logits formula of the module docstring:
    tau_i [(1 - eps) w_y nll_y + eps / V sum_c w_c nll_c + zeta w_y lse^2]."""
    z = F.linear(h, w, b)
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    lse = torch.logsumexp(z, 1)
    logp = z - lse[:, None]
    valid = t != -100
    safe = torch.where(valid, t, 0)
    cls = torch.ones(w.shape[0], dtype=h.dtype) if weight is None else weight
    row = (1 - eps) * cls[safe] * -logp.gather(1, safe[:, None]).squeeze(1)
    row = row + eps / w.shape[0] * -(logp * cls).sum(1) + zeta * cls[safe] * lse**2
    tau = valid.to(h.dtype) * (1.0 if tw is None else tw)
    terms = tau * row
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / (tau * cls[safe]).sum()


def _grads(loss, tensors, g):
    loss.backward(g)
    return [t.grad for t in tensors]


def _leaves(*tensors):
    return [None if t is None else t.detach().clone().requires_grad_() for t in tensors]


OPTIONS = {
    "plain": {},
    "bias": {"bias": True},
    "weight_smoothing": {"weight": True, "label_smoothing": 0.2},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_fused_linear_cross_entropy_matches_losskit(dtype, opts, reduction):
    h, w, b, t, cw, _ = _data(dtype)
    o = OPTIONS[opts]
    kw = {"weight": cw if o.get("weight") else None, "label_smoothing": o.get("label_smoothing", 0.0)}
    bias = b if o.get("bias") else None
    ha, wa, ba = _leaves(h, w, bias)
    hb, wb, bb = _leaves(h, w, bias)
    out = fused_linear_cross_entropy(ha, wa, t, linear_bias=ba, reduction=reduction, **kw)
    ref = LF.linear_cross_entropy(hb, wb, t, linear_bias=bb, reduction=reduction, **kw)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 2e-5, "atol": 2e-6}
    torch.testing.assert_close(out, ref, **tol)
    g = torch.randn(ref.shape, dtype=dtype) + 2.0
    got = _grads(out, [x for x in (ha, wa, ba) if x is not None], g)
    want = _grads(ref, [x for x in (hb, wb, bb) if x is not None], g)
    for a, c in zip(got, want):
        torch.testing.assert_close(a, c, **tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_linear_cross_entropy_new_options_match_the_formula(reduction):
    """token_weight, z-loss and softcap together with bias, class weights and smoothing, against _reference."""
    h, w, b, t, cw, tw = _data()
    kw = {"weight": cw, "label_smoothing": 0.1}
    extra = {"token_weight": tw, "lse_square_scale": 1e-2, "softcap": 3.0}
    ha, wa, ba = _leaves(h, w, b)
    hb, wb, bb = _leaves(h, w, b)
    out = fused_linear_cross_entropy(ha, wa, t, linear_bias=ba, reduction=reduction, **kw, **extra)
    ref = _reference(hb, wb, t, bb, cw, 0.1, tw, 1e-2, 3.0, reduction)
    torch.testing.assert_close(out, ref)
    g = torch.randn(ref.shape, dtype=ref.dtype) + 2.0
    for a, c in zip(_grads(out, [ha, wa, ba], g), _grads(ref, [hb, wb, bb], g)):
        torch.testing.assert_close(a, c)


def test_fused_linear_cross_entropy_options_by_hand():
    """Each new option alone, on a 1-row problem computed by hand."""
    h = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    t = torch.tensor([2])
    # by hand: logits (1, 2, 3); lse = 3 + log(1 + e^-1 + e^-2) = 3.40760596; nll = lse - 3
    lse = 3 + torch.log1p(torch.exp(torch.tensor(-1.0, dtype=torch.float64)) + torch.exp(torch.tensor(-2.0)))
    torch.testing.assert_close(fused_linear_cross_entropy(h, w, t), lse - 3)
    torch.testing.assert_close(fused_linear_cross_entropy(h, w, t, lse_square_scale=0.5), lse - 3 + 0.5 * lse**2)
    torch.testing.assert_close(
        fused_linear_cross_entropy(h, w, t, token_weight=torch.tensor([4.0], dtype=torch.float64), reduction="sum"),
        4 * (lse - 3),
    )
    capped = 2.0 * torch.tanh(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / 2.0)  # by hand: s tanh(z / s)
    torch.testing.assert_close(fused_linear_cross_entropy(h, w, t, softcap=2.0), torch.logsumexp(capped, 0) - capped[2])
    res = fused_linear_cross_entropy_with_lse(h, w, t)
    torch.testing.assert_close(res.lse, lse.reshape(1))
    assert not res.lse.requires_grad


def test_fused_linear_cross_entropy_lse_and_unbatched():
    h, w, b, t, _, _ = _data()
    res = fused_linear_cross_entropy_with_lse(h, w, t, linear_bias=b, softcap=5.0)
    torch.testing.assert_close(res.lse, torch.logsumexp(5.0 * torch.tanh(F.linear(h, w, b) / 5.0), 1))
    hu = h[1].clone().requires_grad_()
    out = fused_linear_cross_entropy(hu, w, t[1], reduction="none")
    assert out.shape == ()
    out.backward(torch.tensor(2.0, dtype=torch.float64))
    hr = h[1].clone().requires_grad_()
    ref = F.cross_entropy(F.linear(hr, w), t[1], reduction="none")
    ref.backward(torch.tensor(2.0, dtype=torch.float64))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(hu.grad, hr.grad)


def test_fused_linear_cross_entropy_mean_over_nothing_is_zero():
    h, w, _, _, _, _ = _data()
    ha, wa = _leaves(h, w)
    out = fused_linear_cross_entropy(ha, wa, torch.full((N,), -100), label_smoothing=0.1, lse_square_scale=0.1)
    assert float(out.detach()) == 0.0
    out.backward()
    assert torch.equal(ha.grad, torch.zeros_like(h)) and torch.equal(wa.grad, torch.zeros_like(w))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_linear_cross_entropy_retain_graph(reduction):
    h, w, b, t, _, _ = _data()
    ha, wa, ba = _leaves(h, w, b)
    hb, wb, bb = _leaves(h, w, b)
    out = fused_linear_cross_entropy(ha, wa, t, linear_bias=ba, reduction=reduction)
    ref = F.cross_entropy(F.linear(hb, wb, bb), t, reduction=reduction)
    if reduction == "mean":
        ref = F.cross_entropy(F.linear(hb, wb, bb), t, reduction="sum") / (t != -100).sum()
    for g, last in ((3.0, False), (-1.0, False), (0.5, True)):
        gg = torch.full(ref.shape, g, dtype=ref.dtype)
        out.backward(gg, retain_graph=not last)
        ref.backward(gg, retain_graph=not last)
    for a, c in ((ha, hb), (wa, wb), (ba, bb)):
        torch.testing.assert_close(a.grad, c.grad)


def test_fused_linear_cross_entropy_frozen_weight_and_no_grad():
    h, w, _, t, _, _ = _data()
    ha = h.clone().requires_grad_()
    fused_linear_cross_entropy(ha, w, t).backward()  # weight needs no gradient: only the features get one
    hr = h.clone().requires_grad_()
    LF.linear_cross_entropy(hr, w, t).backward()
    torch.testing.assert_close(ha.grad, hr.grad)
    with torch.no_grad():
        out = fused_linear_cross_entropy(h, w.requires_grad_(), t, reduction="none")
    assert not out.requires_grad
    torch.testing.assert_close(out, F.cross_entropy(F.linear(h, w.detach()), t, reduction="none"))


def test_fused_linear_cross_entropy_gradcheck_float64():
    h, w, b, t, cw, tw = _data()
    h, w, b = (x[:20] if x is h else x for x in (h, w, b))
    t, tw = t[:20], tw[:20]
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda a, c, d, r=reduction: fused_linear_cross_entropy(
                a, c, t, linear_bias=d, weight=cw, label_smoothing=0.1, token_weight=tw, lse_square_scale=0.05,
                softcap=4.0, reduction=r,
            ),
            (h.requires_grad_(), w.requires_grad_(), b.requires_grad_()),
        )


def test_fused_linear_cross_entropy_under_torch_compile():
    torch._dynamo.reset()
    h, w, b, t, cw, tw = _data(torch.float32)

    def step(feats, weight_, bias):
        return fused_linear_cross_entropy(
            feats * 1.5, weight_, t, linear_bias=bias, weight=cw, token_weight=tw, softcap=4.0
        )

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    ha, wa, ba = _leaves(h, w, b)
    hb, wb, bb = _leaves(h, w, b)
    out = compiled(ha, wa, ba)
    ref = _reference(hb * 1.5, wb, t, bb, cw, 0.0, tw, 0.0, 4.0)
    torch.testing.assert_close(out, ref)
    out.backward()
    ref.backward()
    for a, c in ((ha, hb), (wa, wb), (ba, bb)):
        torch.testing.assert_close(a.grad, c.grad)


def test_supports_linear_cross_entropy_and_refusals():
    h, w, _, t, _, _ = _data(torch.float32)
    assert supports_linear_cross_entropy(h, w, t, min_numel=0)
    assert not supports_linear_cross_entropy(h, w, t), "37 x 11 logits: too small to be worth it"
    assert not supports_linear_cross_entropy(h.half(), w.half(), t, min_numel=0), "half takes the reference path"
    assert not supports_linear_cross_entropy(h, w, torch.softmax(F.linear(h, w), 1), min_numel=0)
    assert not supports_linear_cross_entropy(h, w.reshape(V, 1, H).expand(V, 2, H), t, min_numel=0)
    with pytest.raises(lk.LossOptionError, match=r"^fused_linear_cross_entropy: softcap must be None or a float > 0, "
                       r"but got -1.0; call losskit.functional.linear_cross_entropy"):
        fused_linear_cross_entropy(h, w, t, softcap=-1.0)
    with pytest.raises(lk.LossOptionError, match=r"linear_weight must be \(C, 6\).*\(11, 5\)"):
        fused_linear_cross_entropy(h, w[:, :5], t)
