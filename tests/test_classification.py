"""Classification family: golden values, means over nothing, torch's mean in every option combination, and parity
with torch's own test database (``torch.testing._internal.common_modules.module_db``)."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF

F64 = torch.float64


# --------------------------------------------------------------------------------------------
# golden values (by hand)
# --------------------------------------------------------------------------------------------
def test_bce_label_smoothing_golden():
    p, y = torch.tensor([0.8, 0.3], dtype=F64), torch.tensor([1.0, 0.0], dtype=F64)
    # by hand: s = 0.2 turns y = (1, 0) into t = (0.9, 0.1);
    # l1 = -(0.9 ln 0.8 + 0.1 ln 0.2) = 0.3617729874, l2 = -(0.1 ln 0.3 + 0.9 ln 0.7) = 0.4414047300
    terms = LF.binary_cross_entropy(p, y, label_smoothing=0.2, reduction="none")
    torch.testing.assert_close(terms, torch.tensor([0.3617729874261988, 0.44140472997745284], dtype=F64))
    torch.testing.assert_close(LF.binary_cross_entropy(p, y, label_smoothing=0.2), torch.tensor(0.4015888587018258,
                                                                                                dtype=F64))
    # by hand: s = 1 makes every target 1/2: (-(ln 0.8 + ln 0.2) / 2 - (ln 0.3 + ln 0.7) / 2) / 2 = 0.8483073030
    torch.testing.assert_close(LF.binary_cross_entropy(p, y, label_smoothing=1.0), torch.tensor(0.8483073030032446,
                                                                                                dtype=F64))


def test_bce_with_logits_label_smoothing_pos_weight_and_weight_golden():
    x, y = torch.tensor([1.0, -2.0], dtype=F64), torch.tensor([1.0, 0.0], dtype=F64)
    # by hand: t = (0.95, 0.05); l_i = -(3 t_i ln sigmoid(x_i) + (1 - t_i) ln(1 - sigmoid(x_i)))
    #   = (0.9584588938, 0.4396208121); weighted mean (1 l1 + 3 l2) / (1 + 3) = 0.5693303326
    out = LF.binary_cross_entropy_with_logits(
        x, y, torch.tensor([1.0, 3.0], dtype=F64), pos_weight=torch.tensor([3.0], dtype=F64), label_smoothing=0.1,
    )
    torch.testing.assert_close(out, torch.tensor(0.5693303325611639, dtype=F64))


def test_bce_weighted_mean_golden():
    p, y = torch.tensor([0.8, 0.3, 0.6], dtype=F64), torch.tensor([1.0, 0.0, 1.0], dtype=F64)
    w = torch.tensor([3.0, 1.0, 0.0], dtype=F64)
    # by hand: (3 (-ln 0.8) + 1 (-ln 0.7) + 0) / (3 + 1 + 0) = 0.2565263995 (torch divides by 3: 0.3420351993)
    torch.testing.assert_close(LF.binary_cross_entropy(p, y, w), torch.tensor(0.2565263994703404, dtype=F64))
    torch.testing.assert_close(F.binary_cross_entropy(p, y, w), torch.tensor(0.3420351992937872, dtype=F64))
    # "sum" and "none" are torch's
    torch.testing.assert_close(LF.binary_cross_entropy(p, y, w, reduction="sum"),
                               F.binary_cross_entropy(p, y, w, reduction="sum"))


def test_bce_weighted_mean_divides_by_the_broadcast_weight():
    p = torch.tensor([[0.8, 0.3], [0.6, 0.5]], dtype=F64)
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    # by hand: w = (1, 3) per class, broadcast to (2, 2) sums to 8;
    # (-ln 0.8 - 3 ln 0.7 - ln 0.4 - 3 ln 0.5) / 8 = 0.5361125821
    out = LF.binary_cross_entropy(p, y, torch.tensor([1.0, 3.0], dtype=F64))
    torch.testing.assert_close(out, torch.tensor(0.5361125820855497, dtype=F64))
    mod = lk.BCEWithLogitsLoss(torch.tensor([1.0, 3.0], dtype=F64))
    torch.testing.assert_close(mod(torch.logit(p), y), out)


def test_bce_mask_as_weight_averages_over_the_unmasked_elements():
    p, y = torch.rand(5, 4, dtype=F64) * 0.9 + 0.05, (torch.rand(5, 4) > 0.5).to(F64)
    mask = torch.zeros(5, 4, dtype=F64)
    mask[:, :2] = 1
    torch.testing.assert_close(LF.binary_cross_entropy(p, y, mask), F.binary_cross_entropy(p[:, :2], y[:, :2]))


# --------------------------------------------------------------------------------------------
# means over nothing
# --------------------------------------------------------------------------------------------
def _zero_with_zero_grad(out: torch.Tensor, *leaves: torch.Tensor) -> None:
    assert out.dim() == 0 and float(out.detach()) == 0.0
    out.backward()
    for leaf in leaves:
        assert leaf.grad is None or (torch.isfinite(leaf.grad).all() and (leaf.grad == 0).all())


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize(
    ("input_shape", "target_shape"),
    [((4, 3), (4,)), ((2, 3, 2, 2), (2, 2, 2)), ((3,), ())],
    ids=["2d", "kdim", "unbatched"],
)
def test_cross_entropy_all_ignored_is_zero(weighted, label_smoothing, input_shape, target_shape):
    x = torch.randn(input_shape, requires_grad=True)
    w = torch.rand(3) + 0.1 if weighted else None
    out = LF.cross_entropy(x, torch.full(target_shape, -100), w, label_smoothing=label_smoothing)
    assert torch.isnan(F.cross_entropy(x, torch.full(target_shape, -100), w, label_smoothing=label_smoothing))
    _zero_with_zero_grad(out, x)


def test_cross_entropy_custom_ignore_index_all_ignored_is_zero():
    x = torch.randn(4, 3, requires_grad=True)
    loss = lk.CrossEntropyLoss(ignore_index=1, label_smoothing=0.2)
    _zero_with_zero_grad(loss(x, torch.ones(4, dtype=torch.long)), x)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_nll_loss_all_ignored_is_zero(weighted):
    x = torch.randn(4, 3).log_softmax(1).requires_grad_()
    w = torch.rand(3) + 0.1 if weighted else None
    _zero_with_zero_grad(LF.nll_loss(x, torch.full((4,), -100), w), x)


def test_empty_batches_are_zero():
    cases = [
        (LF.cross_entropy, torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)),
        (LF.cross_entropy, torch.zeros(0, 3), torch.zeros(0, 3)),  # class probabilities
        (LF.cross_entropy, torch.zeros(2, 3, 0), torch.zeros(2, 0, dtype=torch.long)),  # empty K dim
        (LF.nll_loss, torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)),
        (LF.binary_cross_entropy, torch.zeros(0, 3), torch.zeros(0, 3)),
        (LF.binary_cross_entropy_with_logits, torch.zeros(0, 3), torch.zeros(0, 3)),
    ]
    for fn, x, t in cases:
        x = x.clone().requires_grad_()
        _zero_with_zero_grad(fn(x, t), x)


def test_linear_cross_entropy_all_ignored_is_zero_also_on_the_chunked_path():
    for options in (None, torch.nn.LinearCrossEntropyOptions(batch_chunk_size=2)):
        h, w = torch.randn(4, 3, requires_grad=True), torch.randn(5, 3, requires_grad=True)
        out = LF.linear_cross_entropy(h, w, torch.full((4,), -100), weight=torch.rand(5) + 0.1, options=options)
        _zero_with_zero_grad(out, h, w)


def test_binary_all_zero_weight_is_zero():
    x = torch.randn(4, 3, requires_grad=True)
    _zero_with_zero_grad(LF.binary_cross_entropy_with_logits(x, torch.rand(4, 3), torch.zeros(4, 3)), x)


def test_mean_over_nothing_compiles_without_graph_break():
    torch._dynamo.reset()
    fn = torch.compile(LF.cross_entropy, backend="aot_eager", fullgraph=True)
    x = torch.randn(4, 3, requires_grad=True)
    _zero_with_zero_grad(fn(x, torch.full((4,), -100), torch.rand(3), label_smoothing=0.1), x)


def test_probability_target_mean_compiles_without_graph_break():
    x, p = torch.randn(2, 4, 3), torch.randn(2, 4, 3).softmax(1)
    for fn in (LF.cross_entropy, LF.linear_cross_entropy):
        torch._dynamo.reset()
        args = (x, p) if fn is LF.cross_entropy else (x[:, :, 0], torch.randn(4, 4), p[:, :, 0])
        compiled = torch.compile(fn, backend="eager", fullgraph=True)
        torch.testing.assert_close(compiled(*args, label_smoothing=0.1), fn(*args, label_smoothing=0.1))


# --------------------------------------------------------------------------------------------
# losskit's mean (torch's sum / our denominator) is torch's mean in every option combination
# --------------------------------------------------------------------------------------------
def _class_case(layout: str, probabilities: bool, ignored: bool):
    shape = {"2d": (7, 4), "kdim": (3, 4, 2, 3), "unbatched": (4,)}[layout]
    x = torch.randn(shape, dtype=F64) * 2
    if probabilities:
        return x, torch.randn(shape, dtype=F64).softmax(0 if layout == "unbatched" else 1)
    t = torch.randint(0, 4, x.sum(0 if layout == "unbatched" else 1).shape)
    if ignored:
        t.view(-1)[::3] = -100  # some (never all) targets ignored
    return x, t


_CE_COMBOS = [
    c for c in itertools.product(["2d", "kdim", "unbatched"], [False, True], [False, True], [False, True], [0.0, 0.15])
    if not (c[1] and c[2]) and not (c[0] == "unbatched" and c[2])
]


@pytest.mark.parametrize(
    ("layout", "probabilities", "ignored", "weighted", "label_smoothing"), _CE_COMBOS,
    ids=[f"{c[0]}-{'prob' if c[1] else 'idx'}{'-ign' if c[2] else ''}{'-w' if c[3] else ''}-ls{c[4]}"
         for c in _CE_COMBOS],
)
def test_cross_entropy_mean_is_torchs_mean(layout, probabilities, ignored, weighted, label_smoothing):
    x, t = _class_case(layout, probabilities, ignored)
    w = torch.rand(4, dtype=F64) + 0.1 if weighted else None
    for reduction in ("mean", "sum", "none"):
        ours = LF.cross_entropy(x, t, w, reduction=reduction, label_smoothing=label_smoothing)
        theirs = F.cross_entropy(x, t, w, reduction=reduction, label_smoothing=label_smoothing)
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
        if not probabilities:
            logp = x.log_softmax(0 if layout == "unbatched" else 1)
            torch.testing.assert_close(LF.nll_loss(logp, t, w, reduction=reduction),
                                       F.nll_loss(logp, t, w, reduction=reduction), rtol=1e-12, atol=1e-12)


def test_guard_off_gives_the_same_numbers():
    x, t, p = torch.randn(5, 4), torch.tensor([0, 3, -100, 1, 2]), torch.randn(5, 4).softmax(1)
    w = torch.rand(4) + 0.1
    calls = [
        lambda: LF.cross_entropy(x, t, w, label_smoothing=0.1),
        lambda: LF.cross_entropy(x, p, w),
        lambda: LF.cross_entropy(x, torch.full((5,), -100)),
        lambda: LF.nll_loss(x.log_softmax(1), t, w),
        lambda: LF.binary_cross_entropy_with_logits(x, p, w, label_smoothing=0.1),
        lambda: LF.linear_cross_entropy(x, torch.randn(4, 4, generator=torch.Generator().manual_seed(1)), t),
    ]
    guarded = [c() for c in calls]
    with lk.guard("off"):
        for c, g in zip(calls, guarded):
            torch.testing.assert_close(c(), g)


def test_any_integer_dtype_of_class_indices_is_accepted():
    x, t = torch.randn(5, 4), torch.tensor([0, 3, 2, 1, 2])
    expected = F.cross_entropy(x, t, label_smoothing=0.1)
    for dtype in (torch.int32, torch.int16, torch.uint8):
        torch.testing.assert_close(LF.cross_entropy(x, t.to(dtype), label_smoothing=0.1), expected)


def test_value_checks_of_a_new_input_kind_run_again():
    """The guard's first-call memory is per input kind: a K-dim call is checked even after a 2-D one."""
    LF.cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]))
    with pytest.raises(lk.LossValueError, match="but got 7"):
        LF.cross_entropy(torch.randn(2, 3, 4), torch.full((2, 4), 7))


