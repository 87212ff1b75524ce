"""The precision matrix of the test database: every loss, functional and Module, in every precision a training loop
uses, against the float64 result (the rule is :mod:`losskit._precision`).

Each case runs one loss on one moderate sample of its entry (the first, plus the weighted ones named in
``LossEntry.precision_samples``) in one precision and compares the value and the gradients with the same loss in
float64 on the *same* values (the sample rounded to the precision, then widened): the difference measures the
computation only, not the rounding of the inputs. The precisions and their tolerances:

================ ================================================= ============ =====================
precision        tensors                                           result dtype rtol (value / grads)
================ ================================================= ============ =====================
float64          all floating tensors float64                      float64      1e-10 / 1e-10
float32          all floating tensors float32                      float32      1e-4 / 1e-4
float16          all floating tensors float16                      float16      2e-3 / 2e-3
bfloat16         all floating tensors bfloat16                     bfloat16     1e-2 / 1e-2
autocast-bf16    CPU bf16 autocast; the differentiable tensors     float32      1e-4 / 1e-2
                 (the model's outputs) bfloat16, the rest float32
autocast-f16     the same with float16                             float32      1e-4 / 2e-3
================ ================================================= ============ =====================

The half tolerances are a few units of the result's rounding (2^-11 = 4.9e-4 for float16, 2^-8 = 3.9e-3 for
bfloat16): the math runs in float32, so only the final cast rounds. Under autocast the result stays float32 and
the value is float32-exact; the gradients reach the bfloat16/float16 leaves rounded to their dtype. The absolute
tolerance is the relative one times 1 for values (moderate losses are of order 1) and times the largest
reference gradient for gradients. ``LossEntry.precision_tol`` widens a loss's tolerances where its float32 math
is itself less exact (stated there).

Beyond the matrix: means of 2^16 float16 values near 10 (a float16 sum would overflow at 65504), means over
nothing in float16 (0 with a zero gradient), a bfloat16 autocast training loop with class weights, losses torch
has no half kernel for on CPU, the fused fast paths fed float32, and the decorator's transparency (signature,
torch.compile, torch.func, meta tensors).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from losskit import _precision
from tests.db import ENTRIES
from tests.loss_db import LossEntry, Sample


@dataclass(frozen=True)
class Precision:
    name: str
    dtype: torch.dtype
    """The dtype of the sample's floating tensors (of its differentiable ones under autocast)."""
    autocast: bool
    rtol: float
    grad_rtol: float

    @property
    def result_dtype(self) -> torch.dtype:
        return torch.float32 if self.autocast else self.dtype


PRECISIONS = [
    Precision("float64", torch.float64, False, 1e-10, 1e-10),
    Precision("float32", torch.float32, False, 1e-4, 1e-4),
    Precision("float16", torch.float16, False, 2e-3, 2e-3),
    Precision("bfloat16", torch.bfloat16, False, 1e-2, 1e-2),
    Precision("autocast-bf16", torch.bfloat16, True, 1e-4, 1e-2),
    Precision("autocast-f16", torch.float16, True, 1e-4, 2e-3),
]


def _reduction(entry: LossEntry) -> str:
    """The entry's mean ("batchmean" for kl_div, which has no plain "mean")."""
    return "mean" if "mean" in entry.reductions else next(r for r in entry.reductions if r not in ("none", "sum"))


def _cases() -> list[tuple[LossEntry, int]]:
    cases = []
    for entry in ENTRIES:
        descs = [s.desc for s in entry.samples(torch.float64)]
        missing = set(entry.precision_samples) - set(descs)
        assert not missing, f"{entry.name}: precision_samples {missing} are not samples"
        cases += [(entry, 0)] + [(entry, descs.index(d)) for d in entry.precision_samples if descs.index(d) != 0]
    return cases


CASES = _cases()
CASE_IDS = [f"{e.name}-s{i}" for e, i in CASES]


def _cast(value: object, dtype: torch.dtype) -> object:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().to(dtype)
    return value


