"""Golden values, peer agreement and special cases of the imbalance family (the generic tests in test_generic.py
already cover every reduction, the paper references, float64 gradcheck, Module == functional, compile and the error
catalog through tests/db/imbalance.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF

IGN = -100
F64 = {"dtype": torch.float64}


def _close(actual, expected, **tol):
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), **tol)


# --------------------------------------------------------------------------------------------
# focal_loss
# --------------------------------------------------------------------------------------------
def _ce_cases():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 5, generator=g, **F64) * 2
    xk = torch.randn(2, 5, 3, 2, generator=g, **F64) * 2
    t = torch.tensor([0, 4, 2, 1, 3, 2])
    t_ign = torch.tensor([0, IGN, 2, 1, IGN, 2])
    tk = torch.randint(0, 5, (2, 3, 2), generator=g)
    tk[1, 0, 1] = IGN
    w = torch.rand(5, generator=g, **F64) + 0.1
    return {
        "plain": ((x, t), {}),
        "weight": ((x, t, w), {}),
        "ignore_index": ((x, t_ign), {}),
        "ignore_index=2": ((x, t, w), {"ignore_index": 2}),
        "label_smoothing": ((x, t), {"label_smoothing": 0.15}),
        "everything": ((x, t_ign, w), {"label_smoothing": 0.3}),
        "K-dim": ((xk, tk, w), {"label_smoothing": 0.1}),
        "unbatched": ((x[2], t[2]), {"label_smoothing": 0.1}),
    }


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("case", list(_ce_cases()))
def test_focal_gamma0_equals_cross_entropy(case, reduction):
    """gamma=0, alpha=None is losskit's cross_entropy (and torch's), values and gradients, smoothing included."""
    args, kwargs = _ce_cases()[case]
    x1, x2, x3 = (args[0].clone().requires_grad_() for _ in range(3))
    out = LF.focal_loss(x1, *args[1:], gamma=0.0, **kwargs, reduction=reduction)
    ours = LF.cross_entropy(x2, *args[1:], **kwargs, reduction=reduction)
    torchs = F.cross_entropy(x3, *args[1:], **kwargs, reduction=reduction)
    torch.testing.assert_close(out, ours, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(out, torchs, rtol=1e-12, atol=1e-14)
    g = torch.rand_like(out) + 0.5
    out.backward(g)
    ours.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-12, atol=1e-14)


def test_focal_keras_categorical_focal_crossentropy_golden():
    # keras.losses.CategoricalFocalCrossentropy docstring (alpha=0.25, gamma=2.0): y_true one-hot [[0, 1, 0],
    # [0, 0, 1]], y_pred [[0.05, 0.95, 0], [0.1, 0.8, 0.1]] -> none [3.2058331e-05, 4.6627346e-01], mean 0.23315276,
    # sum 0.46631. Keras takes probabilities (clipped at 1e-7); the logits here are their logs.
    logits = torch.tensor([[0.05, 0.95, 1e-7], [0.1, 0.8, 0.1]], **F64).log()
    target = torch.tensor([1, 2])
    none = LF.focal_loss(logits, target, alpha=0.25, gamma=2.0, reduction="none")
    _close(none, [3.2058331e-05, 4.6627346e-01], rtol=1e-5, atol=0)  # Keras' numbers are float32
    _close(LF.focal_loss(logits, target, alpha=0.25, gamma=2.0), 0.23315276, rtol=1e-5, atol=0)
    _close(LF.focal_loss(logits, target, alpha=0.25, gamma=2.0, reduction="sum"), 0.46631, rtol=1e-5, atol=0)


def test_focal_golden_by_hand():
    # by hand (Python's math module): p = softmax([2, 0.5, -1]) = [0.78559703, 0.17529039, 0.03911257], y = 0,
    #   gamma = 2: (1 - 0.78559703)^2 * -log(0.78559703) = 0.04596863 * 0.24131130 = 0.011092750
    # with alpha = [0.5, 1, 2] and weight = [2, 1, 1]: 0.5 * 2 * 0.011092750, and the mean divides by w_y = 2
    x = torch.tensor([[2.0, 0.5, -1.0]], **F64)
    _close(LF.focal_loss(x, torch.tensor([0])), 0.011092750, rtol=1e-7, atol=0)
    alpha, w = torch.tensor([0.5, 1.0, 2.0], **F64), torch.tensor([2.0, 1.0, 1.0], **F64)
    _close(LF.focal_loss(x, torch.tensor([0]), w, alpha=alpha), 0.011092750 / 2, rtol=1e-7, atol=0)
    _close(LF.focal_loss(x, torch.tensor([0]), w, alpha=alpha, reduction="sum"), 0.011092750, rtol=1e-7, atol=0)


def test_focal_float_alpha_scales_every_class():
    """A float alpha is one factor for every class (the Keras/tutorial reading), a tensor one per class."""
    x, t = torch.randn(8, 4, **F64), torch.randint(0, 4, (8,))
    base = LF.focal_loss(x, t, reduction="none")
    torch.testing.assert_close(LF.focal_loss(x, t, alpha=0.25, reduction="none"), 0.25 * base)
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4], **F64)
    torch.testing.assert_close(LF.focal_loss(x, t, alpha=alpha, reduction="none"), alpha[t] * base)


def test_focal_smoothing_multiplies_each_class_term():
    # the documented definition: -(1 - s) (1 - p_y)^g log p_y - s / C * sum_c (1 - p_c)^g log p_c
    x, t, s, g = torch.randn(5, 3, **F64), torch.tensor([0, 1, 2, 1, 0]), 0.2, 2.0
    p = x.softmax(1)
    terms = -((1 - p) ** g) * p.log()
    expected = (1 - s) * terms[torch.arange(5), t] + s / 3 * terms.sum(1)
    torch.testing.assert_close(LF.focal_loss(x, t, gamma=g, label_smoothing=s, reduction="none"), expected)


def test_focal_down_weights_easy_examples():
    # the point of the paper: a well-classified example (p_y = 0.9) loses a factor (1 - 0.9)^2 = 100 vs CE
    x = torch.tensor([[math.log(9.0), 0.0]], **F64)  # p = [0.9, 0.1]
    ratio = LF.focal_loss(x, torch.tensor([0])) / LF.cross_entropy(x, torch.tensor([0]))
    _close(ratio, 0.01, rtol=1e-9, atol=0)


# --------------------------------------------------------------------------------------------
# sigmoid_focal_loss
# --------------------------------------------------------------------------------------------
KERAS_T = [0.0, 1.0, 0.0, 0.0]
KERAS_X = [-18.6, 0.51, 2.94, -12.8]


@pytest.mark.parametrize(
    ("alpha", "gamma", "shape", "expected"),
    [
        # keras.losses.BinaryFocalCrossentropy docstring, from_logits=True; alpha < 0 is
        # apply_class_balancing=False, alpha=0.25 is apply_class_balancing=True
        (-1.0, 2.0, (4,), 0.691),
        (0.25, 2.0, (4,), 0.51),
        (-1.0, 3.0, (2, 2), 0.647),
        (0.25, 3.0, (2, 2), 0.482),
    ],
)
def test_sigmoid_focal_keras_docstring_golden(alpha, gamma, shape, expected):
    x, t = torch.tensor(KERAS_X).view(shape), torch.tensor(KERAS_T).view(shape)
    _close(LF.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma), expected, rtol=0, atol=6e-4)


def test_sigmoid_focal_keras_sum_and_none_golden():
    # Keras docstring: reduction "sum" (gamma=4) 1.222 / balanced 0.914 and None (gamma=5) [0.0017, 1.1561] /
    # balanced [0.0004, 0.8670]; Keras first averages over the last axis, so its rows are our row means
    x, t = torch.tensor(KERAS_X).view(2, 2), torch.tensor(KERAS_T).view(2, 2)
    for alpha, expected in ((-1.0, 1.222), (0.25, 0.914)):
        rows = LF.sigmoid_focal_loss(x, t, alpha=alpha, gamma=4.0, reduction="none").mean(-1)
        _close(rows.sum(), expected, rtol=0, atol=6e-4)
    for alpha, expected in ((-1.0, [0.0017, 1.1561]), (0.25, [0.0004, 0.8670])):
        rows = LF.sigmoid_focal_loss(x, t, alpha=alpha, gamma=5.0, reduction="none").mean(-1)
        _close(rows, expected, rtol=0, atol=1e-4)  # Keras prints 4 decimals (0.8670 where math gives 0.86708)


def test_sigmoid_focal_keras_test_golden():
    # keras losses_test.py, BinaryWeightedFocalCrossentropyTest.test_unweighted (logits, alpha=0.3, gamma=3):
    # 0.40724, asserted there to 3 places (it is computed from rounded intermediates)
    x = torch.tensor([[1.5, -2.7, 2.9], [-3.8, 1.2, -4.5]], **F64)
    t = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]], **F64)
    _close(LF.sigmoid_focal_loss(x, t, alpha=0.3, gamma=3.0), 0.40724, rtol=0, atol=5e-4)


def test_sigmoid_focal_gamma0_no_alpha_is_bce_with_logits():
    # torchvision test_ops TestFocalLoss.test_equal_ce_loss: gamma=0, alpha=-1 is binary_cross_entropy_with_logits
    x, t = torch.randn(5, 4, **F64) * 3, (torch.rand(5, 4) > 0.5).double()
    pw = torch.rand(4, **F64) * 3
    for reduction in ("none", "mean", "sum"):
        torch.testing.assert_close(
            LF.sigmoid_focal_loss(x, t, alpha=-1.0, gamma=0.0, pos_weight=pw, reduction=reduction),
            F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction=reduction),
        )


def test_sigmoid_focal_smoothing_is_binary_convention():
    # label smoothing t (1 - s) + s / 2 (losskit's BCE convention, Keras' binary focal one): equal to passing
    # the smoothed target
    x, t = torch.randn(5, 4, **F64), (torch.rand(5, 4) > 0.5).double()
    torch.testing.assert_close(
        LF.sigmoid_focal_loss(x, t, label_smoothing=0.2), LF.sigmoid_focal_loss(x, t * 0.8 + 0.1)
    )


def test_sigmoid_focal_weighted_mean():
    x, t = torch.randn(4, 3, **F64), (torch.rand(4, 3) > 0.5).double()
    w = torch.tensor([1.0, 0.0, 2.0], **F64)
    terms = LF.sigmoid_focal_loss(x, t, reduction="none")
    torch.testing.assert_close(LF.sigmoid_focal_loss(x, t, w), (terms * w).sum() / (w.sum() * 4))


# --------------------------------------------------------------------------------------------
# poly_loss
# --------------------------------------------------------------------------------------------
def test_poly_golden_by_hand():
    # by hand (Python's math module): p = softmax([2, 0.5, -1]) = [0.78559703, 0.17529039, 0.03911257], y = 0
    #   CE = 0.24131130, Poly-1 (epsilon=1) = 0.24131130 + (1 - 0.78559703) = 0.45571426
    #   epsilon=2, smoothing 0.3: p_t = 0.7 * 0.78559703 + 0.3 / 3 = 0.64991792,
    #   CE_s = 0.7 * 0.24131130 + 0.1 * (0.24131130 + 1.74131130 + 3.24131130) = 0.69131130,
    #   Poly-1 = 0.69131130 + 2 * (1 - 0.64991792) = 1.39147545
    x = torch.tensor([[2.0, 0.5, -1.0]], **F64)
    _close(LF.poly_loss(x, torch.tensor([0])), 0.45571426, rtol=1e-7, atol=0)
    _close(LF.poly_loss(x, torch.tensor([0]), epsilon=2.0, label_smoothing=0.3), 1.39147545, rtol=1e-7, atol=0)


@pytest.mark.parametrize("case", ["plain", "everything", "K-dim", "unbatched"])
def test_poly_epsilon0_equals_cross_entropy(case):
    args, kwargs = _ce_cases()[case]
    for reduction in ("none", "mean", "sum"):
        torch.testing.assert_close(
            LF.poly_loss(*args, epsilon=0.0, **kwargs, reduction=reduction),
            LF.cross_entropy(*args, **kwargs, reduction=reduction), rtol=1e-12, atol=1e-14,
        )


def test_poly_weighted_mean_weights_the_poly_term():
    # documented: l = CE_w + epsilon w_y (1 - p_t), mean = sum(l) / sum(w_y)
    x, t = torch.randn(6, 3, **F64), torch.tensor([0, 1, 2, 2, 1, 0])
    w = torch.tensor([0.5, 1.0, 3.0], **F64)
    p_y = x.softmax(1)[torch.arange(6), t]
    expected = (F.cross_entropy(x, t, w, reduction="sum") + 1.5 * (w[t] * (1 - p_y)).sum()) / w[t].sum()
    torch.testing.assert_close(LF.poly_loss(x, t, w, epsilon=1.5), expected)


# --------------------------------------------------------------------------------------------
# generalized_cross_entropy
# --------------------------------------------------------------------------------------------
def test_gce_golden_and_limits():
    # by hand (Python's math module): p_y = 0.78559703; q = 0.7: (1 - 0.78559703^0.7) / 0.7 = 0.22203109
    x, t = torch.tensor([[2.0, 0.5, -1.0]], **F64), torch.tensor([0])
    _close(LF.generalized_cross_entropy(x, t), 0.22203109, rtol=1e-7, atol=0)
    # Zhang & Sabuncu: q = 1 is 1 - p_y (MAE up to a factor 2); q -> 0 tends to cross-entropy
    x, t = torch.randn(7, 4, **F64), torch.randint(0, 4, (7,))
    p_y = x.softmax(1)[torch.arange(7), t]
    torch.testing.assert_close(LF.generalized_cross_entropy(x, t, q=1.0, reduction="none"), 1 - p_y)
    torch.testing.assert_close(
        LF.generalized_cross_entropy(x, t, q=1e-7), LF.cross_entropy(x, t), rtol=1e-5, atol=0
    )


# --------------------------------------------------------------------------------------------
# asymmetric_loss
# --------------------------------------------------------------------------------------------
def test_asymmetric_golden_by_hand():
    # by hand (Python's math module), x = [2, -1, 0.5], t = [1, 0, 0], defaults (gamma_pos=0, gamma_neg=4,
    # clip=0.05), the paper's L+ = -log p and L- = -p_m^4 log(1 - p_m), p_m = max(p - 0.05, 0):
    #   positive: -log(sigmoid(2)) = 0.12692801
    #   x=-1: p_m = 0.26894142 - 0.05 = 0.21894142, L- = 0.00056779752
    #   x=0.5: p_m = 0.62245933 - 0.05 = 0.57245933, L- = 0.091253004
    #   sum = 0.21874881
    x, t = torch.tensor([[2.0, -1.0, 0.5]], **F64), torch.tensor([[1.0, 0.0, 0.0]], **F64)
    _close(LF.asymmetric_loss(x, t, reduction="none"), [[0.12692801, 0.00056779752, 0.091253004]], rtol=1e-7, atol=0)
    _close(LF.asymmetric_loss(x, t, reduction="sum"), 0.21874881, rtol=1e-7, atol=0)


def test_asymmetric_reduces_to_bce_and_focal():
    x, t = torch.randn(6, 5, **F64) * 2, (torch.rand(6, 5) > 0.5).double()
    # the authors' advice (Alibaba-MIIL/ASL issue 22): gamma_neg=gamma_pos=clip=0 reproduces BCE (their sum)
    torch.testing.assert_close(
        LF.asymmetric_loss(x, t, gamma_pos=0.0, gamma_neg=0.0, clip=0.0, reduction="sum"),
        F.binary_cross_entropy_with_logits(x, t, reduction="sum"),
    )
    # symmetric focusing without the shift is the focal loss without alpha
    torch.testing.assert_close(
        LF.asymmetric_loss(x, t, gamma_pos=2.0, gamma_neg=2.0, clip=0.0),
        LF.sigmoid_focal_loss(x, t, alpha=-1.0, gamma=2.0),
    )


def test_asymmetric_soft_targets_mix_linearly():
    x = torch.randn(4, 3, **F64)
    soft = torch.rand(4, 3, **F64)
    pos = LF.asymmetric_loss(x, torch.ones_like(x), reduction="none")
    neg = LF.asymmetric_loss(x, torch.zeros_like(x), reduction="none")
    torch.testing.assert_close(LF.asymmetric_loss(x, soft, reduction="none"), soft * pos + (1 - soft) * neg)


def test_asymmetric_clip_discards_easy_negatives():
    # p = sigmoid(-3.5) = 0.0293 < clip = 0.05: the negative term is 0 with zero gradient
    x = torch.tensor([-3.5], **F64, requires_grad=True)
    out = LF.asymmetric_loss(x, torch.zeros(1, **F64))
    out.backward()
    assert float(out.detach()) == 0.0 and float(x.grad) == 0.0


# --------------------------------------------------------------------------------------------
# extreme inputs, all five
# --------------------------------------------------------------------------------------------
def _extreme_class_calls():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [0.0, 0.0, 1e4]])
    t = torch.tensor([0, 2, 2])  # confident right, confident wrong, confident right
    w = torch.tensor([1.0, 2.0, 0.5])
    return [
        (LF.focal_loss, (x, t), {}),
        (LF.focal_loss, (x, t, w), {"gamma": 0.5, "alpha": torch.tensor([0.2, 0.3, 0.5]), "label_smoothing": 0.1}),
        (LF.focal_loss, (x, t), {"gamma": 0.0}),
        (LF.poly_loss, (x, t, w), {"label_smoothing": 0.2}),
        (LF.generalized_cross_entropy, (x, t), {"q": 0.3}),
    ]


def _extreme_binary_calls():
    x = torch.tensor([[1e4, -1e4, 1e4, -1e4, 0.0]])
    t = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0]])  # right, right, wrong, wrong, unsure
    return [
        (LF.sigmoid_focal_loss, (x, t), {}),
        (LF.sigmoid_focal_loss, (x, t, torch.rand(1, 5)), {"gamma": 0.5, "pos_weight": torch.full((5,), 3.0),
                                                          "label_smoothing": 0.1}),
        (LF.asymmetric_loss, (x, t), {}),
        (LF.asymmetric_loss, (x, t), {"gamma_pos": 0.5, "gamma_neg": 0.5, "clip": 0.0, "eps": 0.0}),
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("call", range(9))
def test_extreme_logits_give_finite_loss_and_gradient(call, dtype):
    fn, args, kwargs = (_extreme_class_calls() + _extreme_binary_calls())[call]
    args = tuple(a.to(dtype) if a.is_floating_point() else a for a in args)
    kwargs = {k: v.to(dtype) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    x = args[0].clone().requires_grad_()
    for reduction in ("none", "mean"):
        out = fn(x, *args[1:], **kwargs, reduction=reduction)
        assert torch.isfinite(out).all(), out
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert torch.isfinite(grad).all(), grad


def test_extreme_logits_values():
    # the confidently right element costs 0; a confidently wrong one about the logit gap (CE of -2e4 log-odds)
    x = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], **F64)
    none = LF.focal_loss(x, torch.tensor([0, 0]), reduction="none")
    assert float(none[0]) == 0.0 and float(none[1]) == pytest.approx(2e4)
    binary = LF.sigmoid_focal_loss(torch.tensor([1e4, -1e4], **F64), torch.tensor([1.0, 1.0], **F64),
                                   alpha=-1.0, reduction="none")
    assert float(binary[0]) == 0.0 and float(binary[1]) == pytest.approx(1e4)
    # ASL caps a positive term at -log(eps) (the authors' clamp)
    asl = LF.asymmetric_loss(torch.tensor([-1e4], **F64), torch.tensor([1.0], **F64))
    assert float(asl) == pytest.approx(-math.log(1e-8))


# --------------------------------------------------------------------------------------------
# Modules, catalog, guard
# --------------------------------------------------------------------------------------------
def test_modules_validate_options_early():
    cases = [
        (lambda: lk.FocalLoss(gamma=-1.0), r"^FocalLoss: gamma"),
        (lambda: lk.FocalLoss(alpha=-0.5), r"^FocalLoss: alpha"),
        (lambda: lk.SigmoidFocalLoss(alpha=2.0), r"^SigmoidFocalLoss: alpha"),
        (lambda: lk.PolyLoss(epsilon=-3.0), r"^PolyLoss: epsilon"),
        (lambda: lk.AsymmetricLoss(clip=1.5), r"^AsymmetricLoss: clip"),
        (lambda: lk.GeneralizedCrossEntropyLoss(q=0.0), r"^GeneralizedCrossEntropyLoss: q"),
    ]
    for make, match in cases:
        with pytest.raises(lk.LossOptionError, match=match):
            make()


def test_focal_module_alpha_tensor_is_a_buffer():
    loss = lk.FocalLoss(torch.ones(3), alpha=torch.tensor([0.2, 0.3, 0.5]))
    assert set(loss.state_dict()) == {"weight", "alpha"}
    assert lk.FocalLoss(alpha=0.25).alpha == 0.25 and "alpha" not in lk.FocalLoss(alpha=0.25).state_dict()


def test_catalog_lists_the_imbalance_family():
    rows = {r.name: r for r in lk.list_losses("imbalance")}
    assert set(rows) == {"AsymmetricLoss", "AsymmetricLossSingleLabel", "FocalLoss", "GeneralizedCrossEntropyLoss",
                         "PolyLoss", "SigmoidFocalLoss"}
    assert rows["FocalLoss"].functional == "focal_loss" and rows["FocalLoss"].summary.startswith("Softmax focal")


def test_guard_off_gives_the_same_numbers():
    x, t = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, IGN])
    y = (torch.rand(5, 4) > 0.5).float()
    calls = [
        (LF.focal_loss, (x, t), {"label_smoothing": 0.1}),
        (LF.poly_loss, (x, t), {}),
        (LF.generalized_cross_entropy, (x, t), {}),
        (LF.sigmoid_focal_loss, (x, y), {}),
        (LF.asymmetric_loss, (x, y), {}),
    ]
    for fn, args, kwargs in calls:
        on = fn(*args, **kwargs)
        with lk.guard("off"):
            off = fn(*args, **kwargs)
        torch.testing.assert_close(on, off)
