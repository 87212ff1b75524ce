"""Golden values and special cases of the segmentation losses (Dice, Jaccard, Tversky, Lovász).

Published peer values are cited where they are used: segmentation_models_pytorch (smp) tests/test_losses.py,
kornia tests/losses/test_tversky.py and tests/losses/test_lovaz_softmax.py (the latter quotes Berman's reference
``lovasz_softmax(probas, labels, classes="all", per_image=True)``).
"""

from __future__ import annotations

import pytest
import torch

import losskit as lk
import losskit.distributed
import losskit.functional as LF

OVERLAP = [LF.dice_loss, LF.jaccard_loss, LF.tversky_loss]
ALL = [*OVERLAP, LF.lovasz_loss]


def _binary(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype).view(1, 1, -1)


# --------------------------------------------------------------------------------------------
# peer values: smp tests/test_losses.py (from_logits=False, default smooth=0 and eps=1e-7)
# --------------------------------------------------------------------------------------------
# (prediction, target, expected loss) of smp's test_dice_loss_binary / test_tversky_loss_binary /
# test_binary_jaccard_loss; the "[1, 1, 1] vs [0, 0, 0] -> 0" case is smp's empty-mask rule
SMP_BINARY = [
    ([1.0, 1.0, 1.0], [1, 1, 1], 0.0),
    ([1.0, 0.0, 1.0], [1, 0, 1], 0.0),
    ([0.0, 0.0, 0.0], [0, 0, 0], 0.0),
    ([1.0, 1.0, 1.0], [0, 0, 0], 0.0),
    ([1.0, 0.0, 1.0], [0, 1, 0], 1.0),
    ([0.0, 0.0, 0.0], [1, 1, 1], 1.0),
]


@pytest.mark.parametrize("fn", OVERLAP, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("pred", "true", "expected"), SMP_BINARY)
def test_smp_binary_cases(fn, pred, true, expected):
    loss = fn(_binary(pred), torch.tensor(true).view(1, 1, -1), mode="binary", from_logits=False)
    assert float(loss) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [(LF.dice_loss, 1 - 2 / 3), (LF.jaccard_loss, 1 - 0.5), (LF.tversky_loss, 1 - 2 / 3)],
    ids=["dice", "jaccard", "tversky"],
)
def test_smp_soft_scores(fn, expected):
    # smp test_soft_dice_score / test_soft_jaccard_score / test_soft_tversky_score: target [1, 1, 1, 1],
    # prediction [1, 1, 0, 0] -> Dice 2/3, IoU 1/2, Tversky(0.5, 0.5) 2/3
    loss = fn(_binary([1.0, 1.0, 0.0, 0.0]), _binary([1.0, 1.0, 1.0, 1.0]), mode="binary", from_logits=False)
    assert float(loss) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("pred", "true", "expected"),
    [
        ([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], [0, 0, 1, 1], 0.0),
        ([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], [1, 1, 0, 0], 1.0),
        ([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]], [1, 1, 0, 0], 1 - 1 / 3),
    ],
)
def test_smp_multiclass_jaccard(pred, true, expected):
    # smp test_multiclass_jaccard_loss
    loss = LF.jaccard_loss(torch.tensor([pred]), torch.tensor([true]), mode="multiclass", from_logits=False)
    assert float(loss) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    ("pred", "true", "expected"),
    [
        ([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], 0.0),
        ([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], [[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]], 1.0),
        ([[0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]], [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]], 1 - 1 / 3),
    ],
)
def test_smp_multilabel_jaccard(pred, true, expected):
    # smp test_multilabel_jaccard_loss
    loss = LF.jaccard_loss(torch.tensor([pred]), torch.tensor([true]), mode="multilabel", from_logits=False)
    assert float(loss) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("fn", OVERLAP, ids=lambda f: f.__name__)
