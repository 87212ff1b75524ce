"""Every loss under torch.func (vmap, grad), meta and fake tensors, make_fx, torch.export and torch.compile.

What runs where is the README's table ("torch.compile, torch.func, meta and fake tensors, torch.export"): metadata
checks run everywhere and raise losskit's own errors; value checks step aside wherever tensor values cannot be read
(torch.func transforms, meta/fake tensors, tracing), and under torch.compile they run (at a graph break) only in the
"always" and "strict" modes.
"""

from __future__ import annotations

import threading
import warnings

import pytest
import torch
from torch.func import grad, vmap

import losskit as lk
import losskit.functional as LF
from losskit import _validation as V
from tests.db import ENTRIES
from tests.loss_db import LossEntry, Sample

B = 3  # samples per vmapped batch


def _ids(entries: list[LossEntry]) -> list[str]:
    return [e.name for e in entries]


def _batch(entry: LossEntry, index: int) -> tuple[Sample, tuple, tuple]:
    """Sample ``index`` of ``entry`` drawn with seeds 0..B-1, stacked along a new dim 0: ``(sample of seed 0,
    in_dims, args)``. Tensor arguments of one shape in every draw are stacked (in_dims 0), the others are shared."""
    draws = []
    for seed in range(B):
        torch.manual_seed(seed)
        draws.append(entry.samples(torch.float32)[index])
    dims, args = [], []
    for values in zip(*(d.args for d in draws)):
        first = values[0]
        if isinstance(first, torch.Tensor) and all(v.shape == first.shape for v in values):
            dims.append(0)
            args.append(torch.stack(values))
        else:
            dims.append(None)
            args.append(first)
    return draws[0], tuple(dims), tuple(args)


def _one(args: tuple, dims: tuple, b: int) -> list:
    return [a if d is None else a[b] for a, d in zip(args, dims)]


def _to_meta(value: object) -> object:
    return value.to("meta") if isinstance(value, torch.Tensor) else value


# --------------------------------------------------------------------------------------------
# torch.func
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_vmap_equals_a_loop(entry: LossEntry):
    """vmap over a batch of samples, default guard, every sample and reduction: the loop's per-sample losses."""
    for index in range(len(entry.samples(torch.float32))):
        sample, dims, args = _batch(entry, index)
        for reduction in entry.reductions:
            lk.reset_guard()  # every sample's first call would run the value checks: under vmap they step aside

            def loss(*a, _r=reduction, _kw=sample.kwargs):
                return entry.functional(*a, **_kw, reduction=_r)

            out = vmap(loss, in_dims=dims)(*args)
            ref = torch.stack([loss(*_one(args, dims, b)) for b in range(B)])
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6, msg=f"{entry.name} [{sample.desc}] {reduction}")


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_per_sample_gradients_equal_a_loop(entry: LossEntry):
    """vmap(grad(loss)) over the first differentiable argument equals a Python loop of torch.autograd.grad."""
    checked = 0
    for index in range(len(entry.samples(torch.float32))):
        sample, dims, args = _batch(entry, index)
        g = sample.grad[0]
        if dims[g] is None or not args[g].is_floating_point():
            continue
        rest, rest_dims = args[:g] + args[g + 1 :], dims[:g] + dims[g + 1 :]

        def loss(x, *others, _g=g, _kw=sample.kwargs):
            full = list(others)
            full.insert(_g, x)
            return entry.functional(*full, **_kw, reduction="mean")

        lk.reset_guard()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lk.LosskitWarning)  # kl_div's reduction='mean' warning
            per_sample = vmap(grad(loss), in_dims=(0, *rest_dims))(args[g], *rest)
            expected = []
            for b in range(B):
                one = _one(args, dims, b)
                x = one[g].detach().clone().requires_grad_(True)
                expected.append(torch.autograd.grad(loss(x, *(one[:g] + one[g + 1 :])), x)[0])
        torch.testing.assert_close(per_sample, torch.stack(expected), rtol=1e-5, atol=1e-6,
                                   msg=f"{entry.name} [{sample.desc}]")
        checked += 1
    assert checked > 0


def test_vmap_never_marks_a_kind_as_checked():
    """Value checks that stepped aside under vmap do not count: the next eager call of that kind is checked."""
    x, nan = torch.randn(B, 4), torch.full((B, 4), float("nan"))
    assert torch.isnan(vmap(LF.mse_loss)(x, nan)).all()
    with pytest.raises(lk.NonFiniteError, match="target must be finite"):
        LF.mse_loss(x[0], nan[0])


