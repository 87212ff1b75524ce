"""Golden values and special cases of the distribution family (kl_div, poisson_nll_loss, gaussian_nll_loss)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.db.distribution import kl_samples, ref_kl_div

F64 = torch.float64

# --------------------------------------------------------------------------------------------
# kl_div
# --------------------------------------------------------------------------------------------
Q_LOG = torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=F64).log()
P = torch.tensor([[0.9, 0.1], [0.5, 0.5]], dtype=F64)
KL_ROW0 = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)  # by hand: sum p log(p / q); row 1 has KL 0


def test_kl_div_reductions_by_hand():
    assert float(LF.kl_div(Q_LOG, P, reduction="batchmean")) == pytest.approx(KL_ROW0 / 2)
    assert float(LF.kl_div(Q_LOG, P, reduction="sum")) == pytest.approx(KL_ROW0)
    assert float(LF.kl_div(Q_LOG, P.log(), reduction="batchmean", log_target=True)) == pytest.approx(KL_ROW0 / 2)
    with pytest.warns(lk.SuspiciousInputWarning, match=r"4 elements of input \(2, 2\), not by the batch size 2"):
        assert float(LF.kl_div(Q_LOG, P)) == pytest.approx(KL_ROW0 / 4)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["f32", "f64"])
def test_kl_div_mean_equals_torch_and_warns_where_it_is_not_batchmean(dtype):
    """The generic parity test leaves "mean" out for kl_div (it warns by design); here it is, on every sample."""
    for sample in kl_samples(dtype):
        x, t = sample.args
        differs = x.numel() != (x.shape[0] if x.dim() else 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = LF.kl_div(x, t, **sample.kwargs)
        warned = [w for w in caught if issubclass(w.category, lk.SuspiciousInputWarning)]
        assert bool(warned) == differs, sample.desc
        assert not [w for w in caught if not issubclass(w.category, lk.LosskitWarning)], "torch's warning leaked"
        torch.testing.assert_close(out, ref_kl_div(x, t, reduction="mean", **sample.kwargs), msg=sample.desc)


def test_kl_div_mean_raises_in_strict_mode_and_is_quiet_when_off():
    with lk.guard("strict"), pytest.raises(lk.LossValueError, match="batchmean"):
        LF.kl_div(Q_LOG, P)
    with lk.guard("off"):
        LF.kl_div(Q_LOG, P)  # no warning: pytest turns losskit warnings into errors


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_zero_probability_terms_are_zero_where_torch_gives_nan(log_target):
    x = torch.tensor([[float("-inf"), 0.0]], dtype=F64, requires_grad=True)  # q = (0, 1)
    p = torch.tensor([[0.0, 1.0]], dtype=F64)  # p = q: KL = 0 (by hand, with 0 log 0 = 0)
    t = p.log() if log_target else p
    assert torch.isnan(F.kl_div(x, t, reduction="sum", log_target=log_target))
    out = LF.kl_div(x, t, reduction="sum", log_target=log_target)
    assert float(out.detach()) == 0.0
    out.backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.0, -1.0]], dtype=F64))  # d/dx of -p x


def test_kl_div_gradcheck_2d_and_log_target():
    x = torch.randn(3, 4, dtype=F64).log_softmax(1).requires_grad_()
    p = torch.randn(3, 4, dtype=F64).softmax(1).requires_grad_()
    for log_target in (False, True):
        t = (p.log() if log_target else p).detach().requires_grad_()
        fn = lambda a, b, lt=log_target: LF.kl_div(a, b, reduction="batchmean", log_target=lt)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, t))


def test_kl_div_compiles_without_the_warning():
    torch._dynamo.reset()
    x, p = torch.randn(4, 5).log_softmax(1), torch.randn(4, 5).softmax(1)
    compiled = torch.compile(LF.kl_div, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, p, reduction="batchmean"), LF.kl_div(x, p, reduction="batchmean"))
    out = compiled(x, p)  # "mean": no warning inside the graph (it would fail the test here)
    with pytest.warns(lk.SuspiciousInputWarning):
        torch.testing.assert_close(out, LF.kl_div(x, p))


def test_kl_div_module_reductions():
    assert lk.KLDivLoss.reductions == ("none", "batchmean", "sum", "mean")
    module = lk.KLDivLoss(reduction="batchmean", log_target=True)
    assert float(module(Q_LOG, P.log())) == pytest.approx(KL_ROW0 / 2)
    with pytest.raises(lk.LossOptionError, match="did you mean 'batchmean'"):
        lk.KLDivLoss(reduction="batch_mean")


def test_kl_div_empty_batchmean_is_zero():
    x = torch.zeros(0, 3, requires_grad=True)
    out = LF.kl_div(x, torch.zeros(0, 3), reduction="batchmean")
    assert float(out.detach()) == 0.0
    out.backward()
    assert (x.grad == 0).all()


# --------------------------------------------------------------------------------------------
# poisson_nll_loss
# --------------------------------------------------------------------------------------------
def test_poisson_nll_by_hand():
    x = torch.tensor([0.5, -1.0, 2.0], dtype=F64)
    y = torch.tensor([3.0, 1.0, 0.0], dtype=F64)
    base = [math.exp(0.5) - 1.5, math.exp(-1.0) + 1.0, math.exp(2.0)]  # exp(x) - y x
    stirling = 3 * math.log(3) - 3 + 0.5 * math.log(2 * math.pi * 3)  # only for y > 1
    torch.testing.assert_close(LF.poisson_nll_loss(x, y, reduction="none"), torch.tensor(base, dtype=F64))
    full = LF.poisson_nll_loss(x, y, full=True, reduction="none")
    torch.testing.assert_close(full, torch.tensor([base[0] + stirling, base[1], base[2]], dtype=F64))
    rate = torch.tensor([2.0, 0.5, 1.0], dtype=F64)
    expected = [2.0 - 3 * math.log(2.0 + 1e-8), 0.5 - math.log(0.5 + 1e-8), 1.0]  # rate - y log(rate + eps)
    torch.testing.assert_close(LF.poisson_nll_loss(rate, y, log_input=False, reduction="none"),
                               torch.tensor(expected, dtype=F64))


def test_poisson_nll_integer_counts():
    x = torch.randn(5, dtype=F64)
    y = torch.tensor([0, 1, 2, 3, 7])
    torch.testing.assert_close(LF.poisson_nll_loss(x, y, full=True), F.poisson_nll_loss(x, y.double(), full=True))


# --------------------------------------------------------------------------------------------
# gaussian_nll_loss
# --------------------------------------------------------------------------------------------
def _gauss(x: float, y: float, v: float) -> float:
    return 0.5 * (math.log(v) + (x - y) ** 2 / v)


def test_gaussian_nll_homoscedastic_by_hand():
    x = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=F64)
    y = torch.zeros(2, 2, dtype=F64)
    # by hand: variance 1 for row 0, 4 for row 1, shared over the two columns
    expected = (_gauss(1, 0, 1) + _gauss(2, 0, 1) + _gauss(0, 0, 4) + _gauss(1, 0, 4)) / 4
    var = torch.tensor([1.0, 4.0], dtype=F64)
    for v in (var, var.unsqueeze(1), var.unsqueeze(1).expand(2, 2).contiguous()):
        assert float(LF.gaussian_nll_loss(x, y, v)) == pytest.approx(expected)
    full = LF.gaussian_nll_loss(x, y, var, full=True)
    assert float(full) == pytest.approx(expected + 0.5 * math.log(2 * math.pi))
    assert float(LF.gaussian_nll_loss(x, y, 4.0)) == pytest.approx(
        (_gauss(1, 0, 4) + _gauss(2, 0, 4) + _gauss(0, 0, 4) + _gauss(1, 0, 4)) / 4
    )


def test_gaussian_nll_clamp_changes_value_not_gradient():
    eps = 1e-6
    x, y = torch.tensor([0.1], dtype=F64), torch.tensor([0.0], dtype=F64)
    var = torch.tensor([1e-9], dtype=F64, requires_grad=True)
    out = LF.gaussian_nll_loss(x, y, var, eps=eps, reduction="sum")
    assert float(out.detach()) == pytest.approx(_gauss(0.1, 0.0, eps))  # value at the clamp
    out.backward()
    # by hand: d/dv 0.5 (log v + d^2 / v) = 0.5 (1 / v - d^2 / v^2), evaluated at the clamped v
    assert float(var.grad) == pytest.approx(0.5 * (1 / eps - 0.01 / eps**2))


def test_gaussian_nll_rejects_what_torch_broadcasts():
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    assert F.gaussian_nll_loss(x, y[:1], torch.ones(4, 3)).shape == ()  # torch broadcasts a (1, 3) target
    with pytest.raises(lk.LossShapeError, match=r"target.*\(1, 3\)"):
        LF.gaussian_nll_loss(x, y[:1], torch.ones(4, 3))


def test_distribution_modules_validate_options():
    with pytest.raises(lk.LossOptionError, match="eps"):
        lk.GaussianNLLLoss(eps=-1.0)
    with pytest.raises(lk.LossOptionError, match="log_input"):
        lk.PoissonNLLLoss(log_input=None)
    with pytest.raises(lk.LossOptionError, match="log_target"):
        lk.KLDivLoss(log_target=1)