def test_smp_class_weights_uniform_and_scale_invariant(fn):
    # smp test_class_weights_uniform_equivalent_to_no_weights_* and test_class_weights_scale_invariant_multiclass
    x, y = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    plain = fn(x, y, mode="multiclass")
    uniform = fn(x, y, torch.ones(3), mode="multiclass")
    torch.testing.assert_close(plain, uniform)
    weighted = fn(x, y, torch.tensor([1.0, 2.0, 0.5]), mode="multiclass")
    scaled = fn(x, y, torch.tensor([10.0, 20.0, 5.0]), mode="multiclass")
    torch.testing.assert_close(weighted, scaled)
    assert not torch.allclose(plain, weighted)


# --------------------------------------------------------------------------------------------
# peer values: kornia tests/losses/test_tversky.py::test_target_presence_per_sample
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("alpha", "beta"), [(0.3, 0.7), (0.7, 0.3), (0.5, 0.5), (1.0, 1.0)])
def test_kornia_per_sample_tversky_statistics(alpha, beta):
    probs = torch.tensor(
        [
            [[[0.5, 0.25, 0.125, 0.5]], [[0.25, 0.5, 0.125, 0.25]], [[0.25, 0.25, 0.75, 0.25]]],
            [[[0.5, 0.25, 0.5, 0.25]], [[0.25, 0.5, 0.25, 0.5]], [[0.25, 0.25, 0.25, 0.25]]],
        ],
        dtype=torch.float64,
    )
    labels = torch.tensor([[[0, 1, 1, 0]], [[2, 2, 2, 2]]])
    # kornia's comment: sample 0 (TP, FP, FN) = (1, 3/8, 1) for class 0 and (5/8, 1/2, 11/8) for class 1;
    # sample 1 (1, 0, 3) for class 2; the other (image, class) pairs have no target pixel
    expected = torch.zeros(2, 3, dtype=torch.float64)
    expected[0, 0] = 1 - 1 / (1 + alpha * 0.375 + beta)
    expected[0, 1] = 1 - 0.625 / (0.625 + alpha * 0.5 + beta * 1.375)
    expected[1, 2] = 1 - 1 / (1 + beta * 3)
    out = LF.tversky_loss(probs.log(), labels, mode="multiclass", alpha=alpha, beta=beta, per_image=True,
                          reduction="none")
    torch.testing.assert_close(out, expected)
    # kornia averages over the present classes only; losskit (smp's rule) counts absent ones as 0 in the mean
    mean = LF.tversky_loss(probs.log(), labels, mode="multiclass", alpha=alpha, beta=beta, per_image=True)
    torch.testing.assert_close(mean, expected.sum() / 6)


# --------------------------------------------------------------------------------------------
# peer values: Berman's reference through kornia tests/losses/test_lovaz_softmax.py
# --------------------------------------------------------------------------------------------
KORNIA_PROBS = [[[[0.6, 0.21, 0.12]], [[0.29, 0.68, 0.19]], [[0.11, 0.11, 0.69]]]]


def test_lovasz_softmax_berman_values():
    probs = torch.tensor(KORNIA_PROBS, dtype=torch.float64)
    labels = torch.tensor([[[0, 1, 2]]])
    # Berman lovasz_softmax(classes="all") per class: [0.4, 0.32, 0.31] (every class present: "all" == "present")
    expected = torch.tensor([0.4, 0.32, 0.31], dtype=torch.float64)
    for x, from_logits in ((probs.log(), True), (probs, False)):
        out = LF.lovasz_loss(x, labels, mode="multiclass", from_logits=from_logits, reduction="none")
        torch.testing.assert_close(out, expected)
    torch.testing.assert_close(LF.lovasz_loss(probs.log(), labels, mode="multiclass"), expected.mean())
    # with class weights [1, 2, 3]: "none" holds w * l (as kornia's expected * weight); the mean is
    # sum(w l) / sum(w) (kornia divides by the number of classes instead)
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    none = LF.lovasz_loss(probs.log(), labels, w, mode="multiclass", reduction="none")
    torch.testing.assert_close(none, expected * w)
    torch.testing.assert_close(LF.lovasz_loss(probs.log(), labels, w, mode="multiclass"), (expected * w).sum() / 6)