# --------------------------------------------------------------------------------------------
# parity with torch's own test database
# --------------------------------------------------------------------------------------------
_TORCH_MODULES = [
    "nn.CrossEntropyLoss", "nn.NLLLoss", "nn.BCELoss", "nn.BCEWithLogitsLoss", "nn.LinearCrossEntropyLoss",
]


@functools.cache
def _module_info(name: str):
    # torch's test helpers import expecttest (a test-only extra); importing them takes seconds, so only here
    common_modules = pytest.importorskip("torch.testing._internal.common_modules", reason="needs expecttest")
    return next(m for m in common_modules.module_db if m.name == name)


def _clone(args: tuple) -> tuple:
    return tuple(
        a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args
    )


def _rejected_on_purpose(ctor: dict) -> type[Exception] | None:
    """losskit's documented policy on inputs torch accepts: negative weights are a LossValueError."""
    for key in ("weight", "pos_weight"):
        w = ctor.get(key)
        if isinstance(w, torch.Tensor) and bool((w < 0).any()):
            return lk.LossValueError
    return None


def _expected(info, ctor: dict, theirs: torch.nn.Module, args: tuple) -> torch.Tensor:
    """torch's result, with losskit's documented differences applied."""
    reduction = ctor.get("reduction", "mean")
    input, target = args[0], args[1]
    if reduction == "mean" and not target.is_floating_point():
        ignore_index = ctor.get("ignore_index")
        ignore_index = -100 if ignore_index is None else ignore_index
        if bool((target == ignore_index).all()):  # a mean over nothing: 0 with a zero gradient
            return (input * 0).sum() + sum((p * 0).sum() for p in theirs.parameters())
    weight = ctor.get("weight")
    if reduction == "mean" and weight is not None and info.name in ("nn.BCELoss", "nn.BCEWithLogitsLoss"):
        # the weighted mean sum(w * l) / sum(w), applied to torch's own weighted terms
        terms = info.module_cls(**{**ctor, "reduction": "none"})(*args)
        return terms.sum() / torch.broadcast_to(weight, input.shape).sum()
    return theirs(*args)


