"""The fused paths at extreme logits (near the float32 limits, infinite) and the dispatch switch ``use_fused``.

Values and gradients of float32 calls are compared with torch's functions run in float64 on the same numbers
(the float32 inputs cast up exactly), or, where the float64 answer is outside float32's range, with torch's own
float32 result (the reference path): the fused path must never be worse than the path it replaces.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
import losskit.fused as fused
import losskit.fused._common as common
from losskit.fused import (
    fused_binary_cross_entropy_with_logits,
    fused_cross_entropy,
    fused_dice_loss,
    fused_focal_loss,
    fused_huber_loss,
    fused_l1_loss,
    fused_linear_cross_entropy,
    fused_mse_loss,
    fused_sigmoid_focal_loss,
    fused_smooth_l1_loss,
)

INF = float("inf")
BIG = 3e38  # float32 max is 3.4028e38


def _logits(case: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(float32 logits (6, 5), targets) of one extreme case."""
    t = torch.tensor([0, 1, 2, 3, 4, 2])
    if case == "all_-3e38":
        return torch.full((6, 5), -BIG), t
    if case == "all_+3e38":
        return torch.full((6, 5), BIG), t
    if case == "mixed":
        # huge, tiny and moderate logits in one row, and rows of ordinary logits beside them
        x = torch.tensor(
            [
                [1e37, -1e37, 1e-38, 0.0, 2.0],
                [1e37, -1e37, 1e-38, 0.0, 2.0],
                [-5e36, 3e-39, -2e36, 1.0, 5e36],
                [0.5, -1.0, 2.0, 0.0, 1.5],
                [1e30, 1e30 * (1 + 2**-20), -1e30, 7.0, 1e30],
                [-0.5, 3.0, 1.0, -2.0, 0.0],
            ]
        )
        return x, t
    # "minus_inf": every logit -inf but the target's (and one row whose target logit is -inf itself)
    x = torch.full((6, 5), -INF)
    x[torch.arange(6), t] = torch.tensor([2.0, -3e38, 3e38, 0.0, 1e-30, -INF])
    x[5, 0] = 4.0
    return x, t


CASES = ["all_-3e38", "all_+3e38", "mixed", "minus_inf"]
OPTIONS = {
    "plain": {},
    "weight": {"weight": torch.linspace(0.5, 2.0, 5)},
    "smoothing": {"label_smoothing": 0.1},
    "weight_smoothing": {"weight": torch.linspace(0.5, 2.0, 5), "label_smoothing": 0.2},
}


def _no_nan(*tensors: torch.Tensor) -> None:
    for t in tensors:
        assert not torch.isnan(t).any(), t