def test_lovasz_softmax_berman_gradient():
    # kornia test_foreground_gradient_reference: gradient of the mean w.r.t. the logits log(probs)
    logits = torch.tensor(KORNIA_PROBS, dtype=torch.float64).log().requires_grad_()
    labels = torch.tensor([[[0, 1, 2]]])
    LF.lovasz_loss(logits, labels, mode="multiclass").backward()
    expected = torch.tensor(
        [[[[-0.08, 0.0476, 0.0276]], [[0.058, -0.0725333333, 0.0437]], [[0.022, 0.0249333333, -0.0713]]]],
        dtype=torch.float64,
    )
    torch.testing.assert_close(logits.grad, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("case", "labels", "pixels", "all_classes", "present_mean"),
    [
        # Berman classes="all" per class (kornia's expected_per_class); losskit averages the present ones
        ("absent classes", [0, 0, 0], 3, [0.69, 0.68, 0.69], 0.69),
        ("single pixel", [0], 1, [0.4, 0.29, 0.11], 0.4),
    ],
)
def test_lovasz_softmax_present_classes(case, labels, pixels, all_classes, present_mean):
    probs = torch.tensor(KORNIA_PROBS, dtype=torch.float64)[..., :pixels]
    target = torch.tensor([[labels]])
    out = LF.lovasz_loss(probs.log(), target, mode="multiclass", reduction="none")
    expected_none = torch.tensor([all_classes[0], 0.0, 0.0], dtype=torch.float64)  # absent classes count 0
    torch.testing.assert_close(out, expected_none)
    torch.testing.assert_close(LF.lovasz_loss(probs.log(), target, mode="multiclass"),
                               torch.tensor(present_mean, dtype=torch.float64))


def test_lovasz_hinge_by_hand():
    # by hand: logits [2, -1, 0.5, -3], labels [1, 0, 0, 1] -> hinge errors 1 - x (2y - 1) = [-1, 0, 1.5, 4];
    # sorted 4 (fg), 1.5 (bg), 0 (bg), -1 (fg); with |F| = 2 the Jaccard losses after each pixel are
    # 1 - 1/2, 1 - 1/3, 1 - 1/4, 1 - 0/4 -> weights [1/2, 1/6, 1/12, 1/4]; loss = 4/2 + 1.5/6 = 2.25
    logits = torch.tensor([[[2.0, -1.0, 0.5, -3.0]]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]], dtype=torch.float64)
    loss = LF.lovasz_loss(logits, mask, mode="binary")
    assert float(loss.detach()) == pytest.approx(2.25, abs=1e-12)
    loss.backward()
    # d/dx of w_i * (1 - x_i s_i) = -w_i s_i on the pixels with positive error, 0 elsewhere
    torch.testing.assert_close(logits.grad, torch.tensor([[[0.0, 0.0, 1 / 6, -0.5]]], dtype=torch.float64))


def test_lovasz_hinge_empty_foreground_image():
    # Berman: an image without foreground still counts; J = 1 from the first pixel on -> loss = max hinge error
    logits = torch.tensor([[[0.5, -2.0, 0.25]]])
    loss = LF.lovasz_loss(logits, torch.zeros(1, 1, 3), mode="binary")
    assert float(loss) == pytest.approx(1.5)  # by hand: errors 1 + x = [1.5, -1, 1.25], weights [1, 0, 0]