def _grads(args: tuple, module: torch.nn.Module) -> list[torch.Tensor | None]:
    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad] + list(module.parameters())
    return [leaf.grad for leaf in leaves]


@pytest.mark.filterwarnings("ignore:linear_cross_entropy. ``options`` ignored:UserWarning")
@pytest.mark.parametrize("name", _TORCH_MODULES)
def test_parity_with_torch_module_db(name: str):
    """Every sample of torch's module_db: our Module (built from the same constructor kwargs, with torch's
    parameters loaded) gives torch's values and gradients, or raises the error our policy documents."""
    info = _module_info(name)
    ours_cls = getattr(lk, info.module_cls.__name__)
    samples = info.module_inputs_func(info, device="cpu", dtype=F64, requires_grad=True, training=True)
    if len(samples) > 160:  # LinearCrossEntropyLoss has ~860 option combinations: an even spread of 1 in k
        samples = samples[:: len(samples) // 160 + 1]
    lk.set_guard("always")  # every sample is checked, not only the first of each input kind
    matched = rejected = 0
    for sample in samples:
        ctor_args, ctor = sample.constructor_input.args, sample.constructor_input.kwargs
        fwd = sample.forward_input.args
        assert not sample.forward_input.kwargs
        error = _rejected_on_purpose(ctor)
        if error is not None:
            with pytest.raises(error):
                ours_cls(*ctor_args, **ctor)(*_clone(fwd))
            rejected += 1
            continue
        theirs = info.module_cls(*ctor_args, **ctor)
        ours = ours_cls(*ctor_args, **ctor)
        ours.load_state_dict(theirs.state_dict())  # the LCE head; class weights are buffers in both
        a, b = _clone(fwd), _clone(fwd)
        out, ref = ours(*a), _expected(info, ctor, theirs, b)
        msg = f"{name} {sample.desc or ''} {ctor}"
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-11, msg=msg)
        g = torch.rand_like(out) + 0.5
        out.backward(g)
        ref.backward(g)
        for ga, gb in zip(_grads(a, ours), _grads(b, theirs), strict=True):
            assert (ga is None) == (gb is None), msg
            if ga is not None:
                torch.testing.assert_close(ga, gb, rtol=1e-9, atol=1e-11, msg=f"grad of {msg}")
        matched += 1
    assert matched > 0
    if name in ("nn.CrossEntropyLoss", "nn.BCELoss", "nn.BCEWithLogitsLoss"):
        assert rejected > 0  # their class weights come from U(-9, 9): some are negative