def test_metadata_checks_still_raise_under_vmap():
    with pytest.raises(lk.LossShapeError, match=r"mse_loss: target must have the same shape as input \(4, 1\)"):
        vmap(LF.mse_loss)(torch.randn(B, 4, 1), torch.randn(B, 4))
    with pytest.raises(lk.LossShapeError, match="squeeze"):
        vmap(LF.cross_entropy)(torch.randn(B, 4, 5), torch.randint(0, 5, (B, 4, 1)))


@pytest.mark.parametrize("mode", ["always", "strict"])
def test_value_checks_step_aside_under_vmap_in_every_mode(mode: str):
    lk.set_guard(mode)
    x = torch.randn(B, 4, 5)
    x[0, 0, 0] = float("nan")
    out = vmap(LF.cross_entropy)(x, torch.randint(0, 5, (B, 4)))
    assert torch.isnan(out[0]) and torch.isfinite(out[1:]).all()
    with pytest.raises(lk.NonFiniteError):  # the same mistake eagerly
        LF.cross_entropy(x[0], torch.randint(0, 5, (4,)))


# --------------------------------------------------------------------------------------------
# meta and fake tensors, make_fx
# --------------------------------------------------------------------------------------------
# torch has no meta (or fake) kernel for aten::_ctc_loss: torch's own F.ctc_loss fails on meta tensors too
NO_META = {"ctc_loss"}


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_meta_tensors_give_the_shape_and_dtype(entry: LossEntry):
    for sample in entry.samples(torch.float32):
        for reduction in entry.reductions:
            ref = entry.functional(*sample.args, **sample.kwargs, reduction=reduction)
            args = tuple(_to_meta(a) for a in sample.args)
            kwargs = {k: _to_meta(v) for k, v in sample.kwargs.items()}
            if entry.name in NO_META:
                with pytest.raises(NotImplementedError, match="Meta"):
                    entry.functional(*args, **kwargs, reduction=reduction)
                return
            out = entry.functional(*args, **kwargs, reduction=reduction)
            assert out.is_meta, f"{entry.name} [{sample.desc}]"
            assert (out.shape, out.dtype) == (ref.shape, ref.dtype), f"{entry.name} [{sample.desc}] {reduction}"


def test_meta_tensors_never_mark_a_kind_as_checked_and_still_check_metadata():
    with pytest.raises(lk.LossShapeError, match=r"\(8, 1\)"):
        LF.mse_loss(torch.empty(8, 1, device="meta"), torch.empty(8, device="meta"))
    lk.set_guard("always")
    assert LF.mse_loss(torch.empty(8, device="meta"), torch.empty(8, device="meta")).is_meta


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.name not in NO_META],
                         ids=_ids([e for e in ENTRIES if e.name not in NO_META]))
def test_fake_tensors(entry: LossEntry):
    """Under a FakeTensorMode (what torch.compile and torch.export trace with) the loss runs with the default guard
    and gives the real output's shape and dtype."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    sample = entry.samples(torch.float32)[0]
    ref = entry.functional(*sample.args, **sample.kwargs)
    lk.reset_guard()
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        args = tuple(mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in sample.args)
        kwargs = {k: mode.from_tensor(v) if isinstance(v, torch.Tensor) else v for k, v in sample.kwargs.items()}
        out = entry.functional(*args, **kwargs)
    assert (out.shape, out.dtype) == (ref.shape, ref.dtype)


@pytest.mark.parametrize("tracing_mode", ["real", "fake"])
@pytest.mark.parametrize("loss", [LF.focal_loss, LF.binary_cross_entropy_with_logits],
                         ids=["focal_loss", "binary_cross_entropy_with_logits"])
def test_make_fx_traces_no_value_check(loss, tracing_mode: str):
    """make_fx in "always" mode: the traced graph holds the loss only (no isnan, no min/max of the target)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    target = torch.tensor([0, 1, 2, 3]) if loss is LF.focal_loss else torch.rand(4, 5)

    def count_ops(mode: str) -> int:
        lk.set_guard(mode)
        gm = make_fx(lambda x, t: loss(x, t), tracing_mode=tracing_mode)(torch.randn(4, 5), target)
        return sum(node.op == "call_function" for node in gm.graph.nodes)

    assert count_ops("always") == count_ops("off")