def _prepare(sample: Sample, p: Precision) -> tuple[tuple, dict]:
    """The sample's tensors in precision ``p``, the differentiable ones as fresh leaves."""
    args = []
    for i, a in enumerate(sample.args):
        differentiable = i in sample.grad and isinstance(a, torch.Tensor) and a.is_floating_point()
        a = _cast(a, p.dtype if differentiable or not p.autocast else torch.float32)
        if differentiable:
            a = a.clone().requires_grad_(True)
        args.append(a)
    kwargs = {k: _cast(v, torch.float32 if p.autocast else p.dtype) for k, v in sample.kwargs.items()}
    return tuple(args), kwargs


def _widen(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The same values in float64, the leaves again leaves."""
    wide = []
    for a in args:
        w = _cast(a, torch.float64)
        if isinstance(a, torch.Tensor) and a.requires_grad:
            w = w.clone().requires_grad_(True)
        wide.append(w)
    return tuple(wide), {k: _cast(v, torch.float64) for k, v in kwargs.items()}


def _call(entry: LossEntry, kind: str, args: tuple, kwargs: dict) -> torch.Tensor:
    reduction = _reduction(entry)
    if kind == "functional":
        return entry.functional(*args, **kwargs, reduction=reduction)
    ctor, fwd = entry.split(Sample(args, kwargs))
    return entry.module(**ctor, reduction=reduction)(*fwd)


def _loss_and_grads(entry: LossEntry, kind: str, args: tuple, kwargs: dict, autocast: torch.dtype | None):
    if autocast is not None:
        with torch.autocast("cpu", dtype=autocast):
            out = _call(entry, kind, args, kwargs)
    else:
        out = _call(entry, kind, args, kwargs)
    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    grads = torch.autograd.grad(out, leaves, allow_unused=True) if out.requires_grad else [None] * len(leaves)
    return out, list(grads), leaves


@pytest.mark.parametrize("p", PRECISIONS, ids=[p.name for p in PRECISIONS])
@pytest.mark.parametrize("kind", ["functional", "module"])
@pytest.mark.parametrize(("entry", "index"), CASES, ids=CASE_IDS)
def test_precision_matrix(entry: LossEntry, index: int, kind: str, p: Precision):
    sample = entry.samples(torch.float64)[index]
    args, kwargs = _prepare(sample, p)
    out, grads, leaves = _loss_and_grads(entry, kind, args, kwargs, p.dtype if p.autocast else None)
    wide_args, wide_kwargs = _widen(args, kwargs)
    ref, ref_grads, _ = _loss_and_grads(entry, kind, wide_args, wide_kwargs, None)

    msg = f"{entry.name} [{sample.desc}] {kind} {p.name}"
    assert out.dtype == p.result_dtype, msg
    assert torch.isfinite(out).all(), msg
    rtol, grad_rtol = (entry.precision_tol.get(p.name, r) for r in (p.rtol, p.grad_rtol))
    torch.testing.assert_close(out.detach().double(), ref.detach(), rtol=rtol, atol=rtol, msg=msg)
    assert any(g is not None for g in grads) or not out.requires_grad, f"{msg}: no gradient reached the inputs"
    for leaf, g, gr in zip(leaves, grads, ref_grads):
        assert (g is None) == (gr is None), msg
        if g is None:
            continue
        assert g.dtype == leaf.dtype and torch.isfinite(g).all(), f"grad of {msg}"
        scale = float(gr.abs().max()) if gr.numel() else 0.0
        torch.testing.assert_close(g.double(), gr, rtol=grad_rtol, atol=grad_rtol * max(scale, 1e-6),
                                   msg=f"grad of {msg}")


# --------------------------------------------------------------------------------------------
# float16 means that a float16 sum would overflow
# --------------------------------------------------------------------------------------------
_N = 2**16
_TEN = torch.full((_N,), 10.0)
_ZERO = torch.zeros(_N)
_ONE = torch.ones(_N)

OVERFLOW = {  # 2^16 terms of about 10 (sum 6.6e5 > 65504); the float64 mean is stated where it is exact
    "log_cosh_loss": (LF.log_cosh_loss, (_TEN, _ZERO), {}),
    "charbonnier_loss": (LF.charbonnier_loss, (_TEN, _ZERO), {}),
    "mape_loss": (LF.mape_loss, (_TEN * 2, _TEN), {}),
    "msle_loss": (LF.msle_loss, (_TEN * 2, _ZERO), {}),
    "margin_ranking_loss": (LF.margin_ranking_loss, (_ZERO, _TEN, _ONE), {}),
    "soft_margin_loss": (LF.soft_margin_loss, (-_TEN, _ONE), {}),
    "sigmoid_focal_loss": (LF.sigmoid_focal_loss, (-_TEN, _ONE), {"alpha": -1.0, "gamma": 0.0}),
    "poisson_nll_loss": (LF.poisson_nll_loss, (torch.full((_N,), 2.3), _ZERO), {}),
    "gaussian_nll_loss": (LF.gaussian_nll_loss, (_TEN, _ZERO, _ONE), {}),
    "hinge_embedding_loss": (LF.hinge_embedding_loss, (_TEN, _ONE), {}),
    "mse_loss": (LF.mse_loss, (_TEN, _ZERO), {}),
    "l1_loss": (LF.l1_loss, (_TEN, _ZERO), {}),
    "huber_loss": (LF.huber_loss, (_TEN, _ZERO), {}),
    "smooth_l1_loss": (LF.smooth_l1_loss, (_TEN, _ZERO), {}),
    "quantile_loss": (LF.quantile_loss, (_ZERO, _TEN * 2), {}),
    "binary_cross_entropy_with_logits": (LF.binary_cross_entropy_with_logits, (-_TEN, _ONE), {}),
    "multilabel_soft_margin_loss": (LF.multilabel_soft_margin_loss, (-_TEN.view(256, 256), _ONE.view(256, 256)), {}),
    "cross_entropy": (LF.cross_entropy, (torch.stack([_ZERO, _TEN], 1), torch.zeros(_N, dtype=torch.long)), {}),
    "nll_loss": (LF.nll_loss, (-_TEN.view(_N // 2, 2), torch.zeros(_N // 2, dtype=torch.long)), {}),
}
EXACT = {"mse_loss": 100.0, "l1_loss": 10.0, "huber_loss": 9.5, "smooth_l1_loss": 9.5, "margin_ranking_loss": 10.0,
         "hinge_embedding_loss": 10.0, "mape_loss": 1.0, "quantile_loss": 10.0, "gaussian_nll_loss": 50.0}
"""Means known by hand (huber and smooth L1 with delta = beta = 1: |d| - 1/2; gaussian NLL: d^2 / 2)."""


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", sorted(OVERFLOW))
def test_float16_reductions_do_not_overflow(name: str, reduction: str):
    """A mean of 2^16 float16 terms near 10 is the float64 mean (to float16 rounding), not inf; a sum beyond float16's
    range is inf, as any float16 result of that size."""
    fn, args, kwargs = OVERFLOW[name]
    half = tuple(a.half() if a.is_floating_point() else a for a in args)
    half[0].requires_grad_(True)
    out = fn(*half, **kwargs, reduction=reduction)
    ref = fn(*(a.detach().double() if a.is_floating_point() else a for a in half), **kwargs, reduction=reduction)
    assert out.dtype == torch.float16
    if float(ref) > 65504:  # a sum beyond float16's range: inf is the right float16
        assert reduction == "sum" and out.isinf()
        return
    assert torch.isfinite(out)
    torch.testing.assert_close(out.double(), ref, rtol=2e-3, atol=0)
    if name in EXACT:
        assert float(out.detach()) == pytest.approx(EXACT[name], rel=2e-3)
    (grad,) = torch.autograd.grad(out, half[0])
    assert grad.dtype == torch.float16 and torch.isfinite(grad).all() and grad.abs().max() > 0


# --------------------------------------------------------------------------------------------
# means over nothing, in float16
# --------------------------------------------------------------------------------------------
_EMPTY = [e for e in ENTRIES if e.empty]


@pytest.mark.parametrize("entry", _EMPTY, ids=[e.name for e in _EMPTY])
def test_float16_mean_over_nothing_is_zero_with_zero_gradient(entry: LossEntry):
    args, kwargs = entry.empty()
    args = tuple(_cast(a, torch.float16) for a in args)
    args[0].requires_grad_(True)
    kwargs = {k: _cast(v, torch.float16) for k, v in kwargs.items()}
    out = entry.functional(*args, **kwargs, reduction=_reduction(entry))
    assert out.dtype == torch.float16 and out.dim() == 0 and float(out.detach()) == 0.0
    out.backward()
    grad = args[0].grad
    assert grad is None or (torch.isfinite(grad).all() and (grad == 0).all())


# --------------------------------------------------------------------------------------------
# a bfloat16 autocast training loop with class weights
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_loss",
    [
        lambda w: lk.CrossEntropyLoss(weight=w),
        lambda w: lk.FocalLoss(alpha=w),
        lambda w: lk.FocalLoss(w, alpha=0.5),
        lambda w: lk.PolyLoss(w),
        lambda w: lk.NLLLoss(weight=w),
    ],
    ids=["CrossEntropyLoss(weight)", "FocalLoss(alpha=tensor)", "FocalLoss(weight)", "PolyLoss(weight)",
         "NLLLoss(weight)"],
)
def test_bf16_autocast_training_with_class_weights(make_loss):
    """float32 class weights, bfloat16 logits from a model under autocast: the loss is float32 and goes down."""
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()  # 3 learnable classes
    model = torch.nn.Linear(8, 3)
    loss_fn = make_loss(torch.tensor([1.0, 2.0, 0.5]))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(8):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
            assert out.dtype == torch.bfloat16
            if isinstance(loss_fn, lk.NLLLoss):
                out = out.log_softmax(1)
            loss = loss_fn(out, y)
        assert loss.dtype == torch.float32
        opt.zero_grad()
        loss.backward()
        assert all(torch.isfinite(q.grad).all() for q in model.parameters())
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


# --------------------------------------------------------------------------------------------
# weights of another floating dtype than the input
# --------------------------------------------------------------------------------------------
def _weighted_calls():
    x, t = torch.randn(6, 3), torch.tensor([0, 1, 2, 1, 0, 2])
    p = torch.rand(6, 3)
    w = torch.tensor([0.5, 2.0, 1.0])  # exact in bfloat16
    return {
        "cross_entropy": lambda dt, wdt: LF.cross_entropy(x.to(dt), t, w.to(wdt)),
        "nll_loss": lambda dt, wdt: LF.nll_loss(x.log_softmax(1).to(dt), t, w.to(wdt)),
        "focal_loss(alpha)": lambda dt, wdt: LF.focal_loss(x.to(dt), t, w.to(wdt), alpha=w.flip(0).to(wdt)),
        "poly_loss": lambda dt, wdt: LF.poly_loss(x.to(dt), t, w.to(wdt)),
        "linear_cross_entropy": lambda dt, wdt: LF.linear_cross_entropy(x.to(dt), x[:3].to(dt), t, weight=w.to(wdt)),
        "binary_cross_entropy_with_logits": lambda dt, wdt: LF.binary_cross_entropy_with_logits(
            x.to(dt), p.round().to(dt), w.to(wdt), pos_weight=w.flip(0).to(wdt)),
        "sigmoid_focal_loss": lambda dt, wdt: LF.sigmoid_focal_loss(
            x.to(dt), p.round().to(dt), w.to(wdt), pos_weight=w.flip(0).to(wdt)),
        "multi_margin_loss": lambda dt, wdt: LF.multi_margin_loss(x.to(dt), t, w.to(wdt)),
        "multilabel_soft_margin_loss": lambda dt, wdt: LF.multilabel_soft_margin_loss(
            x.to(dt), p.round().to(dt), w.to(wdt)),
        "mse_loss": lambda dt, wdt: LF.mse_loss(x.to(dt), p.to(dt), (p.round() + 0.5).to(wdt)),
        "dice_loss": lambda dt, wdt: LF.dice_loss(x.T.reshape(1, 3, 6).to(dt), t.view(1, 6), mode="multiclass",
                                                  class_weights=w.to(wdt)),
    }


WEIGHTED = _weighted_calls()


@pytest.mark.parametrize(("dtype", "weight_dtype"), [(torch.float64, torch.float32), (torch.float32, torch.float64),
                                                     (torch.float32, torch.bfloat16), (torch.bfloat16, torch.float64)],
                         ids=["f64-input-f32-weight", "f32-input-f64-weight", "f32-input-bf16-weight",
                              "bf16-input-f64-weight"])
@pytest.mark.parametrize("name", sorted(WEIGHTED))
def test_weights_of_another_dtype_are_cast(name: str, dtype: torch.dtype, weight_dtype: torch.dtype):
    """The weight is cast to the dtype the loss computes in: the result has the input's dtype and equals the call
    with the weight already in that dtype."""
    out = WEIGHTED[name](dtype, weight_dtype)
    assert out.dtype == dtype and torch.isfinite(out)
    same = WEIGHTED[name](dtype, _precision.compute_dtype(dtype))  # the weights are exact in every dtype
    torch.testing.assert_close(out, same, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["cross_entropy", "focal_loss"])
def test_integer_class_weights_still_raise(name: str):
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    fn = getattr(LF, name)
    with pytest.raises(lk.LossTypeError, match=r"weight must be a floating-point tensor.*torch\.int64"):
        fn(x.bfloat16(), t, torch.ones(3, dtype=torch.int64))


# --------------------------------------------------------------------------------------------
# losses torch has no float16/bfloat16 CPU kernel for
# --------------------------------------------------------------------------------------------
def _no_kernel_calls():
    x = torch.randn(5, 4)
    log_probs = torch.randn(6, 2, 5).log_softmax(-1)
    targets, lengths = torch.tensor([[1, 2, 3], [2, 2, 0]]), (torch.tensor([6, 5]), torch.tensor([3, 2]))
    multi_hot = torch.tensor([[0, 2, -1, 0], [3, -1, 0, 0], [1, 0, 3, 2], [0, -1, 0, 0], [2, 1, -1, 0]])
    return {
        "multi_margin_loss": (LF.multi_margin_loss, F.multi_margin_loss, (x, torch.tensor([0, 3, 1, 2, 0]))),
        "multilabel_margin_loss": (LF.multilabel_margin_loss, F.multilabel_margin_loss, (x, multi_hot)),
        "ctc_loss": (LF.ctc_loss, F.ctc_loss, (log_probs, targets, *lengths)),
    }


NO_KERNEL = _no_kernel_calls()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(NO_KERNEL))
def test_losses_without_a_half_cpu_kernel_work_in_half(name: str, dtype: torch.dtype):
    """torch 2.13 raises "not implemented for 'Half'" here on CPU; losskit computes in float32 and returns
    ``dtype``, with the numbers of torch's float32 kernel on the same (rounded) values."""
    fn, torch_fn, args = NO_KERNEL[name]
    half = (args[0].to(dtype).requires_grad_(True), *args[1:])
    out = fn(*half)
    widened = (half[0].detach().float().requires_grad_(True), *args[1:])
    ref = torch_fn(*widened)
    assert out.dtype == dtype
    torch.testing.assert_close(out, ref.to(dtype))
    out.backward()
    ref.backward()
    assert half[0].grad.dtype == dtype
    torch.testing.assert_close(half[0].grad, widened[0].grad.to(dtype))


# --------------------------------------------------------------------------------------------
# the fused fast paths and the decorator itself
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("autocast", [False, True], ids=["bfloat16", "autocast-bf16"])
def test_fused_cross_entropy_is_fed_float32(monkeypatch, autocast: bool):
    """Above the fused size threshold a bfloat16 cross-entropy reaches losskit.fused in float32."""
    from losskit.functional import classification

    seen = []
    real = classification.fused_cross_entropy

    def spy(input, *args, **kwargs):
        seen.append(input.dtype)
        return real(input, *args, **kwargs)

    monkeypatch.setattr(classification, "fused_cross_entropy", spy)
    x = torch.randn(2048, 1024).bfloat16().requires_grad_(True)  # 2^21 elements: the fused threshold
    t = torch.randint(0, 1024, (2048,))
    w = torch.rand(1024) + 0.5
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = LF.cross_entropy(x, t, w)
    assert seen == [torch.float32]
    assert out.dtype == (torch.float32 if autocast else torch.bfloat16)
    ref = F.cross_entropy(x.detach().double(), t, w.double())
    torch.testing.assert_close(out.double(), ref, rtol=1e-2 if not autocast else 1e-5, atol=0)
    out.backward()
    assert x.grad.dtype == torch.bfloat16 and torch.isfinite(x.grad).all()


_FUNCTIONALS = [getattr(LF, n) for n in LF.__all__]


@pytest.mark.parametrize("fn", _FUNCTIONALS, ids=LF.__all__)
def test_every_functional_carries_the_rule_and_its_signature(fn):
    """Every public loss is wrapped once, keeping its name, docstring and signature."""
    inner = fn.__wrapped__
    assert not hasattr(inner, "__wrapped__")
    assert fn.__name__ == inner.__name__ and fn.__doc__ == inner.__doc__ and fn.__module__ == inner.__module__
    assert inspect.signature(fn) == inspect.signature(inner)


def test_the_fast_path_calls_the_loss_directly():
    """float32/float64 outside autocast: the loss gets the caller's very tensors (no copy, no context)."""
    calls = []

    def loss(input, target, *, reduction="mean"):
        calls.append((input, target, torch.is_autocast_enabled("cpu")))
        return (input - target).sum()

    wrapped = _precision.mixed_precision(loss)
    x, y = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    assert wrapped(x, y).dtype == torch.float64 and calls[-1][0] is x and calls[-1][1] is y
    with torch.autocast("cpu", dtype=torch.bfloat16):
        wrapped(x.float(), y.half())
    assert calls[-1][0].dtype == calls[-1][1].dtype == torch.float32 and calls[-1][2] is False
    wrapped(input=x.half(), target=y.half())  # keyword input: the same rule
    assert calls[-1][0].dtype == torch.float32


@pytest.mark.parametrize("autocast", [False, True], ids=["float16", "autocast-bf16"])
def test_the_rule_compiles_into_one_graph(autocast: bool):
    torch._dynamo.reset()
    x, y = torch.randn(64, 5).half(), torch.randint(0, 5, (64,))
    w = torch.rand(5) + 0.5
    compiled = torch.compile(LF.cross_entropy, backend="aot_eager", fullgraph=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = compiled(x, y, w)
        ref = LF.cross_entropy(x, y, w)
    assert out.dtype == ref.dtype == (torch.float32 if autocast else torch.float16)
    torch.testing.assert_close(out, ref)


def test_the_rule_under_torch_func_and_on_meta_tensors():
    x, y = torch.randn(4, 3).half(), torch.randn(4, 3).half()
    with lk.guard("off"):  # the value checks under transforms are another part of issue 9
        per_sample = torch.func.vmap(lambda a, b: LF.mse_loss(a, b))(x, y)
        grad = torch.func.grad(lambda a: LF.log_cosh_loss(a, y))(x)
        meta = LF.mse_loss(x.to("meta"), y.to("meta"))
    assert per_sample.dtype == torch.float16
    torch.testing.assert_close(per_sample, ((x.float() - y.float()) ** 2).mean(1).half())
    assert grad.dtype == torch.float16
    torch.testing.assert_close(grad, (torch.tanh(x.float() - y.float()) / x.numel()).half())
    assert meta.device.type == "meta" and meta.dtype == torch.float16 and meta.shape == ()