def test_lovasz_ignored_pixels_equal_removed_pixels():
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 8))
    ignored = y.clone()
    ignored[:, 5:] = -1
    for per_image in (False, True):
        a = LF.lovasz_loss(x, ignored, mode="multiclass", ignore_index=-1, per_image=per_image, reduction="none")
        b = LF.lovasz_loss(x[..., :5], y[..., :5], mode="multiclass", per_image=per_image, reduction="none")
        torch.testing.assert_close(a, b)
    bx, by = torch.randn(2, 1, 8, dtype=torch.float64), (torch.rand(2, 1, 8) > 0.5).long()
    bi = by.clone()
    bi[..., :3] = 255
    a = LF.lovasz_loss(bx, bi, mode="binary", ignore_index=255, per_image=True)
    b = LF.lovasz_loss(bx[..., 3:], by[..., 3:], mode="binary", per_image=True)
    torch.testing.assert_close(a, b)


def test_lovasz_multilabel_is_binary_hinge_per_channel():
    x, y = torch.randn(2, 3, 10, dtype=torch.float64), (torch.rand(2, 3, 10) > 0.5).double()
    out = LF.lovasz_loss(x, y, mode="multilabel", reduction="none")
    per_channel = torch.stack([LF.lovasz_loss(x[:, c:c + 1], y[:, c:c + 1], mode="binary") for c in range(3)])
    torch.testing.assert_close(out, per_channel)


# --------------------------------------------------------------------------------------------
# identities between the losses and options
# --------------------------------------------------------------------------------------------
def test_tversky_special_cases():
    x, y = torch.randn(2, 3, 5, 5, dtype=torch.float64), torch.randint(0, 3, (2, 5, 5))
    for smooth in (0.0, 1.0):
        torch.testing.assert_close(
            LF.tversky_loss(x, y, mode="multiclass", alpha=1.0, beta=1.0, smooth=smooth, reduction="none"),
            LF.jaccard_loss(x, y, mode="multiclass", smooth=smooth, reduction="none"),
        )
        torch.testing.assert_close(
            LF.tversky_loss(x, y, mode="multiclass", smooth=smooth, reduction="none"),
            LF.dice_loss(x, y, mode="multiclass", smooth=2 * smooth, reduction="none"),
        )
    base = LF.tversky_loss(x, y, mode="multiclass", alpha=0.3, beta=0.7, reduction="none")
    focal = LF.tversky_loss(x, y, mode="multiclass", alpha=0.3, beta=0.7, gamma=2.0, reduction="none")
    torch.testing.assert_close(focal, base**2)  # (1 - TI) ** gamma per class
    log = LF.dice_loss(x, y, mode="multiclass", log_loss=True, reduction="none")
    torch.testing.assert_close(log, -torch.log(1 - LF.dice_loss(x, y, mode="multiclass", reduction="none")))


def test_dice_by_hand_with_smooth_and_ignore():
    # by hand: probabilities [0.9, 0.2, 0.7, 0.1, 0.6], mask [1, 0, 1, 1, 255] with ignore_index=255 and
    # smooth=1: TP = 1.7, sum p = 1.9, sum t = 3 -> D = (3.4 + 1) / (4.9 + 1) = 4.4 / 5.9
    p = _binary([0.9, 0.2, 0.7, 0.1, 0.6], torch.float64)
    t = torch.tensor([1, 0, 1, 1, 255]).view(1, 1, -1)
    loss = LF.dice_loss(p, t, mode="binary", from_logits=False, smooth=1.0, ignore_index=255)
    assert float(loss) == pytest.approx(1 - 4.4 / 5.9, abs=1e-12)


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_per_image_with_one_image_equals_batch(fn):
    x, y = torch.randn(1, 3, 4, 4, dtype=torch.float64), torch.randint(0, 3, (1, 4, 4))
    a = fn(x, y, mode="multiclass", per_image=True, reduction="none")
    b = fn(x, y, mode="multiclass", reduction="none")
    assert a.shape == (1, 3) and b.shape == (3,)
    torch.testing.assert_close(a[0], b)


@pytest.mark.parametrize("fn", OVERLAP, ids=lambda f: f.__name__)
def test_multilabel_is_mean_of_binary_channels(fn):
    x, y = torch.randn(2, 3, 7, dtype=torch.float64), (torch.rand(2, 3, 7) > 0.4).double()
    per_channel = torch.stack([fn(x[:, c:c + 1], y[:, c:c + 1], mode="binary") for c in range(3)])
    torch.testing.assert_close(fn(x, y, mode="multilabel"), per_channel.mean())


