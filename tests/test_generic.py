"""Generic tests over every entry of the loss database (tests/loss_db.py)."""

from __future__ import annotations

import inspect

import pytest
import torch

import losskit as lk
from tests.db import ENTRIES
from tests.loss_db import LossEntry, Sample, clone_args

DTYPES = [torch.float32, torch.float64]


def _ids(entries: list[LossEntry]) -> list[str]:
    return [e.name for e in entries]


def _tol(entry: LossEntry, dtype: torch.dtype) -> dict:
    if dtype == torch.float64:
        return {"rtol": 1e-7, "atol": 1e-10}
    return dict(entry.tol32) if entry.tol32 else {}


def _run(fn, sample: Sample, args: tuple, reduction: str, **extra) -> torch.Tensor:
    return fn(*args, **sample.kwargs, reduction=reduction, **extra)


def _grads(args: tuple, grad: tuple[int, ...]) -> list[torch.Tensor | None]:
    return [args[i].grad for i in grad if isinstance(args[i], torch.Tensor) and args[i].requires_grad]


def test_database_covers_every_exported_loss():
    in_db = {e.module.__name__ for e in ENTRIES}
    exported = {row.name for row in lk.list_losses()}
    assert exported - in_db == set(), "losses without a test-database entry"


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_signature_grammar(entry: LossEntry):
    """Options are keyword-only, reduction defaults to "mean" in functional and Module."""
    params = inspect.signature(entry.functional).parameters
    assert params["reduction"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["reduction"].default == "mean"
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())
    mparams = inspect.signature(entry.module.__init__).parameters
    assert mparams["reduction"].default == "mean"
    assert entry.module.functional is not None


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.reference], ids=_ids([e for e in ENTRIES if e.reference]))
def test_parity_with_reference(entry: LossEntry, dtype: torch.dtype):
    """Values and gradients equal the reference's for every sample and reduction, grad_output != 1."""
    checked = 0
    for sample in entry.samples(dtype):
        if not sample.reference_ok:
            continue
        for reduction in entry.reductions:
            a, b = clone_args(sample.args, sample.grad), clone_args(sample.args, sample.grad)
            out = _run(entry.functional, sample, a, reduction)
            ref = _run(entry.reference, sample, b, reduction)
            msg = f"{entry.name} [{sample.desc}] reduction={reduction}"
            torch.testing.assert_close(out, ref, **_tol(entry, dtype), msg=msg)
            if out.requires_grad:
                g = torch.randn_like(out) + 2.0  # never 1, never symmetric
                out.backward(g)
                ref.backward(g)
                for ga, gb in zip(_grads(a, sample.grad), _grads(b, sample.grad)):
                    torch.testing.assert_close(ga, gb, **_tol(entry, dtype), msg=f"grad of {msg}")
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.gradcheck], ids=_ids([e for e in ENTRIES if e.gradcheck]))
def test_gradcheck_float64(entry: LossEntry):
    samples = entry.samples(torch.float64)
    for sample in (samples[0], samples[-1]):
        for reduction in [r for r in entry.reductions if r != "sum"]:  # "sum" is "none" summed
            args = clone_args(sample.args, sample.grad)
            idx = [i for i in sample.grad if isinstance(args[i], torch.Tensor) and args[i].requires_grad]

            def fn(*diff, _args=args, _idx=idx, _s=sample, _r=reduction):
                full = list(_args)
                for i, d in zip(_idx, diff):
                    full[i] = d
                return _run(entry.functional, _s, tuple(full), _r)

            assert torch.autograd.gradcheck(fn, tuple(args[i] for i in idx), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_module_equals_functional(entry: LossEntry):
    for sample in entry.samples(torch.float64):
        ctor, fwd = entry.split(sample)
        for reduction in entry.reductions:
            module = entry.module(**ctor, reduction=reduction)
            out = module(*fwd)
            ref = _run(entry.functional, sample, sample.args, reduction)
            torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12, msg=f"{entry.name} {sample.desc}")


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_module_state_dict_and_to(entry: LossEntry):
    """Tensor options are buffers: they follow .to() and round-trip through state_dict."""
    sample = entry.samples(torch.float32)[-1]
    ctor, fwd = entry.split(sample)
    module = entry.module(**ctor)
    tensor_opts = {k for k, v in ctor.items() if isinstance(v, torch.Tensor)}
    assert tensor_opts <= set(module.state_dict()), "tensor options must be registered buffers"
    module64 = module.to(torch.float64)
    for name in tensor_opts:
        if ctor[name].is_floating_point():
            assert getattr(module64, name).dtype == torch.float64
    fresh = entry.module(**ctor)
    fresh.load_state_dict(module.state_dict())
    fwd64 = tuple(a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in fwd)
    torch.testing.assert_close(module64(*fwd64), fresh.to(torch.float64)(*fwd64))


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.compile], ids=_ids([e for e in ENTRIES if e.compile]))
def test_torch_compile_parity(entry: LossEntry):
    """The functional traces into one graph (no graph break) and gives the eager numbers."""
    torch._dynamo.reset()
    sample = entry.samples(torch.float32)[0]
    compiled = torch.compile(entry.functional, backend="aot_eager", fullgraph=True)
    a, b = clone_args(sample.args, sample.grad), clone_args(sample.args, sample.grad)
    out = _run(compiled, sample, a, "mean")
    ref = _run(entry.functional, sample, b, "mean")
    torch.testing.assert_close(out, ref)
    if ref.requires_grad:
        out.backward()
        ref.backward()
        for ga, gb in zip(_grads(a, sample.grad), _grads(b, sample.grad)):
            torch.testing.assert_close(ga, gb)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.empty], ids=_ids([e for e in ENTRIES if e.empty]))
def test_mean_over_nothing_is_zero_with_zero_gradient(entry: LossEntry):
    args, kwargs = entry.empty()
    args = clone_args(args, (0,))
    out = entry.functional(*args, **kwargs, reduction="mean")
    assert out.dim() == 0 and float(out.detach()) == 0.0
    out.backward()
    grad = args[0].grad
    assert grad is None or (torch.isfinite(grad).all() and (grad == 0).all())


_ERROR_CASES = [(e, c) for e in ENTRIES for c in e.errors]


@pytest.mark.parametrize(
    ("entry", "case"), _ERROR_CASES, ids=[f"{e.name}-{c.desc}" for e, c in _ERROR_CASES]
)
def test_error_catalog(entry: LossEntry, case):
    args, kwargs = case.make()
    if case.raises is not None:
        with pytest.raises(case.raises, match=case.match) as info:
            entry.functional(*args, **kwargs)
        err = info.value
        assert isinstance(err, lk.LosskitError) and isinstance(err, (ValueError, TypeError))
        assert str(err).startswith(f"{entry.name}:"), "the message names the loss first"
        assert ";" in str(err), "the message ends with the fix after a ';'"
    else:
        with pytest.warns(case.warns, match=case.match):
            entry.functional(*args, **kwargs)
        lk.set_guard("strict")
        with pytest.raises(lk.LossValueError, match=case.match):
            entry.functional(*case.make()[0], **case.make()[1])