@pytest.mark.parametrize("loss", [LF.cross_entropy, LF.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_make_fx_real_traces_the_mean_without_reading_it(loss):
    """The eager CPU path reads torch's mean with .item(); under make_fx's proxy mode (real tensors) it must not:
    the traced graph gives the eager values, 0 where every target is ignored (issue 9: .item() of a proxy)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    x = torch.randn(4, 5).log_softmax(1)
    target, ignored = torch.tensor([0, 1, 2, 3]), torch.full((4,), -100)
    loss(x, target)  # eager first: the call signature is recorded, so the traced call is a steady-state one
    gm = make_fx(lambda a, t: loss(a, t), tracing_mode="real")(x, target)
    torch.testing.assert_close(gm(x, target), loss(x, target))
    assert float(gm(x, ignored)) == 0.0


# --------------------------------------------------------------------------------------------
# torch.export
# --------------------------------------------------------------------------------------------
class _Call(torch.nn.Module):
    """A Module whose forward calls ``fn`` on its tensor arguments, with the sample's other arguments fixed."""

    def __init__(self, fn, sample: Sample) -> None:
        super().__init__()
        self.fn, self.sample = fn, sample
        self.where = [i for i, a in enumerate(sample.args) if isinstance(a, torch.Tensor)]

    def tensors(self) -> tuple:
        return tuple(self.sample.args[i] for i in self.where)

    def forward(self, *tensors):
        args = list(self.sample.args)
        for i, t in zip(self.where, tensors):
            args[i] = t
        return self.fn(*args, **self.sample.kwargs)


# a representative set (every loss but ctc_loss exports, checked by hand: torch 2.13 has no meta kernel for
# aten::_ctc_loss, so torch.export of torch's own F.ctc_loss fails the same way)
EXPORTED = ["cross_entropy", "mse_loss", "binary_cross_entropy_with_logits", "focal_loss", "dice_loss", "supcon_loss"]


@pytest.mark.parametrize("strict", [False, True], ids=["non-strict", "strict"])
@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.name in EXPORTED],
                         ids=_ids([e for e in ENTRIES if e.name in EXPORTED]))
def test_torch_export(entry: LossEntry, strict: bool):
    """torch.export of a Module that calls the loss, in "always" mode (its value checks step aside while
    exporting): the exported program gives the eager numbers."""
    lk.set_guard("always")
    module = _Call(entry.functional, entry.samples(torch.float32)[0])
    program = torch.export.export(module, module.tensors(), strict=strict)
    torch.testing.assert_close(program.module()(*module.tensors()), module(*module.tensors()))


@pytest.mark.parametrize("strict", [False, True], ids=["non-strict", "strict"])
def test_torch_export_raises_metadata_errors(strict: bool):
    module = _Call(LF.mse_loss, Sample((torch.randn(8, 1), torch.randn(8))))
    with pytest.raises(lk.LossShapeError) as info:
        torch.export.export(module, module.tensors(), strict=strict)
    assert str(info.value).startswith("mse_loss: target must have the same shape as input (8, 1), but got (8,)")


# --------------------------------------------------------------------------------------------
# torch.compile
# --------------------------------------------------------------------------------------------
def _metadata_error(entry: LossEntry, monkeypatch) -> tuple[tuple, dict, BaseException] | None:
    """The first error case of ``entry`` that its metadata checks catch (it raises with the value checks off)."""
    with monkeypatch.context() as m:
        m.setattr(V, "values_due", lambda *a: False)
        m.setattr(V, "every_call_due", lambda *a: False)  # the value checks that run on every CPU call
        for case in entry.errors:
            if case.raises is None:
                continue
            args, kwargs = case.make()
            try:
                entry.functional(*args, **kwargs)
            except lk.LosskitError as err:
                return args, kwargs, err
            except Exception:  # torch's own error on a value mistake
                continue
    return None


_WITH_METADATA_ERRORS = [e for e in ENTRIES if any(c.raises is not None for c in e.errors)]


@pytest.mark.parametrize("entry", _WITH_METADATA_ERRORS, ids=_ids(_WITH_METADATA_ERRORS))
def test_compiled_fullgraph_raises_the_eager_metadata_error(entry: LossEntry, monkeypatch):
    """torch.compile(fullgraph=True) raises the eager error: same class, same message."""
    found = _metadata_error(entry, monkeypatch)
    if found is None:
        pytest.skip("no metadata error case")
    args, kwargs, eager = found
    torch._dynamo.reset()
    compiled = torch.compile(entry.functional, backend="eager", fullgraph=True)
    with pytest.raises(type(eager)) as info:
        compiled(*args, **kwargs)
    assert str(info.value) == str(eager)
    assert type(info.value).__name__ == type(eager).__name__


def test_compiled_module_fullgraph_raises_a_shape_error():
    """The issue's example: a compiled Module, fullgraph=True."""
    torch._dynamo.reset()
    with pytest.raises(lk.LossShapeError, match=r"^mse_loss: target must have the same shape as input \(8, 1\)"):
        torch.compile(lk.MSELoss(), backend="eager", fullgraph=True)(torch.randn(8, 1), torch.randn(8))