@pytest.mark.parametrize("fn", OVERLAP, ids=lambda f: f.__name__)
def test_from_logits_false_takes_probabilities(fn):
    x, y = torch.randn(2, 3, 6, dtype=torch.float64), torch.randint(0, 3, (2, 6))
    torch.testing.assert_close(fn(x, y, mode="multiclass"), fn(x.softmax(1), y, mode="multiclass", from_logits=False))
    m = (torch.rand(2, 3, 6) > 0.5).double()
    torch.testing.assert_close(fn(x, m, mode="multilabel"), fn(x.sigmoid(), m, mode="multilabel", from_logits=False))


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_reduction_none_shapes(fn):
    x, y = torch.randn(2, 4, 3, 3), torch.randint(0, 4, (2, 3, 3))
    assert fn(x, y, mode="multiclass", reduction="none").shape == (4,)
    assert fn(x, y, mode="multiclass", per_image=True, reduction="none").shape == (2, 4)
    assert fn(x[:, :1], (y[:, None] > 1).float(), mode="binary", reduction="none").shape == (1,)


# --------------------------------------------------------------------------------------------
# empty masks and extreme inputs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", OVERLAP, ids=lambda f: f.__name__)
def test_empty_class_contributes_zero_and_counts(fn):
    # smp's rule: class 2 has no target pixel -> its loss is 0 even though it is predicted; the mean is over 3
    x = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 2, (2, 5))
    none = fn(x, y, mode="multiclass", reduction="none")
    assert float(none[2].detach()) == 0.0 and bool((none[:2] > 0).all())
    mean = fn(x, y, mode="multiclass")
    torch.testing.assert_close(mean, none.sum() / 3)


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["binary", "multilabel", "multiclass"])
@pytest.mark.parametrize("per_image", [False, True])
def test_empty_masks_give_zero_without_nan(fn, mode, per_image):
    channels = 1 if mode == "binary" else 3
    x = torch.randn(2, channels, 4, 4, requires_grad=True)
    if mode == "multiclass":
        y = torch.full((2, 4, 4), 255)  # everything ignored
        kwargs = {"ignore_index": 255}
    else:
        y = torch.zeros(2, channels, 4, 4)  # no foreground anywhere
        kwargs = {}
    loss = fn(x, y, mode=mode, per_image=per_image, **kwargs)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    if fn is not LF.lovasz_loss or mode == "multiclass":  # the hinge still penalises predicted foreground
        assert float(loss.detach()) == 0.0 and bool((x.grad == 0).all())


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["binary", "multilabel", "multiclass"])
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["right", "wrong"])
def test_extreme_logits_are_finite(fn, mode, sign):
    torch.manual_seed(1)
    channels = 1 if mode == "binary" else 3
    if mode == "multiclass":
        y = torch.randint(0, 3, (2, 4, 4))
        onehot = torch.nn.functional.one_hot(y, 3).permute(0, 3, 1, 2).float()
    else:
        y = (torch.rand(2, channels, 4, 4) > 0.5).float()
        onehot = y
    x = ((onehot * 2 - 1) * 1e4 * sign).requires_grad_()
    options = {"gamma": 0.5} if fn is LF.tversky_loss else {}
    for log_loss in ((False, True) if fn is not LF.lovasz_loss else (False,)):
        extra = {"log_loss": log_loss} if log_loss else {}
        loss = fn(x, y, mode=mode, **options, **extra)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all(), (fn.__name__, mode, sign, log_loss)
        if sign > 0 and fn is not LF.lovasz_loss:
            assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6)


