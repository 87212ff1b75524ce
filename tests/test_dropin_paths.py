"""The steady-state paths of the torch.nn losses (issue 9 part 5: never slower than torch) keep losskit's numbers.

Once a call signature passed its checks, later calls skip them and call torch's own kernels and reductions
(``_validation.signature_due``), read the reduced value on the CPU where torch's can be NaN for a reason losskit
treats otherwise (cross_entropy, nll_loss, kl_div, soft_margin_loss), and take other paths under vmap, on meta
tensors and under torch.compile. On each of those paths: a mean over nothing is 0 with a zero gradient, and NaN in
the input gives NaN. No timing is asserted here; the figures are ``losskit bench --only dropin``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch.func import vmap

import losskit as lk
import losskit.functional as LF

NAN = float("nan")


def _signs(*shape: int) -> torch.Tensor:
    return torch.randint(0, 2, shape).float() * 2 - 1


def _multilabel(n: int) -> torch.Tensor:
    target = torch.full((n, 4), -1, dtype=torch.long)
    target[:, :2] = torch.tensor([2, 0])
    return target


# name -> (builder of the positional arguments for a batch of n, keyword arguments); the first tensor is the
# input that gets the NaN
CASES: dict[str, tuple[Callable[[int], tuple], dict]] = {
    "cross_entropy": (lambda n: (torch.randn(n, 5), torch.randint(0, 5, (n,))), {}),
    "nll_loss": (lambda n: (torch.randn(n, 5).log_softmax(1), torch.randint(0, 5, (n,))), {}),
    "mse_loss": (lambda n: (torch.randn(n, 3), torch.randn(n, 3)), {}),
    "l1_loss": (lambda n: (torch.randn(n, 3), torch.randn(n, 3)), {}),
    "huber_loss": (lambda n: (torch.randn(n, 3), torch.randn(n, 3)), {"delta": 0.5}),
    "smooth_l1_loss": (lambda n: (torch.randn(n, 3), torch.randn(n, 3)), {}),
    "binary_cross_entropy": (lambda n: (torch.rand(n, 3) * 0.9 + 0.05, torch.rand(n, 3)), {}),
    "binary_cross_entropy_with_logits": (lambda n: (torch.randn(n, 3), torch.rand(n, 3)), {}),
    "kl_div": (lambda n: (torch.randn(n, 4).log_softmax(1), torch.randn(n, 4).softmax(1)), {"reduction": "batchmean"}),
    "poisson_nll_loss": (lambda n: (torch.randn(n, 3), torch.poisson(torch.full((n, 3), 2.0))), {}),
    "hinge_embedding_loss": (lambda n: (torch.rand(n, 3) * 2, _signs(n, 3)), {}),
    "margin_ranking_loss": (lambda n: (torch.randn(n), torch.randn(n), _signs(n)), {}),
    "soft_margin_loss": (lambda n: (torch.randn(n, 3), _signs(n, 3)), {}),
    "cosine_embedding_loss": (lambda n: (torch.randn(n, 4), torch.randn(n, 4), _signs(n)), {}),
    "multilabel_soft_margin_loss": (lambda n: (torch.randn(n, 4), torch.randint(0, 2, (n, 4)).float()), {}),
    "multi_margin_loss": (lambda n: (torch.randn(n, 4), torch.randint(0, 4, (n,))), {}),
    "multilabel_margin_loss": (lambda n: (torch.randn(n, 4), _multilabel(n)), {}),
    "triplet_margin_loss": (lambda n: (torch.randn(n, 4), torch.randn(n, 4), torch.randn(n, 4)), {}),
}
NAN_SKIPPED = {"multi_margin_loss", "multilabel_margin_loss", "binary_cross_entropy"}
"""torch's hinge kernels add a term only where it is > 0, which NaN is not: NaN input gives a finite value there,
in torch and in losskit (both call that kernel); torch's binary_cross_entropy raises on NaN probabilities."""
NAN_CASES = [name for name in CASES if name not in NAN_SKIPPED]


def _call(name: str, args: tuple) -> torch.Tensor:
    return getattr(LF, name)(*args, **CASES[name][1])


def _with_nan(args: tuple) -> tuple:
    first = args[0].clone()
    first[0] = NAN  # the whole first row: nll_loss reads one entry of it
    return (first, *args[1:])


def _leaf(args: tuple) -> tuple:
    return (args[0].detach().requires_grad_(True), *args[1:])


@pytest.fixture(autouse=True)
def _first_mode():
    with lk.guard("first"):  # a fresh policy: no signature recorded
        yield