def _compile_counts(fn, *args, mode: str) -> tuple[int, int]:
    from torch._dynamo.testing import CompileCounter

    lk.set_guard(mode)
    torch._dynamo.reset()
    counter = CompileCounter()
    torch.compile(fn, backend=counter, fullgraph=True)(*args)
    return counter.frame_count, counter.op_count


@pytest.mark.parametrize("loss", [LF.mse_loss, LF.cross_entropy], ids=["mse_loss", "cross_entropy"])
def test_first_mode_adds_nothing_to_the_compiled_graph(loss):
    """In "first" mode the compiled graph is the one of mode "off": one graph, the same ops, no value check;
    and the compiled call does not mark its kind as checked (the next eager call runs the value checks)."""
    x = torch.randn(4, 5)
    target = torch.randn(4, 5) if loss is LF.mse_loss else torch.tensor([0, 1, 2, 3])
    assert _compile_counts(loss, x, target, mode="first") == _compile_counts(loss, x, target, mode="off")
    assert _compile_counts(loss, x, target, mode="first")[0] == 1
    x[0, 0] = float("nan")
    with pytest.raises(lk.NonFiniteError):
        loss(x, target)


@pytest.mark.parametrize("mode", ["always", "strict"])
def test_always_and_strict_modes_check_values_in_compiled_code(mode: str):
    """The issue's examples, compiled: NaN logits and class 7 of 5 raise losskit's errors (the checks run at a
    graph break), on every call; clean inputs give the eager numbers."""
    lk.set_guard(mode)
    torch._dynamo.reset()
    compiled = torch.compile(LF.cross_entropy, backend="eager")
    x, target = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(compiled(x, target), LF.cross_entropy(x, target))
    for _ in range(2):
        with pytest.raises(lk.LossValueError, match=r"must lie in \[0, 5\).*but got 7"):
            compiled(x, torch.tensor([0, 1, 7, 3]))
        nan = x.clone()
        nan[1, 2] = float("nan")
        with pytest.raises(lk.NonFiniteError, match="1 NaN"):
            compiled(nan, target)


def test_strict_mode_raises_warnings_in_compiled_code():
    lk.set_guard("strict")
    torch._dynamo.reset()
    probs = torch.tensor([[0.2, 0.8], [0.5, 0.5]])
    with pytest.raises(lk.LossValueError, match=r"looks like probabilities.*strict"):
        torch.compile(LF.cross_entropy, backend="eager")(probs, torch.tensor([1, 0]))


def test_always_mode_with_fullgraph_says_what_to_do():
    lk.set_guard("always")
    torch._dynamo.reset()
    with pytest.raises(lk.LossOptionError, match=r"fullgraph=True; use lk.set_guard\('first'\).*without fullgraph"):
        torch.compile(LF.mse_loss, backend="eager", fullgraph=True)(torch.randn(4), torch.randn(4))


# --------------------------------------------------------------------------------------------
# guard fixes: the warning's location, threads
# --------------------------------------------------------------------------------------------
def test_warnings_point_at_the_callers_line():
    probs = torch.tensor([[0.2, 0.8], [0.5, 0.5]])
    target = torch.tensor([1, 0])
    for call in (LF.cross_entropy, lk.CrossEntropyLoss()):
        lk.reset_guard()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(probs, target)
        ours = [w for w in caught if issubclass(w.category, lk.LosskitWarning)]
        assert len(ours) == 1
        assert ours[0].filename == __file__, f"{call}: the warning points at {ours[0].filename}"


def test_set_guard_is_process_wide():
    def switch_off():
        lk.set_guard("off")

    thread = threading.Thread(target=switch_off)
    thread.start()
    thread.join()
    assert lk.get_guard() == "off"
    assert torch.isnan(LF.mse_loss(torch.zeros(2), torch.tensor([0.0, float("nan")])))


def test_guard_block_is_local_to_its_thread():
    entered, leave = threading.Event(), threading.Event()
    seen_inside: list[str] = []

    def worker():
        with lk.guard("off"):
            seen_inside.append(lk.get_guard())
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    assert entered.wait(10)
    try:
        assert seen_inside == ["off"]
        assert lk.get_guard() == "first"  # this thread keeps the process-wide mode
        with pytest.raises(lk.NonFiniteError):
            LF.mse_loss(torch.zeros(2), torch.tensor([0.0, float("nan")]))
    finally:
        leave.set()
        thread.join()
    assert lk.get_guard() == "first"