def test_focal_tversky_gamma_below_one_at_a_perfect_fit():
    # (1 - TI) ** 0.75 has an infinite slope at TI = 1; losskit's gradient there is 0 and never NaN
    p = torch.tensor([[[1.0, 0.0, 1.0]]], requires_grad=True)
    loss = LF.tversky_loss(p, p.detach(), mode="binary", gamma=0.75, from_logits=False)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(p.grad).all()


# --------------------------------------------------------------------------------------------
# global_batch: statistics summed over processes
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", OVERLAP, ids=lambda f: f.__name__)
def test_global_batch_sums_statistics_over_ranks(fn, monkeypatch):
    """Two simulated ranks: all_reduce_sum adds the other rank's statistics; loss and gradient on rank 0 equal the
    single-process ones over the concatenated batch."""
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    y = torch.randint(0, 2, (4, 5))  # class 2 absent
    y[2:, 0] = 2  # ... except on rank 1: present globally only
    captured = {}

    def record(stats):
        captured["other"] = stats.detach().clone()
        return stats

    monkeypatch.setattr(losskit.distributed, "all_reduce_sum", record)
    fn(x[2:], y[2:], mode="multiclass", global_batch=True)
    monkeypatch.setattr(losskit.distributed, "all_reduce_sum", lambda stats: stats + captured["other"])
    x0 = x[:2].clone().requires_grad_()
    loss = fn(x0, y[:2], mode="multiclass", global_batch=True, reduction="none")
    full = x.clone().requires_grad_()
    ref = fn(full, y, mode="multiclass", reduction="none")
    torch.testing.assert_close(loss, ref)
    assert float(ref[2].detach()) > 0  # the class only rank 1 sees counts on rank 0 too
    g = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    (ga,) = torch.autograd.grad(loss, x0, g)
    (gb,) = torch.autograd.grad(ref, full, g)
    torch.testing.assert_close(ga, gb[:2])
    local = fn(x[:2], y[:2], mode="multiclass", reduction="none")
    assert not torch.allclose(local, ref)


def test_global_batch_single_process_is_plain():
    x, y = torch.randn(2, 3, 5), torch.randint(0, 3, (2, 5))
    torch.testing.assert_close(LF.dice_loss(x, y, mode="multiclass", global_batch=True),
                               LF.dice_loss(x, y, mode="multiclass"))