@pytest.fixture(params=["one_chunk", "row_chunks"])
def chunking(request, monkeypatch):
    """Default chunks (all rows at once) and chunks of one or two rows (normal and huge rows apart)."""
    if request.param == "row_chunks":
        monkeypatch.setattr(common, "CHUNK_BYTES", 24)
    return request.param


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("opts", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("case", CASES)
def test_fused_cross_entropy_extreme_logits_match_torch_float64(case, opts, reduction, chunking):
    x, t = _logits(case)
    kwargs = OPTIONS[opts]
    a = x.clone().requires_grad_()
    out = fused_cross_entropy(a, t, reduction=reduction, **kwargs)
    b = x.double().requires_grad_()
    kw64 = {k: v.double() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    ref = F.cross_entropy(b, t, reduction=reduction, **kw64)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-6)
    grad_out = torch.full(ref.shape, 1.5, dtype=torch.float64)
    out.backward(grad_out.float())
    ref.backward(grad_out)
    torch.testing.assert_close(a.grad.double(), b.grad, rtol=1e-5, atol=1e-6)
    _no_nan(out, a.grad)


def test_fused_cross_entropy_uniform_extreme_logits_give_log_c():
    """The issue's case: every logit at -3e38 (or +3e38) is a uniform softmax, loss log C, by hand."""
    for value in (-BIG, BIG):
        x = torch.full((4, 10), value, requires_grad=True)
        out = fused_cross_entropy(x, torch.tensor([0, 3, 5, 9]), label_smoothing=0.1)
        assert float(out.detach()) == pytest.approx(2.302585, abs=1e-5)  # log 10
        out.backward()
        # (p - smoothed target) / N, with p = 0.1 everywhere and the target 0.01 + 0.9 at the class
        expected = torch.full((4, 10), (0.1 - 0.01) / 4)
        expected[torch.arange(4), torch.tensor([0, 3, 5, 9])] = (0.1 - 0.91) / 4
        torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize("route", ["inplace", "no_grad", "half"])
def test_fused_cross_entropy_extreme_logits_on_every_route(route):
    x, t = _logits("mixed")
    ref = F.cross_entropy(x.double(), t, reduction="none", label_smoothing=0.1)
    if route == "inplace":
        out = fused_cross_entropy(x.clone().requires_grad_() * 1.0, t, reduction="none", label_smoothing=0.1,
                                  inplace=True)
    elif route == "no_grad":
        with torch.no_grad():
            out = fused_cross_entropy(x, t, reduction="none", label_smoothing=0.1)
    else:
        # float16 holds 65504 at most: logits at its extremes, computed in float32
        xh = torch.tensor([[-65504.0] * 5, [65504.0] * 5, [65504.0, -65504.0, 0.0, 1.0, 2.0]], dtype=torch.float16)
        th = torch.tensor([1, 4, 3])
        out = fused_cross_entropy(xh, th, reduction="none", label_smoothing=0.1)
        ref = F.cross_entropy(xh.double(), th, reduction="none", label_smoothing=0.1)
        torch.testing.assert_close(out.double(), ref, rtol=2e-3, atol=1e-3)
        return
    torch.testing.assert_close(out.detach().double(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_fused_focal_extreme_logits_match_reference_float64(case, gamma, chunking):
    x, t = _logits(case)
    w = torch.linspace(0.5, 2.0, 5)
    a = x.clone().requires_grad_()
    out = fused_focal_loss(a, t, w, gamma=gamma, reduction="none")
    b = x.double().requires_grad_()
    with fused.use_fused(False), lk.guard("off"):  # the guard refuses infinite logits
        ref = LF.focal_loss(b, t, w.double(), gamma=gamma, reduction="none")
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    ref.sum().backward()
    finite = torch.isfinite(ref)  # the reference's gradient is NaN where its loss is inf (0 * inf in autograd)
    torch.testing.assert_close(a.grad[finite].double(), b.grad[finite], rtol=1e-5, atol=1e-6)
    _no_nan(out, a.grad)
    if case == "minus_inf":
        # row 5: target logit -inf, p = e_0; the limit p log p -> 0 gives k = w_2 and the gradient w_2 (p - e_2)
        torch.testing.assert_close(a.grad[5], w[2] * torch.tensor([1.0, 0.0, -1.0, 0.0, 0.0]))


@pytest.mark.parametrize("value", [-BIG, BIG, 1e30])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_fused_linear_cross_entropy_extreme_logits_match_torch_float64(value, smoothing):
    """Logits h W^T all equal to ``value``, or a few float32 steps apart around it (a huge common offset)."""
    h = torch.ones(6, 1)
    w = torch.full((5, 1), value)
    if value == 1e30:
        step = float(torch.nextafter(w[0, 0], torch.tensor(INF)) - w[0, 0])  # 2^76, one float32 step at 1e30
        w[:, 0] += torch.tensor([0.0, 2.0, -3.0, 5.0, 1.0]) * step  # exact: the logits differ by a few steps
    t = torch.tensor([0, 1, 2, 3, 4, 2])
    hw = [h.clone().requires_grad_(), w.clone().requires_grad_()]
    out = fused_linear_cross_entropy(*hw, t, label_smoothing=smoothing, reduction="sum")
    h64, w64 = h.double().requires_grad_(), w.double().requires_grad_()
    ref = F.cross_entropy(h64 @ w64.T, t, label_smoothing=smoothing, reduction="sum")
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    out.backward()
    ref.backward()
    torch.testing.assert_close(hw[0].grad.double(), h64.grad, rtol=1e-5, atol=float(abs(value)) * 1e-6)
    torch.testing.assert_close(hw[1].grad.double(), w64.grad, rtol=1e-5, atol=1e-5)
    _no_nan(out, hw[0].grad, hw[1].grad)


POINTWISE = {
    "mse": (fused_mse_loss, F.mse_loss),
    "l1": (fused_l1_loss, F.l1_loss),
    "huber": (fused_huber_loss, F.huber_loss),
    "smooth_l1": (fused_smooth_l1_loss, F.smooth_l1_loss),
    "bce_logits": (fused_binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("value", [-BIG, BIG, 1e30, 1e-38])
@pytest.mark.parametrize("loss", list(POINTWISE))
def test_fused_pointwise_extreme_inputs_match_torch(loss, value, reduction):
    """The numbers of torch's float32 path, overflow included (the mean of 24 values of 3e38 is inf in both), and
    the float64 numbers wherever torch's are finite; never NaN (BCE's three-sum form gave inf - inf)."""
    fn, ref_fn = POINTWISE[loss]
    x = torch.full((3, 8), value)
    x[0, :4] = -value
    y = (torch.arange(24).reshape(3, 8) % 3 == 0).float()
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = fn(a, y, reduction=reduction)
    ref32 = ref_fn(b, y, reduction=reduction)
    ref64 = ref_fn(x.double(), y.double(), reduction=reduction)
    torch.testing.assert_close(out, ref32, rtol=1e-5, atol=1e-30)
    finite = torch.isfinite(ref32)
    torch.testing.assert_close(out.double()[finite], ref64[finite], rtol=1e-5, atol=1e-30)
    out.sum().backward()
    ref32.sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-30)
    _no_nan(out, a.grad)


@pytest.mark.parametrize("value", [-BIG, BIG, 1e30])
def test_fused_sigmoid_focal_and_dice_extreme_logits_match_reference(value):
    x = torch.full((2, 3, 4), value)
    x[0, :, :2] = -value
    y = (torch.arange(24).reshape(2, 3, 4) % 3 == 0).float()
    for fn, kwargs in (
        (fused_sigmoid_focal_loss, {}),
        (fused_dice_loss, {"mode": "multilabel"}),
        (fused_dice_loss, {"mode": "multilabel", "log_loss": True, "per_image": True}),
    ):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        out = fn(a, y, **kwargs)
        with fused.use_fused(False):
            ref = getattr(LF, fn.__name__.removeprefix("fused_"))(b, y, **kwargs)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-30)
        out.backward()
        ref.backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-30)
        _no_nan(out, a.grad)


# --------------------------------------------------------------------------------------------
# the dispatch switch
# --------------------------------------------------------------------------------------------
@pytest.fixture
def restore_fused():
    before = fused.enabled()
    yield
    fused.set_enabled(before)


def _big_case():
    x = torch.randn(2048, 1024, requires_grad=True)  # 2^21 logits: the public cross_entropy dispatches
    return x, torch.randint(0, 1024, (2048,))


def _second_derivative_works(x: torch.Tensor, t: torch.Tensor) -> bool:
    """A gradient penalty needs a graph through the gradient: the fused Function refuses it, torch's path not."""
    try:
        (g,) = torch.autograd.grad(LF.cross_entropy(x, t), x, create_graph=True)
        g.square().sum().backward()
    except RuntimeError as err:
        assert "differentiable once" in str(err)
        return False
    return True


def test_use_fused_as_a_plain_call_switches_the_dispatch(restore_fused):
    x, t = _big_case()
    assert fused.supports_cross_entropy(x, t)
    fused.use_fused(False)
    assert fused.enabled() is False
    assert not fused.supports_cross_entropy(x, t)
    assert _second_derivative_works(x, t)
    fused.use_fused(True)
    assert fused.enabled() is True
    assert fused.supports_cross_entropy(x, t)
    assert not _second_derivative_works(x, t)


def test_use_fused_as_a_context_manager_restores_the_setting(restore_fused):
    x, t = _big_case()
    with fused.use_fused(False):
        assert fused.enabled() is False
        assert _second_derivative_works(x, t)
        with fused.use_fused(True):
            assert fused.enabled() is True
        assert fused.enabled() is False
    assert fused.enabled() is True
    with pytest.raises(KeyError), fused.use_fused(False):
        raise KeyError("inside")
    assert fused.enabled() is True
    fused.set_enabled(False)
    with fused.use_fused(True):
        assert fused.supports_cross_entropy(x, t)
    assert fused.enabled() is False