@pytest.mark.parametrize("name", ["nn.CrossEntropyLoss", "nn.LinearCrossEntropyLoss"])
def test_torch_module_db_error_inputs_are_losskit_errors(name: str):
    """What torch rejects, losskit rejects too, with its own error classes (ValueError/TypeError)."""
    info = _module_info(name)
    ours_cls = getattr(lk, info.module_cls.__name__)
    cases = info.module_error_inputs_func(info, device="cpu", dtype=F64, requires_grad=True, training=True)
    assert cases
    for case in cases:
        mi = case.module_error_input
        with pytest.raises(lk.LosskitError) as caught:
            ours = ours_cls(*mi.constructor_input.args, **mi.constructor_input.kwargs)
            ours(*_clone(mi.forward_input.args))
        assert isinstance(caught.value, (ValueError, TypeError)) and ";" in str(caught.value)


def test_bce_with_logits_ignore_index_is_the_mean_over_kept_elements_and_smps_sum_over_numel():
    """ignore_index=255: the mean over the other elements (by boolean selection, independent of the weight path);
    segmentation_models_pytorch's SoftBCEWithLogitsLoss divides the same sum by every element."""
    torch.manual_seed(3)
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    y = (torch.rand(2, 1, 8, 8, dtype=torch.float64) > 0.5).double()
    y[:, :, :2] = 255.0
    keep = y != 255
    out = LF.binary_cross_entropy_with_logits(x, y, ignore_index=255)
    expected = F.binary_cross_entropy_with_logits(x[keep], y[keep])
    torch.testing.assert_close(out, expected)
    out.backward()
    assert (x.grad[~keep] == 0).all() and (x.grad[keep] != 0).all()
    smp_like = LF.binary_cross_entropy_with_logits(x, y, ignore_index=255, reduction="sum") / x.numel()
    torch.testing.assert_close(smp_like, F.binary_cross_entropy_with_logits(x[keep], y[keep], reduction="sum") / 128)
    everything_ignored = LF.binary_cross_entropy_with_logits(x, torch.full_like(y, 255.0), ignore_index=255)
    assert float(everything_ignored.detach()) == 0.0