# --------------------------------------------------------------------------------------------
# torch.compile with the options the generic test does not compile
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [
        (LF.dice_loss, {"mode": "multiclass", "global_batch": True, "ignore_index": 9}),
        (LF.tversky_loss,
         {"mode": "multilabel", "per_image": True, "gamma": 0.75, "log_loss": True, "ignore_index": 9}),
        (LF.lovasz_loss, {"mode": "multilabel", "per_image": True, "ignore_index": 9}),
    ],
    ids=["dice-global", "tversky-focal", "lovasz-hinge"],
)
def test_compile_fullgraph_options(fn, kwargs):
    torch._dynamo.reset()
    x = torch.randn(2, 3, 6)
    y = torch.randint(0, 3, (2, 6)) if kwargs["mode"] == "multiclass" else (torch.rand(2, 3, 6) > 0.5).float()
    y[0, ..., 0] = 9
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, y, **kwargs), fn(x, y, **kwargs))


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "match"),
    [
        (lk.DiceLoss, {"mode": "multiclas"}, lk.LossOptionError, "did you mean 'multiclass'"),
        (lk.JaccardLoss, {"mode": "binary", "class_weights": torch.ones(1)}, lk.LossOptionError, "binary"),
        (lk.TverskyLoss, {"mode": "binary", "gamma": -1.0}, lk.LossOptionError, "gamma.*-1.0"),
        (lk.DiceLoss, {"mode": "binary", "per_image": True, "global_batch": True}, lk.LossOptionError, "per_image"),
        (lk.LovaszLoss, {"mode": "binary", "from_logits": False}, lk.LossOptionError, "from_logits"),
        (lk.LovaszLoss, {"mode": "multilabel", "reduction": "avg"}, lk.LossOptionError, "'avg'"),
    ],
)
def test_module_checks_options_at_construction(cls, kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        cls(**kwargs)
    assert str(info.value).startswith(f"{cls.__name__}:")


def test_module_mode_is_required():
    with pytest.raises(TypeError, match="mode"):
        lk.DiceLoss()


def test_module_class_weights_is_a_buffer():
    loss = lk.TverskyLoss(torch.tensor([1.0, 2.0, 3.0]), mode="multiclass", alpha=0.2, beta=0.8)
    assert "class_weights" in dict(loss.named_buffers())
    assert "alpha=0.2" in repr(loss) and "mode='multiclass'" in repr(loss)
    assert loss.double().class_weights.dtype == torch.float64
    rows = {row.name: row for row in lk.list_losses("segmentation")}
    assert set(rows) == {
        "DiceCELoss", "DiceFocalLoss", "DiceLoss", "GeneralizedDiceLoss", "HausdorffERLoss", "JaccardLoss",
        "LovaszLoss", "SegmentationFocalLoss", "TverskyLoss",
    }
    assert rows["LovaszLoss"].functional == "lovasz_loss"


# --------------------------------------------------------------------------------------------
# the second round: golden values by hand and identities between the options
# --------------------------------------------------------------------------------------------
def test_generalized_dice_by_hand():
    # by hand: class 0 pixels t = [1, 0, 1, 1], p = [.9, .2, .7, .1]; class 1 t = [0, 1, 0, 0], p = [.1, .8, .3, .9];
    # volumes 3 and 1 -> square weights 1/9 and 1; TP = 1.7 and 0.8; sum p = 1.9 and 2.1
    # GDL = 1 - 2 (1.7/9 + 0.8) / ((1.9 + 3)/9 + (2.1 + 1))
    probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1], [0.1, 0.8, 0.3, 0.9]]], dtype=torch.float64)
    labels = torch.tensor([[0, 1, 0, 0]])
    expected = 1 - 2 * (1.7 / 9 + 0.8) / ((1.9 + 3) / 9 + 3.1)
    out = LF.generalized_dice_loss(probs, labels, mode="multiclass", from_logits=False)
    assert float(out) == pytest.approx(expected, abs=1e-12)
    uniform = LF.generalized_dice_loss(probs, labels, mode="multiclass", from_logits=False, weight_type="uniform")
    assert float(uniform) == pytest.approx(1 - 2 * 2.5 / (4.9 + 3.1), abs=1e-12)  # one Dice of the pooled classes


def test_hausdorff_er_by_hand():
    # by hand: a 3x3 square of error 1 in a 5x5 map. Erosion 1 (cross / 5, minus 1/2): centre 0.5, edge
    # centres 0.3, corners 0.1 -> rescaled 1, 0.6, 0.2. Erosion 2: centre (1 + 4 * 0.6)/5 - 0.5 = 0.18, the rest
    # <= 0 -> rescaled 1 at the centre. With alpha=2: sum = (1 + 4 * 0.6 + 4 * 0.2) + 4 * 1 = 8.2, over 25 pixels
    probs = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    probs[..., 1:4, 1:4] = 1.0
    out = LF.hausdorff_er_loss(probs, torch.zeros_like(probs), mode="binary", from_logits=False, k=2)
    assert float(out) == pytest.approx(8.2 / 25, abs=1e-12)
    assert float(LF.hausdorff_er_loss(probs, probs, mode="binary", from_logits=False)) == 0.0  # no error