def _steady(name: str, n: int = 4) -> None:
    """Record the call signature of a batch of ``n`` (clean values), so later calls of that shape skip the checks."""
    torch.manual_seed(0)
    _call(name, CASES[name][0](n))


# --------------------------------------------------------------------------------------------
# eager (the paths that skip the checks and call torch's kernels directly)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAN_CASES)
def test_eager_steady_state_nan_input_gives_nan(name: str):
    _steady(name)
    torch.manual_seed(1)
    out = _call(name, _with_nan(CASES[name][0](4)))
    assert math.isnan(float(out))


@pytest.mark.parametrize("name", list(CASES))
def test_eager_steady_state_equals_the_first_call(name: str):
    """The second call (checks skipped, torch's kernel called directly) gives the first call's value."""
    torch.manual_seed(2)
    args = CASES[name][0](4)
    first = _call(name, args)
    torch.testing.assert_close(_call(name, args), first)


@pytest.mark.parametrize("name", list(CASES))
def test_eager_mean_over_nothing_is_zero_with_zero_gradient(name: str):
    args = _leaf(CASES[name][0](0))
    for _ in range(2):  # the first call and the steady state
        out = _call(name, args)
        assert float(out) == 0.0
        (grad,) = torch.autograd.grad(out, args[0])
        assert grad.shape == args[0].shape and not grad.any()


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_eager_every_target_ignored_gives_zero_with_zero_gradient(name: str):
    _steady(name)
    x = _leaf(CASES[name][0](4))[0]
    for _ in range(2):
        out = _call(name, (x, torch.full((4,), -100)))
        assert float(out) == 0.0
        (grad,) = torch.autograd.grad(out, x)
        assert not grad.any()


def test_kl_div_zero_probability_at_minus_inf_stays_zero_in_the_steady_state():
    """torch's kl_div is NaN where p = 0 and log q = -inf: the read-back NaN takes losskit's path (term 0)."""
    x = torch.tensor([[0.0, 1.0]]).log_softmax(1)
    t = torch.tensor([[0.0, 1.0]])
    LF.kl_div(x, t, reduction="sum")
    x = torch.tensor([[float("-inf"), 0.0]], requires_grad=True)
    out = LF.kl_div(x, t, reduction="sum")
    assert float(out) == 0.0
    out.backward()
    assert not x.grad.isnan().any()


def test_soft_margin_loss_large_margins_stay_finite_in_the_steady_state():
    """torch's kernel overflows beyond |x| = 88 (log1p(exp(100)) = inf in float32); losskit's softplus does not."""
    y = torch.ones(2)
    LF.soft_margin_loss(torch.zeros(2), y)
    assert float(LF.soft_margin_loss(torch.tensor([-100.0, 0.0]), y)) == pytest.approx((100.0 + math.log(2)) / 2)


# --------------------------------------------------------------------------------------------
# vmap, meta, compile
# --------------------------------------------------------------------------------------------
def _vmapped(name: str, batches: list[tuple]) -> torch.Tensor:
    stacked = tuple(torch.stack(parts) for parts in zip(*batches, strict=True))
    return vmap(lambda *a: _call(name, a))(*stacked)


@pytest.mark.parametrize("name", NAN_CASES)
def test_vmap_nan_input_gives_nan_and_the_other_samples_their_value(name: str):
    _steady(name)
    torch.manual_seed(3)
    clean = CASES[name][0](4)
    out = _vmapped(name, [_with_nan(clean), clean])
    assert math.isnan(float(out[0]))
    torch.testing.assert_close(out[1], _call(name, clean))


@pytest.mark.parametrize("name", list(CASES))
def test_vmap_mean_over_nothing_is_zero(name: str):
    _steady(name, 0)
    empty = CASES[name][0](0)
    assert not _vmapped(name, [empty, empty]).any()


@pytest.mark.parametrize("name", list(CASES))
def test_meta_tensors_give_a_scalar(name: str):
    for n in (4, 0):
        args = tuple(a.to("meta") for a in CASES[name][0](n))
        out = _call(name, args)
        assert out.is_meta and out.shape == ()


@pytest.mark.parametrize("name", NAN_CASES)
def test_compiled_nan_input_gives_nan_and_empty_gives_zero(name: str):
    torch._dynamo.reset()
    fn = torch.compile(lambda *a: _call(name, a), backend="eager")
    torch.manual_seed(4)
    assert math.isnan(float(fn(*_with_nan(CASES[name][0](4)))))
    assert float(fn(*CASES[name][0](0))) == 0.0