def test_segmentation_focal_by_hand_and_special_cases():
    x = torch.tensor([[[2.0, -1.0, 0.5, -3.0]]], dtype=torch.float64)
    t = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]], dtype=torch.float64)
    p_t = torch.sigmoid(x * (2 * t - 1))  # by hand: p for positives, 1 - p for negatives
    expected = ((1 - p_t) ** 2 * -torch.log(p_t)).mean()
    torch.testing.assert_close(LF.segmentation_focal_loss(x, t, mode="binary"), expected)
    # gamma=0 and no alpha: binary cross-entropy; alpha: torchvision's sigmoid_focal_loss
    torch.testing.assert_close(LF.segmentation_focal_loss(x, t, mode="binary", gamma=0.0),
                               torch.nn.functional.binary_cross_entropy_with_logits(x, t))
    torch.testing.assert_close(LF.segmentation_focal_loss(x, t, mode="binary", alpha=0.25),
                               LF.sigmoid_focal_loss(x, t, alpha=0.25))
    # normalized with "sum": the focal terms divided by the sum of the focal factors
    torch.testing.assert_close(LF.segmentation_focal_loss(x, t, mode="binary", normalized=True, reduction="sum"),
                               expected * 4 / ((1 - p_t) ** 2).sum())


def test_overlap_option_identities():
    x, y = torch.randn(2, 4, 5, 5, dtype=torch.float64), torch.randint(0, 4, (2, 5, 5))
    torch.testing.assert_close(LF.dice_loss(x, y, mode="multiclass", include_background=False, reduction="none"),
                               LF.dice_loss(x, y, mode="multiclass", reduction="none")[1:])
    torch.testing.assert_close(LF.dice_loss(x, y, mode="multiclass", classes=[3, 1], reduction="none"),
                               LF.dice_loss(x, y, mode="multiclass", reduction="none")[[3, 1]])
    torch.testing.assert_close(LF.dice_loss(x, y, mode="multiclass", smooth_nr=1.0, smooth_dr=1.0),
                               LF.dice_loss(x, y, mode="multiclass", smooth=1.0))
    # micro Dice of multiclass softmax without ignored pixels: the mean probability of the true class
    p_true = x.softmax(1).gather(1, y[:, None]).squeeze(1)
    torch.testing.assert_close(LF.dice_loss(x, y, mode="multiclass", average="micro", per_image=True,
                                            reduction="none"), 1 - p_true.mean((1, 2)))
    # soft_label on hard targets changes nothing; squared_pred on hard targets is sum(p^2) + sum(t)
    m = (torch.rand(2, 4, 5, 5) > 0.5).double()
    torch.testing.assert_close(LF.dice_loss(x, m, mode="multilabel", soft_label=True),
                               LF.dice_loss(x, m, mode="multilabel"))
    p = x.sigmoid()
    expected = 1 - 2 * (p * m).sum((0, 2, 3)) / ((p * p).sum((0, 2, 3)) + m.sum((0, 2, 3)))
    torch.testing.assert_close(LF.dice_loss(x, m, mode="multilabel", squared_pred=True, reduction="none"), expected)
    # empty_class="score" without smoothing: an absent class scores 0 (loss 1); with equal smoothing nearly 1
    absent = torch.randint(0, 3, (2, 5, 5))
    assert float(LF.dice_loss(x, absent, mode="multiclass", empty_class="score", reduction="none")[3]) > 0.0
    zero = LF.dice_loss(x, absent, mode="multiclass", reduction="none")[3]
    assert float(zero) == 0.0


def test_compound_losses_are_their_parts():
    x, y = torch.randn(2, 3, 4, 4, dtype=torch.float64), torch.randint(0, 3, (2, 4, 4))
    dice = LF.dice_loss(x, y, mode="multiclass")
    torch.testing.assert_close(LF.dice_ce_loss(x, y, mode="multiclass", lambda_ce=0.5),
                               dice + 0.5 * torch.nn.functional.cross_entropy(x, y))
    torch.testing.assert_close(LF.dice_focal_loss(x, y, mode="multiclass", lambda_dice=2.0),
                               2 * dice + LF.segmentation_focal_loss(x, y, mode="multiclass"))
    with pytest.raises(lk.LossOptionError, match="'none'"):
        LF.dice_ce_loss(x, y, mode="multiclass", reduction="none")
    assert lk.DiceCELoss(mode="multiclass", reduction="sum").reduction == "sum"
